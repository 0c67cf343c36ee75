"""The promotion gate: the pure comparison, and the gate under the mock engine (refuse, pass, logged override)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from components import attestation, catalog
from components.promotion import Offence, PromotionError, message, offences
from components.releases import release_set
from tests.conftest import PROJECT_DIR, Planner, stack_config
from tests.services import stack_cfg
from tools import offline, plan

SOURCE = "organization/cdstack/staging"
CATALOG_SET = {
    "charts": {key: chart.version for key, chart in catalog.CHARTS.items()},
    "images": dict(catalog.IMAGES),
}


def with_charts(base: dict[str, Any], **versions: str) -> dict[str, Any]:
    charts = {**base["charts"], **{key.replace("_", "-"): v for key, v in versions.items()}}
    return {"charts": charts, "images": dict(base["images"])}


def test_same_versions_pass():
    assert offences(CATALOG_SET, CATALOG_SET) == []


def test_newer_version_than_the_source_is_offending_older_is_not():
    mine = with_charts(CATALOG_SET, concourse="20.2.0", vault="0.30.0")
    assert offences(mine, CATALOG_SET) == [Offence("chart concourse", "20.2.0", "20.1.3")]


def test_prerelease_of_the_source_version_is_older_and_unorderable_differences_offend():
    source = {"charts": {"cert-manager": "v1.21.1"}, "images": {"influxdb2": "2.7.12"}}
    assert offences({"charts": {"cert-manager": "v1.21.1-rc.1"}, "images": {}}, source) == []
    assert offences({"charts": {}, "images": {"influxdb2": "latest"}}, source) == [
        Offence("image influxdb2", "latest", "2.7.12")
    ]


def test_release_the_source_never_deployed_is_offending():
    assert Offence("chart cert-manager", "v1.21.1", None) in offences(CATALOG_SET, {"charts": {}, "images": {}})
    # A source that exports no release set at all (never deployed): everything offends.
    assert len(offences(CATALOG_SET, {})) == len(catalog.CHARTS) + len(catalog.IMAGES)


def test_message_lists_each_offending_release_with_both_versions():
    text = message(
        "prod",
        SOURCE,
        [Offence("chart concourse", "20.2.0", "20.1.3"), Offence("image influxdb2", "2.7.13", None)],
    )
    assert "stack prod refuses releases that organization/cdstack/staging has not deployed:" in text
    assert "  chart concourse: prod 20.2.0, organization/cdstack/staging 20.1.3" in text
    assert "  image influxdb2: prod 2.7.13, organization/cdstack/staging not deployed" in text


def prod_config(**promotion: str) -> dict[str, Any]:
    config = stack_config("prod")
    config["cdstack:charts"] = {**config.get("cdstack:charts", {}), "concourse": "20.2.0", "vault": "0.34.1"}
    config["cdstack:promotion"] = {"sourceStack": SOURCE, **promotion}
    return config


def test_gate_passes_when_the_source_deployed_the_same_versions(shared_plan: Planner):
    source = with_charts(CATALOG_SET, concourse="20.2.0")
    plan = shared_plan("prod", prod_config(), {SOURCE: {"releaseSet": source}})
    assert plan.get("cdstack:index:CdStack", "prod")
    assert plan.outputs["releaseSet"]["charts"]["concourse"] == "20.2.0"


def test_gate_refuses_a_version_ahead_of_the_source_before_creating_anything(shared_plan: Planner):
    with pytest.raises(PromotionError) as refused:
        shared_plan("prod", prod_config(), {SOURCE: {"releaseSet": CATALOG_SET}})
    text = str(refused.value)
    assert f"  chart concourse: prod 20.2.0, {SOURCE} 20.1.3" in text
    assert "vault" not in text


def test_refused_gate_registers_no_resource(plan_of: Planner, monkeypatch: pytest.MonkeyPatch):
    """Run the gate by hand and look at the monitor: nothing was registered, not even the CdStack component."""
    monitors: list[offline.RecordingMonitor] = []
    original = offline.RecordingMonitor.__init__

    def remember(self: offline.RecordingMonitor, mock: Any) -> None:
        original(self, mock)
        monitors.append(self)

    monkeypatch.setattr(offline.RecordingMonitor, "__init__", remember)
    with pytest.raises(PromotionError):
        plan_of("prod", prod_config(), {SOURCE: {"releaseSet": CATALOG_SET}})
    assert monitors[-1].registrations == {}


def test_override_deploys_anyway_and_logs_reason_and_offending_releases(
    plan_of: Planner, caplog: pytest.LogCaptureFixture
):
    config = prod_config(overrideReason="INC-4711: CVE fix in Concourse 20.2.0, staging is down")
    with caplog.at_level(logging.WARNING):
        plan = plan_of("prod", config, {SOURCE: {"releaseSet": CATALOG_SET}})
    assert plan.get("cdstack:index:CdStack", "prod")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "promotion gate overridden (INC-4711: CVE fix in Concourse 20.2.0, staging is down)" in w
        and f"chart concourse: prod 20.2.0, {SOURCE} 20.1.3" in w
        for w in warnings
    ), warnings


def test_stack_without_promotion_is_not_gated(shared_plan: Planner):
    config = stack_config("staging")
    config["cdstack:charts"] = {"concourse": "20.2.0"}
    plan = shared_plan("staging", config)  # no StackReference answers: an ungated stack never asks
    assert plan.outputs["releaseSet"]["charts"]["concourse"] == "20.2.0"


def test_offline_plan_of_prod_gates_on_the_release_set_staging_would_deploy(shared_plan: Planner):
    """The offline plan answers prod's StackReference with what Pulumi.staging.yaml deploys; the gate passes."""
    outputs = offline.source_stack_outputs(offline.read_stack_file(PROJECT_DIR / "Pulumi.prod.yaml")[0], PROJECT_DIR)
    assert outputs[SOURCE] == {"releaseSet": release_set(offline.load_config("staging"))}
    assert set(outputs) == {SOURCE, "organization/cdstack/infra"}  # and the infra stack's trust (test_infra_trust)
    assert shared_plan("prod").get("cdstack:index:CdStack", "prod")


