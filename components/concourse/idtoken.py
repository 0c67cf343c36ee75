"""Concourse's `idtoken` var source, as facts: what a pipeline's token says (`iss`, `sub`, `aud`), how long it may
live, and how long the infra pipeline's token must live to outlast the longest `pulumi up`.

Verified in concourse/concourse at tag v8.1.1 (the version the pinned chart runs):
- atc/creds/idtoken/manager.go: the var source's config keys are `audience` (a list of strings), `subject_scope`,
  `expires_in` (a Go duration string) and `algorithm` (RS256 or ES256); any other key is refused. Defaults: scope
  `pipeline`, 1h; `MaxExpiresIn` is 24h and Validate() refuses a longer `expires_in`.
- atc/creds/idtoken/token_generator.go: claims `iss`, `iat`, `aud`, `sub`, `exp`, plus `team`, `pipeline`, `job` (and
  `instance_vars` when set). `sub` per scope: team `T`, pipeline `T/P`, instance `T/P/I`, job `T/P/I/J`, where I is
  the pipeline's instance vars as `key:value` pairs joined by commas (atc/pipeline.go InstanceVars.String(), empty
  for a pipeline without instance vars, hence `T/P//J`), and every `/` inside a part is escaped as `%2F`.
- atc/atccmd/command.go: the issuer is `--external-url` as given (flag.URL.String(), no slash added or removed), or
  `--oidc-issuer-url` when set; signing keys rotate every 168h (`--signing-key-rotation-period`) and a replaced key
  stays published for 24h (`--signing-key-grace-period`).
- atc/routes.go and atc/api/idtokenserver/openid_discovery.go: the ATC serves `/.well-known/openid-configuration`
  (issuer, `jwks_uri` = issuer + `/.well-known/jwks.json`) and `/.well-known/jwks.json`, without authentication.

Entra ID (learn.microsoft.com, "Important considerations and restrictions for federated identity credentials"): at
most 20 federated credentials per app or user-assigned identity; issuer and subject must equal the token's `iss` and
`sub` exactly (no wildcards, no normalisation: a trailing slash is a different issuer), each at most 600 characters;
the recommended audience is `api://AzureADTokenExchange`; RS256 is the tested signing algorithm.

How the token is read, and why its lifetime must cover a whole `up` (each task gets one token when its step starts,
written once to a file; nothing rewrites it during the task):
- pulumi-azure-native (provider/pkg/provider/auth.go, newOidcCredential): with `ARM_USE_OIDC=true` it reads
  `ARM_OIDC_TOKEN_FILE_PATH` once, when the provider is configured, and hands that same assertion to Entra at every
  refresh of its access token. So the assertion must still be valid at the last refresh of the `up`.
- hashicorp/terraform-provider-azuread (internal/provider/provider.go, which pulumi-azuread bridges): `use_oidc`,
  `oidc_token`, `oidc_token_file_path` from `ARM_USE_OIDC`, `ARM_OIDC_TOKEN`, `ARM_OIDC_TOKEN_FILE_PATH`.
- azure-identity 1.27.0 (Python; the program, tools/deployer_token.py): WorkloadIdentityCredential reads
  `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_CLIENT_ID`, `AZURE_TENANT_ID` and re-reads the file when its copy is older than
  10 minutes (TokenFileMixin), so a rewritten file would be picked up; Concourse does not rewrite it, hence the
  lifetime below.
- The Blob state backend and the Key Vault secrets provider are Go CDK openers (pulumi/pulumi
  pkg/backend/diy/backend.go opens `azblob://` through blob.DefaultURLMux; google/go-cloud blob/azureblob: a
  shared key only when AZURE_STORAGE_KEY is set, otherwise azidentity.NewDefaultAzureCredential; secrets/
  azurekeyvault: NewDefaultAzureCredential), whose chain includes the workload identity credential on the same three
  variables.
- Azure/kubelogin (docs/book/src/concepts/login-modes/workloadidentity.md): `--login workloadidentity`, or
  `AAD_LOGIN_METHOD=workloadidentity`, with the same three variables.
"""

from __future__ import annotations

import math
from typing import Literal

from components import catalog, upgrades
from components.config.schema import StackConfig
from components.problem import Problem

AZURE_AUDIENCE = "api://AzureADTokenExchange"
"""The audience Entra ID expects in a federated credential's assertion (and the one its docs recommend)."""

MAX_EXPIRES_IN = 24 * 3600
"""Concourse's longest `expires_in` (MaxExpiresIn, atc/creds/idtoken/manager.go)."""

MAX_FEDERATED_CREDENTIALS = 20
"""Entra ID's limit of federated identity credentials per app or user-assigned managed identity."""

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/.well-known/jwks.json"

Scope = Literal["team", "pipeline", "instance", "job"]


def issuer(external_url: str) -> str:
    """The `iss` Concourse puts in its tokens: its external URL exactly as configured. A trailing slash in the
    configuration would be in the claim too, and no relying party would match a credential written without it, so it
    is refused here rather than copied."""
    if external_url != external_url.strip() or external_url.endswith("/"):
        raise ValueError(f"a Concourse external URL must have no trailing slash or spaces, got {external_url!r}")
    return external_url


def _escape(part: str) -> str:
    return part.replace("/", "%2F")


