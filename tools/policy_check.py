"""Run the CrossGuard policy pack (policy/) offline over a stack's planned graph, as `pulumi preview --policy-pack
policy --policy-pack-config policy/config.<stack>.json` would, and print the violations and how long it took.

    python -m tools.policy_check [stack ...]      (default: every Pulumi.<stack>.yaml in the project)

The adapter builds pulumi-policy's own argument types from the offline plan's records the way the SDK's analyzer
server builds them from the engine's requests (pulumi_policy/policy.py, `_PolicyAnalyzerServicer.Analyze` and
`AnalyzeStack`): properties through the SDK's deserializer (secrets unwrapped) and unknown-checking proxy, resource
options, provider, parent and (property) dependencies as PolicyResource links, and each policy's configuration as
the engine hands it: the schema's defaults overlaid with the stack's policy config file. Enforcement levels follow
the same precedence: the config file's `enforcementLevel`, else the policy's, else the pack's (mandatory).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY, deserialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from policy.cdstack_policy import POLICIES
from tools import offline

POLICY_DIR = offline.PROJECT_DIR / "policy"
PACK_LEVEL = EnforcementLevel.MANDATORY
"""The pack's own level (policy/__main__.py)."""


@dataclass(frozen=True)
class Violation:
    policy: str
    level: EnforcementLevel
    message: str
    urn: str


def config_path(stack: str, policy_dir: Path = POLICY_DIR) -> Path:
    return policy_dir / f"config.{stack}.json"


def load_config(stack: str, policy_dir: Path = POLICY_DIR) -> dict[str, Any]:
    """The stack's policy config file (the file `--policy-pack-config` takes)."""
    return json.loads(config_path(stack, policy_dir).read_text())


def settings(policy: Policy, pack_config: dict[str, Any]) -> tuple[EnforcementLevel, dict[str, Any]]:
    """A policy's enforcement level and configuration as the engine resolves them; a property the policy's schema
    does not declare is a mistake in the config file and raises."""
    entry = dict(pack_config.get(policy.name, {}))
    level = EnforcementLevel(entry.pop("enforcementLevel")) if "enforcementLevel" in entry else None
    declared = policy.config_schema.properties if policy.config_schema else {}
    unknown = sorted(set(entry) - set(declared))
    if unknown:
        raise ValueError(f"policy {policy.name}: config has {unknown}, which its schema does not declare")
    config = {key: spec["default"] for key, spec in declared.items() if "default" in spec}
    config.update(entry)
    return level or policy.enforcement_level or PACK_LEVEL, config


def _plaintext(seed: str) -> str:
    """What the engine hands a Python pack for a secret: its plaintext. The plan masks it; a generated-looking
    stand-in is what a real generated password, key or token would look like."""
    return "Gen3" + base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()[:36]


