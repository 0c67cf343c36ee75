"""Concourse's idtoken claims as components/concourse/idtoken.py computes them, checked against the formats Concourse
v8.1.1 builds (atc/creds/idtoken/token_generator.go and its tests), and the lifetime the infra pipeline needs."""

from __future__ import annotations

import pytest

from components.concourse import idtoken
from tests.services import stack_cfg


def test_subject_per_scope_as_concourse_builds_it():
    assert idtoken.subject("main", "cdstack", "team") == "main"
    assert idtoken.subject("main", "cdstack") == "main/cdstack"
    assert idtoken.subject("main", "cdstack", "instance") == "main/cdstack/"
    # no instance vars: the empty part stays, so a job's subject has a double slash
    assert idtoken.subject("main", "cdstack", "job", "prod-up") == "main/cdstack//prod-up"


def test_slashes_inside_a_part_are_escaped():
    assert idtoken.subject("a/b", "c/d", "job", "e/f") == "a%2Fb/c%2Fd//e%2Ff"


def test_job_scope_needs_a_job_and_unknown_scopes_are_refused():
    with pytest.raises(ValueError, match="needs a job"):
        idtoken.subject("main", "cdstack", "job")
    with pytest.raises(ValueError, match="unknown subject scope"):
        idtoken.subject("main", "cdstack", "build")


@pytest.mark.parametrize("url", ["https://ci.example.com/", " https://ci.example.com", "https://ci.example.com\n"])
def test_an_issuer_with_a_trailing_slash_or_space_is_refused(url: str):
    with pytest.raises(ValueError, match="trailing slash"):
        idtoken.issuer(url)


def test_issuer_and_discovery_are_the_external_url_as_given():
    assert idtoken.issuer("https://ci.example.com") == "https://ci.example.com"
    assert idtoken.discovery_url("https://ci.example.com") == "https://ci.example.com/.well-known/openid-configuration"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_shipped_stacks_fit_in_one_token(stack: str):
    cfg = stack_cfg(stack)
    assert idtoken.token_lifetime_problems(cfg) == []
    lifetime = idtoken.token_lifetime_seconds(cfg)
    assert idtoken.longest_up_seconds(cfg) <= lifetime <= idtoken.MAX_EXPIRES_IN
    assert lifetime % 3600 == 0


def test_the_longest_up_grows_with_the_worker_pool_and_its_drain():
    base = stack_cfg("staging")
    bigger = stack_cfg("staging", cluster={**base.model_dump(by_alias=True)["cluster"], "workerPool": {"maxCount": 8}})
    assert idtoken.node_upgrade_seconds(bigger) > idtoken.node_upgrade_seconds(base)
    assert idtoken.expires_in(7200) == "2h"
    with pytest.raises(ValueError):
        idtoken.expires_in(5400)