def subject(team: str, pipeline: str, scope: str = "pipeline", job: str | None = None) -> str:
    """The `sub` Concourse issues for a pipeline without instance vars, in one of its subject scopes."""
    t, p = _escape(team), _escape(pipeline)
    if scope == "team":
        return t
    if scope == "pipeline":
        return f"{t}/{p}"
    if scope == "instance":
        return f"{t}/{p}/"
    if scope == "job":
        if not job:
            raise ValueError("the job subject scope needs a job name")
        return f"{t}/{p}//{_escape(job)}"
    raise ValueError(f"unknown subject scope {scope!r}: team, pipeline, instance or job")


def discovery_url(iss: str) -> str:
    return iss + DISCOVERY_PATH


def external_url(cfg: StackConfig) -> str:
    """The `--external-url` this stack gives its Concourse (services/concourse.py sets `web.externalUrl` from here),
    and so the `iss` of every token it issues: one function, so a federated credential cannot drift from it."""
    return f"https://{cfg.dns.host('concourse')}"


def stack_issuer(cfg: StackConfig) -> str:
    return issuer(external_url(cfg))


# ---------------------------------------------------------------------------------------------------------------------
# How long one `pulumi up` can wait, and so how long the infra pipeline's token must live

UP_MARGIN_SECONDS = 1800
"""Outside the waits counted below: `pulumi install`, plugin downloads, the policy pack, Azure creates and updates
that are not Helm releases (the modelled first `up` of prod takes about 16 minutes in all, docs/tooling.md figures)."""


def helm_wait_seconds(cfg: StackConfig) -> int:
    """Every Helm release's wait, one after the other: no chain of waits in one `up` is longer (Concourse counts
    twice: the web release and a worker generation). The stack's releases are a subset of the catalog."""
    return sum(chart.timeout_seconds for chart in catalog.CHARTS.values()) + catalog.CHARTS["concourse"].timeout_seconds


def team_wait_seconds(cfg: StackConfig) -> int:
    """The teams' waits on a first `up`: Concourse's certificate, then one team API operation (teams run side by
    side)."""
    return cfg.concourse.certificate_wait_seconds + cfg.concourse.team_api_budget_seconds


def node_upgrade_seconds(cfg: StackConfig) -> int:
    """An `up` that changes cluster.kubernetesVersion waits for AKS to upgrade the pools: the system pool with the
    cluster's update, the worker pool (its own AgentPool resource, a child of the cluster) after it. Each pool goes
    in batches of maxSurge nodes, each batch at worst a full drain timeout, the soak and a reimage
    (components/upgrades.py). The worker pool is taken at its autoscaler maximum."""
    c = cfg.cluster
    sizes: dict[upgrades.Pool, int] = {"system": c.system_pool.count, "workers": c.worker_pool.max_count}
    total = 0
    for pool, size in sizes.items():
        upgrade = upgrades.pool_upgrade(cfg, pool)
        batches = math.ceil(size / upgrades.surge_nodes(upgrade.max_surge, size))
        per_batch = upgrades.drain_timeout_minutes(cfg, pool) + upgrade.node_soak_minutes + upgrades.REIMAGE_MINUTES
        total += batches * per_batch * 60
    return total


def longest_up_seconds(cfg: StackConfig) -> int:
    """The longest one `pulumi up` of this stack can take, from the same figures as its Helm timeouts, the teams'
    waits and the pools' upgrade settings."""
    return helm_wait_seconds(cfg) + team_wait_seconds(cfg) + node_upgrade_seconds(cfg) + UP_MARGIN_SECONDS


def token_lifetime_seconds(cfg: StackConfig) -> int:
    """The `expires_in` the infra pipeline asks for when it deploys this stack: the longest `up`, rounded up to the
    hour (never more than Concourse issues; token_lifetime_problems refuses a stack that would need more)."""
    return min(math.ceil(longest_up_seconds(cfg) / 3600) * 3600, MAX_EXPIRES_IN)


def expires_in(seconds: int) -> str:
    """A lifetime as the Go duration string the var source's `expires_in` takes (whole hours: `11h`)."""
    if seconds % 3600:
        raise ValueError(f"expires_in is kept in whole hours, got {seconds} s")
    return f"{seconds // 3600}h"


def token_lifetime_problems(cfg: StackConfig) -> list[Problem]:
    """The pipeline's Azure and Vault logins rest on one Concourse token per task, read once: an `up` that can wait
    longer than Concourse's longest token fails at its first token refresh after that, half way through."""
    longest = longest_up_seconds(cfg)
    if longest <= MAX_EXPIRES_IN:
        return []
    workers = cfg.cluster.worker_pool
    return [
        Problem.at(
            "cluster.workerPool.maxCount",
            workers.max_count,
            f"makes the longest `up` {longest} s (Helm waits {helm_wait_seconds(cfg)}, teams "
            f"{team_wait_seconds(cfg)}, a Kubernetes upgrade of the pools {node_upgrade_seconds(cfg)}, margin "
            f"{UP_MARGIN_SECONDS}), longer than the {MAX_EXPIRES_IN} s token Concourse issues at most; raise "
            "cluster.workerPool.upgrade.maxSurge (upgrade more nodes at once), lower maxCount or "
            "concourse.workerDrainSeconds",
        )
    ]
