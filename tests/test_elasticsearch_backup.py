"""Elasticsearch's backups: the plan of every stack (repository container, the writer identity's role on exactly that
container, federated to the service account Elasticsearch's pods run as, the token where Elasticsearch may read it,
the keystore, the CronJob with schedule and retention from config, no lifecycle rule deleting snapshot blobs), with
planted mistakes; the backup script against a fake Elasticsearch API; the restore command; the production rule."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from components import naming
from components.azure import backups
from components.config import loader, rules, schema
from components.services import es_snapshot, logging, snapshots
from tests.conftest import Planner, stack_config
from tests.services import stack_cfg
from tools import offline, restore

CRONJOB = "kubernetes:batch/v1:CronJob"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
CONTAINER = "azure-native:storage:BlobContainer"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
FEDERATION = "azure-native:managedidentity:FederatedIdentityCredential"
POLICY = "azure-native:storage:ManagementPolicy"


def env_of(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in pod["spec"]["containers"][0]["env"]}


def snapshot_problems(plan: offline.Plan, cfg: schema.StackConfig) -> list[str]:
    """What is wrong with Elasticsearch's backup in a plan, as sentences."""
    problems = []
    jobs = [r for r in plan.by_type(CRONJOB) if r.inputs["metadata"]["name"] == naming.ELASTICSEARCH_BACKUP_CRONJOB]
    if not jobs:
        return ["no backup-elasticsearch CronJob"]
    spec = jobs[0].inputs["spec"]
    if spec["schedule"] != cfg.backup.elasticsearch_schedule:
        problems.append(f"schedule {spec['schedule']!r} is not the configured one")
    env = env_of(spec["jobTemplate"]["spec"]["template"])
    policy = json.loads(env["POLICY_BODY"])
    expected = {"expire_after": f"{cfg.backup.elasticsearch_retention_days}d"}
    expected["min_count"] = cfg.backup.elasticsearch_min_snapshots  # type: ignore[assignment]
    if policy["retention"] != expected:
        problems.append(f"retention {policy['retention']} is not the configured {expected}")
    if not policy["config"]["include_global_state"]:
        problems.append("the snapshots leave Kibana's saved objects (the global state) out")
    container = plan.get(CONTAINER, naming.BACKUP_CONTAINERS["elasticsearch"])
    if json.loads(env["REPOSITORY_BODY"])["settings"]["container"] != container.inputs["containerName"]:
        problems.append("the repository is another container")
    # Elasticsearch's pods: the service account, its identity, and the token where Elasticsearch may read it.
    stack = plan.get("kubernetes:helm.sh/v3:Release", "eck-stack").inputs["values"]["eck-elasticsearch"]
    account = plan.get("kubernetes:core/v1:ServiceAccount", "elasticsearch-sa")
    identity = plan.get(IDENTITY, "elasticsearch-backup-identity")
    client_id = offline.OUTPUTS[identity.type](identity.name, identity.inputs)["clientId"]
    if account.inputs["metadata"]["annotations"].get("azure.workload.identity/client-id") != client_id:
        problems.append("Elasticsearch's service account names another identity")
    for node_set in stack["nodeSets"]:
        pod = node_set["podTemplate"]
        if pod["spec"].get("serviceAccountName") != account.inputs["metadata"]["name"]:
            problems.append(f"nodeSet {node_set['name']} runs as another service account")
        if pod["metadata"]["labels"].get("azure.workload.identity/use") != "true":
            problems.append(f"nodeSet {node_set['name']} does not use workload identity")
        [es] = pod["spec"]["containers"]
        token = {e["name"]: e["value"] for e in es.get("env", [])}.get("AZURE_FEDERATED_TOKEN_FILE", "")
        mounts = [m["mountPath"] for m in es.get("volumeMounts", [])]
        if not token.startswith("/usr/share/elasticsearch/config/") or not any(token.startswith(m) for m in mounts):
            problems.append(f"nodeSet {node_set['name']}: the token is not mounted inside Elasticsearch's config")
    keystores = [s["secretName"] for s in stack.get("secureSettings", [])]
    keystore = plan.get("kubernetes:core/v1:Secret", f"{logging.KEYSTORE_SECRET}-secret")
    storage_account = plan.get("azure-native:storage:StorageAccount", "backup-storage")
    if keystore.inputs["metadata"]["name"] not in keystores:
        problems.append("the keystore Secret is not in secureSettings")
    # Its data is a Pulumi secret (masked here): what it was made from is the backup account's name.
    if storage_account.urn not in keystore.property_dependencies.get("stringData", []):
        problems.append("the keystore names another storage account")
    federation = plan.get(FEDERATION, "elasticsearch-backup-federation")
    if federation.inputs["subject"] != f"system:serviceaccount:logging:{account.inputs['metadata']['name']}":
        problems.append("the identity is not federated to Elasticsearch's service account")
    roles = [
        r
        for r in plan.by_type(ROLE_ASSIGNMENT)
        if identity.urn in r.property_dependencies.get("principalId", [])
        and r.inputs["roleDefinitionId"].endswith(backups.STORAGE_BLOB_DATA_CONTRIBUTOR)
    ]
    if not roles:
        problems.append("the Elasticsearch backup identity has no Storage Blob Data Contributor role")
    elif any(r.property_dependencies.get("scope") != [container.urn] for r in roles):
        problems.append("the Elasticsearch backup identity's role is not scoped to exactly its container")
    for rule in plan.get(POLICY, "backup-retention").inputs["policy"]["rules"]:
        definition = rule["definition"]
        mine = f"{container.inputs['containerName']}/" in definition["filters"]["prefixMatch"]
        if mine and "baseBlob" in definition["actions"]:
            problems.append("a lifecycle rule deletes snapshot blobs (they share files: only SLM may delete)")
    return problems


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_elasticsearch_backup_is_wired_in_every_stack(stack: str, shared_plan: Planner):
    assert snapshot_problems(shared_plan(stack), offline.load_config(stack)) == []


