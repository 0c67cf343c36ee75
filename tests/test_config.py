"""The typed configuration: valid stack files load; every kind of bad input is one message naming key and value."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import secrets
from components.config.loader import ConfigError
from components.config.schema import StackConfig
from tests.conftest import Planner, stack_config
from tools import offline, stackfile


def load_with(stack: str, raw: dict[str, Any]) -> StackConfig:
    """Run loader.load() exactly as the program does, under the mock engine, for a config map."""
    return offline.validated_config(stack, *offline.flatten_config(raw))


def test_staging_and_prod_stack_files_validate():
    staging = load_with("staging", stack_config("staging"))
    prod = load_with("prod", stack_config("prod"))
    assert not staging.production
    assert prod.production
    assert prod.database.high_availability
    assert prod.concourse.web_replicas >= 2
    assert staging.cluster.worker_pool.max_count == 4
    assert staging.dns.host("concourse") == "ci.staging.cd.contoso.com"
    # Staging gets trusted certificates too: the pipeline's Vault login, team calls and smoke test verify them.
    assert staging.tls.acme_server == "https://acme-v02.api.letsencrypt.org/directory"
    assert prod.tls.acme_server == "https://acme-v02.api.letsencrypt.org/directory"


def test_defaults_are_the_operators_numbers():
    cfg = load_with("staging", stack_config("staging"))
    c = cfg.concourse
    assert c.container_placement_strategy == "volume-locality"
    assert c.baggageclaim_response_header_timeout == "2m"
    assert c.max_build_logs_to_retain == 2000
    assert c.heartbeat_interval == "120s"
    assert c.worker_disk_gi == 256
    assert c.baggageclaim_driver == "overlay"


def test_a_new_environment_needs_only_a_stack_file(tmp_path: Path, plan_of: Planner):
    """Pulumi.demo.yaml in another directory, no code change: it validates and plans."""
    demo = stack_config("staging")
    # A new environment's first `up` is from a laptop: the infra pipeline trusts it once infra lists it as a deployer.
    del demo["cdstack:infraStack"]
    demo["cdstack:network"] = {
        "addressSpace": "10.60.0.0/16",
        "aksSubnet": "10.60.0.0/20",
        "postgresSubnet": "10.60.16.0/24",
    }
    demo["cdstack:dns"] = {"domain": "demo.cd.contoso.com"}
    (tmp_path / "Pulumi.demo.yaml").write_text(yaml.safe_dump({"config": demo}))
    plan = offline.run_stack("demo", tmp_path)
    group = plan.get("azure-native:resources:ResourceGroup", "resource-group")
    assert group.inputs["resourceGroupName"] == "rg-contoso-demo"
    assert plan.outputs["concourseUrl"] == "https://ci.demo.cd.contoso.com"


def test_chart_override_changes_only_that_chart():
    raw = stack_config("staging")
    raw["cdstack:charts"] = {"concourse": "20.2.0"}
    cfg = load_with("staging", raw)
    assert cfg.chart_version("concourse") == "20.2.0"
    assert cfg.chart_version("vault") == "0.34.1"


def set_path(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set `cdstack:section.a.b` (or delete it when value is DELETE) in a stack config map."""
    top, *rest = path.split(".")
    if not rest:
        if value is DELETE:
            raw.pop(top, None)
        else:
            raw[top] = value
        return
    node = raw.setdefault(top, {})
    for part in rest[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    last = rest[-1]
    if value is DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


DELETE = object()

# (stack, change: key path -> value, the key the message must name, a fragment of what is allowed)
INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    ("staging", {"cdstack:name": "Contoso"}, "cdstack:name", "must match"),
    ("staging", {"cdstack:name": DELETE}, "cdstack:name", "required"),
    ("staging", {"cdstack:nmae": "contoso"}, "cdstack:nmae", "unknown key"),
    ("staging", {"cdstack:cluster.workerPool.maxCont": 3}, "cdstack:cluster.workerPool.maxCont", "unknown key"),
    ("staging", {"cdstack:cluster.workerPool.minCount": 5}, "cdstack:cluster.workerPool.minCount", "<= maxCount"),
    ("staging", {"cdstack:cluster.workerPool.maxCount": "many"}, "cdstack:cluster.workerPool.maxCount", "integer"),
    ("staging", {"cdstack:cluster.systemPool.count": 0}, "cdstack:cluster.systemPool.count", "greater than or equal"),
    (
        "prod",
        {"cdstack:observability.stepWaitAlertMinutes": 90},
        "cdstack:observability.stepWaitAlertMinutes",
        "less than or equal to 60",
    ),
    (
        "staging",
        {"cdstack:observability.checkLagAlertMinutes": 0},
        "cdstack:observability.checkLagAlertMinutes",
        "greater than or equal to 1",
    ),
    ("staging", {"cdstack:cluster.upgradeChannel": "weekly"}, "cdstack:cluster.upgradeChannel", "'patch'"),
    ("staging", {"cdstack:cluster.kubernetesVersion": "2.0"}, "cdstack:cluster.kubernetesVersion", "must match"),
    (
        "staging",
        {"cdstack:cluster.maintenanceWindow.startTime": "25:00"},
        "cdstack:cluster.maintenanceWindow.startTime",
        "must match",
    ),
    (
        "staging",
        {"cdstack:cluster.maintenanceWindow.durationHours": 2},
        "cdstack:cluster.maintenanceWindow.durationHours",
        "greater than or equal to 4",
    ),
    (
        "staging",
        {"cdstack:cluster.adminGroupObjectIds": ["not-a-guid"]},
        "cdstack:cluster.adminGroupObjectIds[0]",
        "must match",
    ),
    (
        "staging",
        {"cdstack:cluster.apiAuthorizedRanges": ["10.0.0.1/8"]},
        "cdstack:cluster.apiAuthorizedRanges[0]",
        "CIDR",
    ),
    ("staging", {"cdstack:network.aksSubnet": "10.99.0.0/20"}, "cdstack:network.aksSubnet", "inside addressSpace"),
    (
        "staging",
        {"cdstack:network.postgresSubnet": "10.40.8.0/24"},
        "cdstack:network.postgresSubnet",
        "must not overlap aksSubnet",
    ),
    (
        "staging",
        {"cdstack:network.serviceCidr": "10.40.0.0/16"},
        "cdstack:network.serviceCidr",
        "must not overlap addressSpace",
    ),
    ("staging", {"cdstack:network.dnsServiceIp": "10.99.0.10"}, "cdstack:network.dnsServiceIp", "inside serviceCidr"),
    ("staging", {"cdstack:network.postgresSubnet": "10.40.16.0/29"}, "cdstack:network.postgresSubnet", "/28 or larger"),
    (
        "staging",
        {"cdstack:network.podCidr": "10.41.0.0/16"},
        "cdstack:network.serviceCidr",
        "must not overlap podCidr 10.41.0.0/16",
    ),
    ("staging", {"cdstack:network.dnsServiceIp": "10.41.0.300"}, "cdstack:network.dnsServiceIp", "an IPv4 address"),
    ("staging", {"cdstack:network.addressSpace": "10.40.0.0/33"}, "cdstack:network.addressSpace", "CIDR"),
    ("staging", {"cdstack:database.storageGb": 100}, "cdstack:database.storageGb", "32"),
    (
        "staging",
        {"cdstack:database.backupRetentionDays": 40},
        "cdstack:database.backupRetentionDays",
        "less than or equal to 35",
    ),
    (
        "staging",
        {"cdstack:database.highAvailability": True},
        "cdstack:database.skuTier",
        "GeneralPurpose or MemoryOptimized",
    ),
    (
        "staging",
        {"cdstack:dns.hosts": {"concourse": "ci.example.org"}},
        "cdstack:dns.hosts.concourse",
        "under the domain",
    ),
    (
        "staging",
        {"cdstack:dns.hosts": {"grafana": "ci.staging.cd.contoso.com"}},
        "cdstack:dns.hosts.grafana",
        "must differ",
    ),
    ("staging", {"cdstack:tls.acmeEmail": "platform-team"}, "cdstack:tls.acmeEmail", "must match"),
    ("staging", {"cdstack:identity.adminGroup": "admins"}, "cdstack:identity.adminGroup", "group keys"),
    (
        "staging",
        {"cdstack:identity.groups.qa-viewers": {"create": True, "objectId": "0b7e4d2c-8a15-4f3e-b6d9-2c1a7e5f9d04"}},
        "cdstack:identity.groups.qa-viewers",
        "exactly one",
    ),
    ("staging", {"cdstack:teams.0.name": "Payments"}, "cdstack:teams[0].name", "must match"),
    ("staging", {"cdstack:teams.0.name": "main"}, "cdstack:teams[0].name", "main is configured"),
    ("staging", {"cdstack:teams.0.roles.owner": ["nobody"]}, "cdstack:teams[0].roles.owner[0]", "group keys"),
    (
        "staging",
        {
            "cdstack:teams": [
                {"name": "payments", "serviceUser": "payments-bot"},
                {"name": "payments", "serviceUser": "payments-ci"},
            ]
        },
        "cdstack:teams[1].name",
        "team names must be unique",
    ),
    (
        "staging",
        {"cdstack:teams.0.serviceUser": "admin"},
        "cdstack:teams[0].serviceUser",
        "already used by concourse.adminUser",
    ),
    (
        "staging",
        {"cdstack:concourse.workerReplicas": 1},
        "cdstack:concourse.workerReplicas",
        "greater than or equal to 2",
    ),
    (
        "staging",
        {"cdstack:concourse.heartbeatInterval": "2 minutes"},
        "cdstack:concourse.heartbeatInterval",
        "must match",
    ),
    (
        "staging",
        {"cdstack:concourse.containerPlacementStrategy": "fastest"},
        "cdstack:concourse.containerPlacementStrategy",
        "volume-locality",
    ),
    (
        "staging",
        {"cdstack:concourse.defaultBuildLogsToRetain": 5000},
        "cdstack:concourse.defaultBuildLogsToRetain",
        "<= maxBuildLogsToRetain",
    ),
    ("staging", {"cdstack:vault.mode": "external"}, "cdstack:vault.address", "required when vault.mode is external"),
    (
        "staging",
        {"cdstack:vault.mode": "external", "cdstack:vault.address": "http://vault.example.com"},
        "cdstack:vault.address",
        "must be an https:// URL",
    ),
    (
        "staging",
        {"cdstack:vault.address": "https://vault.example.com"},
        "cdstack:vault.address",
        "only allowed when vault.mode is external",
    ),
    ("staging", {"cdstack:vault.tokenTtl": "500ms"}, "cdstack:vault.tokenTtl", "must be at least 1s"),
    ("staging", {"cdstack:vault.pathPrefix": "concourse"}, "cdstack:vault.pathPrefix", "must match"),
    ("staging", {"cdstack:vault.consulReplicas": 2}, "cdstack:vault.consulReplicas", "1, 3 or 5"),
    (
        "staging",
        {"cdstack:observability.slackChannel": "cd-alerts"},
        "cdstack:observability.slackChannel",
        "must match",
    ),
    (
        "staging",
        {"cdstack:observability.slackChannels": {"page": "#cd-pages"}},
        "cdstack:observability.slackChannels.page.[key]",
        "critical",
    ),
    (
        "staging",
        {"cdstack:observability.slackChannels": {"critical": "cd-pages"}},
        "cdstack:observability.slackChannels.critical",
        "must match",
    ),
    (
        "staging",
        {"cdstack:observability.heartbeatInterval": "five minutes"},
        "cdstack:observability.heartbeatInterval",
        "must match",
    ),
    (
        "staging",
        {"cdstack:heartbeatUrl": "https://hc-ping.com/0b7e4d2c-8a15-4f3e-b6d9-2c1a7e5f9d04"},
        "cdstack:heartbeatUrl",
        "--secret",
    ),
    ("staging", {"cdstack:charts": {"concourse": "^20.0.0"}}, "cdstack:charts.concourse", "exact chart version"),
    ("staging", {"cdstack:charts": {"jenkins": "1.0.0"}}, "cdstack:charts.jenkins", "catalog chart"),
    ("staging", {"cdstack:chartMirror": "https://charts.example.com"}, "cdstack:chartMirror", "must match"),
    (
        "staging",
        {"cdstack:slackWebhookUrl": "https://hooks.slack.com/services/T/B/x"},
        "cdstack:slackWebhookUrl",
        "--secret",
    ),
    ("staging", {"cdstack:name": "contosocorp"}, "cdstack:name", "must match"),
    (
        "prod",
        {"cdstack:database.highAvailability": False},
        "cdstack:database.highAvailability",
        "must be true in production",
    ),
    ("prod", {"cdstack:concourse.webReplicas": 1}, "cdstack:concourse.webReplicas", "2 or more in production"),
    ("prod", {"cdstack:cluster.skuTier": "Free"}, "cdstack:cluster.skuTier", "Standard or Premium in production"),
    (
        "prod",
        {"cdstack:cluster.disableLocalAccounts": False},
        "cdstack:cluster.disableLocalAccounts",
        "true in production",
    ),
    ("prod", {"cdstack:cluster.apiAuthorizedRanges": []}, "cdstack:cluster.apiAuthorizedRanges", "at least one range"),
    ("prod", {"cdstack:observability.elasticsearchNodes": 1}, "cdstack:observability.elasticsearchNodes", "3 or more"),
    ("prod", {"cdstack:tls.acmeEnvironment": "staging"}, "cdstack:tls.acmeEnvironment", "production in production"),
    (
        "prod",
        {"cdstack:vault.storage": "consul", "cdstack:vault.consulReplicas": 1},
        "cdstack:vault.consulReplicas",
        "3 or 5 in production",
    ),
    ("prod", {"cdstack:vault.serverReplicas": 1}, "cdstack:vault.serverReplicas", "3 or 5 in production on Raft"),
    ("staging", {"cdstack:vault.serverReplicas": 4}, "cdstack:vault.serverReplicas", "must be odd on Raft storage"),
    ("staging", {"cdstack:vault.storage": "etcd"}, "cdstack:vault.storage", "raft"),
    # Defender for Containers where it does not run: a national cloud's region (catalog.py, beside REGIONS).
    ("prod", {"cdstack:location": "chinanorth3"}, "cdstack:location", "one of components/catalog.py REGIONS"),
    (
        "staging",
        {"cdstack:backup.vaultSchedule": "every 6 hours"},
        "cdstack:backup.vaultSchedule",
        "must be a cron expression: five fields",
    ),
]


