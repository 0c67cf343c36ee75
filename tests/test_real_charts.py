"""Every release of every stack, rendered from the real pinned charts and audited: no error may remain.

CI has no chart repository, so this runs where the charts are on the machine (`make charts` filled the cache, or
CDSTACK_CHARTS points at a mirror); elsewhere it is skipped with one line saying how to get them.
"""

from __future__ import annotations

import base64
import bz2

import pytest

from tests.conftest import cached_plan
from tools import audit, charts, helmrender, offline, render

STACKS = offline.stack_names()


@pytest.mark.parametrize("stack", STACKS)
def test_every_real_release_renders_and_passes_the_audit(stack: str):
    absent = render.missing_charts(stack)
    if absent:
        pytest.skip(f"real charts absent ({', '.join(absent)}): {charts.GET_THEM}")
    findings, _ = audit.audit_stack(stack)
    errors = [f.line() for f in findings if f.severity == "error"]
    assert not errors, f"audit of {stack}:\n" + "\n".join(errors)


def test_a_prometheus_stack_upgrade_applies_that_versions_crds():
    """Helm never upgrades crds/: the chart's upgrade hook must carry exactly the CRDs of the version installed."""
    plan = cached_plan("staging")
    (release,) = [r for r in render.releases_from_plan(plan) if r.chart == "kube-prometheus-stack"]
    try:
        chart = helmrender.load(charts.locate(release.chart, release.version))
    except charts.ChartMissingError as error:
        pytest.skip(str(error))
    (rendered,) = render.render_releases([release], "1.33")
    hooks = {
        (o["kind"], o["metadata"]["name"]): o
        for o in rendered.objects
        if "pre-upgrade" in (o["metadata"].get("annotations") or {}).get("helm.sh/hook", "")
    }
    job = next(o for (kind, _), o in hooks.items() if kind == "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert "kubectl" in container["image"] and "--server-side" in " ".join(container.get("args", []))
    (config_map,) = [o for (kind, _), o in hooks.items() if kind == "ConfigMap"]
    shipped = helmrender.load_all(bz2.decompress(base64.b64decode(config_map["binaryData"]["crds.bz2"])).decode())
    in_chart = helmrender.chart_crds(chart)

    def versions(crds: list[dict]) -> set[tuple[str, str]]:
        return {(c["metadata"]["name"], v["name"]) for c in crds for v in c["spec"]["versions"]}

    assert versions(shipped) == versions(in_chart) and in_chart


@pytest.mark.parametrize("stack", STACKS)
def test_concourses_web_and_worker_releases_are_one_complete_consistent_deployment(stack: str):
    """The real concourse chart, as the program releases it twice: the web release renders the web and the TSA's
    Service, the worker release the workers and their HPA and PDB, nothing twice; the workers dial that Service's
    port in its namespace, and each side mounts the Secret the program writes for it, whose keys pair up (the TSA
    host key and the worker key, each generated once: services/concourse.py)."""
    plan = cached_plan(stack)
    releases = [r for r in render.releases_from_plan(plan) if r.chart == "concourse"]
    try:
        for release in releases:
            charts.locate(release.chart, release.version)
    except charts.ChartMissingError as error:
        pytest.skip(str(error))
    rendered = {r.release.name: r.objects for r in render.render_releases(releases, "1.33")}
    web = rendered.pop("concourse")
    ((workers_name, workers),) = rendered.items()
    kinds = lambda objects: sorted(o["kind"] for o in objects)  # noqa: E731
    # The pre-stop ConfigMap is rendered whatever worker.enabled says (templates/worker-prestop-configmap.yaml).
    assert kinds(web) == [
        "ConfigMap", "Deployment", "Ingress", "Service", "Service", "Service", "ServiceAccount", "ServiceMonitor",
    ]  # fmt: skip
    assert kinds(workers) == [
        "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service", "ServiceAccount", "StatefulSet",
    ]  # fmt: skip
    keys = lambda objects: {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects}  # noqa: E731
    assert not keys(web) & keys(workers)
    # The TSA: the web release's Service, dialled by the worker release at its name, namespace and port.
    (gateway,) = [o for o in web if o["metadata"]["name"] == "concourse-web-worker-gateway"]
    (statefulset,) = [o for o in workers if o["kind"] == "StatefulSet"]
    pod = statefulset["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    host, port = env["CONCOURSE_TSA_HOST"].rsplit(":", 1)
    assert host == f"{gateway['metadata']['name']}.{gateway['metadata']['namespace']}.svc.cluster.local"
    assert int(port) == gateway["spec"]["ports"][0]["port"]
    # Each side mounts the Secret the program writes for it, with the keys it needs.
    secrets = {r.inputs["metadata"]["name"]: r for r in plan.by_type("kubernetes:core/v1:Secret")}
    mounted = {v["secret"]["secretName"]: v["secret"] for v in pod["volumes"] if "secret" in v}
    worker_secret = secrets[f"{workers_name}-worker"]
    assert {i["key"] for i in mounted[f"{workers_name}-worker"]["items"]} == {"host-key-pub", "worker-key"}
    web_secret = secrets["concourse-web"]
    keys_from = lambda secret: {d.rsplit("::", 1)[1] for d in secret.dependencies if "privateKey" in d}  # noqa: E731
    assert keys_from(web_secret) >= {"concourse-tsa-host-key", "concourse-worker-key"}
    assert keys_from(worker_secret) == {"concourse-tsa-host-key", "concourse-worker-key"}
    # The HPA and the PDB select this generation only.
    for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget"):
        (obj,) = [o for o in workers if o["kind"] == kind]
        target = obj["spec"].get("scaleTargetRef", {}).get("name") or obj["spec"]["selector"]["matchLabels"]["app"]
        assert target == statefulset["metadata"]["name"] == f"{workers_name}-worker"