def test_plan_command_reports_a_refused_promotion_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    shutil.copy(PROJECT_DIR / "Pulumi.staging.yaml", tmp_path)
    prod = (PROJECT_DIR / "Pulumi.prod.yaml").read_text().replace("    vault: 0.34.1\n", "    vault: 0.35.0\n")
    (tmp_path / "Pulumi.prod.yaml").write_text(prod)
    assert plan.main(["prod", "--project-dir", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: stack prod refuses releases that organization/cdstack/staging has not")
    assert f"  chart vault: prod 0.35.0, {SOURCE} 0.34.1" in captured.err


def test_a_lean_source_has_not_run_its_missing_parts_so_the_gate_refuses_their_versions():
    """A stack gated on a lean one (parts.influxdb off there) is refused InfluxDB and Telegraf: the source never ran
    them, and its release set says so."""
    lean = release_set(stack_cfg("staging", parts={"influxdb": False}))
    assert {"influxdb2", "telegraf"}.isdisjoint(lean["charts"]) and "influxdb2" not in lean["images"]
    found = offences(release_set(stack_cfg("prod")), lean)
    assert [o.release for o in found] == ["chart influxdb2", "chart telegraf", "image influxdb2"]


def test_gate_refuses_a_release_set_the_source_deployed_but_never_passed_end_to_end(plan_of: Planner):
    """The planted case: staging exports exactly prod's release set (the version gate passes), but no smoke of
    staging ever passed with it."""
    source = with_charts(CATALOG_SET, concourse="20.2.0")
    never_passed = attestation.MemoryStore()
    attestation.write(never_passed, attestation.record(SOURCE, source, "abc123", "2026-11-29T10:00:00+00:00", "failed"))
    with pytest.raises(PromotionError) as refused:
        offline.run(
            "prod",
            *offline.flatten_config(prod_config()),
            stack_outputs={SOURCE: {"releaseSet": source}},
            attestations=never_passed,
        )
    assert f"{SOURCE} deployed it but never passed the end-to-end smoke with it" in str(refused.value)
    assert attestation.blob_name(SOURCE, source) in str(refused.value)


def test_gate_passes_a_release_set_the_source_passed_and_the_override_lets_an_unattested_one_through_logged(
    plan_of: Planner, caplog: pytest.LogCaptureFixture
):
    source = with_charts(CATALOG_SET, concourse="20.2.0")
    store = attestation.MemoryStore()
    attestation.write(store, attestation.record(SOURCE, source, "abc123", "2026-11-29T10:00:00+00:00", "passed"))
    assert attestation.blob_name(SOURCE, source) == f"cdstack-attestations/staging/{attestation.digest(source)}.json"
    plan = offline.run(
        "prod",
        *offline.flatten_config(prod_config()),
        stack_outputs={SOURCE: {"releaseSet": source}},
        attestations=store,
    )
    assert plan.get("cdstack:index:CdStack", "prod")

    config = prod_config(overrideReason="INC-4712: staging's Elasticsearch is down, the smoke cannot pass")
    with caplog.at_level(logging.WARNING):
        plan = offline.run(
            "prod",
            *offline.flatten_config(config),
            stack_outputs={SOURCE: {"releaseSet": source}},
            attestations=attestation.MemoryStore(),
        )
    assert plan.get("cdstack:index:CdStack", "prod")
    assert any(
        "promotion gate overridden (INC-4712" in r.getMessage()
        and "never passed the end-to-end smoke" in r.getMessage()
        for r in caplog.records
    )


def test_attestations_live_beside_the_state_of_a_file_backend_and_an_unknown_backend_is_refused(tmp_path: Path):
    store = attestation.backend_store({"PULUMI_BACKEND_URL": f"file://{tmp_path}"})
    written = attestation.write(store, attestation.record("staging", CATALOG_SET, "c0ffee", "t", "passed"))
    assert (tmp_path / written).is_file()
    assert attestation.passed(store, SOURCE, CATALOG_SET) == {
        "stack": "staging",
        "releaseSet": CATALOG_SET,
        "commit": "c0ffee",
        "time": "t",
        "result": "passed",
    }
    assert attestation.passed(store, SOURCE, with_charts(CATALOG_SET, concourse="20.2.0")) is None
    with pytest.raises(attestation.StoreError):
        attestation.backend_store({"PULUMI_BACKEND_URL": "https://api.pulumi.com"})


def test_a_store_that_cannot_be_read_refuses_like_a_missing_attestation(plan_of: Planner):
    class Unreachable(attestation.MemoryStore):
        def read(self, name: str) -> bytes | None:
            raise OSError("the state account answered 403")

    source = with_charts(CATALOG_SET, concourse="20.2.0")
    with pytest.raises(PromotionError, match="cannot read its source's smoke attestations: OSError: the state account"):
        offline.run(
            "prod",
            *offline.flatten_config(prod_config()),
            stack_outputs={SOURCE: {"releaseSet": source}},
            attestations=Unreachable(),
        )
