"""The render audit, proven on small charts the tests write themselves: each check catches its planted defect and
passes the same chart without it. Helm's real engine renders them (helm-python-sdk), as it renders the real charts."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import nodes
from tools import audit, helmrender, render, workloads
from tools.workloads import Pool, Taint


@pytest.fixture(autouse=True)
def render_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Renders remembered in the test's own folder, never in the user's cache."""
    monkeypatch.setenv("CDSTACK_RENDER_CACHE", str(tmp_path / "renders"))


SYSTEM = Pool(
    "system", "Standard_D4ds_v5", 2, 2, workloads.pool_labels("system", "system", "Standard_D4ds_v5", {}), (), 3,
    nodes.allocatable("Standard_D4ds_v5", 250, 33),
)  # fmt: skip
WORKERS = Pool(
    "workers", "Standard_D8ds_v5", 1, 3,
    workloads.pool_labels("workers", "user", "Standard_D8ds_v5", {"cdstack.io/pool": "concourse-workers"}),
    (Taint("cdstack.io/pool", "concourse-workers", "NoSchedule"),), 3,
    nodes.allocatable("Standard_D8ds_v5", 30, 33),
)  # fmt: skip


def deployment(
    replicas: int = 1, cpu: str = "100m", spec_extra: dict[str, Any] | None = None, env: list[Any] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "app"}},
            "template": {
                "metadata": {"labels": {"app": "app"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "example/app:1",
                            "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}},
                            "env": env or [],
                        }
                    ],
                    **(spec_extra or {}),
                },
            },
        },
    }


def write_chart(
    root: Path,
    name: str,
    templates: dict[str, str | dict[str, Any]],
    values: dict[str, Any] | None = None,
    crds: list[dict[str, Any]] | None = None,
    schema: dict[str, Any] | None = None,
) -> None:
    folder = root / name
    (folder / "templates").mkdir(parents=True)
    (folder / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": name, "version": "1.0.0"}))
    (folder / "values.yaml").write_text(yaml.safe_dump(values or {}))
    for file, body in templates.items():
        (folder / "templates" / file).write_text(body if isinstance(body, str) else yaml.safe_dump(body))
    if crds:
        (folder / "crds").mkdir()
        for i, crd in enumerate(crds):
            (folder / "crds" / f"crd{i}.yaml").write_text(yaml.safe_dump(crd))
    if schema:
        (folder / "values.schema.json").write_text(json.dumps(schema))


def release(name: str, values: dict[str, Any] | None = None, waits_on: frozenset[str] = frozenset()) -> render.Release:
    return render.Release(name, "apps", name, "1.0.0", values or {}, urn=f"urn:{name}", waits_on=waits_on)


def run(
    root: Path,
    releases: list[render.Release],
    pools: tuple[Pool, ...] = (SYSTEM, WORKERS),
    plan_objects: list[tuple[dict[str, Any], str, frozenset[str]]] | None = None,
) -> list[audit.Finding]:
    locate = lambda chart, version: root / chart  # noqa: E731 - the charts the test wrote
    rendered = render.render_releases(releases, "1.33", locate=locate)
    stack = audit.Stack(rendered, list(pools), "1.33", plan_objects or [], locate=locate)
    findings, _ = audit.audit(stack)
    return findings


def errors(findings: list[audit.Finding], check: str) -> list[audit.Finding]:
    return [f for f in findings if f.check == check and f.severity == "error"]


def test_a_clean_chart_has_no_error(tmp_path: Path):
    write_chart(tmp_path, "app", {"app.yaml": deployment()})
    assert [f for f in run(tmp_path, [release("app")]) if f.severity == "error"] == []


ANTI_AFFINITY = {
    "affinity": {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "app"}}, "topologyKey": "kubernetes.io/hostname"}
            ]
        }
    }
}


def test_replicas_kept_apart_on_too_few_nodes_cannot_all_be_scheduled(tmp_path: Path):
    write_chart(
        tmp_path, "app", {"app.yaml": "{{ toYaml .Values.app }}"}, {"app": deployment(3, spec_extra=ANTI_AFFINITY)}
    )
    (found,) = errors(run(tmp_path, [release("app")]), "scheduling")
    assert "3 replicas" in found.message and "at most 2 nodes" in found.message
    # Two replicas fit the two system nodes.
    assert errors(run(tmp_path, [release("app", {"app": deployment(2, spec_extra=ANTI_AFFINITY)})]), "scheduling") == []


