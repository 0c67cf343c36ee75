"""Per team with `azure`: its user-assigned identity, one federated credential per listed pipeline, its role
assignments, and its ids in Vault at `<prefix>/<team>/azure-identity` (components/concourse/team_azure.py has the values
and the rules).

Each team has an identity of its own: a credential trusts one `<team>/<pipeline>` subject, and role assignments are
the identity's, so a shared identity would hand every team the union of their roles.

Shapes: azure-native managedidentity.UserAssignedIdentity (outputs client_id, tenant_id, principal_id),
FederatedIdentityCredential (issuer, subject, audiences), authorization.RoleAssignment; vault.kv.SecretV2.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_vault as vault
from pulumi_azure_native import authorization, managedidentity

from components.concourse import idtoken, team_azure
from components.config.schema import StackConfig
from components.tags import common_tags
from components.vault.access import VaultAccess


class TeamIdentities(pulumi.ComponentResource):
    """Every team's Azure identity; nothing for a team without `azure`."""

    client_ids: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        resource_group_name: pulumi.Input[str],
        vault_access: VaultAccess,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:azure:TeamIdentities", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        issuer = idtoken.stack_issuer(cfg)
        self.client_ids = {}
        for team in cfg.teams:
            if team.azure is None:
                continue
            identity = managedidentity.UserAssignedIdentity(
                f"{team.name}-azure-identity",
                resource_name_=cfg.naming.identity(team_azure.identity_purpose(team.name)),
                resource_group_name=resource_group_name,
                location=cfg.location,
                tags=common_tags(cfg),
                opts=child,
            )
            # One at a time: Entra ID answers 409 to concurrent credential writes on one identity
            # (workload-identity-federation considerations, "Concurrent updates aren't supported").
            previous: list[pulumi.Resource] = []
            for federation in team_azure.federations(team, issuer):
                credential = managedidentity.FederatedIdentityCredential(
                    f"{team.name}-{federation['name']}",
                    federated_identity_credential_resource_name=federation["name"],
                    resource_name_=identity.name,
                    resource_group_name=resource_group_name,
                    issuer=federation["issuer"],
                    subject=federation["subject"],
                    audiences=federation["audiences"],
                    opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
                )
                previous = [credential]
            for assignment in team_azure.assignments(team):
                authorization.RoleAssignment(
                    assignment["name"],
                    principal_id=identity.principal_id,
                    principal_type="ServicePrincipal",
                    role_definition_id=assignment["roleDefinitionId"],
                    scope=assignment["scope"],
                    opts=child,
                )
            self.client_ids[team.name] = identity.client_id
            if vault_access.mount is not None:
                vault.kv.SecretV2(
                    f"{team.name}-azure-identity-ids",
                    mount=vault_access.mount.path,
                    name=f"{team.name}/{team_azure.VAULT_SECRET}",
                    delete_all_versions=True,
                    data_json=pulumi.Output.all(identity.client_id, identity.tenant_id).apply(
                        lambda ids: json.dumps({"client_id": ids[0], "tenant_id": ids[1]})
                    ),
                    opts=pulumi.ResourceOptions(parent=self, provider=vault_access.provider),
                )
        self.register_outputs({})
