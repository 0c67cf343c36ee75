"""The end-to-end stage of the smoke test: a build runs on the stack, and its traces arrive where on-call looks.

tools/smoke.py runs it after its health checks. It logs in to Concourse as the `cdstack-smoke` team's service user
(its login read from the stack's Vault at `<prefix>/cdstack-smoke/service-user`), writes a fresh value for this run
at `<prefix>/cdstack-smoke/<pipeline>/run`, sets a one-job pipeline (pipeline_config, generated as data), unpauses it,
triggers the job and follows the build's events to their end. The job's task, on the worker pool:
- proves it read the run's value through Concourse's Vault credential manager by printing its SHA-256, not the value;
- resolves an external name and the stack's public hosts (DNS inside task containers);
- pushes a chart of a version unique to the run to ChartMuseum and pulls it back, byte for byte;
- prints the run's marker line.
Then the rest of the path: the marker reaches Elasticsearch (the stack's read-only user), Concourse's build metric
for the pipeline reaches Prometheus, and a test alert labelled `smoke` reaches Alertmanager's `smoke` receiver (a
receiver without notifier: never the teams' Slack). Each check prints one line; the first failure ends the chain and
is named in the last line ("build scheduled but never started: no worker took it within 5 min"). The pipeline, the
chart version and the Vault value are removed whatever happened.

Every HTTP call goes through components/concourse/team_api.py: one budget per call, jittered backoff on what passes
(the Azure load balancer's handshake stalls), never a wait longer than its deadline.

What the stack has not (a lean stack without ChartMuseum or Elasticsearch, by its outputs) is skipped with a line;
so is what cannot be reached from where the smoke runs (Elasticsearch, Prometheus and Alertmanager are inside the
cluster: `tools/smoke.py --port-forward` opens port-forwards and reads the logins from the stack's Secrets, see
tools/cluster_access.py; or give ELASTICSEARCH_URL, PROMETHEUS_URL and ALERTMANAGER_URL).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
import urllib3

from components import catalog, naming
from components.concourse import team_api
from components.concourse.teams import SERVICE_USER_SECRET
from components.services import monitoring
from components.services.logging import LOG_INDEX
from components.vault import login as vault_login

TEAM = naming.SMOKE_TEAM
JOB = "smoke"
RUN_SECRET = "run"
"""The run's Vault secret, `<prefix>/<team>/<pipeline>/run`: Concourse looks a pipeline's path up first."""
TASK_IMAGE = ("curlimages/curl", catalog.IMAGES["curl"])
"""A small image with sh, curl, tar, sha256sum and nslookup (busybox), pulled by the worker: the image pull is
part of what the smoke proves. Pinned in catalog.IMAGES; tools/images.py locks its digest."""
EXTERNAL_NAME = "mcr.microsoft.com"
"""A name outside the stack every AKS cluster must resolve (its own images come from there)."""
PROVEN = "smoke: vault value sha256 "
FAILED = "smoke: FAIL "
SMOKE_RECEIVER = monitoring.SMOKE_RECEIVER
BUILD_METRIC = "concourse_builds_finished"
"""Concourse's Prometheus counter of finished builds, by team, pipeline, job and status (atc/metric/emitter
prometheus.go: namespace concourse, subsystem builds, name finished; client_golang's text format adds no `_total`),
the metric the canary's alerts read (alerts/metrics.yaml)."""


@dataclass(frozen=True)
class Deadlines:
    """Seconds each link may take before it counts as broken."""

    start: float = 300.0
    """From the trigger until a worker has started the build."""
    finish: float = 600.0
    logs: float = 300.0
    metrics: float = 300.0
    alert: float = 60.0
    poll: float = 5.0


@dataclass(frozen=True)
class Target:
    """Where the stack is and what it has, from its outputs and the environment."""

    stack: str
    concourse_url: str
    vault_url: str
    vault_token: str
    vault_mount: str
    public_hosts: tuple[str, ...]
    chartmuseum_url: str | None = None
    chartmuseum_login: tuple[str, str] | None = None
    elasticsearch_url: str | None = None
    elasticsearch_login: tuple[str, str] | None = None
    elasticsearch_verify: bool = True
    """False through a port-forward (tools/cluster_access.py): the certificate names the Service, not 127.0.0.1."""
    prometheus_url: str | None = None
    alertmanager_url: str | None = None


