"""Small hand-built planned graphs for the cost and timeline tests: a few registrations, nothing run."""

from __future__ import annotations

from typing import Any

from tools import offline


def resource(
    type_: str, name: str, inputs: dict[str, Any] | None = None, after: list[str] | None = None
) -> offline.Registration:
    """A custom resource named `name` of `type_`, waiting on the resources named in `after` (URN = urn:<name>)."""
    return offline.Registration(
        urn=f"urn:{name}",
        type=type_,
        name=name,
        parent="",
        custom=True,
        inputs=inputs or {},
        dependencies=[f"urn:{n}" for n in after or []],
        property_dependencies={},
        protect=False,
        ignore_changes=[],
        provider="",
        delete_before_replace=False,
        replace_on_changes=[],
        additional_secret_outputs=[],
        custom_timeouts={},
        retain_on_delete=False,
    )


def plan(stack: str, *registrations: offline.Registration) -> offline.Plan:
    return offline.Plan(stack, list(registrations), {})