@pytest.mark.parametrize(("stack", "change", "key", "allowed"), INVALID, ids=[row[2] for row in INVALID])
def test_invalid_input_is_one_message_naming_file_key_and_value(
    stack: str, change: dict[str, Any], key: str, allowed: str, shared_plan: Planner
):
    raw = copy.deepcopy(stack_config(stack))
    for path, value in change.items():
        set_path(raw, path, value)
    with pytest.raises(ConfigError) as caught:
        shared_plan(stack, raw)
    message = str(caught.value)
    assert message.startswith(f"Pulumi.{stack}.yaml: invalid configuration")
    line = next((line for line in message.splitlines() if line.strip().startswith(key + ":")), None)
    assert line is not None, f"no line for {key} in:\n{message}"
    assert "got " in line
    assert allowed in line, line


def test_no_resource_is_registered_when_config_is_bad():
    raw = stack_config("staging")
    set_path(raw, "cdstack:cluster.workerPool.minCount", 9)
    flat, secret_keys = offline.flatten_config(raw)
    monitor_records: list[int] = []

    def program() -> None:
        from components.program import main

        try:
            main()
        finally:
            monitor_records.append(len(pulumi_registrations()))

    with pytest.raises(ConfigError):
        offline.run("staging", flat, secret_keys, program=program)
    assert monitor_records == [0]