@dataclass
class Run:
    """One run's unique names and what it left behind to clean up."""

    id: str
    value: str = field(repr=False)

    @classmethod
    def fresh(cls) -> Run:
        return cls(id=f"{int(time.time())}-{secrets.token_hex(4)}", value=secrets.token_urlsafe(32))

    @property
    def pipeline(self) -> str:
        return f"smoke-{self.id}"

    @property
    def marker(self) -> str:
        return f"cdstack-smoke-marker {self.id}"

    @property
    def chart(self) -> tuple[str, str]:
        return "cdstack-smoke", f"0.0.0-{self.id}"

    def digest(self) -> str:
        return hashlib.sha256(self.value.encode()).hexdigest()


class BrokenLinkError(Exception):
    """A link of the chain is broken; the message names it in one line."""


# ---------------------------------------------------------------------------------------------------------------------
# The pipeline, as data


TASK_SCRIPT = r"""set -eu
fail() { echo "smoke: FAIL $*"; exit 1; }
printf 'smoke: vault value sha256 %s\n' "$(printf %s "$SMOKE_VALUE" | sha256sum | cut -d' ' -f1)"
for host in $SMOKE_HOSTS; do
  nslookup "$host" >/dev/null 2>&1 || fail "DNS inside the task container: $host does not resolve"
  echo "smoke: dns $host ok"
done
if [ -n "${CHARTMUSEUM_URL:-}" ]; then
  mkdir -p "/tmp/chart/$CHART_NAME"
  printf 'apiVersion: v2\nname: %s\nversion: %s\n' "$CHART_NAME" "$CHART_VERSION" >"/tmp/chart/$CHART_NAME/Chart.yaml"
  tar -czf /tmp/pushed.tgz -C /tmp/chart "$CHART_NAME"
  curl -fsS -u "$CHARTMUSEUM_USER:$CHARTMUSEUM_PASSWORD" --data-binary @/tmp/pushed.tgz \
    "$CHARTMUSEUM_URL/api/charts" >/dev/null || fail "ChartMuseum refused the push of $CHART_NAME $CHART_VERSION"
  curl -fsS -u "$CHARTMUSEUM_USER:$CHARTMUSEUM_PASSWORD" -o /tmp/pulled.tgz \
    "$CHARTMUSEUM_URL/charts/$CHART_NAME-$CHART_VERSION.tgz" \
    || fail "ChartMuseum did not serve $CHART_NAME $CHART_VERSION back"
  cmp -s /tmp/pushed.tgz /tmp/pulled.tgz || fail "ChartMuseum served $CHART_NAME $CHART_VERSION back changed"
  echo "smoke: chart $CHART_NAME $CHART_VERSION pushed and pulled back"
fi
echo "$SMOKE_MARKER"
"""


def pipeline_config(run: Run, target: Target) -> dict[str, Any]:
    """One job, one task with an inline config: nothing to fetch but the task image, so a failure is the stack's.
    The run's value and ChartMuseum's login reach the task as `((run.<field>))` params, read by Concourse from
    Vault at the moment the step runs."""
    chart, version = run.chart
    params: dict[str, str] = {
        "SMOKE_VALUE": f"(({RUN_SECRET}.value))",
        "SMOKE_HOSTS": " ".join((EXTERNAL_NAME, *target.public_hosts)),
        "SMOKE_MARKER": run.marker,
    }
    if target.chartmuseum_url and target.chartmuseum_login:
        params |= {
            "CHARTMUSEUM_URL": target.chartmuseum_url,
            "CHARTMUSEUM_USER": f"(({RUN_SECRET}.chartmuseum_username))",
            "CHARTMUSEUM_PASSWORD": f"(({RUN_SECRET}.chartmuseum_password))",
            "CHART_NAME": chart,
            "CHART_VERSION": version,
        }
    repository, tag = TASK_IMAGE
    task = {
        "platform": "linux",
        "image_resource": {"type": "registry-image", "source": {"repository": repository, "tag": tag}},
        "run": {"path": "sh", "args": ["-c", TASK_SCRIPT]},
    }
    return {"jobs": [{"name": JOB, "plan": [{"task": "end-to-end", "config": task, "params": params}]}]}


# ---------------------------------------------------------------------------------------------------------------------
# HTTP through the team API client's deadline discipline


