"""Vault's side of Raft storage (`vault.storage: raft`): autopilot, and the identity the snapshot job logs in with.

Autopilot (Vault API `sys/storage/raft/autopilot/configuration`, pulumi-vault RaftAutopilot): dead servers are
removed from the Raft configuration once a replacement has joined, never below `min_quorum`, the configured server
count, so a lost server is never pruned while it is still needed for the quorum's size. A single server has no
peers to clean up: it gets no autopilot configuration.

The snapshot identity: the backup CronJob's pod carries a service account token Kubernetes projects for the audience
`SNAPSHOT_AUDIENCE`, signed by the cluster's OIDC issuer (AKS publishes its discovery document and keys). Vault's JWT
auth method, mounted at `CLUSTER_JWT_MOUNT` and pointed at that issuer, exchanges it for a token of the
`SNAPSHOT_ROLE` role: bound to exactly that service account (subject) and audience, with the `SNAPSHOT_POLICY` policy
alone (no `default` policy), valid for one request and ten minutes. The policy reads the snapshot endpoint and
nothing else. No token is stored anywhere; the pod's own token expires with it.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_vault as vault

from components import naming
from components.azure.workload_identity import service_account_subject
from components.config.schema import StackConfig

CLUSTER_JWT_MOUNT = "cluster"
SNAPSHOT_POLICY = "vault-snapshot"
SNAPSHOT_ROLE = "vault-snapshot"
SNAPSHOT_AUDIENCE = "vault-snapshot"
SNAPSHOT_TOKEN_SECONDS = 600
DEAD_SERVER_THRESHOLD = "1h"
"""How long a server may miss the leader before autopilot calls it dead: longer than an AKS node upgrade (drain,
reimage, rejoin), so a server being upgraded is never pruned."""


def snapshot_policy() -> str:
    """Read the Raft snapshot, nothing else."""
    return 'path "sys/storage/raft/snapshot" {\n  capabilities = ["read"]\n}\n'


def snapshot_subject() -> str:
    """The `sub` of the backup pod's service account token."""
    return service_account_subject(naming.NAMESPACES["secrets"], naming.VAULT_BACKUP_SERVICE_ACCOUNT)


def snapshot_role() -> dict[str, Any]:
    """The JWT role, in the field names both Vault's API (`auth/<mount>/role/<name>`) and pulumi-vault's
    jwt.AuthBackendRole take."""
    return {
        "role_type": "jwt",
        "user_claim": "sub",
        "bound_subject": snapshot_subject(),
        "bound_audiences": [SNAPSHOT_AUDIENCE],
        "token_policies": [SNAPSHOT_POLICY],
        "token_no_default_policy": True,
        "token_num_uses": 1,
        "token_ttl": SNAPSHOT_TOKEN_SECONDS,
        "token_max_ttl": SNAPSHOT_TOKEN_SECONDS,
    }


def autopilot(cfg: StackConfig) -> dict[str, Any] | None:
    """Autopilot's configuration for the configured server count (Vault API field names), None for one server."""
    replicas = cfg.vault.server_replicas
    if replicas < 3:
        return None
    return {
        "cleanup_dead_servers": True,
        "dead_server_last_contact_threshold": DEAD_SERVER_THRESHOLD,
        "min_quorum": replicas,
    }


def deployer_rules() -> str:
    """What `pulumi up` needs in Vault for the resources below (appended to the deployer's policy): the JWT mount
    for the cluster's service accounts, its roles, the snapshot policy, autopilot's configuration."""
    mount = CLUSTER_JWT_MOUNT
    rules = [
        (f"sys/auth/{mount}", '"create", "read", "update", "delete", "sudo"'),
        # pulumi-vault reads the mount and its tuning through sys/mounts/auth/<path> (util/mountutil GetAuthMount).
        (f"sys/mounts/auth/{mount}", '"read"'),
        (f"sys/mounts/auth/{mount}/tune", '"read", "update"'),
        (f"auth/{mount}/*", '"create", "read", "update", "delete", "list"'),
        (f"sys/policies/acl/{SNAPSHOT_POLICY}", '"create", "read", "update", "delete"'),
        ("sys/storage/raft/autopilot/configuration", '"read", "update"'),
    ]
    return "".join(f'\npath "{path}" {{\n  capabilities = [{caps}]\n}}\n' for path, caps in rules)


class VaultRaft(pulumi.ComponentResource):
    """Autopilot and the snapshot job's identity, in the in-cluster Vault on Raft."""

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider: vault.Provider,
        oidc_issuer_url: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:vault:VaultRaft", name, None, opts)
        in_vault = pulumi.ResourceOptions(parent=self, provider=provider)
        settings = autopilot(cfg)
        if settings is not None:
            vault.RaftAutopilot("autopilot", **settings, opts=in_vault)
        mount = vault.jwt.AuthBackend(
            "cluster-jwt",
            path=CLUSTER_JWT_MOUNT,
            type="jwt",
            description="The cluster's service accounts, by their projected tokens (cdstack)",
            oidc_discovery_url=oidc_issuer_url,
            bound_issuer=oidc_issuer_url,
            opts=in_vault,
        )
        policy = vault.Policy("snapshot-policy", name=SNAPSHOT_POLICY, policy=snapshot_policy(), opts=in_vault)
        role = snapshot_role()
        self.snapshot_role = vault.jwt.AuthBackendRole(
            "snapshot-role",
            backend=mount.path,
            role_name=SNAPSHOT_ROLE,
            role_type=role["role_type"],
            user_claim=role["user_claim"],
            bound_subject=role["bound_subject"],
            bound_audiences=role["bound_audiences"],
            token_policies=[policy.name],
            token_no_default_policy=role["token_no_default_policy"],
            token_num_uses=role["token_num_uses"],
            token_ttl=role["token_ttl"],
            token_max_ttl=role["token_max_ttl"],
            opts=in_vault,
        )
        self.register_outputs({})