def pulumi_registrations() -> dict[str, Any]:
    import pulumi.runtime.settings

    monitor = pulumi.runtime.settings.get_monitor()
    assert isinstance(monitor, offline.RecordingMonitor)
    return monitor.registrations


def test_the_value_given_is_shown():
    raw = stack_config("staging")
    set_path(raw, "cdstack:concourse.heartbeatInterval", "2 minutes")
    with pytest.raises(ConfigError) as caught:
        load_with("staging", raw)
    assert "got '2 minutes'" in str(caught.value)


def test_several_problems_come_in_one_message():
    raw = stack_config("prod")
    set_path(raw, "cdstack:database.highAvailability", False)
    set_path(raw, "cdstack:concourse.webReplicas", 1)
    with pytest.raises(ConfigError) as caught:
        load_with("prod", raw)
    assert caught.value.keys == ["cdstack:database.highAvailability", "cdstack:concourse.webReplicas"]


def test_secure_slack_webhook_is_accepted_and_never_enters_the_model():
    raw = stack_config("staging")
    raw["cdstack:slackWebhookUrl"] = {"secure": "v1:abc"}
    cfg = load_with("staging", raw)
    assert cfg.slack_webhook_configured
    assert offline.SECURE_PLACEHOLDER not in cfg.model_dump_json()


