"""Who runs `pulumi up`, checked before any resource: the deployer's token for Vault (TERRAFORM_VAULT_AUTH_JWT) is
there and alive, and a service principal running the `up` is listed in `vault.deployerObjectIds` (issue 28, item 3).

Tokens here are unsigned JWTs with the claims Entra ID puts into ARM tokens (`oid`, `appid`, `groups`, `exp`): the
program reads claims only to choose a role and to check the identity; Vault verifies the signature."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from components.config.loader import ConfigError
from components.vault import login as vault_login
from components.vault.login import Deployer, DeployerError
from tests.conftest import PROJECT_DIR, manual_text, stack_config
from tests.services import counting_program
from tools import offline

CLIENT_ID = "5b0c7a2e-1f4d-4c8b-9a3e-7d6f2e1c0b9a"
"""The pipeline's service principal: its application (client) id, what ARM_CLIENT_ID holds."""
SP_OID = "c3f1e2d4-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
"""Its object id, the `oid` of its tokens and what `az ad sp show --id <client id> --query id` prints."""
PROVIDER = "pulumi:providers:vault"


def jwt(**claims: Any) -> str:
    return offline.unsigned_jwt(claims)


def pipeline_token(**claims: Any) -> str:
    """An app-only ARM token of the pipeline: no `groups`, issued to its client id."""
    return jwt(oid=SP_OID, appid=CLIENT_ID, **claims)


def person_token(**claims: Any) -> str:
    return jwt(oid="0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b", groups=["offline-plan-admins"], **claims)


def with_vault(stack: str, **vault: Any) -> dict[str, Any]:
    raw = stack_config(stack)
    raw["cdstack:vault"] = {**raw["cdstack:vault"], **vault}
    return raw


def attempt(
    stack: str, raw: dict[str, Any], deployer: vault_login.DeployerSource
) -> tuple[Exception | None, offline.Plan | None, int]:
    """Plan `raw` as `stack` run by `deployer`: the error that stopped it (ConfigError, DeployerError) or its plan,
    and how many resources it had registered."""
    flat, secret_keys = offline.flatten_config(raw)
    registered: list[int] = []

    outputs = offline.source_stack_outputs(flat, PROJECT_DIR)
    try:
        result = offline.run(
            stack, flat, secret_keys, program=counting_program(registered), stack_outputs=outputs, deployer=deployer
        )
    except (ConfigError, DeployerError) as error:
        return error, None, registered[0]
    return None, result, registered[0]


def refused(stack: str, raw: dict[str, Any], deployer: vault_login.DeployerSource) -> Exception:
    """The error that stopped the program, which had registered nothing."""
    error, _, registered = attempt(stack, raw, deployer)
    assert error is not None, "the program planned"
    assert registered == 0, f"{registered} resources registered before the program stopped"
    return error


def planned(stack: str, raw: dict[str, Any], deployer: vault_login.DeployerSource) -> offline.Plan:
    error, result, _ = attempt(stack, raw, deployer)
    assert error is None and result is not None, error
    return result


