"""The infra pipeline (ci/pipeline.yml) as the identities that trust it see it: which Concourse team and pipeline it
is, which jobs deploy each stack, the idtoken var source each stack's jobs read, and the subjects Concourse puts in
their tokens. One source for the pipeline file (tests/test_pipeline.py holds it equal), the deployer identities'
federated credentials (components/azure/deployers.py) and Vault's deployer login (components/vault/login.py).

Subject scope `job`, not `pipeline`: with `pipeline`, every job of the pipeline gets the same `sub`, so the `test`
and `image` jobs (which run whatever the commit says, the image build privileged) could obtain a token a deployer
identity accepts just by naming the var source. With `job`, an identity trusts only the jobs that deploy or smoke-test
its own stack (`main/cdstack//prod-up`, `main/cdstack//prod-smoke`), two federated credentials of Entra's 20. The
price: renaming one of those jobs needs its federated credential renamed in the same change (the offline checks
fail until it is).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from components.concourse import idtoken

if TYPE_CHECKING:
    from components.config.schema import StackConfig

TEAM = "main"
PIPELINE = "cdstack"
"""`fly -t infra set-pipeline -p cdstack` in the main team (docs/promotion.md)."""
SUBJECT_SCOPE = "job"


def var_source_name(stack: str) -> str:
    """The idtoken var source whose token the jobs of `stack` log in to Azure with."""
    return f"azure-{stack}-idtoken"


def token_var(stack: str) -> str:
    return f"(({var_source_name(stack)}:token))"


def deploy_jobs(stack: str) -> tuple[str, ...]:
    """The jobs that act as the stack's deployer: preview and up, then the smoke test (which reads the state)."""
    return (f"{stack}-up", f"{stack}-smoke")


def up_job(stack: str) -> str:
    return deploy_jobs(stack)[0]


def subjects(stack: str) -> list[str]:
    """Every `sub` the stack's deployer identity must accept, exactly as Concourse issues it."""
    return [idtoken.subject(TEAM, PIPELINE, SUBJECT_SCOPE, job) for job in deploy_jobs(stack)]


def up_subject(stack: str) -> str:
    """The `sub` of the job that runs `pulumi up` (the only one that logs in to Vault)."""
    return idtoken.subject(TEAM, PIPELINE, SUBJECT_SCOPE, up_job(stack))


def var_source(stack: str, lifetime_seconds: int) -> dict[str, Any]:
    """The var source as ci/pipeline.yml declares it (Concourse's config keys, atc/creds/idtoken/manager.go)."""
    return {
        "name": var_source_name(stack),
        "type": "idtoken",
        "config": {
            "audience": [idtoken.AZURE_AUDIENCE],
            "subject_scope": SUBJECT_SCOPE,
            "expires_in": idtoken.expires_in(lifetime_seconds),
        },
    }


ISSUER_OUTPUT = "concourseIssuer"
SUBJECTS_OUTPUT = "pipelineSubjects"


def trust_outputs(cfg: StackConfig) -> dict[str, Any]:
    """The infra stack's outputs that the stacks it deploys read (a StackReference, cdstack:infraStack): its
    Concourse's issuer and, per environment in `cdstack:deployers`, the `sub` of each job that deploys it."""
    return {
        ISSUER_OUTPUT: idtoken.stack_issuer(cfg),
        SUBJECTS_OUTPUT: {
            d.environment: dict(zip(deploy_jobs(d.environment), subjects(d.environment), strict=True))
            for d in cfg.deployers
        },
    }
