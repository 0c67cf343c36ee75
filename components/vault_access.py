"""Vault access for Concourse: the KV mount it reads, a read/list policy on exactly that mount, an approle for it.

Concourse logs in with approle and reads `<prefix>/<team>/<pipeline>/<secret>`, `<prefix>/<team>/<secret>` and
`<prefix>/<sharedPath>/<secret>`. The mount is KV v2 (secret history and undelete for operators); Concourse detects
the version itself. The role id and secret id are Vault's own, generated here and handed to Concourse as the web
Secret's `vault-client-auth-param`, so no person copies an id.

Who talks to Vault: a person runs `pulumi up` with `VAULT_TOKEN` in the environment (the provider reads it itself);
the infra Concourse job sets `VAULT_ROLE_ID` and `VAULT_SECRET_ID` instead. No credential is ever a stack value.

A brand-new in-cluster Vault answers nothing until an operator has initialised it once (README: Vault bootstrap
runbook). Until `cdstack:vault.initialized` says so, this component creates nothing in Vault and warns.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_vault as vault

from components.config import StackConfig, go_duration_seconds
from components.services import concourse

KV_VERSION = "2"
CONCOURSE_POLICY = "concourse"
CONCOURSE_ROLE = "concourse"
APPROLE_PATH = "approle"
APPROLE_ENV = ("VAULT_ROLE_ID", "VAULT_SECRET_ID")

# What Concourse gets before Vault is initialised: a well-formed approle param that Vault refuses, so web starts,
# and its log names the cause ("invalid role ID") until the second `pulumi up` writes the real one.
BOOTSTRAP_AUTH_PARAM = "role_id:vault-not-initialized,secret_id:vault-not-initialized"


def address(cfg: StackConfig) -> str:
    """Where Vault answers: the in-cluster Vault behind the ingress, or the configured external one."""
    if cfg.vault.mode == "external":
        assert cfg.vault.address is not None  # check_rules() requires it in external mode
        return cfg.vault.address.rstrip("/")
    return f"https://{cfg.dns.host('vault')}"


def configurable(cfg: StackConfig) -> bool:
    """Whether Vault can take configuration now: an external Vault always, the in-cluster one once initialised."""
    return cfg.vault.mode == "external" or cfg.vault.initialized


def token_lifetime_seconds(cfg: StackConfig) -> int:
    """How long the provider's Vault token lives: the longest release wait of the `up`, plus an hour for the rest."""
    return concourse.release_timeout_seconds(cfg) + 3600


def mount_path(cfg: StackConfig) -> str:
    """The KV mount's path: Concourse's path prefix without its leading slash."""
    return cfg.vault.path_prefix.strip("/")


def concourse_policy(mount: str) -> str:
    """Read secrets and list their names under the mount, nothing else (KV v2 keeps them under data/ and metadata/)."""
    return (
        f'path "{mount}/data/*" {{\n  capabilities = ["read"]\n}}\n'
        "\n"
        f'path "{mount}/metadata/*" {{\n  capabilities = ["list"]\n}}\n'
    )


def auth_param(role_id: str, secret_id: str) -> str:
    """The approle login parameters in the form the Concourse chart puts into CONCOURSE_VAULT_AUTH_PARAM."""
    return f"role_id:{role_id},secret_id:{secret_id}"


def provider_auth_login(environ: Mapping[str, str]) -> vault.ProviderAuthLoginArgs | None:
    """Approle login for the infra Concourse job, when its environment carries both ids; else None (VAULT_TOKEN)."""
    role_id, secret_id = (environ.get(key, "") for key in APPROLE_ENV)
    if not role_id and not secret_id:
        return None
    if not role_id or not secret_id:
        missing = APPROLE_ENV[0] if not role_id else APPROLE_ENV[1]
        raise pulumi.RunError(f"Vault approle login needs both {' and '.join(APPROLE_ENV)}; {missing} is not set")
    return vault.ProviderAuthLoginArgs(
        path=f"auth/{APPROLE_PATH}/login",
        parameters={"role_id": pulumi.Output.secret(role_id), "secret_id": pulumi.Output.secret(secret_id)},
    )