def call(budget: team_api.Budget, subject: str, method: str, url: str, **kwargs: Any) -> team_api.Reply:
    """One request within one budget: transient failures (resets, 502/503, stalled handshakes) retried with the
    client's jittered backoff; any other answer is the caller's to judge."""
    op = team_api.Operation(subject, team_api.Deadline(budget))
    op.last_call = f"{method} {url}"
    session = requests.Session()

    def attempt() -> team_api.Reply:
        reply = team_api.exchange(session, op.deadline, method, url, **kwargs)
        if reply.status >= 500 or reply.status == 429:
            outcome = team_api.status_outcome(reply)
            if outcome is not None:
                raise outcome
        return reply

    try:
        return team_api.run(op, attempt)
    except team_api.TeamApiError as error:
        raise BrokenLinkError(str(error)) from None
    finally:
        session.close()


def json_of(reply: team_api.Reply) -> Any:
    try:
        return json.loads(reply.body)
    except ValueError:
        return None


class Vault:
    """The few KV v2 calls of the smoke, with the deployer's token."""

    def __init__(self, target: Target, budget: team_api.Budget):
        self.url = target.vault_url.rstrip("/")
        self.mount = target.vault_mount
        self.headers = {"X-Vault-Token": target.vault_token}
        self.budget = budget

    def read(self, path: str) -> dict[str, Any]:
        reply = call(self.budget, "Vault", "GET", f"{self.url}/v1/{self.mount}/data/{path}", headers=self.headers)
        body = json_of(reply)
        if reply.status != 200 or not isinstance(body, dict):
            raise BrokenLinkError(f"Vault: reading {self.mount}/{path} answered {reply.status_line()}")
        return body["data"]["data"]

    def write(self, path: str, data: dict[str, str]) -> None:
        url = f"{self.url}/v1/{self.mount}/data/{path}"
        reply = call(self.budget, "Vault", "POST", url, headers=self.headers, json={"data": data})
        if reply.status not in (200, 204):
            raise BrokenLinkError(f"Vault: writing {self.mount}/{path} answered {reply.status_line()}")

    def delete(self, path: str) -> None:
        """Every version and the metadata: nothing of the run stays."""
        url = f"{self.url}/v1/{self.mount}/metadata/{path}"
        reply = call(self.budget, "Vault", "DELETE", url, headers=self.headers)
        if reply.status not in (200, 204, 404):
            raise BrokenLinkError(f"Vault: deleting {self.mount}/{path} answered {reply.status_line()}")


# ---------------------------------------------------------------------------------------------------------------------
# The chain


Report = Callable[[str, str, str], None]
"""(status: ok/skip/FAIL, check name, detail) -> prints one line."""


def print_line(status: str, name: str, detail: str) -> None:
    print(f"{status:<5} {name}: {detail}", flush=True)


