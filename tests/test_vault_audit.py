"""The in-cluster Vault keeps an audit trail that reaches Elasticsearch, and ElastAlert reads it."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from components import alerting, clock, naming
from components.services import logging
from components.vault import access as vault_access
from components.vault import login as vault_login
from tests.conftest import TODAY, Planner, cached_plan, stack_config
from tests.services import stack_cfg
from tools import offline

AUDIT = "vault:index/audit:Audit"


@pytest.fixture(scope="module", params=["staging", "prod"])
def plan(request: pytest.FixtureRequest) -> Iterator[offline.Plan]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(clock.ENV, TODAY)
        yield cached_plan(request.param)


def audit_problems(plan: offline.Plan) -> list[str]:
    """What keeps Vault's requests from reaching Elasticsearch through the vault container's stdout."""
    devices = plan.by_type(AUDIT)
    if not devices:
        return ["Vault has no audit device"]
    problems = []
    to_stdout = [d for d in devices if d.inputs["type"] == "file" and d.inputs["options"].get("file_path") == "stdout"]
    if not to_stdout:
        problems.append("no audit device writes to stdout, where Filebeat reads the pod's log")
    if any(d.inputs["options"].get("log_raw") in ("true", True) for d in devices):
        problems.append("an audit device logs secrets in clear (log_raw)")
    provider = plan.get("pulumi:providers:vault", "vault")
    if any(not d.provider.startswith(provider.urn) for d in devices):
        problems.append("an audit device is not made through the deployer's Vault provider")
    return problems


def test_the_in_cluster_vault_audits_to_stdout(plan: offline.Plan):
    assert audit_problems(plan) == []
    [device] = plan.by_type(AUDIT)
    assert device.inputs["path"] == vault_access.AUDIT_PATH
    assert device.inputs["options"] == {"file_path": "stdout", "format": "json"}


def test_the_deployer_may_enable_it():
    policy = vault_login.deployer_policy("concourse", "concourse", vault_access.AUDIT_PATH)
    assert 'path "sys/audit" {\n  capabilities = ["read", "sudo"]\n}' in policy
    assert 'path "sys/audit/stdout" {\n  capabilities = ["create", "read", "update", "delete", "sudo"]\n}' in policy


def test_filebeat_ships_the_vault_containers_stdout():
    [container_logs] = logging.filebeat_values(stack_cfg("staging"))["config"]["filebeat.inputs"]
    assert container_logs["paths"] == ["/var/log/containers/*.log"]  # every container, Vault's included
    assert "exclude_files" not in container_logs
    assert not any("drop_event" in p for p in container_logs["processors"])


def test_the_log_alerts_read_vaults_audit_lines():
    rules = alerting.elastalert_rules()
    for name in ("vault-access-denied", "vault-root-token-used"):
        query = rules[name]["filter"][0]["query"]["query_string"]["query"]
        assert f'kubernetes.namespace:"{naming.NAMESPACES["secrets"]}"' in query
        assert 'kubernetes.container.name:"vault"' in query
    samples = yaml.safe_load((alerting.ELASTALERT_DIR / "tests" / "vault-access-denied.yaml").read_text())
    assert all('"type":"' in d["message"] for d in samples["failing"])  # the audit device's JSON lines


def test_an_external_vault_gets_no_audit_device_from_cdstack(shared_plan: Planner):
    config = stack_config("staging")
    config["cdstack:vault"] = {"mode": "external", "address": "https://vault.example.com"}
    del config["cdstack:infraStack"]  # the infra pipeline's trust is a mount in the in-cluster Vault
    assert shared_plan("demo", config).by_type(AUDIT) == []


def test_a_planted_mistake_fails(plan: offline.Plan):
    without = copy.deepcopy(plan)
    without.registrations = [r for r in without.registrations if r.type != AUDIT]
    assert audit_problems(without) == ["Vault has no audit device"]
    to_a_file = copy.deepcopy(plan)
    to_a_file.get(AUDIT, "audit").inputs["options"] = {"file_path": "/vault/audit/audit.log", "log_raw": "true"}
    assert audit_problems(to_a_file) == [
        "no audit device writes to stdout, where Filebeat reads the pod's log",
        "an audit device logs secrets in clear (log_raw)",
    ]


def _shape(value: object) -> object:
    """The keys of a JSON document, recursively, without the values (times, ids and HMACs differ per run)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return type(value).__name__


@pytest.mark.vault_server
def test_the_vault_alerts_fire_on_a_real_servers_audit_lines_and_their_samples_are_such_lines(tmp_path: Path):
    """Recorded afresh from a real server (tests/vault_audit.py): the refusals and root-token uses fire their rules,
    the same clients' allowed requests fire neither, and every sample audit line has a fresh line's exact shape."""
    from tests.logquery import matches
    from tests.vault_audit import PIPELINE, Entry, record

    rules = alerting.elastalert_rules()
    queries = {name: rules[name]["filter"][0]["query"]["query_string"]["query"] for name in rules}
    container = {"namespace": naming.NAMESPACES["secrets"], "container": {"name": "vault"}}
    fresh = record(tmp_path)
    by_key = {entry.key: entry for entry in fresh}
    deployer = f"entra-{PIPELINE}"

    def fires(name: str, key: tuple[str, str, str, str]) -> bool:
        return matches(queries[name], {"kubernetes": container, "message": by_key[key].line})

    for kind in ("request", "response"):
        assert fires("vault-access-denied", (kind, "read", "secret/data/payments/deploy/registry-password", "approle"))
        assert fires("vault-access-denied", (kind, "update", "sys/policies/acl/admin", deployer))
        assert fires("vault-root-token-used", (kind, "update", "sys/policies/acl/concourse", "token"))
        assert fires("vault-root-token-used", (kind, "list", "concourse/metadata/payments/", "token"))
        for name in ("vault-access-denied", "vault-root-token-used"):
            assert not fires(name, (kind, "read", "concourse/data/payments/deploy/registry-password", "approle"))
            assert not fires(name, (kind, "update", "sys/policies/acl/concourse", deployer))
    for name in ("vault-access-denied", "vault-root-token-used"):
        samples = yaml.safe_load((alerting.ELASTALERT_DIR / "tests" / f"{name}.yaml").read_text())
        documents = samples["failing"] + samples["healthy"]
        audit_lines = [d["message"] for d in documents if d["kubernetes"] == container and d["message"][0] == "{"]
        assert audit_lines
        for line in audit_lines:
            sample = Entry(line, json.loads(line))
            assert sample.key in by_key, f"{name}: no such line recorded now: {sample.key}"
            assert _shape(sample.entry) == _shape(by_key[sample.key].entry), f"{name}: {sample.key} changed shape"