class VaultAccess(pulumi.ComponentResource):
    """The Vault side of Concourse's credential manager. `vault_auth_param` is a secret for the web Secret."""

    provider: vault.Provider | None
    mount: vault.Mount | None
    vault_auth_param: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        vault_ready: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:vault:VaultAccess", name, None, opts)
        self.address = address(cfg)
        self.mount_path = mount_path(cfg)
        self.provider = None
        self.mount = None

        if not configurable(cfg):
            pulumi.log.warn(
                f"Vault at {self.address} is not initialised yet, so its mount, policy, approle and the teams' "
                "credentials are skipped and Concourse cannot read credentials. Initialise Vault once (README: "
                "Vault bootstrap runbook), then `pulumi config set --path cdstack:vault.initialized true` and run "
                "`pulumi up` again.",
                resource=self,
            )
            self.vault_auth_param = pulumi.Output.secret(BOOTSTRAP_AUTH_PARAM)
            self.register_outputs({})
            return

        self.provider = vault.Provider(
            "vault",
            address=self.address,
            auth_login=provider_auth_login(os.environ),
            # The provider's child token must outlive the whole `up`: a replaced secret id is destroyed only after
            # Concourse's release, which may wait for every worker's drain (default TTL: 1200 s).
            max_lease_ttl_seconds=token_lifetime_seconds(cfg),
            # The address is a plain string, so nothing else orders the provider after the Vault release; Vault
            # answers (pods Ready behind the ingress) only once that release is up.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(vault_ready)),
        )
        in_vault = pulumi.ResourceOptions(parent=self, provider=self.provider)

        self.mount = vault.Mount(
            "kv",
            path=self.mount_path,
            type="kv",
            options={"version": KV_VERSION},
            description="Concourse credentials: <team>/<pipeline>/<name>, <team>/<name>, shared ones under "
            f"{cfg.vault.shared_path}/ (managed by cdstack)",
            # Every team's secrets live in this mount: deleting it deletes them.
            opts=pulumi.ResourceOptions.merge(in_vault, pulumi.ResourceOptions(protect=cfg.production)),
        )
        policy = vault.Policy(
            "concourse-policy", name=CONCOURSE_POLICY, policy=concourse_policy(self.mount_path), opts=in_vault
        )
        approle = vault.AuthBackend(
            "approle", type="approle", path=APPROLE_PATH, description="Machine logins (cdstack)", opts=in_vault
        )
        role = vault.approle.AuthBackendRole(
            "concourse-role",
            backend=approle.path,
            role_name=CONCOURSE_ROLE,
            token_policies=[policy.name],
            token_ttl=go_duration_seconds(cfg.vault.token_ttl),
            token_max_ttl=go_duration_seconds(cfg.vault.token_max_ttl),
            # Concourse cannot fetch a new secret id itself: it lives until rotated (vault.secretIdGeneration).
            secret_id_ttl=0,
            opts=in_vault,
        )
        secret_id = vault.approle.AuthBackendRoleSecretId(
            "concourse-secret-id",
            backend=approle.path,
            role_name=role.role_name,
            # Bumping the generation replaces the secret id: the new one is created and handed to Concourse before
            # the old one is destroyed.
            metadata=json.dumps({"generation": str(cfg.vault.secret_id_generation)}),
            opts=pulumi.ResourceOptions.merge(in_vault, pulumi.ResourceOptions(replace_on_changes=["metadata"])),
        )
        self.vault_auth_param = pulumi.Output.secret(
            pulumi.Output.all(role.role_id, secret_id.secret_id).apply(lambda ids: auth_param(ids[0], ids[1]))
        )
        self.register_outputs({"vaultAuthParam": self.vault_auth_param})