@pytest.mark.parametrize(
    ("mistake", "problem"),
    [
        ("role on the account", "the Elasticsearch backup identity's role is not scoped to exactly its container"),
        ("drop the role", "the Elasticsearch backup identity has no Storage Blob Data Contributor role"),
        ("federate another account", "the identity is not federated to Elasticsearch's service account"),
        ("age out snapshot blobs", "a lifecycle rule deletes snapshot blobs"),
        ("token outside the config dir", "nodeSet default: the token is not mounted inside Elasticsearch's config"),
        ("drop the job", "no backup-elasticsearch CronJob"),
    ],
)
def test_planted_mistakes_are_caught(mistake: str, problem: str, shared_plan: Planner):
    plan = shared_plan("staging")
    cfg = offline.load_config("staging")
    role = plan.get(ROLE_ASSIGNMENT, "elasticsearch-backup-writer")
    if mistake == "role on the account":
        role.property_dependencies["scope"] = [plan.get("azure-native:storage:StorageAccount", "backup-storage").urn]
    elif mistake == "drop the role":
        plan.registrations.remove(role)
    elif mistake == "federate another account":
        plan.get(FEDERATION, "elasticsearch-backup-federation").inputs["subject"] = "system:serviceaccount:logging:x"
    elif mistake == "age out snapshot blobs":
        rules = plan.get(POLICY, "backup-retention").inputs["policy"]["rules"]
        rules[-1]["definition"]["actions"]["baseBlob"] = {"delete": {"daysAfterModificationGreaterThan": 30}}
    elif mistake == "token outside the config dir":
        values = plan.get("kubernetes:helm.sh/v3:Release", "eck-stack").inputs["values"]
        es = values["eck-elasticsearch"]["nodeSets"][0]["podTemplate"]["spec"]["containers"][0]
        es["env"] = [{"name": "AZURE_FEDERATED_TOKEN_FILE", "value": "/var/run/secrets/azure/tokens/token"}]
    else:
        plan.registrations.remove(plan.get(CRONJOB, "elasticsearch-backup"))
    assert any(p.startswith(problem) for p in snapshot_problems(plan, cfg)), snapshot_problems(plan, cfg)


def test_schedule_and_retention_come_from_config(shared_plan: Planner):
    raw = stack_config("staging")
    raw["cdstack:backup"] = {
        "elasticsearchSchedule": "15 3 * * *",
        "elasticsearchRetentionDays": 9,
        "elasticsearchMinSnapshots": 2,
    }
    plan = shared_plan("staging", raw)
    cfg = schema.StackConfig.model_validate(
        {**{k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("cdstack:")}, "stack": "staging"}
    )
    assert snapshot_problems(plan, cfg) == []
    spec = plan.get(CRONJOB, "elasticsearch-backup").inputs["spec"]
    assert spec["schedule"] == "15 3 * * *"
    policy = json.loads(env_of(spec["jobTemplate"]["spec"]["template"])["POLICY_BODY"])
    assert policy["retention"] == {"expire_after": "9d", "min_count": 2}
    assert policy["repository"] == naming.ELASTICSEARCH_SNAPSHOT_REPOSITORY


