"""Smoke test of a deployed stack: is what `pulumi up` just deployed actually serving?

    pulumi stack output --json --stack <stack> > outputs.json
    CONCOURSE_USERNAME=... CONCOURSE_PASSWORD=... python -m tools.smoke --outputs outputs.json

Checks, each reported on its own line:
- Concourse `/api/v1/info` reports the Concourse version the deployed chart ships (CONCOURSE_APP_VERSIONS);
- at least the configured number of workers are `running` and none is `stalled` (`/api/v1/workers`, with a bearer
  token from a password grant for a local user of the main team, the way fly logs in);
- Vault is initialised and unsealed (`/v1/sys/health`), and runs the pinned image's version (its `version` against
  the release set's `images.vault`): an upgrade the pods never took shows here;
- Grafana's `/api/health` reports its database ok; Kibana's `/api/status` reports `available` (anonymous status
  needs Kibana's `status.allowAnonymous: true`).
URLs and expectations come from the stack's own outputs, so the test checks exactly what that stack declared.

Then the end-to-end stage (tools/smoke_e2e.py: a build in the cdstack-smoke team, and its logs, metrics and alert
where on-call looks; it needs VAULT_TOKEN, or VAULT_ROLE to log in as the deployer), unless `--health-only`. With
`--port-forward` it reaches the in-cluster services and reads their logins through the Kubernetes API as the caller
(tools/cluster_access.py). When
both stages pass, the run is attested (components/attestation.py): {stack, release set, commit, time, result}
beside the state, where the next stack's promotion gate reads it. STACK names the stack; the commit is `--commit`,
GIT_COMMIT or the pipeline's checkout (.git/ref).
Exits 0 when every check passes, 1 with one message per failed check (the end-to-end stage names its first broken
link in the last line), 2 when it cannot start.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components import attestation
from components.concourse import team_api
from tools import cluster_access, smoke_e2e

# Concourse version each concourse chart version ships (the chart's appVersion). Add a row with every chart bump:
# tests check it against the chart's Chart.yaml.
CONCOURSE_APP_VERSIONS = {
    "20.1.3": "8.1.1",
}

# fly's public OAuth client (Concourse's own CLI client id and secret; not a credential of this project).
FLY_CLIENT = ("fly", "Zmx5")
FLY_SCOPE = "openid profile email federated:id groups"

VAULT_HEALTH = {
    200: (True, "initialised, unsealed, active"),
    429: (True, "unsealed standby"),
    472: (True, "disaster-recovery secondary, unsealed"),
    473: (True, "performance standby, unsealed"),
    501: (False, "not initialised"),
    503: (False, "sealed"),
}


class SmokeError(Exception):
    """The smoke test cannot start: bad outputs, missing credentials, an unknown chart version."""


@dataclass(frozen=True)
class Expectations:
    concourse_url: str
    vault_url: str
    grafana_url: str
    kibana_url: str | None
    """None where the stack runs no Kibana (a lean stack: parts.elasticsearch off), so its check is skipped."""
    concourse_chart: str
    concourse_version: str
    workers: int
    vault_version: str

    @classmethod
    def from_outputs(cls, outputs: dict[str, Any]) -> Expectations:
        try:
            chart = outputs["releaseSet"]["charts"]["concourse"]
            expected = cls(
                concourse_url=outputs["concourseUrl"].rstrip("/"),
                vault_url=outputs["vaultUrl"].rstrip("/"),
                grafana_url=outputs["grafanaUrl"].rstrip("/"),
                kibana_url=outputs["kibanaUrl"].rstrip("/") if "kibanaUrl" in outputs else None,
                concourse_chart=chart,
                concourse_version=CONCOURSE_APP_VERSIONS.get(chart, ""),
                workers=int(outputs["concourseWorkers"]),
                vault_version=outputs["releaseSet"]["images"]["vault"],
            )
        except (KeyError, TypeError, ValueError) as error:
            raise SmokeError(f"the stack outputs lack {error} (run against `pulumi stack output --json`)") from None
        if not expected.concourse_version:
            raise SmokeError(f"no known Concourse version for chart {chart}: add it to CONCOURSE_APP_VERSIONS")
        return expected


@dataclass(frozen=True)
class Response:
    status: int
    body: Any
    """Parsed JSON, or None when the body is not JSON."""


def request(url: str, timeout: float, headers: dict[str, str] | None = None, data: bytes | None = None) -> Response:
    """One HTTP request; an error status is a Response too. Raises OSError when nothing answers."""
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return Response(status, body)


def check_concourse_version(e: Expectations, timeout: float) -> str | None:
    answer = request(f"{e.concourse_url}/api/v1/info", timeout)
    if answer.status != 200 or not isinstance(answer.body, dict):
        return f"Concourse {e.concourse_url}/api/v1/info answered HTTP {answer.status}"
    version = answer.body.get("version")
    if version != e.concourse_version:
        return f"Concourse runs {version}, expected {e.concourse_version} (chart {e.concourse_chart})"
    return None


def concourse_token(e: Expectations, username: str, password: str, timeout: float) -> str:
    form = {"grant_type": "password", "username": username, "password": password, "scope": FLY_SCOPE}
    basic = base64.b64encode(":".join(FLY_CLIENT).encode()).decode()
    answer = request(
        f"{e.concourse_url}/sky/issuer/token",
        timeout,
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        data=urllib.parse.urlencode(form).encode(),
    )
    if answer.status != 200 or not isinstance(answer.body, dict) or "access_token" not in answer.body:
        raise PermissionError(f"Concourse login as {username} failed with HTTP {answer.status}")
    return answer.body["access_token"]


def check_concourse_workers(e: Expectations, username: str, password: str, timeout: float) -> str | None:
    try:
        token = concourse_token(e, username, password, timeout)
    except PermissionError as error:
        return str(error)
    answer = request(f"{e.concourse_url}/api/v1/workers", timeout, headers={"Authorization": f"Bearer {token}"})
    if answer.status != 200 or not isinstance(answer.body, list):
        return f"Concourse {e.concourse_url}/api/v1/workers answered HTTP {answer.status}"
    running = [w for w in answer.body if w.get("state") == "running"]
    stalled = sorted(w.get("name", "?") for w in answer.body if w.get("state") == "stalled")
    problems = []
    if len(running) < e.workers:
        problems.append(f"{len(running)} of {e.workers} expected Concourse workers running")
    if stalled:
        problems.append(f"stalled Concourse workers: {', '.join(stalled)}")
    return "; ".join(problems) or None


def check_vault(e: Expectations, timeout: float) -> str | None:
    answer = request(f"{e.vault_url}/v1/sys/health", timeout)
    ok, meaning = VAULT_HEALTH.get(answer.status, (False, f"unexpected HTTP {answer.status}"))
    return None if ok else f"Vault {e.vault_url} is {meaning} (/v1/sys/health answered HTTP {answer.status})"


def check_vault_version(e: Expectations, timeout: float) -> str | None:
    """sys/health's `version` is the server's (every answer carries it, standby or sealed); an Enterprise build
    adds `+ent`."""
    answer = request(f"{e.vault_url}/v1/sys/health", timeout)
    version = answer.body.get("version") if isinstance(answer.body, dict) else None
    if version is None:
        return f"Vault {e.vault_url}/v1/sys/health answered HTTP {answer.status} without a version"
    if version.split("+", 1)[0] != e.vault_version:
        return f"Vault runs {version}, expected {e.vault_version} (the pinned image): its pods did not take the upgrade"
    return None


def check_grafana(e: Expectations, timeout: float) -> str | None:
    answer = request(f"{e.grafana_url}/api/health", timeout)
    database = answer.body.get("database") if isinstance(answer.body, dict) else None
    if answer.status != 200 or database != "ok":
        return f"Grafana {e.grafana_url}/api/health answered HTTP {answer.status}, database {database!r}"
    return None


def check_kibana(e: Expectations, timeout: float) -> str | None:
    assert e.kibana_url is not None
    answer = request(f"{e.kibana_url}/api/status", timeout)
    body = answer.body if isinstance(answer.body, dict) else {}
    level = (body.get("status") or {}).get("overall", {}).get("level")
    if answer.status != 200 or level != "available":
        return f"Kibana {e.kibana_url}/api/status answered HTTP {answer.status}, overall level {level!r}"
    return None


def run_checks(e: Expectations, username: str, password: str, timeout: float) -> list[tuple[str, str | None]]:
    """(check name, failure message or None) for every check; a check that cannot connect fails, the rest go on."""
    checks = {
        "concourse version": lambda: check_concourse_version(e, timeout),
        "concourse workers": lambda: check_concourse_workers(e, username, password, timeout),
        "vault unsealed": lambda: check_vault(e, timeout),
        "vault version": lambda: check_vault_version(e, timeout),
        "grafana": lambda: check_grafana(e, timeout),
    }
    if e.kibana_url is not None:  # a part the stack does not run is skipped, not failed
        checks["kibana"] = lambda: check_kibana(e, timeout)
    results: list[tuple[str, str | None]] = []
    for name, check in checks.items():
        try:
            results.append((name, check()))
        except OSError as error:  # refused, timed out, DNS, TLS
            results.append((name, f"no answer: {getattr(error, 'reason', error)}"))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.smoke", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--outputs", type=Path, required=True, help="JSON of `pulumi stack output --json`")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request (default 10)")
    parser.add_argument("--health-only", action="store_true", help="skip the end-to-end stage and the attestation")
    parser.add_argument("--vault-prefix", default="/concourse", help="the stack's cdstack:vault.pathPrefix")
    parser.add_argument("--budget", type=float, default=150.0, help="seconds per API call, retries included")
    parser.add_argument("--commit", default="", help="the commit the stack was deployed from (default GIT_COMMIT)")
    parser.add_argument(
        "--port-forward",
        action="store_true",
        help="reach Elasticsearch, Prometheus and Alertmanager through kubectl port-forward and read the ChartMuseum "
        "and Elasticsearch logins from the stack's Secrets, with the current kubeconfig (tools/cluster_access.py)",
    )
    args = parser.parse_args(argv)
    try:
        outputs = json.loads(args.outputs.read_text())
        expected = Expectations.from_outputs(outputs)
        username, password = os.environ.get("CONCOURSE_USERNAME", ""), os.environ.get("CONCOURSE_PASSWORD", "")
        if not username or not password:
            raise SmokeError("set CONCOURSE_USERNAME and CONCOURSE_PASSWORD (a local user of the main team)")
    except (SmokeError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = 0
    for name, problem in run_checks(expected, username, password, args.timeout):
        print(f"ok    {name}" if problem is None else f"FAIL  {name}: {problem}")
        failed += problem is not None
    if failed:
        print(f"{failed} smoke check(s) failed", file=sys.stderr)
        return 1
    if args.health_only:
        return 0
    if not args.port_forward:
        return end_to_end(outputs, args, {})
    try:
        with cluster_access.cluster_environment(outputs) as cluster:
            return end_to_end(outputs, args, cluster)
    except cluster_access.ClusterAccessError as error:
        print(f"smoke failed at cluster access: {error}", file=sys.stderr)
        return 1


def checked_out_commit(ref: Path = Path(".git/ref")) -> str:
    """The commit Concourse's git resource checked out (it writes it to .git/ref), or "unknown"."""
    return ref.read_text().strip() if ref.is_file() else "unknown"


