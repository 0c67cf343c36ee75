"""Vault access for Concourse: the KV mount it reads, a read/list policy on exactly that mount, an approle for it.

Concourse logs in with approle and reads `<prefix>/<team>/<pipeline>/<secret>`, `<prefix>/<team>/<secret>` and
`<prefix>/<sharedPath>/<secret>`. The mount is KV v2 (secret history and undelete for operators); Concourse detects
the version itself. The role id and secret id are generated here, as Pulumi secrets, pushed into Vault (approle's
custom role id and custom secret id) and handed to Concourse as the web Secret's `vault-client-auth-param`, so no
person copies an id, and Concourse need not wait for Vault: its web logs in in the background, retrying with
exponential backoff (1 s up to 5 min, forever: concourse atc/creds/vault/reauther.go and manager.go's defaults), so it
installs while Vault is still being initialised and logs in once the approle below exists. That takes Vault's chain
(Consul, Vault, its initialisation, the approle) off the first `up`'s critical path (issue 15).

Who talks to Vault: for the in-cluster Vault, whoever runs `pulumi up`, at its public host (Let's Encrypt, verified
against the system roots; behind the ingress, the hop to Vault's TLS listener is verified against the internal CA:
components/services/secrets.py), logged in with their own Entra ID token through Vault's JWT auth
(components/vault/login.py, the token from TERRAFORM_VAULT_AUTH_JWT); the provider waits until `VaultInit` has
initialised Vault and set that login up, so a new environment needs nothing from a person. An external Vault is run
by others: the provider logs in as its own environment says (VAULT_TOKEN and friends). No credential is ever a stack
value, and none a provider input in the state.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_random as random
import pulumi_vault as vault

from components.concourse import limits as concourse_limits
from components.config.schema import StackConfig
from components.durations import go_duration_seconds
from components.vault import login as vault_login
from components.vault.init import VaultInit

KV_VERSION = "2"
CONCOURSE_POLICY = "concourse"
CONCOURSE_ROLE = "concourse"
APPROLE_PATH = "approle"
ID_LENGTH = 40
"""Characters of the generated role id and secret id (Vault's own are 36-character UUIDs)."""
AUDIT_PATH = "stdout"


def audit_device() -> dict[str, Any]:
    """The in-cluster Vault's audit device: a `file` device writing JSON lines to stdout (Vault docs, audit/file:
    `file_path` accepts the keyword `stdout`). Filebeat ships the container's stdout to Elasticsearch like every pod
    log (components/services/logging.py), where the vault-* ElastAlert rules read it.

    Why one stdout device: Vault refuses every request when no enabled audit device can record it (fail closed). A
    file on a volume fills up or needs rotating (SIGHUP), a socket device fails with its listener; stdout fails only
    with the container runtime, which would stop Vault anyway. Secret values and tokens are HMAC-SHA256'd in the log
    (`log_raw` stays false), so Elasticsearch receives who did what on which path, never a credential."""
    return {"type": "file", "path": AUDIT_PATH, "options": {"file_path": "stdout", "format": "json"}}


def audit_description(cfg: StackConfig) -> str:
    """Where the audit log goes: to Elasticsearch where the stack runs it; a lean stack (parts.elasticsearch off)
    keeps it in the container log only (`kubectl logs`)."""
    if cfg.parts.elasticsearch:
        return "Every request and response, to stdout: Filebeat ships it to Elasticsearch (cdstack)"
    return "Every request and response, to stdout: the container log (cdstack)"


def address(cfg: StackConfig) -> str:
    """Where Vault answers: the in-cluster Vault behind the ingress, or the configured external one."""
    if cfg.vault.mode == "external":
        assert cfg.vault.address is not None  # check_rules() requires it in external mode
        return cfg.vault.address.rstrip("/")
    return f"https://{cfg.dns.host('vault')}"


def token_lifetime_seconds(cfg: StackConfig) -> int:
    """How long the provider's Vault token lives: the longest release wait of the `up`, plus an hour for the rest."""
    return concourse_limits.upgrade_wait_seconds(cfg) + 3600


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


def provider_auth_login(
    cfg: StackConfig, initialised: pulumi.Output[str] | None, infra_trust: pulumi.Output[dict[str, Any]] | None = None
) -> vault.ProviderAuthLoginJwtArgs | None:
    """The deployer's JWT login to the in-cluster Vault: the mount and the role, chosen once `initialised` is known
    (the initialiser's id: on a first preview Vault does not exist, so there is nothing to log in to); None for an
    external Vault. No `jwt`: the provider reads the token from TERRAFORM_VAULT_AUTH_JWT (components/vault/login.py),
    so the state holds none and a new token is no provider change. On a first `up` the login comes after Vault's
    initialisation, so the token's lifetime is checked again here, with a message that says what to do."""
    if initialised is None:
        return None
    deployer = vault_login.current()
    ids = cfg.vault.deployer_object_ids
    both = pulumi.Output.all(initialised, infra_trust)
    role = both.apply(lambda values: vault_login.vault_login_role(deployer, ids, values[1]))
    mount = both.apply(lambda values: vault_login.login_mount(deployer, values[1]))
    return vault.ProviderAuthLoginJwtArgs(role=role, mount=mount)


class VaultAccess(pulumi.ComponentResource):
    """The Vault side of Concourse's credential manager. `vault_auth_param` is a secret for the web Secret."""

    provider: vault.Provider
    mount: vault.Mount
    audit: vault.Audit | None
    vault_auth_param: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        initialised: VaultInit | None,
        infra_trust: pulumi.Output[dict[str, Any]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`initialised` is the in-cluster Vault's initialiser (None for an external Vault); `infra_trust` the infra
        pipeline's token its deployer login trusts (vault_pipeline_login.trust)."""
        super().__init__("cdstack:vault:VaultAccess", name, None, opts)
        self.address = address(cfg)
        self.mount_path = mount_path(cfg)

        self.provider = vault.Provider(
            "vault",
            address=self.address,
            auth_login_jwt=provider_auth_login(cfg, initialised.id if initialised else None, infra_trust),
            # The provider's child token must outlive the whole `up`: a replaced secret id is destroyed only after
            # Concourse's release, which may wait for every worker's drain (default TTL: 1200 s). Its parent, the
            # deployer's JWT login, lives as long (vault_bootstrap passes the same lifetime to the login's roles).
            max_lease_ttl_seconds=token_lifetime_seconds(cfg),
            # Nothing reads or writes Vault before it is initialised and the deployer login exists.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[initialised] if initialised else []),
        )
        in_vault = pulumi.ResourceOptions(parent=self, provider=self.provider)
        child = pulumi.ResourceOptions(parent=self)

        # The in-cluster Vault records every request from here on; an external Vault's audit is its owners' business.
        self.audit = None
        if initialised is not None:
            device = audit_device()
            self.audit = vault.Audit(
                "audit",
                type=device["type"],
                path=device["path"],
                options=device["options"],
                description=audit_description(cfg),
                opts=in_vault,
            )

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
        # Letters and digits only: `:` and `,` separate the auth param's fields.
        role_id = random.RandomPassword("concourse-role-id", length=ID_LENGTH, special=False, opts=child)
        secret_id_value = random.RandomPassword(
            "concourse-secret-id-value",
            length=ID_LENGTH,
            special=False,
            # A new generation is a new value: the rotation below.
            keepers={"generation": str(cfg.vault.secret_id_generation)},
            opts=child,
        )
        role = vault.approle.AuthBackendRole(
            "concourse-role",
            backend=approle.path,
            role_name=CONCOURSE_ROLE,
            role_id=pulumi.Output.secret(role_id.result),  # a credential half: secret in the state too
            token_policies=[policy.name],
            token_ttl=go_duration_seconds(cfg.vault.token_ttl),
            token_max_ttl=go_duration_seconds(cfg.vault.token_max_ttl),
            # Concourse cannot fetch a new secret id itself: it lives until rotated (vault.secretIdGeneration).
            secret_id_ttl=0,
            opts=in_vault,
        )
        vault.approle.AuthBackendRoleSecretId(
            "concourse-secret-id",
            backend=approle.path,
            role_name=role.role_name,
            # Bumping the generation replaces the secret id: the new one is created and handed to Concourse before
            # the old one is destroyed.
            metadata=json.dumps({"generation": str(cfg.vault.secret_id_generation)}),
            secret_id=secret_id_value.result,  # "push" mode: Vault stores the id it is given
            opts=pulumi.ResourceOptions.merge(in_vault, pulumi.ResourceOptions(replace_on_changes=["metadata"])),
        )
        # From the generated values, not from the Vault resources: Concourse's web Secret (and so its release) does
        # not wait for Vault. On a rotation the web rolls out with the new id a moment before Vault has it, and its
        # login loop retries until it does; the old id is destroyed only after the new one is stored.
        self.vault_auth_param = pulumi.Output.secret(
            pulumi.Output.all(role_id.result, secret_id_value.result).apply(lambda ids: auth_param(ids[0], ids[1]))
        )
        self.register_outputs({"vaultAuthParam": self.vault_auth_param})
