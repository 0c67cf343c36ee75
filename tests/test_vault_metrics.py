"""Vault's own metrics, as the program configures them, served by a real Vault-API server (OpenBao's bao): the
metrics listener answers Prometheus without a token, the main listener still asks for one, and the metric names the
Vault alerts read are there."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from components import alerting, naming
from components.endpoints import SearchReader
from components.services import monitoring, secrets
from tests.services import at, secret_string, stack_cfg, vault_hcl_path
from tests.test_alerts import metric_names
from tests.vault_server import configured_server, free_port

SEARCH = SearchReader(
    url="https://es.logging.svc:9200", index="filebeat-*", username="grafana", password=secret_string("x")
)

PLAIN = "tls_disable = true"
"""The tests' stand-in for the listener certificate (the program's TLS lines name files in the pod)."""


def scrape(address: str) -> tuple[int, str]:
    request = urllib.request.Request(f"{address}/v1/sys/metrics?format=prometheus")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def vault_metrics_read_by_the_rules() -> set[str]:
    exprs = [
        rule["expr"]
        for group in yaml.safe_load((alerting.PROMETHEUS_DIR / "vault.yaml").read_text())["groups"]
        for rule in group["rules"]
    ]
    return {name for expr in exprs for name in metric_names(expr) if name.startswith("vault_")}


@pytest.mark.vault_server
def test_the_metrics_listener_serves_prometheus_without_a_token_and_the_main_one_does_not(tmp_path: Path):
    main, metrics = free_port(), free_port()
    listeners = f'listener "tcp" {{\n  address = "127.0.0.1:{main}"\n  {PLAIN}\n}}\n'
    listeners += secrets.metrics_hcl(f"127.0.0.1:{metrics}", PLAIN)
    with configured_server(tmp_path, listeners) as server:
        _, init = server.request("POST", "sys/init", body={"secret_shares": 1, "secret_threshold": 1})
        server.request("POST", "sys/unseal", body={"key": init["keys"][0]})
        status, _ = server.request("GET", "auth/token/lookup-self", init["root_token"])
        assert status == 200
        assert scrape(server.address)[0] == 403
        status, text = scrape(f"http://127.0.0.1:{metrics}")
    assert status == 200
    exposed = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    assert vault_metrics_read_by_the_rules() <= exposed, sorted(vault_metrics_read_by_the_rules() - exposed)
    assert vault_metrics_read_by_the_rules() >= {"vault_core_handle_request_count", "vault_core_handle_request_sum"}


def test_vault_runs_the_metrics_listener_on_a_port_only_the_pod_monitor_names():
    unseal = secrets.UnsealKey("t", "kv", "k", "c")
    values = secrets.vault_values(stack_cfg("prod"), unseal)
    assert secrets.metrics_hcl() in at(values, vault_hcl_path(values))
    assert values["server"]["extraPorts"] == [{"name": "metrics", "containerPort": secrets.VAULT_METRICS_PORT}]
    [monitor] = monitoring.prometheus_stack_values(stack_cfg("prod"), False, SEARCH)["prometheus"][
        "additionalPodMonitors"
    ]
    assert monitor["namespaceSelector"] == {"matchNames": [naming.NAMESPACES["secrets"]]}
    assert monitor["selector"]["matchLabels"]["vault-active"] == "true"  # standbys do not answer /sys/metrics
    [endpoint] = monitor["podMetricsEndpoints"]
    assert (endpoint["port"], endpoint["path"], endpoint["params"]) == (
        "metrics",
        "/v1/sys/metrics",
        {"format": ["prometheus"]},
    )
    # The job the VaultMetricsMissing alert watches.
    assert f'job="{monitoring.NAMESPACE}/{monitor["name"]}"' in (alerting.PROMETHEUS_DIR / "vault.yaml").read_text()


def test_an_external_vault_is_not_scraped():
    cfg = stack_cfg("staging", vault={"mode": "external", "address": "https://vault.example.com"})
    assert monitoring.prometheus_stack_values(cfg, False, SEARCH)["prometheus"]["additionalPodMonitors"] == []
