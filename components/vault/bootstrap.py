"""VaultBootstrap: what lets the first `pulumi up` initialise the in-cluster Vault with no person in the loop.

The deployers (the admin group's people, the pipeline's service principals from `vault.deployerObjectIds`) get Key
Vault Secrets Officer on the stack's Key Vault, so the initialiser can write Vault's recovery keys and root token
there and a person can read them for break-glass. Then `VaultInit` (components/vault/init.py) initialises Vault,
sets up the deployers' JWT login and revokes the root token. Everything that talks to Vault waits for it.

Why the admin group and configured principals, not `get_client_config()`'s object id: that id is whoever runs this
`up` (a person today, the pipeline tomorrow), so a role assignment on it would be replaced on every change of hands
and take access away from the previous deployer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi_azure_native import authorization

from components.azure.cluster import role_definition_id
from components.config.schema import StackConfig
from components.vault import access as vault_access
from components.vault import login as vault_login
from components.vault import pipeline_login as vault_pipeline_login
from components.vault import raft as vault_raft
from components.vault.init import VaultInit

KEY_VAULT_SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
"""Built-in role id: manage secrets (read, write) in a Key Vault with RBAC authorization; no keys, no certificates."""


def key_vault_url(name: str) -> str:
    """The data-plane URL of a Key Vault in Azure's public cloud (where every cdstack region is)."""
    return f"https://{name}.vault.azure.net/"


def deployer_policy(cfg: StackConfig) -> str:
    """The `cdstack-deployer` policy for this stack: what the program manages in Vault (vault_login), and on Raft
    autopilot's settings and the snapshot job's identity too (vault_raft)."""
    policy = vault_login.deployer_policy(
        vault_access.mount_path(cfg), vault_access.CONCOURSE_POLICY, vault_access.AUDIT_PATH
    )
    policy += vault_raft.deployer_rules() if cfg.vault.storage == "raft" else ""
    return policy + (vault_pipeline_login.deployer_rules() if cfg.infra_stack else "")


class VaultBootstrap(pulumi.ComponentResource):
    """`init` is the resource every Vault client waits for: Vault initialised, keys stored, deployer login set up."""

    init: VaultInit
    officers: list[authorization.RoleAssignment]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        key_vault_id: pulumi.Output[str],
        key_vault_name: pulumi.Output[str],
        tenant_id: pulumi.Output[str],
        admin_group_id: pulumi.Output[str],
        vault_ready: Sequence[pulumi.Resource],
        infra_trust: pulumi.Output[dict[str, Any]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`infra_trust`: the infra pipeline's token Vault's deployer login trusts (vault_pipeline_login.trust)."""
        super().__init__("cdstack:vault:VaultBootstrap", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        client = authorization.get_client_config_output()
        role = client.subscription_id.apply(lambda s: role_definition_id(s, KEY_VAULT_SECRETS_OFFICER))

        principals: list[tuple[str, pulumi.Input[str], str]] = [("admins", admin_group_id, "Group")]
        principals += [
            (f"deployer-{i}", oid, "ServicePrincipal") for i, oid in enumerate(cfg.vault.deployer_object_ids)
        ]
        self.officers = [
            authorization.RoleAssignment(
                f"vault-keys-{key}",
                principal_id=principal,
                principal_type=kind,
                role_definition_id=role,
                scope=key_vault_id,
                opts=child,
            )
            for key, principal, kind in principals
        ]

        access = pulumi.Output.all(tenant_id, admin_group_id, infra_trust).apply(
            lambda ids: vault_login.access_spec(
                ids[0],
                ids[1],
                cfg.vault.deployer_object_ids,
                deployer_policy(cfg),
                vault_access.token_lifetime_seconds(cfg),
                ids[2],
            )
        )
        self.init = VaultInit(
            "vault-init",
            address=vault_access.address(cfg),
            key_vault_url=key_vault_name.apply(key_vault_url),
            recovery_shares=cfg.vault.recovery_shares,
            recovery_threshold=cfg.vault.recovery_threshold,
            access=access,
            # The address is a plain string: Vault answers there only once its release and the ingress are up; the
            # keys can be written only once the role assignments exist.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*vault_ready, *self.officers]),
        )
        self.register_outputs({})