def test_a_pod_selecting_the_tainted_pool_without_its_toleration_fits_nowhere(tmp_path: Path):
    selector = {"nodeSelector": {"cdstack.io/pool": "concourse-workers"}}
    toleration = {"tolerations": [{"key": "cdstack.io/pool", "operator": "Equal", "value": "concourse-workers"}]}
    write_chart(tmp_path, "app", {"app.yaml": "{{ toYaml .Values.app }}"}, {"app": deployment(spec_extra=selector)})
    (found,) = errors(run(tmp_path, [release("app")]), "scheduling")
    assert "fits no pool" in found.message and "no toleration for taint cdstack.io/pool" in found.message
    fixed = deployment(spec_extra={**selector, **toleration})
    assert errors(run(tmp_path, [release("app", {"app": fixed})]), "scheduling") == []


def test_a_secret_or_key_nothing_creates_is_reported(tmp_path: Path):
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "app-token", "key": "token"}}}]
    write_chart(tmp_path, "app", {"app.yaml": deployment(env=env)})
    (found,) = errors(run(tmp_path, [release("app")]), "references")
    assert "reads Secret apps/app-token, which nothing in the stack creates" in found.message
    # The program creates it, but with another key.
    made = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app-token", "namespace": "apps"}}
    wrong_key = [({**made, "stringData": {"password": "x"}}, "urn:secret", frozenset())]
    (found,) = errors(run(tmp_path, [release("app")], plan_objects=wrong_key), "references")
    assert "key 'token'" in found.message
    right_key = [({**made, "stringData": {"token": "x"}}, "urn:secret", frozenset())]
    assert errors(run(tmp_path, [release("app")], plan_objects=right_key), "references") == []


def test_a_value_no_template_reads_is_dead(tmp_path: Path):
    template = "{{ toYaml .Values.app }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  used: {{ .Values.used | quote }}\n"  # noqa: E501
    write_chart(tmp_path, "app", {"app.yaml": template}, {"app": deployment(), "used": "a", "unused": "b"})
    found = errors(run(tmp_path, [release("app", {"used": "x", "unused": "y", "app": deployment()})]), "dead")
    assert [f.subject for f in found] == ["unused"]


def test_an_unknown_field_and_a_removed_api_are_schema_errors(tmp_path: Path):
    typo = deployment()
    typo["spec"]["replica"] = typo["spec"].pop("replicas")
    pdb = {
        "apiVersion": "policy/v1beta1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "app"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "app"}}},
    }
    write_chart(tmp_path, "app", {"app.yaml": typo, "pdb.yaml": pdb})
    found = {f.subject: f.message for f in errors(run(tmp_path, [release("app")]), "schema")}
    assert "replica" in found["Deployment apps/app"]
    assert "neither built into Kubernetes 1.33" in found["PodDisruptionBudget apps/app"]


def test_the_render_answers_capabilities_as_the_stacks_cluster_would(tmp_path: Path):
    pdb = (
        '{{ if .Capabilities.APIVersions.Has "policy/v1/PodDisruptionBudget" }}apiVersion: policy/v1'
        "{{ else }}apiVersion: policy/v1beta1{{ end }}\nkind: PodDisruptionBudget\nmetadata: {name: app}\n"
        "spec: {minAvailable: 1, selector: {matchLabels: {app: app}}}\n"
    )
    monitor = '{{ if .Capabilities.APIVersions.Has "example.com/v1/Widget" }}\n{{ toYaml .Values.widget }}\n{{ end }}'
    write_chart(tmp_path, "app", {"pdb.yaml": pdb, "widget.yaml": monitor}, {"widget": WIDGET})
    write_chart(tmp_path, "widgets", {}, crds=[WIDGET_CRD])
    rendered = render.render_releases([release("app"), release("widgets")], "1.33", locate=lambda c, v: tmp_path / c)
    kinds = {(o["apiVersion"], o["kind"]) for o in rendered[0].objects}
    assert kinds == {("policy/v1", "PodDisruptionBudget"), ("example.com/v1", "Widget")}


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}},
                    }
                },
            }
        ],
    },
}
WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}


def test_a_custom_resource_must_wait_for_the_release_of_its_crd(tmp_path: Path):
    write_chart(tmp_path, "widgets", {}, crds=[WIDGET_CRD])
    write_chart(tmp_path, "app", {"w.yaml": WIDGET})
    (found,) = errors(run(tmp_path, [release("widgets"), release("app")]), "ordering")
    assert found.release == "app" and "release widgets" in found.message
    waits = frozenset({"urn:widgets"})
    assert errors(run(tmp_path, [release("widgets"), release("app", waits_on=waits)]), "ordering") == []
    # The program's own custom resources too.
    assert errors(run(tmp_path, [release("widgets")], plan_objects=[(WIDGET, "urn:w", frozenset())]), "ordering")