@dataclass
class Smoke:
    target: Target
    budget: team_api.Budget
    deadlines: Deadlines = field(default_factory=Deadlines)
    run: Run = field(default_factory=Run.fresh)
    report: Report = print_line
    build_id: int | None = None
    log: list[str] = field(default_factory=list)
    cleanups: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    @property
    def clock(self) -> team_api.Clock:
        return self.budget.clock

    def steps(self) -> Iterator[tuple[str, Callable[[], str]]]:
        yield "vault value", self.write_value
        yield "concourse pipeline", self.set_pipeline
        yield "build started", self.start_build
        yield "build finished", self.finish_build
        yield "vault read in task", self.vault_proven
        yield "dns in task", self.dns_proven
        yield "chartmuseum", self.chart_proven
        yield "logs in elasticsearch", self.marker_in_elasticsearch
        yield "metrics in prometheus", self.build_metric
        yield "alert routing", self.alert_routed

    def execute(self) -> str | None:
        """Run the chain; the first broken link ends it. Returns that link's one-line message, or None."""
        broken: str | None = None
        try:
            for name, step in self.steps():
                try:
                    detail = step()
                except BrokenLinkError as error:
                    broken = f"{name}: {error}"
                    self.report("FAIL", name, str(error))
                    break
                status, _, detail = detail.partition(" ") if detail.startswith("skip ") else ("ok", "", detail)
                self.report(status, name, detail)
        finally:
            self.clean_up()
        return broken

    def clean_up(self) -> None:
        for name, undo in reversed(self.cleanups):
            try:
                undo()
                self.report("ok", "cleanup", name)
            except (BrokenLinkError, team_api.TeamApiError) as error:
                self.report("FAIL", "cleanup", f"{name}: {error}")
        self.cleanups.clear()

    # -- the build

    def write_value(self) -> str:
        vault = Vault(self.target, self.budget)
        data = {"value": self.run.value}
        if self.target.chartmuseum_login:
            data |= dict(
                zip(("chartmuseum_username", "chartmuseum_password"), self.target.chartmuseum_login, strict=True)
            )
        path = f"{TEAM}/{self.run.pipeline}/{RUN_SECRET}"
        self.cleanups.append((f"vault value {self.target.vault_mount}/{path} deleted", lambda: vault.delete(path)))
        vault.write(path, data)
        return f"fresh value written at {self.target.vault_mount}/{path}"

    def concourse(self) -> team_api.ConcourseApi:
        login = Vault(self.target, self.budget).read(f"{TEAM}/{SERVICE_USER_SECRET}")
        return team_api.ConcourseApi(self.target.concourse_url, login["username"], login["password"], self.budget)

    def set_pipeline(self) -> str:
        try:
            self.api = self.concourse()
        except (KeyError, TypeError):
            raise BrokenLinkError(f"Vault holds no username and password at {TEAM}/{SERVICE_USER_SECRET}") from None
        pipeline = self.run.pipeline
        self.cleanups.append((f"pipeline {TEAM}/{pipeline} deleted", lambda: self.api.delete_pipeline(TEAM, pipeline)))
        if self.target.chartmuseum_url and self.target.chartmuseum_login:
            # From here on the task may push the chart, whatever happens to the build after that.
            self.cleanups.append((f"chart {' '.join(self.run.chart)} deleted", self.delete_chart))
        try:
            self.api.set_pipeline(TEAM, pipeline, json.dumps(pipeline_config(self.run, self.target)))
        except team_api.TeamApiError as error:
            raise BrokenLinkError(str(error)) from None
        return f"{TEAM}/{pipeline} set and unpaused"

    def start_build(self) -> str:
        try:
            build = self.api.trigger_job(TEAM, self.run.pipeline, JOB)
            self.build_id = int(build["id"])
            self.cleanups.append((f"build {self.build_id} stopped", self.abort_if_running))
            deadline = self.clock.now() + self.deadlines.start
            while build.get("status") == "pending":
                if self.clock.now() >= deadline:
                    raise BrokenLinkError(
                        f"build {self.build_id} scheduled but never started: no worker took it within "
                        f"{minutes(self.deadlines.start)}"
                    )
                self.clock.sleep(self.deadlines.poll)
                build = self.api.get_build(self.build_id)
        except team_api.TeamApiError as error:
            raise BrokenLinkError(str(error)) from None
        return f"build {self.build_id} {build.get('status')}"

    def abort_if_running(self) -> None:
        assert self.build_id is not None
        if self.api.get_build(self.build_id).get("status") in ("pending", "started"):
            self.api.abort_build(self.build_id)

    def finish_build(self) -> str:
        assert self.build_id is not None
        status, errors = "", []
        try:
            for envelope in self.api.build_events(self.build_id, self.deadlines.finish):
                data = envelope.get("data") or {}
                kind = envelope.get("event")
                if kind == "log":
                    self.log.extend(data.get("payload", "").splitlines())
                elif kind == "error":
                    errors.append(str(data.get("message", "")))
                elif kind == "status":
                    status = str(data.get("status", ""))
        except team_api.TeamApiError as error:
            raise BrokenLinkError(f"build {self.build_id} did not finish: {error}") from None
        if status == "succeeded":
            return f"build {self.build_id} succeeded"
        told = next((line.removeprefix(FAILED) for line in self.log if line.startswith(FAILED)), None)
        cause = told or "; ".join(errors) or (self.log[-1] if self.log else "no output")
        raise BrokenLinkError(f"build {self.build_id} {status or 'ended without a status'}: {cause}")

    def vault_proven(self) -> str:
        shown = next((line.removeprefix(PROVEN) for line in self.log if line.startswith(PROVEN)), None)
        if shown != self.run.digest():
            raise BrokenLinkError(
                f"the task printed {shown!r} as the value's SHA-256, not the one written for this run"
            )
        if self.run.value in "\n".join(self.log):
            raise BrokenLinkError("the task printed the run's Vault value itself")
        return "the task read this run's value (its SHA-256 matches)"

    def dns_proven(self) -> str:
        hosts = (EXTERNAL_NAME, *self.target.public_hosts)
        missing = [h for h in hosts if f"smoke: dns {h} ok" not in self.log]
        if missing:
            raise BrokenLinkError(f"the task did not report resolving {', '.join(missing)}")
        return f"resolved {', '.join(hosts)}"

    def chart_proven(self) -> str:
        if not self.target.chartmuseum_url:
            return "skip the stack has no ChartMuseum (no chartmuseumUrl output)"
        if not self.target.chartmuseum_login:
            return "skip no CHARTMUSEUM_PASSWORD given (the login of the stack's chartmuseumAuthSecret)"
        name, version = self.run.chart
        if f"smoke: chart {name} {version} pushed and pulled back" not in self.log:
            raise BrokenLinkError(f"the task did not report pushing and pulling back {name} {version}")
        return f"{name} {version} pushed and pulled back"

    def delete_chart(self) -> None:
        assert self.target.chartmuseum_url and self.target.chartmuseum_login
        name, version = self.run.chart
        url = f"{self.target.chartmuseum_url}/api/charts/{name}/{version}"
        reply = call(self.budget, "ChartMuseum", "DELETE", url, auth=self.target.chartmuseum_login)
        if reply.status not in (200, 404):
            raise BrokenLinkError(f"ChartMuseum: DELETE {url} answered {reply.status_line()}")

    # -- where the traces go

    def wait_for(self, seconds: float, found: Callable[[], bool]) -> bool:
        deadline = self.clock.now() + seconds
        while not found():
            if self.clock.now() >= deadline:
                return False
            self.clock.sleep(self.deadlines.poll)
        return True

    def marker_in_elasticsearch(self) -> str:
        url, login = self.target.elasticsearch_url, self.target.elasticsearch_login
        if url is None:
            return "skip no ELASTICSEARCH_URL given (Elasticsearch is inside the cluster)"
        query = {"query": {"match_phrase": {"message": self.run.marker}}, "size": 0}
        if not self.target.elasticsearch_verify:  # said once in the docstring of Target, not on every poll
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

        def found() -> bool:
            reply = call(
                self.budget,
                "Elasticsearch",
                "POST",
                f"{url}/{LOG_INDEX}/_search",
                auth=login,
                json=query,
                verify=self.target.elasticsearch_verify,
            )
            if reply.status in (401, 403):
                raise BrokenLinkError(f"Elasticsearch refused the read-only user: {reply.status_line()}")
            body = json_of(reply)
            total = (body or {}).get("hits", {}).get("total", {}) if isinstance(body, dict) else {}
            return reply.status == 200 and int(total.get("value", 0) if isinstance(total, dict) else total) > 0

        if not self.wait_for(self.deadlines.logs, found):
            raise BrokenLinkError(
                f"the build's marker line did not reach Elasticsearch within {minutes(self.deadlines.logs)}"
            )
        return f"marker {self.run.marker!r} found in {LOG_INDEX}"

    def build_metric(self) -> str:
        url = self.target.prometheus_url
        if url is None:
            return "skip no PROMETHEUS_URL given (Prometheus is inside the cluster)"
        query = f'sum({BUILD_METRIC}{{team="{TEAM}",pipeline="{self.run.pipeline}"}})'

        def found() -> bool:
            reply = call(self.budget, "Prometheus", "GET", f"{url}/api/v1/query", params={"query": query})
            body = json_of(reply)
            result = body.get("data", {}).get("result", []) if isinstance(body, dict) else []
            return any(float(r["value"][1]) > 0 for r in result)

        if not self.wait_for(self.deadlines.metrics, found):
            raise BrokenLinkError(
                f"Concourse's build metric did not reach Prometheus within {minutes(self.deadlines.metrics)}"
            )
        return f"{query} > 0"

    def alert_routed(self) -> str:
        url = self.target.alertmanager_url
        if url is None:
            return "skip no ALERTMANAGER_URL given (Alertmanager is inside the cluster)"
        labels = {"alertname": "CdstackSmoke", "smoke": "true", "smoke_run": self.run.id, "severity": "info"}
        alert = {"labels": labels, "annotations": {"summary": f"smoke test {self.run.id}, not an incident"}}
        reply = call(self.budget, "Alertmanager", "POST", f"{url}/api/v2/alerts", json=[alert])
        if reply.status != 200:
            raise BrokenLinkError(f"Alertmanager refused the test alert: {reply.status_line()}")
        receivers: list[str] = []

        def found() -> bool:
            answer = call(
                self.budget,
                "Alertmanager",
                "GET",
                f"{url}/api/v2/alerts",
                params={"filter": f'smoke_run="{self.run.id}"'},
            )
            alerts = json_of(answer)
            receivers[:] = sorted(
                r.get("name", "") for a in alerts or [] if isinstance(a, dict) for r in a.get("receivers") or []
            )
            return bool(receivers)

        if not self.wait_for(self.deadlines.alert, found):
            raise BrokenLinkError(f"the test alert did not show in Alertmanager within {minutes(self.deadlines.alert)}")
        if receivers != [SMOKE_RECEIVER]:
            raise BrokenLinkError(f"the test alert went to {', '.join(receivers)}, not only to {SMOKE_RECEIVER!r}")
        return f"routed to {SMOKE_RECEIVER!r} only"


