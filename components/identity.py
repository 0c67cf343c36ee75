"""ConcourseLogin: the Entra ID app registration Concourse's users log in with, and the groups teams map to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pulumi
import pulumi_azuread as azuread

from components import clock
from components.config import StackConfig
from components.endpoints import OidcLogin

MICROSOFT_GRAPH = "00000003-0000-0000-c000-000000000000"
"""Microsoft Graph's application id: the same in every tenant."""
GRAPH_USER_READ = "e1fe6dd8-ba31-4d61-89e7-88639da4683d"
"""The id of Graph's delegated `User.Read` scope: the same in every tenant. Constants instead of looking up Graph's
service principal, so deploying needs no directory-read permission on Microsoft's own applications."""

DEFAULT_APP_ROLE = "00000000-0000-0000-0000-000000000000"
"""The app role id Entra ID assigns a principal to an application with when the app defines no roles of its own."""

_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class SecretWindow:
    """One rotation period of the client secret."""

    starts: date
    """First day of the current period: when it changes, the secret is replaced."""
    end_date: str
    """RFC3339 expiry: one full period after the next rotation is due."""


def secret_window(today: date, rotation_days: int) -> SecretWindow:
    """The rotation period `today` falls in. Periods are counted from 1970-01-01, so every run within one period
    computes the same window (no diff), and the first run in the next period replaces the secret: no manual step.

    The secret stays valid for two periods from the start of its own, so it outlives its scheduled successor by one
    whole period: a deployment that is skipped or fails around the rotation day never leaves Concourse locked out.
    """
    period = (today - _EPOCH).days // rotation_days
    starts = _EPOCH + timedelta(days=period * rotation_days)
    expires = starts + timedelta(days=2 * rotation_days)
    return SecretWindow(starts=starts, end_date=f"{expires.isoformat()}T00:00:00Z")


def redirect_uri(cfg: StackConfig) -> str:
    """Where Entra ID sends users back: Concourse's external URL plus the callback of its OIDC connector (dex)."""
    return f"https://{cfg.dns.host('concourse')}/sky/issuer/callback"


def issuer_url(tenant_id: str) -> str:
    return f"https://login.microsoftonline.com/{tenant_id}/v2.0"


class ConcourseLogin(pulumi.ComponentResource):
    login: OidcLogin

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cdstack:identity:ConcourseLogin", name, None, opts)
        names = cfg.naming
        child = pulumi.ResourceOptions(parent=self)
        client = azuread.get_client_config_output()

        app = azuread.Application(
            "concourse-app",
            display_name=names.app_registration(),
            sign_in_audience="AzureADMyOrg",
            group_membership_claims=[cfg.identity.group_claims],
            web=azuread.ApplicationWebArgs(redirect_uris=[redirect_uri(cfg)]),
            required_resource_accesses=[
                azuread.ApplicationRequiredResourceAccessArgs(
                    resource_app_id=MICROSOFT_GRAPH,
                    resource_accesses=[
                        azuread.ApplicationRequiredResourceAccessResourceAccessArgs(id=GRAPH_USER_READ, type="Scope")
                    ],
                )
            ],
            prevent_duplicate_names=True,
            opts=child,
        )
        service_principal = azuread.ServicePrincipal("concourse-sp", client_id=app.client_id, opts=child)

        window = secret_window(clock.today(), cfg.identity.client_secret_rotation_days)
        secret = azuread.ApplicationPassword(
            "concourse-secret",
            application_id=app.id,
            display_name=f"cdstack rotation {window.starts.isoformat()}",
            end_date=window.end_date,
            rotate_when_changed={"rotation": window.starts.isoformat()},
            opts=child,
        )

        groups: dict[str, pulumi.Output[str]] = {}
        for key, group in cfg.identity.groups.items():
            if group.create:
                created = azuread.Group(
                    f"group-{key}",
                    display_name=names.group(key),
                    description=group.description or None,
                    security_enabled=True,
                    prevent_duplicate_names=True,
                    opts=child,
                )
                groups[key] = created.object_id
            else:
                # Looked up, not trusted: a mistyped or deleted group fails the deployment instead of silently
                # granting nobody (or someone else) a Concourse role.
                found = azuread.get_group_output(object_id=group.object_id, security_enabled=True)
                groups[key] = found.object_id
            if cfg.identity.group_claims == "ApplicationGroup":
                # With ApplicationGroup claims the token lists only groups assigned to the app: assign each one,
                # so a user in hundreds of groups (over Entra ID's 200-group token limit) still gets these.
                azuread.AppRoleAssignment(
                    f"group-{key}-assignment",
                    app_role_id=DEFAULT_APP_ROLE,
                    principal_object_id=groups[key],
                    resource_object_id=service_principal.object_id,
                    opts=child,
                )

        self.login = OidcLogin(
            issuer_url=client.tenant_id.apply(issuer_url),
            client_id=app.client_id,
            client_secret=pulumi.Output.secret(secret.value),
            group_object_ids=groups,
        )
        self.register_outputs({"clientId": app.client_id, "issuerUrl": self.login.issuer_url})