def test_a_custom_resource_is_checked_against_its_crds_schema(tmp_path: Path):
    write_chart(tmp_path, "widgets", {}, crds=[WIDGET_CRD])
    bad = {**WIDGET, "spec": {"size": "large"}}
    write_chart(tmp_path, "app", {"w.yaml": bad})
    (found,) = errors(
        run(tmp_path, [release("widgets"), release("app", waits_on=frozenset({"urn:widgets"}))]), "schema"
    )
    assert "spec.size" in found.message


def test_requests_beyond_a_pools_allocatable_capacity_are_reported(tmp_path: Path):
    write_chart(tmp_path, "app", {"app.yaml": "{{ toYaml .Values.app }}"}, {"app": deployment(cpu="100m")})
    assert errors(run(tmp_path, [release("app")]), "capacity") == []
    # Two D4ds_v5 system nodes offer 2 x (4000m - 140m kube-reserved) = 7720m.
    (found,) = errors(run(tmp_path, [release("app", {"app": deployment(2, cpu="3900m")})]), "capacity")
    assert "pool system" in found.subject and "over on CPU" in found.message


def test_a_container_without_requests_is_reported(tmp_path: Path):
    bare = deployment()
    del bare["spec"]["template"]["spec"]["containers"][0]["resources"]
    write_chart(tmp_path, "app", {"app.yaml": bare})
    (found,) = errors(run(tmp_path, [release("app")]), "capacity")
    assert "request no CPU or no memory" in found.message


def test_values_against_the_charts_values_schema(tmp_path: Path):
    schema = {"type": "object", "properties": {"replicas": {"type": "integer"}}}
    write_chart(tmp_path, "app", {"app.yaml": deployment()}, {"replicas": 1}, schema=schema)
    (found,) = errors(run(tmp_path, [release("app", {"replicas": "two"})]), "values-schema")
    assert "replicas" in found.message


def test_aks_reserves_what_its_documentation_says():
    # Microsoft Learn's own example: 8 GB and 30 pods leave 8 GB - (20 MB x 30 + 50 MB) - 100 Mi.
    assert nodes.reserved_memory_mib(8192, 30, 33) == 650 + 100
    assert nodes.reserved_memory_mib(4096, 70, 33) == 1024 + 100  # 25% is less than 20 x 70 + 50
    assert nodes.allocatable("Standard_D4ds_v5", 250, 33).cpu_milli == 4000 - 140


def test_an_autoscaler_that_may_add_more_replicas_than_nodes_is_reported(tmp_path: Path):
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "app"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
            "minReplicas": 2,
            "maxReplicas": "{{ .Values.max }}",
        },
    }
    template = yaml.safe_dump(hpa).replace("'{{ .Values.max }}'", "{{ .Values.max }}")
    app = deployment(spec_extra=ANTI_AFFINITY)
    del app["spec"]["replicas"]  # the HPA owns the count
    write_chart(tmp_path, "app", {"app.yaml": app, "hpa.yaml": template}, {"max": 2})
    assert errors(run(tmp_path, [release("app")]), "scheduling") == []
    (found,) = errors(run(tmp_path, [release("app", {"max": 3})]), "scheduling")
    assert "3 replicas" in found.message


