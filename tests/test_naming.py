"""Names at Azure's limits: the longest base name and stack that fit, and one character more is a config error."""

from __future__ import annotations

import pytest

from components.config import loader
from components.naming import Naming, NamingError
from tests.conftest import Planner, stack_config

LONGEST_NAME = "abcdefghij"  # cdstack:name allows 10 characters


def test_longest_name_and_stack_fit_every_azure_rule():
    names = Naming(LONGEST_NAME, "stage")
    names.check()
    assert len(names.key_vault("q7k2")) == 24  # Key Vault's limit, the tightest one (with its random suffix)
    assert names.storage_account() == "stabcdefghijstage"
    assert names.backup_storage_account() == "stbabcdefghijstage"


def test_one_character_more_breaks_the_key_vault_rule():
    with pytest.raises(NamingError, match=r"key vault name 'kv-abcdefghij-stages-xxxx'.*3-24"):
        Naming(LONGEST_NAME, "stages").check()


@pytest.mark.parametrize(
    ("stack", "kind"),
    [
        ("a--b", "key vault"),  # Key Vault refuses consecutive hyphens
        ("staging-", "key vault"),  # ... and a trailing one
    ],
)
def test_hyphens_key_vault_refuses_are_caught(stack: str, kind: str):
    with pytest.raises(NamingError, match=kind):
        Naming("contoso", stack).check()


@pytest.mark.parametrize("stack", ["Staging", "stag_ing", "1"])
def test_stack_names_azure_cannot_carry_are_refused(stack: str):
    with pytest.raises(NamingError, match="stack name"):
        Naming("contoso", stack).check()


def test_hyphens_vanish_only_from_the_storage_account_name():
    names = Naming("contoso", "pre-prod")
    names.check()
    assert names.storage_account() == "stcontosopreprod"
    assert names.key_vault("q7k2") == "kv-contoso-pre-prod-q7k2"


def test_longest_valid_stack_plans(shared_plan: Planner):
    cfg = stack_config("staging")
    cfg["cdstack:name"] = LONGEST_NAME
    del cfg["cdstack:infraStack"]  # stack `stage` is no deployer of the infra stack
    plan = shared_plan("stage", cfg)
    assert plan.outputs["keyVaultName"] == "kv-abcdefghij-stage-q7k2"


def test_one_character_too_long_stops_before_any_resource_with_an_error_naming_cdstack_name(shared_plan: Planner):
    cfg = stack_config("staging")
    cfg["cdstack:name"] = LONGEST_NAME
    with pytest.raises(loader.ConfigError) as error:
        shared_plan("stages", cfg)
    assert error.value.keys == ["cdstack:name"]
    assert "Pulumi.stages.yaml" in str(error.value)
    assert "kv-abcdefghij-stages-xxxx" in str(error.value)


def test_a_base_name_longer_than_ten_is_refused_by_the_schema(shared_plan: Planner):
    cfg = stack_config("staging")
    cfg["cdstack:name"] = LONGEST_NAME + "k"
    with pytest.raises(loader.ConfigError) as error:
        shared_plan("staging", cfg)
    assert error.value.keys == ["cdstack:name"]
