"""Concourse pipelines as code: one dynamic resource that keeps a pipeline's config (YAML) set, and the pipeline
unpaused, in one team.

The resource holds no credential: like the teams (components/concourse/teams.py), it logs in as the main team's admin
local user with the password that arrives, a secret, with each call's inputs, and each call has the team API's time
budget (components/concourse/team_api.py: deadline, retries, one-line failures). Its config is diffed as text: a changed
config is saved over the version Concourse holds (`up` updates it in place), a renamed pipeline or team is replaced, a
removed resource deletes the pipeline with its builds. A refresh notices a pipeline that someone paused or destroyed,
and the next `up` sets it again.

The stack sets its canary with it (components/concourse/canary.py); the infra stack can set ci/pipeline.yml with the
same resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic

from components.concourse.teams import API_INPUTS, ApiProvider, api_inputs, secret_password

INPUTS = ("teamName", "pipelineName", "config", *API_INPUTS)


class PipelineProvider(ApiProvider):
    """CRUD of one Concourse pipeline."""

    @staticmethod
    def _outs(props: Mapping[str, Any], paused: bool = False) -> dict[str, Any]:
        return {**{key: props[key] for key in INPUTS}, "paused": paused}

    def _set(self, props: Mapping[str, Any]) -> None:
        api = self._api(props)
        try:
            api.set_pipeline(props["teamName"], props["pipelineName"], props["config"])
        finally:
            api.close()

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        replaces = [key for key in ("teamName", "pipelineName") if olds.get(key) != news.get(key)]
        # A new admin password, URL or budget changes no pipeline, but later calls (delete included) use the state's
        # inputs; a pipeline found paused by a refresh is unpaused by the update.
        watched = ("config", "url", "adminUser", "adminPassword", "budgetSeconds")
        changed = bool(replaces) or bool(olds.get("paused")) or any(olds.get(k) != news.get(k) for k in watched)
        return pulumi.dynamic.DiffResult(changes=changed, replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        """Set the pipeline. One of that name already there is taken over: a pipeline's config is whole, so saving it
        leaves nothing of the old one behind (unlike a team's auth, nobody's access changes)."""
        self._set(props)
        return pulumi.dynamic.CreateResult(f"{props['teamName']}/{props['pipelineName']}", self._outs(props))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        api = self._api(props)
        try:
            found = api.get_pipeline(props["teamName"], props["pipelineName"])
        finally:
            api.close()
        if found is None or found.get("archived"):
            return pulumi.dynamic.ReadResult("", {})
        return pulumi.dynamic.ReadResult(id_, self._outs(props, paused=bool(found.get("paused"))))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        self._set(news)
        return pulumi.dynamic.UpdateResult(self._outs(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        api = self._api(props)
        try:
            api.delete_pipeline(props["teamName"], props["pipelineName"])
        finally:
            api.close()


class ConcoursePipeline(pulumi.dynamic.Resource, module="concourse", name="Pipeline"):
    """One Concourse pipeline, set from `config` (YAML text) and unpaused. The admin password is a secret input and a
    secret output; order it after its team (depends_on or the team's outputs)."""

    def __init__(
        self,
        resource_name: str,
        team_name: pulumi.Input[str],
        pipeline_name: str,
        config: pulumi.Input[str],
        url: str,
        admin_user: str,
        admin_password: pulumi.Input[str],
        budget_seconds: int,
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {
            "teamName": team_name,
            "pipelineName": pipeline_name,
            "config": config,
            **api_inputs(url, admin_user, admin_password, budget_seconds),
            "paused": None,
        }
        super().__init__(PipelineProvider(), resource_name, props, secret_password(opts))