def test_a_second_render_reads_the_first_and_a_changed_value_renders_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """What makes a warm `make render`/`make audit` fast: a render is remembered by its inputs, whole."""
    write_chart(tmp_path, "app", {"app.yaml": "{{ toYaml .Values.body }}"}, {"body": {"kind": "ConfigMap"}})
    locate = lambda chart, version: tmp_path / chart  # noqa: E731
    values = {"body": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one"}}}
    (first,) = render.render_releases([release("app", values)], "1.33", locate=locate)
    calls: list[str] = []
    real_render_text = helmrender.render_text
    monkeypatch.setattr(helmrender, "render_text", lambda *a: calls.append("render") or real_render_text(*a))
    (again,) = render.render_releases([release("app", values)], "1.33", locate=locate)
    assert again.objects == first.objects and calls == []
    changed = {"body": {**values["body"], "metadata": {"name": "two"}}}
    (other,) = render.render_releases([release("app", changed)], "1.33", locate=locate)
    assert calls == ["render"] and other.objects[0]["metadata"]["name"] == "two"
    # The audit's dead-settings baseline is the render already done.
    assert (
        helmrender.render_digest(
            locate("app", "1.0.0"),
            changed,
            "app",
            "apps",
            "v1.33.0",
            helmrender.builtin_api_versions(33),
        )
        is not None
    )
    assert calls == ["render"]


def test_a_chart_edited_in_place_renders_again_even_with_its_size_and_mtime_kept(tmp_path: Path):
    """Charts unpacked with `git archive` carry one commit time on every file: only their content tells an edit."""
    import os

    write_chart(tmp_path, "app", {"app.yaml": "{{ toYaml .Values.body }}"}, {"body": {"kind": "ConfigMap"}})
    locate = lambda chart, version: tmp_path / chart  # noqa: E731
    values = {"body": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one"}}}
    (first,) = render.render_releases([release("app", values)], "1.33", locate=locate)
    template = tmp_path / "app" / "templates" / "app.yaml"
    stat = template.stat()
    template.write_text(template.read_text().replace(".Values.body", ".Values.none"))  # same size: renders nothing
    assert template.stat().st_size == stat.st_size
    os.utime(template, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    helmrender.source_identity.cache_clear()  # a new process: nothing remembered in memory
    (again,) = render.render_releases([release("app", values)], "1.33", locate=locate)
    assert first.objects and again.objects != first.objects


def test_a_subchart_turned_off_once_renders_again_when_turned_back_on(tmp_path: Path):
    """Helm drops a disabled subchart from the loaded chart itself: the ablation turns `<sub>.enabled` off, and
    every later render of that chart must still see the subchart (it did not: all eck-beats settings read dead)."""
    parent = tmp_path / "parent"
    (parent / "charts" / "sub" / "templates").mkdir(parents=True)
    (parent / "templates").mkdir()
    (parent / "Chart.yaml").write_text(
        "apiVersion: v2\nname: parent\nversion: 1.0.0\n"
        "dependencies:\n- name: sub\n  version: 1.0.0\n  condition: sub.enabled\n"
    )
    (parent / "values.yaml").write_text("sub:\n  enabled: false\n")
    (parent / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: parent-{{ .Values.tag }}\n"
    )
    (parent / "charts" / "sub" / "Chart.yaml").write_text("apiVersion: v2\nname: sub\nversion: 1.0.0\n")
    (parent / "charts" / "sub" / "templates" / "secret.yaml").write_text(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: from-sub\n"
    )

    def kinds(values: dict) -> set[str]:
        objects = helmrender.render_release(parent, values, "p", "apps", "v1.33.0", helmrender.builtin_api_versions(33))
        return {o["kind"] for o in objects}

    assert kinds({"tag": "a", "sub": {"enabled": True}}) == {"ConfigMap", "ServiceAccount"}
    assert helmrender.render_digest(
        parent, {"tag": "a", "sub": {"enabled": False}}, "p", "apps", "v1.33.0", helmrender.builtin_api_versions(33)
    )
    assert kinds({"tag": "b", "sub": {"enabled": True}}) == {"ConfigMap", "ServiceAccount"}


def test_an_object_two_releases_apply_is_reported(tmp_path: Path):
    """Two releases of one chart (Concourse's web and a worker generation): objects named after the release stay
    apart; one with a fixed name is applied twice, which Helm refuses at the second install."""
    named = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "{{ .Release.Name }}-hook"}}
    write_chart(tmp_path, "app", {"hook.yaml": yaml.safe_dump(named), "app.yaml": "{{ toYaml .Values.app }}"})
    web = render.Release("web", "apps", "app", "1.0.0", {}, urn="urn:web")
    workers = render.Release("workers-0a1b2c3d", "apps", "app", "1.0.0", {}, urn="urn:workers")
    assert errors(run(tmp_path, [web, workers]), "owners") == []
    # Both render the same Deployment `app`: the second owner is named.
    fixed = {"app": deployment()}
    web_fixed, workers_fixed = (dataclasses.replace(r, values=fixed) for r in (web, workers))
    (found,) = errors(run(tmp_path, [web_fixed, workers_fixed]), "owners")
    assert (found.release, found.subject, found.message) == (
        "workers-0a1b2c3d",
        "Deployment apps/app",
        "also applied by web",
    )
    # A ConfigMap the program creates and a chart renders too.
    mine = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-hook", "namespace": "apps"}}
    (found,) = errors(run(tmp_path, [web], plan_objects=[(mine, "urn:config", frozenset())]), "owners")
    assert found.release == "program" and "web" in found.message


def test_a_rendered_list_is_applied_as_its_items():
    """kube-prometheus-stack renders additional PodMonitors as a `v1 List`; Helm applies its items (Flatten), so the
    audit judges the PodMonitor, not a List no schema knows."""
    manifest = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: monitoring.coreos.com/v1\n  kind: PodMonitor\n  metadata: {name: vault}\n"
    )
    objects = helmrender.split({"templates/podmonitors.yaml": manifest})
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [("PodMonitor", "vault")]
