"""The one shape of every Azure identity the stack's pods use (Vault's unseal, the backup jobs, the metrics exporter):
a user-assigned identity, federated to exactly one Kubernetes service account through AKS workload identity, with
exactly one built-in role on exactly one scope.

Shapes: azure-native managedidentity.UserAssignedIdentity and FederatedIdentityCredential (issuer = the cluster's
OIDC issuer, subject = `system:serviceaccount:<namespace>:<name>`, audience `api://AzureADTokenExchange` as AKS's
workload identity webhook requests it) and authorization.RoleAssignment.
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import authorization, managedidentity

from components.azure.cluster import role_definition_id
from components.config.schema import StackConfig
from components.tags import common_tags

WORKLOAD_IDENTITY_AUDIENCE = "api://AzureADTokenExchange"


def service_account_subject(namespace: str, service_account: str) -> str:
    """The `sub` of the token Kubernetes projects into a pod of that service account."""
    return f"system:serviceaccount:{namespace}:{service_account}"


def federated_identity(
    prefix: str,
    cfg: StackConfig,
    resource_group_name: pulumi.Input[str],
    oidc_issuer_url: pulumi.Input[str],
    subject: str,
    federation_name: str,
    role: tuple[str, str],
    scope: pulumi.Input[str],
    parent: pulumi.Resource,
) -> pulumi.Output[str]:
    """The identity `<prefix>-identity`, its federation `<prefix>-federation` named `federation_name` in Azure, and
    `role` = (resource name, built-in role id) on `scope`. Returns the identity's client id, known only once the
    federation and the role exist: a pod started earlier could not log in or would be refused, and would crash-loop
    or (Vault) never become Ready."""
    child = pulumi.ResourceOptions(parent=parent)
    identity = managedidentity.UserAssignedIdentity(
        f"{prefix}-identity",
        resource_name_=cfg.naming.identity(prefix),
        resource_group_name=resource_group_name,
        location=cfg.location,
        tags=common_tags(cfg),
        opts=child,
    )
    federation = managedidentity.FederatedIdentityCredential(
        f"{prefix}-federation",
        federated_identity_credential_resource_name=federation_name,
        resource_name_=identity.name,
        resource_group_name=resource_group_name,
        issuer=oidc_issuer_url,
        subject=subject,
        audiences=[WORKLOAD_IDENTITY_AUDIENCE],
        opts=child,
    )
    role_name, role_id = role
    subscription_id = authorization.get_client_config_output().subscription_id
    assignment = authorization.RoleAssignment(
        role_name,
        principal_id=identity.principal_id,
        principal_type="ServicePrincipal",
        role_definition_id=subscription_id.apply(lambda s: role_definition_id(s, role_id)),
        scope=scope,
        opts=child,
    )
    return pulumi.Output.all(identity.client_id, federation.id, assignment.id).apply(lambda ids: ids[0])
