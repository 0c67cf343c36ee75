"""Whole-graph rules: one of each singleton, and a production graph made only of resource types staging has run."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import StackValidationArgs

from .common import get, schema, stack_policy

SINGLETON_TYPES = ["azure-native:containerservice:ManagedCluster", "azure-native:dbforpostgresql:Server"]
SINGLETON_CHARTS = ["concourse"]
RELEASE = "kubernetes:helm.sh/v3:Release"
HALVES = ("web", "worker")
"""A chart's halves a release may turn off (`<half>.enabled: false`): Concourse runs its web and its current worker
generation as two releases of one chart (components/services/concourse.py). A chart without the toggles counts
each release once per half, so the rule stays "exactly one release"."""


def check_singletons(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    config = args.get_config()
    for type_ in config["types"]:
        count = sum(1 for r in args.resources if r.resource_type == type_)
        if count != 1:
            yield f"the stack has {count} {type_}; it must have exactly one.", None
    for chart in config["charts"]:
        releases = [r for r in args.resources if r.resource_type == RELEASE and get(r.props, "chart") == chart]
        for half in HALVES:
            count = sum(1 for r in releases if get(r.props, f"values.{half}.enabled") is not False)
            if count != 1:
                yield (
                    f"the stack has {count} releases of the {chart} chart with its {half} enabled; it must have "
                    "exactly one.",
                    None,
                )


def check_promoted_types(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    """Engine-made types (the stack, default providers: `pulumi:`) are not the program's and are skipped."""
    ran = set(args.get_config()["sourceTypes"])
    new = sorted({r.resource_type for r in args.resources if not r.resource_type.startswith("pulumi:")} - ran)
    for type_ in new:
        yield (
            f"{type_} has not run in the source stack yet: deploy it to staging first and record it in sourceTypes.",
            None,
        )


POLICIES = [
    stack_policy(
        "stack-singletons",
        "The stack has exactly one AKS cluster, one PostgreSQL server, and one Concourse web and one worker release.",
        check_singletons,
        config=schema(
            types={
                "type": "array",
                "items": {"type": "string"},
                "default": SINGLETON_TYPES,
                "description": "resource types the stack has exactly one of",
            },
            charts={
                "type": "array",
                "items": {"type": "string"},
                "default": SINGLETON_CHARTS,
                "description": "Helm charts each of whose halves (web, worker) the stack releases exactly once",
            },
        ),
    ),
    stack_policy(
        "stack-types-promoted",
        "A promoted stack deploys only resource types its source stack (staging) has already run: add the change "
        "to staging first.",
        check_promoted_types,
        config=schema(
            sourceTypes={
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "resource types the source stack has run",
            }
        ),
    ),
]
