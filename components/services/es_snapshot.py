"""Elasticsearch's backup and restore, run inside the cluster (standard library only: it is shipped as a ConfigMap
and run by a plain Python image; components/services/snapshots.py builds its CronJob).

    python3 es_snapshot.py backup     register the repository and the SLM policy, run the policy now, wait for its
                                      snapshot to finish: exit 0 only when it is SUCCESS
    python3 es_snapshot.py restore    register the repository, restore Kibana's saved objects and the log data
                                      streams (renamed restored-*) from the newest (or $SNAPSHOT) successful snapshot

Environment: ES_URL, ES_USER, ES_PASSWORD, ES_CA (the CA file of ECK's HTTP certificate), REPOSITORY,
REPOSITORY_BODY and POLICY, POLICY_BODY (JSON, from config), SNAPSHOT (restore: a name, an ISO time, or empty for the
newest), WAIT_SECONDS (how long to wait for Elasticsearch and for the snapshot).

The CronJob runs `backup`, so its success is the snapshot's success: kube-state-metrics reports it, and
BackupTooOld (alerts/prometheus/backups.yaml) watches `backup-elasticsearch` like every other backup.

API shapes (Elasticsearch 9.5 reference): PUT _snapshot/<repository> (registers and verifies it on every node),
PUT _slm/policy/<id>, POST _slm/policy/<id>/_execute -> {"snapshot_name"}, GET _snapshot/<repository>/<snapshot> ->
{"snapshots": [{"state": IN_PROGRESS|SUCCESS|FAILED|PARTIAL|INCOMPATIBLE}]}, POST .../_restore with feature_states,
indices, rename_pattern/rename_replacement (a renamed data stream's backing indices are renamed with it).
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

DONE = {"SUCCESS", "FAILED", "PARTIAL", "INCOMPATIBLE"}
POLL_SECONDS = 10.0
REQUEST_SECONDS = 300.0


class SnapshotError(Exception):
    pass


class Elasticsearch:
    """A minimal JSON client with basic auth over verified TLS (or plain HTTP for a test server)."""

    def __init__(self, url: str, user: str, password: str, ca_file: str | None):
        self.url = url.rstrip("/")
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.context = ssl.create_default_context(cafile=ca_file) if url.startswith("https") else None

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", self.auth)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_SECONDS, context=self.context) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, text.decode(errors="replace")

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.call(method, path, body)
        if status >= 300:
            raise SnapshotError(f"{method} {path}: HTTP {status}: {json.dumps(answer)[:1000]}")
        return answer


def wait_for(es: Elasticsearch, deadline: float, sleep: Any = time.sleep) -> None:
    """Until the cluster answers (a new cluster forms after the CronJob may first run)."""
    while True:
        try:
            status, _ = es.call("GET", "/_cluster/health?wait_for_status=yellow&timeout=30s")
            if status == 200:
                return
            reason = f"HTTP {status}"
        except OSError as error:
            reason = str(error)
        if time.monotonic() > deadline:
            raise SnapshotError(f"Elasticsearch did not answer in time: {reason}")
        sleep(POLL_SECONDS)


def configure(es: Elasticsearch, env: dict[str, str]) -> None:
    """Register the repository and the policy with the bodies from config: idempotent PUTs, so config changes land
    on the next run."""
    es.ok("PUT", f"/_snapshot/{env['REPOSITORY']}", json.loads(env["REPOSITORY_BODY"]))
    if env.get("POLICY"):
        es.ok("PUT", f"/_slm/policy/{env['POLICY']}", json.loads(env["POLICY_BODY"]))


def snapshot_state(es: Elasticsearch, repository: str, name: str) -> tuple[str, str]:
    status, answer = es.call("GET", f"/_snapshot/{repository}/{name}")
    if status == 404:
        return "MISSING", ""  # just started: not listed yet
    if status >= 300:
        raise SnapshotError(f"GET /_snapshot/{repository}/{name}: HTTP {status}: {json.dumps(answer)[:1000]}")
    [snapshot] = answer["snapshots"]
    return snapshot["state"], json.dumps(snapshot.get("failures") or snapshot.get("reason") or "")[:1000]


def backup(es: Elasticsearch, env: dict[str, str], deadline: float, sleep: Any = time.sleep) -> str:
    configure(es, env)
    repository, policy = env["REPOSITORY"], env["POLICY"]
    name = es.ok("POST", f"/_slm/policy/{policy}/_execute")["snapshot_name"]
    print(f"policy {policy} started snapshot {name} in {repository}", flush=True)
    while True:
        state, detail = snapshot_state(es, repository, name)
        if state in DONE:
            break
        if time.monotonic() > deadline:
            raise SnapshotError(f"snapshot {name} still {state} when the job's time ran out")
        sleep(POLL_SECONDS)
    if state != "SUCCESS":
        raise SnapshotError(f"snapshot {name} ended {state}: {detail}")
    return f"snapshot {name} SUCCESS"


def choose(snapshots: list[dict[str, Any]], wanted: str) -> str:
    """The newest successful snapshot; the one named `wanted`; or the newest started at or before the time
    `wanted`."""
    good = sorted(
        (s for s in snapshots if s.get("state") == "SUCCESS"), key=lambda s: int(s.get("start_time_in_millis", 0))
    )
    if not good:
        raise SnapshotError("no successful snapshot in the repository (has backup-elasticsearch ever succeeded?)")
    if not wanted:
        return good[-1]["snapshot"]
    if any(s["snapshot"] == wanted for s in good):
        return wanted
    try:
        when = datetime.fromisoformat(wanted.replace("Z", "+00:00"))
    except ValueError as error:
        raise SnapshotError(f"SNAPSHOT {wanted!r}: neither a successful snapshot's name nor an ISO time") from error
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    limit = when.timestamp() * 1000
    earlier = [s for s in good if int(s.get("start_time_in_millis", 0)) <= limit]
    if not earlier:
        raise SnapshotError(
            f"no successful snapshot at or before {when.isoformat()}; the oldest is {good[0]['snapshot']}"
        )
    return earlier[-1]["snapshot"]


RESTORE_LOGS = {
    "indices": "filebeat-*",
    "include_global_state": False,
    "feature_states": ["none"],
    # Beside today's logs, not over them: the live data streams keep receiving, the restored ones are history.
    "rename_pattern": "(.+)",
    "rename_replacement": "restored-$1",
    "include_aliases": False,
}
RESTORE_KIBANA = {"indices": "-*", "include_global_state": False, "feature_states": ["kibana"]}
"""Kibana's saved objects (dashboards, data views, saved searches) are its feature state; restoring it replaces
Kibana's current system indices with the snapshot's."""


def restore(es: Elasticsearch, env: dict[str, str]) -> str:
    configure(es, {**env, "POLICY": ""})
    repository = env["REPOSITORY"]
    listing = es.ok("GET", f"/_snapshot/{repository}/_all")
    name = choose(listing.get("snapshots", []), env.get("SNAPSHOT", ""))
    for what, body in (("Kibana's saved objects", RESTORE_KIBANA), ("the log data streams", RESTORE_LOGS)):
        print(f"restoring {what} from {name}", flush=True)
        es.ok("POST", f"/_snapshot/{repository}/{name}/_restore?wait_for_completion=true", body)
    return f"restored {name}: Kibana's saved objects, and the logs as restored-filebeat-* (data view restored-*)"


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    mode = argv[1] if len(argv) > 1 else ""
    if mode not in ("backup", "restore"):
        print("usage: es_snapshot.py backup|restore", file=sys.stderr)
        return 2
    es = Elasticsearch(env["ES_URL"], env.get("ES_USER", "elastic"), env["ES_PASSWORD"], env.get("ES_CA"))
    deadline = time.monotonic() + float(env.get("WAIT_SECONDS", "3600"))
    try:
        wait_for(es, deadline)
        print(backup(es, env, deadline) if mode == "backup" else restore(es, env), flush=True)
    except SnapshotError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
