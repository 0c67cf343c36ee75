"""The infra stack sets its own pipeline: ci/pipeline.yml as pipeline `cdstack` of team `main` on its Concourse,
through the same resource as the canary (components/concourse/pipelines.py: diffed as text, updated in place on
`up`), and the pipeline's vars the stack knows, in its Vault at the main team's path.

Which `((vars))` of ci/pipeline.yml the stack writes, and which stay with an operator:
- `azure-<environment>` (`client_id`, `tenant_id`, `subscription_id`): the deployer identities it creates
  (components/azure/deployers.py); identifiers, no secret;
- `pulumi-state` (`backend_url`, `storage_account`): from `cdstack:stateBackend`, when set;
- left to an operator, because only a person can supply them: `cdstack-git` (the repository and a read-only deploy
  key), `task-image` (the registry and its push token), `concourse-smoke-<environment>` (a local user of the
  deployed stack's Concourse). docs/first-deployment.md says how.

The config is read from the repository when the program runs, so the pipeline Concourse runs is the one in the
commit the laptop `up` ran from; later commits reach it through the pipeline's own set_pipeline step, and the next
laptop `up` of the infra stack sees no diff unless git moved on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pulumi_vault as vault

from components.concourse import infra_pipeline
from components.concourse.pipelines import ConcoursePipeline
from components.concourse.teams import Teams
from components.config.schema import StackConfig
from components.vault.access import VaultAccess

PIPELINE_FILE = Path(__file__).resolve().parents[1] / "ci" / "pipeline.yml"
STATE_SECRET = "pulumi-state"
OPERATOR_SECRETS = {
    "cdstack-git": "the repository's URI and a read-only deploy key (a key only a person can register with git)",
    "task-image": "the task image's repository and a push token (README: The task image)",
    "concourse-smoke-staging": "a local user of staging's Concourse main team, for the smoke test's worker check",
    "concourse-smoke-prod": "a local user of prod's Concourse main team, for the smoke test's worker check",
}
"""The pipeline's vars an operator writes once, in the infra Vault at `<prefix>/main/<name>`, and why the stack
cannot."""


def deployer_secret(environment: str) -> str:
    """The var ci/pipeline.yml reads an environment's deployer identity from (`((azure-<environment>.client_id))`)."""
    return f"azure-{environment}"


def pipeline_config() -> str:
    """ci/pipeline.yml as committed: the config Concourse is given, byte for byte."""
    return PIPELINE_FILE.read_text()


def deployer_vars(client_id: str, tenant_id: str, subscription_id: str) -> dict[str, str]:
    return {"client_id": client_id, "tenant_id": tenant_id, "subscription_id": subscription_id}


def state_vars(cfg: StackConfig) -> dict[str, str] | None:
    backend = cfg.state_backend
    if backend is None:
        return None
    return {"backend_url": backend.url, "storage_account": backend.storage_account}


class InfraPipeline(pulumi.ComponentResource):
    """The vars the stack knows, then the pipeline: its first build finds them in Vault."""

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        vault_access: VaultAccess,
        teams: Teams,
        admin_password: pulumi.Input[str],
        deployer_ids: dict[str, tuple[pulumi.Output[str], pulumi.Output[str]]],
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`deployer_ids`: environment -> (client id, tenant id) of its deployer identity."""
        super().__init__("cdstack:concourse:InfraPipeline", name, None, opts)
        in_vault = pulumi.ResourceOptions(parent=self, provider=vault_access.provider)
        secrets: list[pulumi.Resource] = []
        subscriptions = {d.environment: d.subscription_id for d in cfg.deployers}
        for environment, (client_id, tenant_id) in deployer_ids.items():
            data = pulumi.Output.all(client_id, tenant_id).apply(
                lambda ids, env=environment: json.dumps(deployer_vars(ids[0], ids[1], subscriptions[env]))
            )
            secrets.append(self._secret(vault_access, deployer_secret(environment), data, in_vault))
        state = state_vars(cfg)
        if state is not None:
            secrets.append(self._secret(vault_access, STATE_SECRET, json.dumps(state), in_vault))
        self.pipeline = ConcoursePipeline(
            "infra-pipeline",
            team_name=infra_pipeline.TEAM,
            pipeline_name=infra_pipeline.PIPELINE,
            config=pipeline_config(),
            url=f"https://{cfg.dns.host('concourse')}",
            admin_user=cfg.concourse.admin_user,
            admin_password=admin_password,
            budget_seconds=cfg.concourse.team_api_budget_seconds,
            # The main team comes with Concourse (Helm values): the pipeline waits for its API; and for the vars, so
            # the first build does not fail on a missing one. Neither is an input of the pipeline.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[teams.api_ready, *secrets]),
        )
        self.register_outputs({})

    def _secret(
        self, vault_access: VaultAccess, key: str, data: pulumi.Input[str], opts: pulumi.ResourceOptions
    ) -> vault.kv.SecretV2:
        return vault.kv.SecretV2(
            f"infra-pipeline-{key}",
            mount=vault_access.mount.path,
            name=f"{infra_pipeline.TEAM}/{key}",
            delete_all_versions=True,
            data_json=data,
            opts=opts,
        )