def end_to_end(outputs: dict[str, Any], args: argparse.Namespace, cluster: dict[str, str]) -> int:
    """The end-to-end stage, then the attestation of a passing run. `cluster`: the in-cluster URLs and logins of
    `--port-forward`, over the environment's."""
    env = dict(os.environ) | cluster
    try:
        if not env.get("VAULT_TOKEN") and env.get("VAULT_ROLE") and outputs.get("vaultUrl"):
            role, budget = env["VAULT_ROLE"], team_api.Budget(seconds=args.budget)
            env["VAULT_TOKEN"] = smoke_e2e.deployer_vault_token(outputs["vaultUrl"], role, budget)
        target = smoke_e2e.target_from(outputs, env, args.vault_prefix)
        stack = env.get("STACK", "")
        if not stack:
            raise smoke_e2e.BrokenLinkError("set STACK: the stack these outputs are from (the attestation names it)")
    except smoke_e2e.BrokenLinkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    broken = smoke_e2e.Smoke(target, team_api.Budget(seconds=args.budget)).execute()
    if broken is not None:
        print(f"smoke failed at {broken}", file=sys.stderr)
        return 1
    commit = args.commit or env.get("GIT_COMMIT") or checked_out_commit()
    record = attestation.record(stack, outputs["releaseSet"], commit, smoke_e2e.now_utc(), attestation.PASSED)
    try:
        name = attestation.write(attestation.backend_store(env), record)
    except Exception as error:  # the store's own errors (Azure, file system): the run passed but is not attested
        print(f"FAIL  attestation: {type(error).__name__}: {error}")
        return 1
    print(f"ok    attestation: {name} (commit {commit})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
