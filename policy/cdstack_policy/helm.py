"""Helm releases: charts only from the catalog's repositories, at an exact version, installed atomically within an
explicit timeout (or, for a release the config names with its reason, not awaited at all), and with no credential
written into their values."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs

from .common import get, resource_policy, schema, strings

RELEASE = "kubernetes:helm.sh/v3:Release"

EXACT_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$")
"""A single version: Helm would take a range (^1.2, ~1, >=1) or nothing, and install whatever is newest."""

# What a credential literal in Helm values looks like. References (existingSecret: grafana-admin), environment
# placeholders (${INFLUXDB_PASSWORD}) and booleans are not credentials.
CREDENTIAL_KEY = re.compile(r"(?i)(password|passwd|token|api_?key|client_?secret|webhook_?url)$")
PLACEHOLDER = re.compile(r"^(\$\{[A-Za-z0-9_]+\}|\$\([A-Za-z0-9_]+\)|\{\{.*\}\})$")
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")
SLACK_WEBHOOK = re.compile(r"hooks\.slack\.com/services/")
TOKEN_LIKE = re.compile(r"^[A-Za-z0-9+/=_-]{32,}$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def looks_generated(value: str) -> bool:
    """A long token of mixed case and digits, as a generated password, key or token is (a UUID is an id)."""
    return (
        bool(TOKEN_LIKE.match(value))
        and not UUID.match(value)
        and any(c.islower() for c in value)
        and any(c.isupper() for c in value)
        and any(c.isdigit() for c in value)
    )


def secret_literal(path: str, value: str) -> str | None:
    """Why `value` at `path` of Helm values looks like a credential, or None."""
    key = re.split(r"[.\[]", path)[-1]
    if PRIVATE_KEY.search(value):
        return "a PEM private key"
    if URL_CREDENTIALS.search(value):
        return "a URL with a password in it"
    if SLACK_WEBHOOK.search(value):
        return "a Slack webhook URL"
    if CREDENTIAL_KEY.search(key) and value and not PLACEHOLDER.match(value):
        return f"a literal under the credential key {key!r}"
    if looks_generated(value):
        return "a generated-looking token"
    return None


def check_source(args: ResourceValidationArgs) -> Iterator[str]:
    allowed = args.get_config()["repositories"]
    repo = get(args.props, "repositoryOpts.repo")
    chart = str(get(args.props, "chart") or "")
    if repo not in allowed:
        yield f"chart repository {repo!r} is not one of the catalog's: {allowed}."
    if "/" in chart or chart.startswith("."):
        yield f"chart {chart!r} is a path or URL; name a chart of the catalog's repository (components/catalog.py)."


def check_pinned(args: ResourceValidationArgs) -> Iterator[str]:
    version = get(args.props, "version")
    if not isinstance(version, str) or not EXACT_VERSION.match(version):
        yield f"version is {version!r}; pin the exact chart version (components/catalog.py, cdstack:charts)."


def check_atomic(args: ResourceValidationArgs) -> Iterator[str]:
    name = get(args.props, "name")
    unawaited = get(args.props, "skipAwait") is True and name in args.get_config()["unawaited"]
    if get(args.props, "atomic") is not True and not unawaited:
        yield (
            "atomic is not true: a failed install or upgrade must roll back instead of leaving a half release (a "
            "release nothing waits on may skip the wait only when this policy's config names it with its reason: "
            "unawaited)."
        )
    timeout = get(args.props, "timeout")
    if not isinstance(timeout, int | float) or timeout <= 0:
        yield f"timeout is {timeout!r}; give the release an explicit timeout (components/catalog.py timeout_seconds)."


def check_values(args: ResourceValidationArgs) -> Iterator[str]:
    for path, value in strings(get(args.props, "values", {}), "values"):
        reason = secret_literal(path, value)
        if reason:
            yield f"{path} holds {reason}: put it in a Kubernetes Secret and reference the Secret from the values."


POLICIES = [
    resource_policy(
        "helm-chart-from-catalog",
        "Helm charts come only from the catalog's repositories: add the chart to components/catalog.py.",
        [RELEASE],
        check_source,
        config=schema(
            repositories={
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "chart repositories the catalog uses",
            }
        ),
    ),
    resource_policy(
        "helm-version-pinned",
        "Helm releases install an exact chart version: pin it in components/catalog.py or cdstack:charts.",
        [RELEASE],
        check_pinned,
    ),
    resource_policy(
        "helm-atomic-with-timeout",
        "Helm releases are atomic with an explicit timeout: release through components/services/release.py.",
        [RELEASE],
        check_atomic,
        config=schema(
            unawaited={
                "type": "object",
                "additionalProperties": {"type": "string", "minLength": 1},
                "default": {},
                "description": "release name -> why no resource needs it ready at `up` time; such a release may "
                "set skipAwait (and so not atomic: Helm's atomic implies its wait)",
            }
        ),
    ),
    resource_policy(
        "helm-values-no-secret-literal",
        "Helm values carry no credential: put secrets in a Kubernetes Secret the chart references "
        "(components/services/release.py secret()).",
        [RELEASE],
        check_values,
    ),
]