# ---------------------------------------------------------------------------------------------------------------------
# A service principal runs the `up`


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_an_unlisted_service_principal_stops_before_any_resource_with_the_setting_and_the_way_to_its_id(stack: str):
    """The shipped stack files list no principal: the pipeline's first `up` must stop at once, not after a
    10-minute 403 retry at the Key Vault marker or a `groups` claim error at the Vault login."""
    error = refused(stack, stack_config(stack), lambda: Deployer(pipeline_token(), CLIENT_ID))
    assert isinstance(error, ConfigError)
    assert error.keys == ["cdstack:vault.deployerObjectIds"]
    message = str(error)
    assert message.startswith(f"Pulumi.{stack}.yaml: invalid configuration")
    assert f"must list {SP_OID}" in message
    assert f"az ad sp show --id {CLIENT_ID} --query id -o tsv" in message


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_both_stack_files_mark_the_placeholder_for_the_pipelines_object_id(stack: str):
    lines = (PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text().splitlines()
    key = next(i for i, line in enumerate(lines) if line.strip() == "deployerObjectIds: []")
    comment = " ".join(line.strip() for line in lines[key - 3 : key])
    assert comment.startswith("# PLACEHOLDER") and "az ad sp show --id <its appId> --query id -o tsv" in comment


def test_a_listed_service_principal_logs_in_as_the_pipeline_role():
    result = planned(
        "prod", with_vault("prod", deployerObjectIds=[SP_OID]), lambda: Deployer(pipeline_token(), CLIENT_ID)
    )
    login = result.get(PROVIDER, "vault").inputs["authLoginJwt"]
    assert login == '{"role": "pipeline", "mount": "entra"}'


def test_the_check_reads_the_real_environment(monkeypatch: pytest.MonkeyPatch):
    """What the pipeline sets (ci/tasks/pulumi.sh): ARM_CLIENT_ID and the token it exported, read by the program."""
    monkeypatch.setenv("ARM_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv(vault_login.JWT_ENV, pipeline_token())
    error = refused("staging", stack_config("staging"), vault_login.from_environment)
    assert isinstance(error, ConfigError) and error.keys == ["cdstack:vault.deployerObjectIds"]

    planned("staging", with_vault("staging", deployerObjectIds=[SP_OID]), vault_login.from_environment)


def test_a_token_of_another_identity_than_the_service_principal_is_refused():
    """ARM_CLIENT_ID says the pipeline, the token is a person's: Key Vault and Vault would see two deployers."""
    error = refused("staging", with_vault("staging"), lambda: Deployer(person_token(), CLIENT_ID))
    assert isinstance(error, ConfigError)
    assert "cannot be checked" in str(error) and f"service principal {CLIENT_ID}" in str(error)


@pytest.mark.parametrize(
    ("env", "client_id"),
    [
        ({"ARM_CLIENT_ID": CLIENT_ID, "ARM_CLIENT_SECRET": "x", "ARM_TENANT_ID": "t"}, CLIENT_ID),
        ({"ARM_CLIENT_ID": CLIENT_ID, "ARM_USE_OIDC": "true"}, CLIENT_ID),
        ({"AZURE_CLIENT_ID": CLIENT_ID, "AZURE_FEDERATED_TOKEN_FILE": "/var/run/token"}, CLIENT_ID),
        ({"AZURE_CLIENT_ID": CLIENT_ID, "AZURE_CLIENT_SECRET": "x", "AZURE_TENANT_ID": "t"}, CLIENT_ID),
        ({"AZURE_CLIENT_ID": CLIENT_ID}, None),  # a user-assigned identity's hint for az login: still a person
        ({}, None),
    ],
)
def test_the_environment_names_the_service_principal(env: dict[str, str], client_id: str | None):
    assert vault_login.service_principal(env) == client_id


# ---------------------------------------------------------------------------------------------------------------------
# The token itself


def test_a_missing_token_stops_with_the_command_that_fetches_one(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(vault_login.JWT_ENV, raising=False)
    error = refused("staging", stack_config("staging"), vault_login.from_environment)
    assert isinstance(error, DeployerError)
    assert f"{vault_login.JWT_ENV} is not set" in str(error)
    assert vault_login.FETCH_HINT in str(error)


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("not-a-jwt", "is not a JWT"),
        (person_token(exp=int(time.time()) - 60), "expires at"),
        (person_token(exp=int(time.time()) + 30), "expires at"),
    ],
)
def test_an_unusable_token_stops_before_any_resource(token: str, says: str):
    error = refused("staging", stack_config("staging"), lambda: Deployer(token, None))
    assert isinstance(error, DeployerError)
    assert says in str(error) and vault_login.FETCH_HINT in str(error)


def test_a_token_that_expired_on_the_way_to_vault_says_what_to_do():
    """A first `up` reaches Vault after its release and initialisation: the role is chosen then, with the check."""
    deployer = Deployer(person_token(exp=1_000_000), None)
    assert vault_login.vault_role(deployer, [], now=1_000_000 - 600) == "admins"
    with pytest.raises(DeployerError, match=r"expires at .* too soon for the Vault provider's login"):
        vault_login.vault_role(deployer, [], now=1_000_000 - 60)


def test_a_person_without_groups_is_told_at_start():
    error = refused("staging", stack_config("staging"), lambda: Deployer(jwt(oid="someone"), None))
    assert isinstance(error, DeployerError)
    assert "has no `groups` claim" in str(error)


def test_an_external_vault_needs_no_token(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(vault_login.JWT_ENV, raising=False)
    monkeypatch.setenv("ARM_CLIENT_ID", CLIENT_ID)
    raw = with_vault("staging", mode="external", address="https://vault.corp.contoso.com")
    result = planned("staging", raw, vault_login.from_environment)
    assert "authLoginJwt" not in result.get(PROVIDER, "vault").inputs


def test_the_offline_plan_never_reads_the_environments_identity(monkeypatch: pytest.MonkeyPatch):
    """`make plan` on a machine where ARM_CLIENT_ID is exported and no token is: still a plan."""
    monkeypatch.delenv(vault_login.JWT_ENV, raising=False)
    monkeypatch.setenv("ARM_CLIENT_ID", CLIENT_ID)
    assert offline.run_stack("staging").get(PROVIDER, "vault")


# ---------------------------------------------------------------------------------------------------------------------
# The commands operators run


def commands(text: str, verb: str) -> list[str]:
    return re.findall(rf"`(pulumi {verb}[^`]*)`", text)


def test_every_destroy_and_refresh_the_manual_and_the_program_advise_runs_the_program():
    """`destroy` and `refresh` configure providers from the state unless `--run-program` (pulumi/pulumi#19044,
    #18868; `up --refresh` too, #19449). The state's Vault login names the role of whoever ran the last `up` (the
    pipeline's), so another deployer needs the program to choose theirs."""
    readme = manual_text()
    team_api = (PROJECT_DIR / "components" / "concourse/team_api.py").read_text()
    advised = commands(readme, "destroy") + commands(readme, "refresh") + commands(readme, r"up --refresh")
    advised += commands(team_api, r"up --refresh")
    assert len(advised) >= 3, advised
    assert [command for command in advised if "--run-program" not in command] == []


def test_the_token_tool_prints_only_the_token_and_fails_without_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """`export TERRAFORM_VAULT_AUTH_JWT="$(... tools.deployer_token)"`: stdout is the token alone; a failure prints
    nothing there and exits non-zero, so `set -e` stops the pipeline's task."""
    from tools import deployer_token

    token = person_token()
    monkeypatch.setattr(vault_login, "arm_token", lambda: token)
    assert deployer_token.main() == 0
    assert capsys.readouterr().out == token + "\n"

    def no_login() -> str:
        raise RuntimeError("AzureCliCredential: please run 'az login'")

    monkeypatch.setattr(vault_login, "arm_token", no_login)
    assert deployer_token.main() == 2
    printed = capsys.readouterr()
    assert printed.out == "" and "az login" in printed.err