def test_production_keeps_two_weeks_of_snapshots():
    def problems(stack: str, days: int) -> list[str]:
        raw = {k.split(":", 1)[1]: v for k, v in stack_config(stack).items() if k.startswith("cdstack:")}
        raw["backup"] = {**raw.get("backup", {}), "elasticsearchRetentionDays": days}
        cfg = schema.StackConfig.model_validate({**raw, "stack": stack})
        return [f"{key}: {allowed}" for key, _, allowed in rules.check_rules(cfg) if "elasticsearch" in key]

    assert problems("prod", 7) == ["cdstack:backup.elasticsearchRetentionDays: must be 14 or more in production"]
    assert problems("prod", 14) == []
    assert problems("staging", 3) == []


def test_a_bad_schedule_is_refused_before_anything_exists(shared_plan: Planner):
    raw = stack_config("staging")
    raw["cdstack:backup"] = {"elasticsearchSchedule": "hourly"}
    with pytest.raises(loader.ConfigError) as error:
        shared_plan("staging", raw)
    assert error.value.keys == ["cdstack:backup.elasticsearchSchedule"]


# --- the script, against a fake Elasticsearch ------------------------------------------------------------------------


@dataclass
class FakeElasticsearch:
    """The snapshot APIs' documented shapes: PUT _snapshot/<repo> (verification may fail with 500
    repository_verification_exception), PUT _slm/policy/<id>, POST _slm/policy/<id>/_execute, GET
    _snapshot/<repo>/<name> (404 until listed, then IN_PROGRESS until the final state), GET _snapshot/<repo>/_all,
    POST _snapshot/<repo>/<name>/_restore."""

    final_state: str = "SUCCESS"
    polls_in_progress: int = 2
    verification_fails: bool = False
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    polls: int = 0

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if path.startswith("/_cluster/health"):
            return 200, {"status": "green"}
        if method == "PUT" and path.startswith("/_snapshot/"):
            if self.verification_fails:
                return 500, {
                    "error": {"type": "repository_verification_exception", "reason": "403 AuthorizationFailure"}
                }
            return 200, {"acknowledged": True}
        if method == "PUT" and path.startswith("/_slm/policy/"):
            return 200, {"acknowledged": True}
        if method == "POST" and path.endswith("/_execute"):
            return 200, {"snapshot_name": "cdstack-2026.11.29-abc"}
        if method == "GET" and path.endswith("/_all"):
            return 200, {"snapshots": self.snapshots}
        if method == "GET" and path.startswith("/_snapshot/"):
            self.polls += 1
            if self.polls == 1:
                return 404, {"error": {"type": "snapshot_missing_exception"}}
            state = "IN_PROGRESS" if self.polls <= 1 + self.polls_in_progress else self.final_state
            return 200, {"snapshots": [{"snapshot": path.rsplit("/", 1)[1], "state": state, "failures": []}]}
        if method == "POST" and "/_restore" in path:
            return 200, {"snapshot": {"shards": {"failed": 0}}}
        return 404, {"error": f"no route {method} {path}"}


