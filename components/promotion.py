"""The promotion gate: a stack deploys only releases its source stack (prod's is staging) has already deployed.

The gate reads the source stack's exported `releaseSet` through a StackReference and compares it with this stack's
own (components/releases.py). A release passes when this stack runs the source's version or an older one (the
source ran that version before it moved on: the ordinary state while a new version is being tried in staging). It is
offending when it is newer than the source's, when the two versions cannot be ordered and differ, or when the source
has no such release. Offending releases stop the program with one message listing each of them, unless
`promotion.overrideReason` names an emergency: then the program deploys anyway and logs a warning with the reason
and the offending releases.

Deployed is not enough: the source stack must also have passed the end-to-end smoke with exactly this release set
(components/attestation.py, written by tools/smoke.py after a passing run). A release set without a passing
attestation is refused the same way, on a laptop `up` as in the pipeline, and the same override lets it through
with a logged warning.

Why nothing is created before the gate has decided: `gate()` returns an Output that resolves to the StackReference
only after the comparison passed (or was overridden), and fails otherwise. The program passes it as `depends_on` of
CdStack, the parent of every resource the program creates. Pulumi registers a resource only after its depends_on
resolved and its parent is registered, so a failed gate leaves CdStack and everything under it unregistered: no
resource is created, updated or deleted. (The StackReference itself is a read of the source stack's outputs.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from components import attestation
from components.config.schema import StackConfig
from components.releases import ReleaseSet, release_set, releases

_SEMVER = re.compile(r"^v?([0-9]+)\.([0-9]+)\.([0-9]+)(-[0-9A-Za-z.-]+)?$")


class PromotionError(pulumi.RunError):
    """The gate refused: a RunError, so Pulumi prints the message without a Python traceback."""


@dataclass(frozen=True)
class Offence:
    release: str
    """`chart <key>` or `image <key>`."""
    version: str
    source_version: str | None
    """None when the source stack has not deployed this release at all."""


def _order(version: str) -> tuple[int, int, int, int] | None:
    """A sort key for X.Y.Z versions (a pre-release sorts before its release); None for anything else."""
    match = _SEMVER.match(version)
    if not match:
        return None
    major, minor, patch, pre = match.groups()
    return int(major), int(minor), int(patch), 0 if pre else 1


def _older(version: str, source_version: str) -> bool:
    mine, theirs = _order(version), _order(source_version)
    return mine is not None and theirs is not None and mine < theirs


def offences(mine: ReleaseSet | dict[str, Any], source: ReleaseSet | dict[str, Any]) -> list[Offence]:
    """Every release of `mine` the source stack has not deployed, in release-name order."""
    theirs = releases(source)
    found = []
    for release, version in sorted(releases(mine).items()):
        source_version = theirs.get(release)
        if source_version == version or (source_version is not None and _older(version, source_version)):
            continue
        found.append(Offence(release, version, source_version))
    return found


def message(stack: str, source_stack: str, found: list[Offence]) -> str:
    """One message naming every offending release with this stack's version and the source's."""
    lines = [f"stack {stack} refuses releases that {source_stack} has not deployed:"]
    for o in found:
        theirs = o.source_version if o.source_version is not None else "not deployed"
        lines.append(f"  {o.release}: {stack} {o.version}, {source_stack} {theirs}")
    lines.append(
        "Promote them in the source stack first (tools/promote.py copies its release set here), or set "
        "cdstack:promotion.overrideReason to deploy anyway."
    )
    return "\n".join(lines)


def decide(cfg: StackConfig, source: Any) -> None:
    """Raise PromotionError for offending releases; with an override reason, warn and let them through."""
    assert cfg.promotion is not None
    found = offences(release_set(cfg), source if isinstance(source, dict) else {})
    if not found:
        return
    text = message(cfg.stack, cfg.promotion.source_stack, found)
    if not cfg.promotion.override_reason:
        raise PromotionError(text)
    pulumi.log.warn(f"promotion gate overridden ({cfg.promotion.override_reason}): {text}")


def attestation_problem(cfg: StackConfig, store: attestation.Store) -> str | None:
    """Why this stack's release set is not attested by its source stack's end-to-end smoke, or None."""
    assert cfg.promotion is not None
    source, mine = cfg.promotion.source_stack, release_set(cfg)
    name = attestation.blob_name(source, mine)
    if attestation.passed(store, source, mine) is not None:
        return None
    return (
        f"stack {cfg.stack} refuses release set {attestation.digest(mine)[:12]}: {source} deployed it but never passed "
        f"the end-to-end smoke with it (no passing attestation {name} beside the state). Run `make smoke` against "
        f"{source} while it runs this release set, or set cdstack:promotion.overrideReason to deploy anyway."
    )


def decide_attested(cfg: StackConfig, store_source: Callable[[], attestation.Store | None]) -> None:
    """Raise PromotionError for a release set the source stack never passed end to end (or whose attestation cannot
    be read); with an override reason, warn and let it through."""
    assert cfg.promotion is not None
    try:
        store = store_source()
        if store is None:
            return  # an offline plan (attestation.store_source)
        problem = attestation_problem(cfg, store)
    except Exception as error:  # a store that cannot be reached refuses like a missing attestation
        problem = f"stack {cfg.stack} cannot read its source's smoke attestations: {type(error).__name__}: {error}"
    if problem is None:
        return
    if not cfg.promotion.override_reason:
        raise PromotionError(problem)
    pulumi.log.warn(f"promotion gate overridden ({cfg.promotion.override_reason}): {problem}")


def gate(cfg: StackConfig) -> pulumi.Output[pulumi.Resource] | None:
    """The gate as an Output for CdStack's depends_on; None when this stack is not gated (no cdstack:promotion)."""
    if cfg.promotion is None:
        return None
    source = pulumi.StackReference(cfg.promotion.source_stack)

    def passed(source_release_set: Any) -> pulumi.Resource:
        decide(cfg, source_release_set)
        decide_attested(cfg, attestation.store_source[0])
        return source

    return source.get_output("releaseSet").apply(passed)
