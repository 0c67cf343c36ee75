"""What Concourse's `idtoken` var source puts in a token, so a federated credential can be written to match it.

Verified in concourse/concourse at v8.1.1, atc/creds/idtoken/: the issuer is the ATC's `--oidc-issuer-url`, else its
`--external-url` (atc/atccmd/command.go), unchanged; `sub` is, by `subject_scope`, `<team>`, `<team>/<pipeline>`
(the default), `<team>/<pipeline>/<instance vars>` or `<team>/<pipeline>/<instance vars>/<job>`, each part with `/`
written `%2F` (token_generator.go); `expires_in` is at most 24 h (manager.go, MaxExpiresIn). Entra ID compares
issuer and subject exactly, so one stray character refuses every exchange without an error at setup.
"""

from __future__ import annotations

AZURE_AUDIENCE = "api://AzureADTokenExchange"
"""The audience Entra ID expects in a token it exchanges for an access token."""

MAX_EXPIRES_IN = 24 * 60 * 60
"""Seconds: the longest `expires_in` Concourse's idtoken var source accepts."""

SCOPES = ("team", "pipeline", "instance", "job")


def issuer(external_url: str) -> str:
    """The `iss` of Concourse's tokens when no separate OIDC issuer URL is set: its external URL as configured."""
    return external_url


def _escaped(part: str) -> str:
    return part.replace("/", "%2F")


def subject(team: str, pipeline: str, scope: str = "pipeline", job: str | None = None) -> str:
    """The `sub` Concourse writes for a pipeline without instance vars (their JSON is then empty)."""
    if scope not in SCOPES:
        raise ValueError(f"subject scope {scope!r} is not one of {SCOPES}")
    parts = [team] if scope == "team" else [team, pipeline]
    if scope in ("instance", "job"):
        parts.append("")
    if scope == "job":
        if job is None:
            raise ValueError("the job scope needs a job")
        parts.append(job)
    return "/".join(_escaped(part) for part in parts)
