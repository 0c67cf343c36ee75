"""What every policy module shares: reading nested inputs, and building a policy from a pure check.

A check is a generator of violation messages. Resource checks get the engine's ResourceValidationArgs (type, inputs,
options, this policy's configuration); stack checks get StackValidationArgs and yield (message, urn) pairs. The
factories below only wire a check to pulumi-policy's types, so the checks stay plain functions of their arguments.

Values arrive as the engine hands them to a Python pack: Pulumi secrets already unwrapped (pulumi_policy/policy.py,
Analyze: deserialize_properties without proxy_secrets), unknown preview values raising UnknownValueError on access
(the SDK then reports "can't run policy during preview" as advisory). So no check can see whether a value is secret;
the ones that care judge where a value comes from (property dependencies) or what it looks like.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

ResourceCheck = Callable[[ResourceValidationArgs], Iterator[str]]
StackCheck = Callable[[StackValidationArgs], Iterator[tuple[str, str | None]]]


def get(props: Any, path: str, default: Any = None) -> Any:
    """`props["a"]["b"]` for path "a.b", or `default` where a step is missing or not a mapping."""
    value = props
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def known(props: Any, path: str, default: Any = None) -> Any:
    """`get`, with `default` also for a value unknown during preview: for names that identify or label a resource,
    where an unknown must not stop the whole check."""
    try:
        return get(props, path, default)
    except UnknownValueError:
        return default


def items(value: Any) -> list[Any]:
    """A list input as a list (absent or not a list: empty)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return []


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every known string leaf of a nested input with its dotted path (an unknown value is no literal)."""
    if isinstance(value, str):
        yield path, value
        return
    if isinstance(value, Mapping):
        children = [(key, f"{path}.{key}" if path else str(key)) for key in value]
    elif isinstance(value, Sequence):
        children = [(index, f"{path}[{index}]") for index in range(len(value))]
    else:
        return
    for key, child_path in children:
        try:
            child = value[key]
        except UnknownValueError:
            continue
        yield from strings(child, child_path)


def schema(**properties: dict[str, Any]) -> PolicyConfigSchema:
    """A config schema whose every property has a default (the engine fills them in when the stack's file omits
    them), so a check can index its configuration directly."""
    for name, spec in properties.items():
        assert "default" in spec, f"config property {name} needs a default"
    return PolicyConfigSchema(properties=dict(properties))


def resource_policy(
    name: str,
    description: str,
    types: Sequence[str],
    check: ResourceCheck,
    level: EnforcementLevel | None = None,
    config: PolicyConfigSchema | None = None,
) -> ResourceValidationPolicy:
    """A policy that runs `check` on every resource of one of `types` (all resources if `types` is empty)."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if types and args.resource_type not in types:
            return
        for message in check(args):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=level, config_schema=config
    )


def stack_policy(
    name: str,
    description: str,
    check: StackCheck,
    level: EnforcementLevel | None = None,
    config: PolicyConfigSchema | None = None,
) -> StackValidationPolicy:
    """A policy that runs `check` once over the whole graph."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for message, urn in check(args):
            report_violation(message, urn)

    return StackValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=level, config_schema=config
    )


def attached_to(child: PolicyResource, key: str, parent: PolicyResource, parent_keys: Sequence[str]) -> bool:
    """Whether `child`'s input `key` refers to `parent`: by the engine's property dependency, or else by value
    (a name given literally). Names may be unknown during a first preview; dependencies never are."""
    if any(dep.urn == parent.urn for dep in child.property_dependencies.get(key, [])):
        return True
    value = known(child.props, key)
    return value is not None and any(value == known(parent.props, k) for k in parent_keys)
