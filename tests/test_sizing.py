"""Requests are laid under the program's values: the program's own setting wins, nothing else is lost."""

from __future__ import annotations

from components import catalog, sizing


def test_requests_go_under_the_programs_values_and_the_program_wins():
    values = {"resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "2"}}, "webhook": {"replicas": 2}}
    merged = sizing.with_requests("cert-manager", values)
    assert merged == {
        "resources": {"requests": {"cpu": "1", "memory": "32Mi"}, "limits": {"cpu": "2", "memory": "64Mi"}},
        "webhook": {"replicas": 2, "resources": sizing.sized("10m", "32Mi")},
        "cainjector": {"resources": sizing.sized("10m", "32Mi")},
        "startupapicheck": {"resources": sizing.sized("10m", "32Mi")},
    }
    assert sizing.with_requests("eck-operator", values) is values  # the chart's own defaults request enough


def test_sizing_names_only_catalog_charts():
    assert set(sizing.REQUESTS) <= set(catalog.CHARTS)


def test_limits_sit_well_above_requests():
    assert sizing.sized("10m", "32Mi") == {
        "requests": {"cpu": "10m", "memory": "32Mi"},
        "limits": {"cpu": "500m", "memory": "64Mi"},
    }
    assert sizing.sized("1", "2Gi")["limits"] == {"cpu": "4000m", "memory": "4096Mi"}