def walk_values(node: Any, path: str = ""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk_values(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk_values(value, f"{path}[{i}]")
    else:
        yield path, node


SECRET_LIKE_KEYS = {"password", "token", "secret", "clientsecret", "secretid", "accountkey", "apikey", "webhookurl"}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_stack_files_hold_no_secret(stack: str):
    """Only `secure:` values may carry secrets, and only for keys a person must supply."""
    for key, value in stack_config(stack).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            assert key.split(":", 1)[1] in secrets.SECRET_KEYS, f"{key} is secure but not a declared secret key"
            continue
        for path, leaf in walk_values(value, key):
            text = str(leaf).lower()
            leaf_key = path.rsplit(".", 1)[-1].split("[")[0].lower()
            assert leaf_key not in SECRET_LIKE_KEYS, f"{path} looks like a secret in plain text"
            assert "hooks.slack.com" not in text and "-----begin" not in text, path


@pytest.mark.parametrize(("written", "arrives"), [("0815", "815"), ("0777", "511"), ("1.50", "1.5"), ("yes", None)])
def test_a_tag_value_yaml_reads_as_a_number_is_refused_with_a_hint_to_quote_it(tmp_path, written, arrives):
    """Read from stack-file text as the Pulumi CLI reads it (go-yaml v3, tools/stackfile.py): unquoted 0815 is the
    number 815 before the program sees it, so the program refuses it rather than tag resources with "815". `yes` is
    a string in YAML 1.2 and passes."""
    text = (offline.PROJECT_DIR / "Pulumi.staging.yaml").read_text()
    assert 'costCenter: "4711"' in text
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(text.replace('costCenter: "4711"', f"costCenter: {written}"))
    if arrives is None:
        assert offline.validated_config("staging", *stackfile.read(path)).tags["costCenter"] == written
        return
    with pytest.raises(ConfigError) as error:
        offline.validated_config("staging", *stackfile.read(path))
    message = str(error.value)
    assert "cdstack:tags.costCenter" in message and f"unquoted as {arrives}" in message
    assert 'quote it in the stack file, as in "0815"' in message


def test_a_quoted_tag_value_keeps_its_leading_zero(tmp_path):
    text = (offline.PROJECT_DIR / "Pulumi.staging.yaml").read_text().replace('"4711"', '"0815"')
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(text)
    assert offline.validated_config("staging", *stackfile.read(path)).tags["costCenter"] == "0815"