def deployer_vault_token(vault_url: str, role: str, budget: team_api.Budget) -> str:
    """A token of the stack's Vault for the deployer, by the JWT login `pulumi up` uses (components/vault/login.py:
    the Azure identity's ARM token at auth/<ENTRA_MOUNT>/login): its policy writes the KV mount, so no credential
    of the smoke's own is needed."""
    url = f"{vault_url.rstrip('/')}/v1/auth/{vault_login.ENTRA_MOUNT}/login"
    reply = call(budget, "Vault login", "POST", url, json={"role": role, "jwt": vault_login.arm_token()})
    body = json_of(reply)
    if reply.status != 200 or not isinstance(body, dict):
        raise BrokenLinkError(f"Vault: the deployer's login as {role!r} answered {reply.status_line()}")
    return body["auth"]["client_token"]


def target_from(outputs: dict[str, Any], env: dict[str, str], vault_prefix: str = "/concourse") -> Target:
    """The stack's outputs (`pulumi stack output --json`) and the environment: VAULT_TOKEN (a token of the stack's
    Vault that may write under the smoke team's path: the deployer's, see deployer_vault_token),
    CHARTMUSEUM_USERNAME/CHARTMUSEUM_PASSWORD,
    ELASTICSEARCH_URL/ELASTICSEARCH_USERNAME/ELASTICSEARCH_PASSWORD (ELASTICSEARCH_VERIFY=false through a
    port-forward), PROMETHEUS_URL, ALERTMANAGER_URL."""
    try:
        urls = {key: str(value).rstrip("/") for key, value in outputs.items() if key.endswith("Url") and value}
        concourse, vault = urls["concourseUrl"], urls["vaultUrl"]
    except KeyError as error:
        raise BrokenLinkError(f"the stack outputs lack {error} (run against `pulumi stack output --json`)") from None
    token = env.get("VAULT_TOKEN", "")
    if not token:
        raise BrokenLinkError("set VAULT_TOKEN: a token of the stack's Vault that writes under the smoke team's path")
    hosts = tuple(sorted({url.split("//", 1)[-1].split("/", 1)[0] for url in urls.values()}))

    def login(prefix: str) -> tuple[str, str] | None:
        user, password = env.get(f"{prefix}_USERNAME", ""), env.get(f"{prefix}_PASSWORD", "")
        return (user, password) if user and password else None

    has_elasticsearch = "kibanaUrl" in urls
    return Target(
        stack=str(outputs.get("stack") or env.get("STACK", "")),
        concourse_url=concourse,
        vault_url=vault,
        vault_token=token,
        vault_mount=vault_prefix.strip("/"),
        public_hosts=hosts,
        chartmuseum_url=urls.get("chartmuseumUrl"),
        chartmuseum_login=login("CHARTMUSEUM"),
        elasticsearch_url=env.get("ELASTICSEARCH_URL") or None if has_elasticsearch else None,
        elasticsearch_login=login("ELASTICSEARCH"),
        elasticsearch_verify=env.get("ELASTICSEARCH_VERIFY", "true") != "false",
        prometheus_url=env.get("PROMETHEUS_URL") or None,
        alertmanager_url=env.get("ALERTMANAGER_URL") or None,
    )


def minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
