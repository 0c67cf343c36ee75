"""Requests are laid under the program's values: the program's own setting wins, nothing else is lost."""

from __future__ import annotations

from components import catalog, sizing


def test_requests_go_under_the_programs_values_and_the_program_wins():
    values = {"resources": {"requests": {"cpu": "1"}}, "webhook": {"replicas": 2}}
    merged = sizing.with_requests("cert-manager", values)
    assert merged == {
        "resources": {"requests": {"cpu": "1", "memory": "32Mi"}},
        "webhook": {"replicas": 2, "resources": sizing.requests("10m", "32Mi")},
        "cainjector": {"resources": sizing.requests("10m", "32Mi")},
        "startupapicheck": {"resources": sizing.requests("10m", "32Mi")},
    }
    assert sizing.with_requests("eck-operator", values) is values  # the chart's own defaults request enough


def test_sizing_names_only_catalog_charts():
    assert set(sizing.REQUESTS) <= set(catalog.CHARTS)
