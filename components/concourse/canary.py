"""The canary: a pipeline the stack owns, in its own cdstack-smoke team, that runs the task part of the end-to-end
smoke every few minutes, so a stack that stops being able to run a build says so within periods, not at the next
deploy.

Each build is scheduled on the worker pool (the time resource triggers it), pulls a small pinned image (the worker's
path to the registry), and runs one task that proves:
- Concourse reads the team's credentials from Vault: `((canary-marker.value))`, which the stack writes at
  `<prefix>/cdstack-smoke/canary-marker`, equals the value the pipeline expects (compared, never printed);
- DNS works inside a build container: an external name (the registry the image comes from) and every public host of
  the stack resolve.
Every check prints one line. ConcourseCanaryFailing and ConcourseCanaryNotScheduled (alerts/prometheus/canary.yaml)
watch its builds through Concourse's metrics, Grafana's Concourse dashboard shows their duration and outcome.

The marker is not a secret: it proves the path (approle login, policy, the team's path prefix), not a credential, and
a fixed per-stack value keeps the pipeline's config a pure function of the configuration, readable in the plans.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_vault as vault
import yaml

from components import catalog, naming
from components.concourse.pipelines import ConcoursePipeline
from components.concourse.teams import Teams
from components.config.schema import StackConfig
from components.vault.access import VaultAccess

PIPELINE = "canary"
JOB = "canary"
TRIGGER = "period"
"""The time resource: a new version every period, each a build."""
MARKER_SECRET = "canary-marker"
"""Vault secret under <prefix>/cdstack-smoke/, field `value`."""
IMAGE_REPOSITORY = "busybox"
"""Small, with sh and nslookup; pinned in catalog.IMAGES. From Docker Hub, whose registry is the external name."""
EXTERNAL_NAME = "registry-1.docker.io"

SCRIPT = """\
failed=0
if [ "$CANARY_MARKER" = "$EXPECTED_MARKER" ]; then
  echo "vault: read the team's canary-marker through Concourse's credential manager"
else
  echo "vault: FAILED: canary-marker is not the value the stack wrote"; failed=1
fi
for name in $NAMES; do
  if nslookup "$name" >/dev/null 2>&1; then
    echo "dns: $name resolves"
  else
    echo "dns: FAILED: $name does not resolve inside the build container"; failed=1
  fi
done
echo "image: $IMAGE pulled and started"
exit $failed
"""


def marker(cfg: StackConfig) -> str:
    """The value the stack writes to Vault and the canary expects: per stack, so a Concourse reading another stack's
    Vault fails."""
    return f"canary-{cfg.name}-{cfg.stack}"


def names_to_resolve(cfg: StackConfig) -> list[str]:
    return [EXTERNAL_NAME, *cfg.public_hosts().values()]


def pipeline_config(cfg: StackConfig) -> dict[str, Any]:
    """The canary pipeline, as Concourse's pipeline config (atc.Config at v8.1.1)."""
    minutes = cfg.canary.interval_minutes
    image = f"{IMAGE_REPOSITORY}:{catalog.IMAGES['busybox']}"
    return {
        "resources": [
            {"name": TRIGGER, "type": "time", "icon": "clock-outline", "source": {"interval": f"{minutes}m"}}
        ],
        "jobs": [
            {
                "name": JOB,
                # One build at a time: a slow build delays the next instead of piling up containers.
                "serial": True,
                "plan": [
                    {"get": TRIGGER, "trigger": True},
                    {
                        "task": "probe",
                        # A build slower than its period is failing: it would only delay the next one.
                        "timeout": f"{minutes}m",
                        "params": {
                            "CANARY_MARKER": f"(({MARKER_SECRET}.value))",
                            "EXPECTED_MARKER": marker(cfg),
                            "NAMES": " ".join(names_to_resolve(cfg)),
                            "IMAGE": image,
                        },
                        "config": {
                            "platform": "linux",
                            "image_resource": {
                                "type": "registry-image",
                                "source": {"repository": IMAGE_REPOSITORY, "tag": catalog.IMAGES["busybox"]},
                            },
                            "run": {"path": "sh", "args": ["-c", SCRIPT]},
                        },
                    },
                ],
            }
        ],
    }


def pipeline_yaml(cfg: StackConfig) -> str:
    """The config as `fly set-pipeline` sends it; key order kept, so the diff of a change reads like the source."""
    return yaml.safe_dump(pipeline_config(cfg), sort_keys=False, width=120)


class Canary(pulumi.ComponentResource):
    """The canary's Vault marker and its pipeline in the smoke team, set through Concourse's API as the admin."""

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        vault_access: VaultAccess,
        teams: Teams,
        admin_password: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:concourse:Canary", name, None, opts)
        self.marker = vault.kv.SecretV2(
            "canary-marker",
            mount=vault_access.mount.path,
            name=f"{naming.SMOKE_TEAM}/{MARKER_SECRET}",
            delete_all_versions=True,
            data_json=json.dumps({"value": marker(cfg)}),
            opts=pulumi.ResourceOptions(parent=self, provider=vault_access.provider),
        )
        self.pipeline = ConcoursePipeline(
            "canary-pipeline",
            team_name=naming.SMOKE_TEAM,
            pipeline_name=PIPELINE,
            config=pipeline_yaml(cfg),
            url=f"https://{cfg.dns.host('concourse')}",
            admin_user=cfg.concourse.admin_user,
            admin_password=admin_password,
            budget_seconds=cfg.concourse.team_api_budget_seconds,
            # The team must exist before its pipeline, and the marker before the first build reads it; neither is an
            # input of the pipeline (its names are plain strings).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[teams.teams[naming.SMOKE_TEAM], self.marker]),
        )
        self.register_outputs({})