def _wire(value: Any, seed: str) -> Any:
    """The plan's masked JSON back in Pulumi's wire format: [secret] as a secret, [unknown] as an unknown."""
    if value == offline.SECRET:
        return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": _plaintext(seed)}
    if value == offline.UNKNOWN:
        return UNKNOWN_STRING_VALUE
    if isinstance(value, dict):
        return {k: _wire(v, f"{seed}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v, f"{seed}[{i}]") for i, v in enumerate(value)]
    return value


def engine_props(properties: dict[str, Any], seed: str) -> Any:
    return unknown_checking_proxy(deserialize_properties(_wire(properties, seed)))


def _options(r: offline.Registration) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=r.protect,
        ignore_changes=list(r.ignore_changes),
        delete_before_replace=r.delete_before_replace,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=list(r.additional_secret_outputs),
        parent=r.parent or None,
    )


def _provider(r: offline.Registration, by_urn: dict[str, offline.Registration]) -> PolicyProviderResource | None:
    """The resource's explicit provider (a provider reference is `<urn>::<id>`)."""
    provider = by_urn.get(r.provider.rsplit("::", 1)[0]) if r.provider else None
    if provider is None:
        return None
    return PolicyProviderResource(
        provider.type, engine_props(provider.inputs, provider.urn), provider.urn, provider.name
    )


def _stack_resources(plan: offline.Plan) -> list[PolicyResource]:
    """Every registration as a PolicyResource (its outputs: the inputs plus what the provider computed), linked to
    its parent and dependencies as AnalyzeStack links them."""
    by_urn = {r.urn: r for r in plan.registrations}
    resources: dict[str, PolicyResource] = {}
    for r in plan.registrations:
        outputs = {k: v for k, v in r.state.items() if k not in r.inputs and isinstance(v, str | int | float | bool)}
        resources[r.urn] = PolicyResource(
            r.type,
            engine_props({**r.inputs, **outputs}, r.urn),
            r.urn,
            r.name,
            _options(r),
            _provider(r, by_urn),
            None,
            [],
            {},
        )
    for r in plan.registrations:
        resource = resources[r.urn]
        resource.parent = resources.get(r.parent)
        resource.dependencies = [resources[d] for d in r.dependencies if d in resources]
        resource.property_dependencies = {
            key: [resources[d] for d in deps if d in resources] for key, deps in r.property_dependencies.items()
        }
    return list(resources.values())


def run(plan: offline.Plan, pack_config: dict[str, Any], policies: list[Policy] = POLICIES) -> list[Violation]:
    """Every violation the pack reports for `plan` with `pack_config` (disabled policies do not run). A check that
    reads a value unknown during preview yields the advisory note the SDK gives instead."""
    by_urn = {r.urn: r for r in plan.registrations}
    # What Analyze builds per request, built once per resource here: only the configuration differs per policy.
    requests = [(r, engine_props(r.inputs, r.urn), _options(r), _provider(r, by_urn)) for r in plan.registrations]
    stack_resources = _stack_resources(plan)
    violations: list[Violation] = []
    for policy in policies:
        level, config = settings(policy, pack_config)
        if level == EnforcementLevel.DISABLED:
            continue

        def report(message: str, urn: str | None, policy: Policy = policy, level: EnforcementLevel = level) -> None:
            violations.append(Violation(policy.name, level, message, urn or ""))

        try:
            if isinstance(policy, ResourceValidationPolicy):
                for r, props, options, provider in requests:
                    args = ResourceValidationArgs(r.type, props, r.urn, r.name, options, provider, config)
                    policy.validate(args, lambda message, _urn, urn=r.urn: report(message, urn))
            elif isinstance(policy, StackValidationPolicy):
                policy.validate(StackValidationArgs(stack_resources, config), report)
        except UnknownValueError as e:
            note = f"can't run during preview: {e.message}"
            violations.append(Violation(policy.name, EnforcementLevel.ADVISORY, note, ""))
    return violations


def check_stack(stack: str) -> tuple[list[Violation], float, float]:
    """(violations, seconds planning, seconds running the pack) for a stack file of this project."""
    start = time.perf_counter()
    plan = offline.run_stack(stack)
    planned = time.perf_counter()
    violations = run(plan, load_config(stack))
    return violations, planned - start, time.perf_counter() - planned


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.policy_check", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("stacks", nargs="*", help="stacks to check (default: all stack files)")
    args = parser.parse_args(argv)
    stacks = args.stacks or sorted(p.name.split(".")[1] for p in offline.PROJECT_DIR.glob("Pulumi.*.yaml"))
    mandatory = 0
    total_pack = 0.0
    for stack in stacks:
        violations, plan_seconds, pack_seconds = check_stack(stack)
        total_pack += pack_seconds
        for v in violations:
            print(f"{stack}: [{v.level.value}] {v.policy}: {v.message}" + (f" ({v.urn})" if v.urn else ""))
        mandatory += sum(1 for v in violations if v.level == EnforcementLevel.MANDATORY)
        print(
            f"{stack}: {len(POLICIES)} policies, {len(violations)} violations; plan {plan_seconds:.2f} s, "
            f"pack {pack_seconds:.3f} s"
        )
    print(f"pack over {len(stacks)} stacks: {total_pack:.3f} s (target: under 5 s)")
    return 1 if mandatory else 0


if __name__ == "__main__":
    sys.exit(main())
