"""The infra pipeline's deployer identities as data: for each environment in `cdstack:deployers`, the federated
credentials its identity gets (one per job of the infra pipeline that deploys that environment) and the rule on the
list. components/azure/deployers.py creates them.

Every federated credential's issuer, subject and audience come from the functions the pipeline file is checked
against (components/concourse/idtoken.py, components/concourse/infra_pipeline.py), so what Entra ID trusts is what
Concourse issues: Entra compares them byte for byte (no wildcards; a trailing slash is another issuer). The issuer is
the Concourse of the stack that hosts them (the infra stack), the one whose pipeline logs in as these identities.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from components.concourse import idtoken, infra_pipeline
from components.config.schema import StackConfig
from components.problem import Problem


@dataclass(frozen=True)
class FederatedCredential:
    name: str
    issuer: str
    subject: str
    audiences: tuple[str, ...]


def federated_credentials(cfg: StackConfig, environment: str) -> list[FederatedCredential]:
    """What the environment's deployer identity trusts: this stack's Concourse, for each job that deploys it."""
    iss = idtoken.stack_issuer(cfg)
    return [
        FederatedCredential(f"infra-{job}", iss, subject, (idtoken.AZURE_AUDIENCE,))
        for job, subject in zip(
            infra_pipeline.deploy_jobs(environment), infra_pipeline.subjects(environment), strict=True
        )
    ]


def identity_key(environment: str) -> str:
    """The identity's key under naming.identity: `deployer-<environment>`."""
    return f"deployer-{environment}"


def role_key(environment: str, scope: str, role_definition_id: str) -> str:
    """A stable resource name per (environment, scope, role): reordering the list changes nothing in Azure."""
    digest = uuid.uuid5(uuid.NAMESPACE_URL, f"{scope.lower()}|{role_definition_id.lower()}").hex[:12]
    return f"{identity_key(environment)}-{digest}"


def deployer_problems(cfg: StackConfig) -> list[Problem]:
    """One identity per environment (two would federate the same subjects: Entra accepts that, and then either
    identity's roles apply, whichever the task names), each within Entra's federated credential limit, and no role
    listed twice."""
    found: list[Problem] = []
    seen: set[str] = set()
    for i, deployer in enumerate(cfg.deployers):
        if deployer.environment in seen:
            found.append(
                Problem.at(
                    f"deployers[{i}].environment", deployer.environment, "must be unique: one identity per environment"
                )
            )
        seen.add(deployer.environment)
        count = len(infra_pipeline.deploy_jobs(deployer.environment))
        if count > idtoken.MAX_FEDERATED_CREDENTIALS:
            found.append(
                Problem.at(
                    f"deployers[{i}].environment",
                    deployer.environment,
                    f"needs {count} federated credentials; Entra ID allows {idtoken.MAX_FEDERATED_CREDENTIALS}",
                )
            )
        pairs = [(r.scope.lower(), r.role_definition_id.lower()) for r in deployer.roles]
        for j, pair in enumerate(pairs):
            if pair in pairs[:j]:
                found.append(
                    Problem.at(f"deployers[{i}].roles[{j}]", list(pair), "must not repeat a role on the same scope")
                )
    return found


def subscription_of(scope: str) -> str:
    """`/subscriptions/<id>` of a scope: a built-in role's definition id is read in the scope's subscription."""
    return "/".join(scope.split("/")[:3])
