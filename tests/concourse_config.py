"""Concourse's own checks of a pipeline config, as `PUT .../config` runs them before saving, restated for the fields
cdstack's pipelines use (concourse/concourse at v8.1.1):

- atc/config.go UnmarshalConfig: the top level keeps only Concourse's sections, then decodes strictly (an unknown key
  in a resource or job is an error); the known keys below are the json tags of atc.Config, ResourceConfig,
  JobConfig, GetStep, TaskStep (with the `timeout` step modifier, atc/steps.go TimeoutStep), TaskConfig,
  ImageResource and TaskRunConfig;
- atc/configvalidate/validate.go: resources named, typed, uniquely named, valid identifiers and used by some job;
  at least one job, uniquely named, valid identifiers;
- atc/step_validator.go: a get names a known resource, once per job; a task has exactly one of `file:` or `config:`,
  no unknown config fields, and its config a platform (atc/task.go TaskConfig.Validate);
- atc/configwarning.go ValidateIdentifier: names start with a lower-case letter or a digit and continue with those,
  `-`, `_` or `.` (the Unicode letter classes are narrowed to ASCII: our names are ASCII);
- durations (the time resource's interval, a step's timeout) parse as Go durations.

A step kind or field not listed is reported as unsupported here, so a pipeline that grows past this check fails its
test instead of passing unchecked.
"""

from __future__ import annotations

import re
from typing import Any

TOP = {"groups", "var_sources", "resources", "resource_types", "prototypes", "jobs", "display"}
RESOURCE = {"name", "old_name", "public", "webhook_token", "type", "source", "check_every", "check_timeout", "tags"}
RESOURCE |= {"version", "icon", "expose_build_created_by"}
JOB = {"name", "old_name", "public", "disable_manual_trigger", "disable_reruns", "serial", "interruptible"}
JOB |= {"serial_groups", "max_in_flight", "build_logs_to_retain", "build_log_retention", "on_success", "on_failure"}
JOB |= {"on_abort", "on_error", "ensure", "plan"}
GET = {"get", "resource", "version", "params", "passed", "trigger", "tags", "timeout"}
TASK = {"task", "privileged", "hermetic", "file", "container_limits", "config", "params", "vars", "tags"}
TASK |= {"input_mapping", "output_mapping", "image", "timeout"}
TASK_CONFIG = {"platform", "rootfs_uri", "image_resource", "container_limits", "params", "run", "inputs", "outputs"}
TASK_CONFIG |= {"caches"}
IMAGE_RESOURCE = {"type", "source", "version", "params", "tags"}
RUN = {"path", "args", "dir", "user"}

IDENTIFIER = re.compile(r"^[a-z0-9][a-z0-9\-_.]*$")
GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")


def _unknown(where: str, value: dict[str, Any], known: set[str]) -> list[str]:
    return [f"{where}: unknown field {key!r}" for key in sorted(set(value) - known)]


def _identifier(where: str, name: Any) -> list[str]:
    if not isinstance(name, str) or not name:
        return [f"{where}: identifier cannot be an empty string"]
    if not IDENTIFIER.match(name) or re.fullmatch(r"[0-9]+", name):
        return [f"{where}: {name!r} is not a valid identifier"]
    return []


def _duration(where: str, value: Any) -> list[str]:
    return [] if isinstance(value, str) and GO_DURATION.match(value) else [f"{where}: {value!r} is not a Go duration"]


def _step(where: str, step: dict[str, Any], resources: set[str], seen_gets: set[str]) -> list[str]:
    problems = _duration(f"{where}.timeout", step["timeout"]) if "timeout" in step else []
    if "get" in step:
        name = step["get"]
        where = f"{where}.get({name})"
        problems += _unknown(where, step, GET) + _identifier(where, name)
        if name in seen_gets:
            problems.append(f"{where}: repeated name")
        seen_gets.add(name)
        if step.get("resource", name) not in resources:
            problems.append(f"{where}: unknown resource '{step.get('resource', name)}'")
        return problems
    if "task" in step:
        where = f"{where}.task({step['task']})"
        problems += _unknown(where, step, TASK) + _identifier(where, step["task"])
        if ("config" in step) == ("file" in step):
            problems.append(f"{where}: must specify exactly one of `file:` or `config:`")
        config = step.get("config")
        if isinstance(config, dict):
            problems += _unknown(f"{where}.config", config, TASK_CONFIG)
            if not config.get("platform"):
                problems.append(f"{where}.config: missing 'platform'")
            image = config.get("image_resource")
            if isinstance(image, dict):
                problems += _unknown(f"{where}.config.image_resource", image, IMAGE_RESOURCE)
                if not image.get("type") or not isinstance(image.get("source"), dict):
                    problems.append(f"{where}.config.image_resource: needs a type and a source")
            run = config.get("run")
            if not isinstance(run, dict) or not run.get("path"):
                problems.append(f"{where}.config.run: missing 'path'")
            else:
                problems += _unknown(f"{where}.config.run", run, RUN)
        params = step.get("params", {})
        if not all(isinstance(v, str) for v in params.values()):
            problems.append(f"{where}.params: values must be strings here")
        return problems
    return [f"{where}: a step kind this check does not cover: {sorted(step)}"]


def problems(config: dict[str, Any]) -> list[str]:
    """What Concourse would refuse in `config` (an empty list: it would save it)."""
    found = _unknown("pipeline", config, TOP)
    resources: dict[str, str] = {}
    for i, resource in enumerate(config.get("resources") or []):
        where = f"resources.{resource.get('name') or f'[{i}]'}"
        found += _unknown(where, resource, RESOURCE) + _identifier(where, resource.get("name"))
        if not resource.get("type"):
            found.append(f"{where} has no type")
        if resource.get("name") in resources:
            found.append(f"{where}: two resources have the same name")
        resources[resource.get("name", "")] = resource.get("type", "")
        if resource.get("type") == "time":
            found += _duration(f"{where}.source.interval", (resource.get("source") or {}).get("interval"))
    jobs = config.get("jobs") or []
    if not jobs:
        found.append("jobs: pipeline must contain at least one job")
    used: set[str] = set()
    names: set[str] = set()
    for i, job in enumerate(jobs):
        where = f"jobs.{job.get('name') or f'[{i}]'}"
        found += _unknown(where, job, JOB) + _identifier(where, job.get("name"))
        if job.get("name") in names:
            found.append(f"{where}: two jobs have the same name")
        names.add(job.get("name", ""))
        seen: set[str] = set()
        for j, step in enumerate(job.get("plan") or []):
            found += _step(f"{where}.plan[{j}]", step, set(resources), seen)
            if "get" in step:
                used.add(step.get("resource", step["get"]))
    found += [f"resource '{name}' is not used" for name in resources if name not in used]
    return found