@contextmanager
def serving(fake: FakeElasticsearch) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def handle_one(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            assert self.headers["Authorization"].startswith("Basic ")
            status, answer = fake.answer(method, self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self.handle_one("GET")

        def do_PUT(self) -> None:
            self.handle_one("PUT")

        def do_POST(self) -> None:
            self.handle_one("POST")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def script_env(url: str) -> dict[str, str]:
    """The CronJob's environment as the plan builds it, pointed at the fake."""
    pod = snapshots.job_pod(stack_cfg("staging"), "elasticsearch-snapshots", "backup")
    env = env_of(pod)
    return {**env, "ES_URL": url, "ES_PASSWORD": "p", "ES_CA": ""}


def run_script(fake: FakeElasticsearch, mode: str, monkeypatch: pytest.MonkeyPatch, **extra: str) -> int:
    monkeypatch.setattr(es_snapshot, "POLL_SECONDS", 0.0)
    with serving(fake) as url:
        for key, value in {**script_env(url), "WAIT_SECONDS": "30", **extra}.items():
            monkeypatch.setenv(key, value)
        return es_snapshot.main(["es_snapshot.py", mode])


def test_backup_registers_repository_and_policy_runs_it_and_waits_for_success(monkeypatch, capsys):
    fake = FakeElasticsearch()
    assert run_script(fake, "backup", monkeypatch) == 0
    calls = [(m, p) for m, p, _ in fake.requests if not p.startswith("/_cluster")]
    assert calls[:3] == [
        ("PUT", "/_snapshot/azure-backups"),
        ("PUT", "/_slm/policy/cdstack-snapshots"),
        ("POST", "/_slm/policy/cdstack-snapshots/_execute"),
    ]
    repository = fake.requests[1][2]
    assert repository == {"type": "azure", "settings": {"client": "default", "container": "elasticsearch-snapshots"}}
    assert fake.requests[2][2]["retention"]["expire_after"] == "30d"
    assert fake.polls == 4  # not listed, in progress twice, then done
    assert "snapshot cdstack-2026.11.29-abc SUCCESS" in capsys.readouterr().out


@pytest.mark.parametrize("state", ["FAILED", "PARTIAL"])
def test_a_snapshot_that_does_not_succeed_fails_the_job(state: str, monkeypatch, capsys):
    assert run_script(FakeElasticsearch(final_state=state), "backup", monkeypatch) == 1
    assert f"ended {state}" in capsys.readouterr().err


def test_a_repository_elasticsearch_cannot_write_fails_the_job_with_azures_reason(monkeypatch, capsys):
    fake = FakeElasticsearch(verification_fails=True)
    assert run_script(fake, "backup", monkeypatch) == 1
    assert "403 AuthorizationFailure" in capsys.readouterr().err
    assert not any(p.endswith("/_execute") for _, p, _ in fake.requests)  # no snapshot without a repository


def test_restore_chooses_the_newest_success_and_restores_kibana_then_the_logs_beside_todays(monkeypatch, capsys):
    fake = FakeElasticsearch(
        snapshots=[
            {"snapshot": "cdstack-a", "state": "SUCCESS", "start_time_in_millis": 1_000},
            {"snapshot": "cdstack-c", "state": "FAILED", "start_time_in_millis": 3_000},
            {"snapshot": "cdstack-b", "state": "SUCCESS", "start_time_in_millis": 2_000},
        ]
    )
    assert run_script(fake, "restore", monkeypatch) == 0
    restores = [(p, b) for m, p, b in fake.requests if "/_restore" in p]
    assert [p for p, _ in restores] == [
        "/_snapshot/azure-backups/cdstack-b/_restore?wait_for_completion=true",
        "/_snapshot/azure-backups/cdstack-b/_restore?wait_for_completion=true",
    ]
    assert restores[0][1] == {"indices": "-*", "include_global_state": False, "feature_states": ["kibana"]}
    assert restores[1][1]["rename_replacement"] == "restored-$1" and restores[1][1]["feature_states"] == ["none"]
    assert not any(p.startswith("/_slm") for _, p, _ in fake.requests)  # a restore changes no policy
    assert "restored cdstack-b" in capsys.readouterr().out


def test_restore_chooses_by_name_or_time():
    listed = [
        {"snapshot": "s1", "state": "SUCCESS", "start_time_in_millis": 1_764_374_400_000},  # 2025-11-29T00:00Z
        {"snapshot": "s2", "state": "SUCCESS", "start_time_in_millis": 1_764_396_000_000},  # 2025-11-29T06:00Z
    ]
    assert es_snapshot.choose(listed, "") == "s2"
    assert es_snapshot.choose(listed, "s1") == "s1"
    assert es_snapshot.choose(listed, "2025-11-29T05:00Z") == "s1"
    with pytest.raises(es_snapshot.SnapshotError, match="no successful snapshot at or before"):
        es_snapshot.choose(listed, "2025-11-28T00:00Z")
    with pytest.raises(es_snapshot.SnapshotError, match="ever succeeded"):
        es_snapshot.choose([{"snapshot": "x", "state": "FAILED"}], "")


# --- make restore WHAT=elasticsearch -------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.commands: list[list[str]] = []
        self.manifests: list[dict[str, Any]] = []

    def __call__(self, command: Sequence[str]) -> str:
        self.commands.append(list(command))
        if list(command[:2]) == ["kubectl", "create"]:
            with open(command[-1]) as file:
                self.manifests.append(json.load(file))
        if "logs" in command:
            return "restored cdstack-b: Kibana's saved objects, and the logs as restored-filebeat-*"
        return ""


def test_restore_command_runs_the_script_in_a_job_and_reports_it():
    tools = Recorder()
    said: list[str] = []
    result = restore.Restore(stack_cfg("staging"), tools, said.append).elasticsearch("2026-11-28T00:00Z")
    create, wait, logs = tools.commands
    [job] = tools.manifests
    assert create[:3] == ["kubectl", "create", "-f"]
    name = job["metadata"]["name"]
    assert wait[-1] == f"job/{name}" and "--for=condition=complete" in wait
    assert logs == ["kubectl", "-n", "logging", "logs", f"job/{name}"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][-1] == "restore"
    assert {"name": "SNAPSHOT", "value": "2026-11-28T00:00Z"} in container["env"]
    assert job["metadata"]["namespace"] == "logging" and job["spec"]["backoffLimit"] == 0
    assert "restored cdstack-b" in result and len(said) == 3
