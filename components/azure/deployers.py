"""The infra pipeline's deployer identities in Azure (components/deployers.py says what they trust and why): one
user-assigned managed identity per `cdstack:deployers` environment, its federated credentials and its role
assignments. Hosted by the stack that runs the infra Concourse (the infra stack, which issue 29 brings).

Shapes: azure-native managedidentity.UserAssignedIdentity, FederatedIdentityCredential (issuer, subject, audiences;
a name of 3 to 120 URL-safe characters) and authorization.RoleAssignment.
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import authorization, managedidentity

from components.config.schema import DeployerConfig, StackConfig
from components.deployers import federated_credentials, identity_key, role_key, subscription_of
from components.tags import common_tags


class Deployers(pulumi.ComponentResource):
    """One deployer identity per `cdstack:deployers` entry; `client_ids` maps environment to the identity's client id,
    known only once its federated credentials and roles exist (a pipeline given it earlier would be refused)."""

    def __init__(
        self, name: str, cfg: StackConfig, resource_group_name: pulumi.Input[str], opts: pulumi.ResourceOptions | None
    ):
        super().__init__("cdstack:azure:Deployers", name, None, opts)
        self.tenant_ids: dict[str, pulumi.Output[str]] = {}
        self.client_ids: dict[str, pulumi.Output[str]] = {
            deployer.environment: self._identity(cfg, deployer, resource_group_name) for deployer in cfg.deployers
        }
        self.register_outputs({"clientIds": self.client_ids})

    def _identity(
        self, cfg: StackConfig, deployer: DeployerConfig, resource_group_name: pulumi.Input[str]
    ) -> pulumi.Output[str]:
        child = pulumi.ResourceOptions(parent=self)
        key = identity_key(deployer.environment)
        identity = managedidentity.UserAssignedIdentity(
            key,
            resource_name_=cfg.naming.identity(key),
            resource_group_name=resource_group_name,
            location=cfg.location,
            tags=common_tags(cfg),
            opts=child,
        )
        self.tenant_ids[deployer.environment] = identity.tenant_id
        created: list[pulumi.Output[str]] = [identity.client_id]
        for credential in federated_credentials(cfg, deployer.environment):
            federation = managedidentity.FederatedIdentityCredential(
                f"{key}-{credential.name}",
                federated_identity_credential_resource_name=credential.name,
                resource_name_=identity.name,
                resource_group_name=resource_group_name,
                issuer=credential.issuer,
                subject=credential.subject,
                audiences=list(credential.audiences),
                opts=child,
            )
            created.append(federation.id)
        for role in deployer.roles:
            assignment = authorization.RoleAssignment(
                role_key(deployer.environment, role.scope, role.role_definition_id),
                principal_id=identity.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=f"{subscription_of(role.scope)}/providers/Microsoft.Authorization/roleDefinitions/"
                f"{role.role_definition_id}",
                scope=role.scope,
                opts=child,
            )
            created.append(assignment.id)
        return pulumi.Output.all(*created).apply(lambda ids: ids[0])
