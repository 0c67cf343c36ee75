"""Entra ID: the app registrations people log in through (ConcourseLogin: Concourse, and the groups teams map to;
VaultLogin: Vault's OIDC login for teams' secrets) and the groups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pulumi
import pulumi_azuread as azuread

from components import clock
from components.config.schema import StackConfig
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


def login_app(
    prefix: str, cfg: StackConfig, redirect_uris: list[str], child: pulumi.ResourceOptions
) -> tuple[azuread.Application, azuread.ServicePrincipal, azuread.ApplicationPassword]:
    """An app registration people log in through: this tenant only, the stack's group claims, Graph `User.Read`,
    and a client secret that rotates every `identity.clientSecretRotationDays` (see `secret_window`)."""
    app = azuread.Application(
        f"{prefix}-app",
        display_name=cfg.naming.app_registration(prefix),
        sign_in_audience="AzureADMyOrg",
        group_membership_claims=[cfg.identity.group_claims],
        web=azuread.ApplicationWebArgs(redirect_uris=redirect_uris),
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
    service_principal = azuread.ServicePrincipal(f"{prefix}-sp", client_id=app.client_id, opts=child)
    window = secret_window(clock.today(), cfg.identity.client_secret_rotation_days)
    secret = azuread.ApplicationPassword(
        f"{prefix}-secret",
        application_id=app.id,
        display_name=f"cdstack rotation {window.starts.isoformat()}",
        end_date=window.end_date,
        rotate_when_changed={"rotation": window.starts.isoformat()},
        opts=child,
    )
    return app, service_principal, secret


def assign_group(
    name: str, group_id: pulumi.Input[str], service_principal: azuread.ServicePrincipal, child: pulumi.ResourceOptions
) -> azuread.AppRoleAssignment:
    """With ApplicationGroup claims the token lists only groups assigned to the app: assign one, so a user in
    hundreds of groups (over Entra ID's 200-group token limit) still gets it."""
    return azuread.AppRoleAssignment(
        name,
        app_role_id=DEFAULT_APP_ROLE,
        principal_object_id=group_id,
        resource_object_id=service_principal.object_id,
        opts=child,
    )


class ConcourseLogin(pulumi.ComponentResource):
    login: OidcLogin

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cdstack:identity:ConcourseLogin", name, None, opts)
        names = cfg.naming
        child = pulumi.ResourceOptions(parent=self)
        client = azuread.get_client_config_output()
        app, service_principal, secret = login_app("concourse", cfg, [redirect_uri(cfg)], child)

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
                assign_group(f"group-{key}-assignment", groups[key], service_principal, child)

        self.login = OidcLogin(
            issuer_url=client.tenant_id.apply(issuer_url),
            client_id=app.client_id,
            client_secret=pulumi.Output.secret(secret.value),
            group_object_ids=groups,
        )
        self.register_outputs({"clientId": app.client_id, "issuerUrl": self.login.issuer_url})


class VaultLogin(pulumi.ComponentResource):
    """The app registration people log in to Vault through (Vault's OIDC auth method: components/vault/teams.py).

    Its own app, not Concourse's, with the same group claims and the groups of `group_keys` assigned to it:
    - Vault's redirect URIs (its UI callback and the CLI's `http://localhost:8250/oidc/callback`) stay off
      Concourse's app, so Concourse's app sends codes to Concourse only;
    - each app has its own client secret, kept by its own consumer (Concourse's web Secret; Vault's auth config),
      so a secret leaked from one opens nothing of the other; both rotate on the same schedule and Pulumi writes
      the new one into Vault as a secret input in the same `up` (the old one stays valid one more period);
    - with ApplicationGroup claims the token lists only the groups assigned to the app: Vault's app gets exactly the
      groups Vault's roles bind (the admin group and the teams' secret-managing groups), and turning team secrets
      off removes the app without touching Concourse's login.
    """

    login: OidcLogin

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        redirect_uris: list[str],
        group_object_ids: dict[str, pulumi.Output[str]],
        group_keys: list[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:identity:VaultLogin", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        client = azuread.get_client_config_output()
        app, service_principal, secret = login_app("vault", cfg, redirect_uris, child)
        if cfg.identity.group_claims == "ApplicationGroup":
            for key in group_keys:
                assign_group(f"vault-group-{key}-assignment", group_object_ids[key], service_principal, child)
        self.login = OidcLogin(
            issuer_url=client.tenant_id.apply(issuer_url),
            client_id=app.client_id,
            client_secret=pulumi.Output.secret(secret.value),
            group_object_ids={key: group_object_ids[key] for key in group_keys},
        )
        self.register_outputs({"clientId": app.client_id, "issuerUrl": self.login.issuer_url})
