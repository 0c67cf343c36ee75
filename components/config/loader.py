"""The loader: reads every `cdstack:` key through Pulumi's config API, parses it into the frozen StackConfig, runs
the rules of the registry, and raises ConfigError (one message naming the stack file, the key path, the value given
and what is allowed) before any resource is constructed. Unknown keys and namespaces are errors, so a typo never
passes silently.

The top of the configuration's layers: it imports the schema, the person-supplied secrets and the registry (which
imports the rules beside each concern); nothing of components/ imports it but the program.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from datetime import date
from typing import Any, get_origin

import pulumi
import pulumi.runtime
from pydantic import BaseModel, ValidationError

from components import clock, cluster_support
from components.config.rules import check_rules
from components.config.schema import StackConfig, closest
from components.config.secrets import SECRET_KEYS
from components.problem import NAMESPACE, Problem

# Config namespaces this program reads or its providers read (pulumi/pulumi passes every stack-file key to the
# program, whichever namespace): the project's own, each provider package it uses (a provider reads `<package>:<key>`)
# and Pulumi's (`pulumi:tags`, `pulumi:disable-default-providers`). A key in any other namespace configures nothing,
# so it is almost always a typo (`cdstak:production: true` would plan prod as a non-production stack).
KNOWN_NAMESPACES = (NAMESPACE, "azure-native", "azuread", "kubernetes", "vault", "random", "tls", "pulumi")


class ConfigError(pulumi.RunError):
    """Bad configuration. A RunError, so Pulumi prints the message without a Python traceback."""

    def __init__(self, stack_file: str, problems: Iterable[tuple[str, Any, str]]):
        self.stack_file = stack_file
        self.problems = [Problem(*problem) for problem in problems]
        lines = [f"{stack_file}: invalid configuration"]
        lines += [f"  {p.key}: got {_show(p.value)}; {p.allowed}" for p in self.problems]
        super().__init__("\n".join(lines))

    @property
    def keys(self) -> list[str]:
        return [problem.key for problem in self.problems]


def _show(value: Any) -> str:
    if value is _MISSING:
        return "nothing (the key is required)"
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


_MISSING = object()


def stack_file() -> str:
    return f"Pulumi.{pulumi.get_stack()}.yaml"


def _all_config_keys() -> set[str]:
    """Every config key Pulumi gave this program, any namespace: set in-process (mocks, automation) or in
    PULUMI_CONFIG (the CLI)."""
    return set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.get_config_env())


def _config_keys() -> set[str]:
    """Every `cdstack:` config key Pulumi gave this program."""
    return {key for key in _all_config_keys() if key.startswith(NAMESPACE + ":")}


def namespace_problems(keys: set[str]) -> list[Problem]:
    """A key in a namespace nobody reads, named with the closest namespace that somebody does."""
    problems: list[Problem] = []
    for full_key in sorted(keys):
        namespace = full_key.split(":", 1)[0]
        if namespace in KNOWN_NAMESPACES:
            continue
        nearest = difflib.get_close_matches(namespace, KNOWN_NAMESPACES, n=1, cutoff=0)[0]
        problems.append(
            Problem(
                full_key,
                pulumi.runtime.get_config(full_key),
                f"unknown namespace {namespace!r}: nothing reads it (did you mean {nearest}:?); "
                f"known namespaces are {', '.join(KNOWN_NAMESPACES)}",
            )
        )
    return problems


def _is_secret(full_key: str) -> bool:
    return pulumi.runtime.is_config_secret(full_key) or full_key in pulumi.runtime.get_config_secret_keys_env()


def _wants_object(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (list, dict):
        return True
    candidates = getattr(annotation, "__args__", None) or (annotation,)
    return any(isinstance(c, type) and issubclass(c, BaseModel) for c in candidates)


def load() -> StackConfig:
    """Read and validate the whole `cdstack:` configuration, or raise ConfigError. Creates nothing.

    Every mistake is reported in one run: unknown keys and namespaces, each value a field refuses, and each
    cross-field rule whose inputs are themselves valid (see `_rules_on_valid_part`).
    """
    config = pulumi.Config(NAMESPACE)
    file = stack_file()
    problems: list[Problem] = namespace_problems(_all_config_keys())
    raw: dict[str, Any] = {}
    by_alias = {
        (info.alias or name): (name, info) for name, info in StackConfig.model_fields.items() if not info.exclude
    }

    for full_key in sorted(_config_keys()):
        key = full_key.split(":", 1)[1]
        if key in SECRET_KEYS:
            if not _is_secret(full_key):
                problems.append(
                    Problem(
                        full_key, "[a plain value]", f"{SECRET_KEYS[key]} must be set with `pulumi config set --secret`"
                    )
                )
            continue
        if key not in by_alias:
            allowed = ", ".join(sorted(list(by_alias) + list(SECRET_KEYS)))
            hint = closest(key, list(by_alias) + list(SECRET_KEYS))
            problems.append(Problem(full_key, config.get(key), f"unknown key{hint}; known keys are {allowed}"))
            continue
        _, info = by_alias[key]
        if _wants_object(info.annotation):
            try:
                raw[key] = config.get_object(key)
            except pulumi.ConfigTypeError:
                problems.append(Problem(full_key, config.get(key), "expected a YAML object or list"))
        else:
            raw[key] = config.get(key)

    raw["stack"] = pulumi.get_stack()
    raw["slackWebhookConfigured"] = config.get("slackWebhookUrl") is not None
    today = clock.today()
    try:
        cfg = StackConfig.model_validate(raw)
    except ValidationError as error:
        field_problems = [_pydantic_problem(e, raw) for e in error.errors()]
        problems += field_problems + _rules_on_valid_part(raw, error, today)
        raise ConfigError(file, problems) from None
    problems += check_rules(cfg, today)
    if problems:
        raise ConfigError(file, problems)
    support = cluster_support.kubernetes_support(cfg, today)
    if support is not None:
        pulumi.log.warn(f"{file}: {NAMESPACE}:cluster.kubernetesVersion: {support[1]}; plan the upgrade now")
    return cfg


def _key_path(loc: Any) -> str:
    parts = [str(part) for part in loc]
    return f"{NAMESPACE}:{parts[0]}" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts[1:])


def _rules_on_valid_part(raw: dict[str, Any], error: ValidationError, today: date) -> list[Problem]:
    """The cross-field rules' problems where a field was refused, so that one run reports every mistake.

    Each refused value is replaced by a stand-in (the field's default when it has one: the value is dropped; a
    required field's documented example; else its list or parent object is dropped, and when nothing can stand in
    the rules stay unrun), and the rules run on the result. A rule problem is kept only when its inputs are the
    operator's own: it is dropped when it lies at or under a replaced location, or names a replaced key (rules name
    the other settings they compare with, as in "must be <= maxCount (6)").
    """
    repaired = json.loads(json.dumps(raw))
    replaced: list[tuple[str, str]] = []
    for _ in range(4):
        for item in error.errors():
            loc = tuple(str(part) for part in item["loc"])
            done = _stand_in(repaired, loc) or _drop(repaired, loc) or _drop(repaired, loc[:-1])
            if done is None:
                return []
            replaced.append((_key_path(done), done[-1]))
        try:
            cfg = StackConfig.model_validate(repaired)
            break
        except ValidationError as again:
            error = again
    else:
        return []
    return [problem for problem in check_rules(cfg, today) if not _depends_on(problem, replaced)]


def _depends_on(problem: Problem, replaced: list[tuple[str, str]]) -> bool:
    key, _, allowed = problem
    return any(_within(key, scope) or re.search(rf"\b{re.escape(name)}\b", allowed) for scope, name in replaced)


def _stand_in(data: Any, loc: tuple[str, ...]) -> tuple[str, ...] | None:
    """Put a required field's documented example where its value was refused or missing; the location, if done."""
    model: Any = StackConfig
    for part in loc[:-1]:
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
            continue
        fields = {(info.alias or name): info for name, info in model.model_fields.items()} if model else {}
        if not isinstance(data, dict) or part not in fields or not isinstance(data.get(part), (dict, list)):
            return None
        model = _model_of(fields[part].annotation)
        data = data[part]
    fields = {(info.alias or name): info for name, info in model.model_fields.items()} if model else {}
    info = fields.get(loc[-1]) if loc else None
    if info is None or not info.is_required() or not info.examples or not isinstance(data, dict):
        return None
    data[loc[-1]] = info.examples[0]
    return loc


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The section model a field holds (directly, optionally, or as list items)."""
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        inner = getattr(candidate, "__args__", ())
        for item in inner:
            if isinstance(item, type) and issubclass(item, BaseModel):
                return item
    return None


def _within(key: str, scope: str) -> bool:
    return key == scope or key.startswith((scope + ".", scope + "["))


def _drop(data: Any, loc: tuple[str, ...]) -> tuple[str, ...] | None:
    """Remove the value at `loc` (a pydantic error location) from nested dicts and lists; the location removed.

    A list item is not removed (the items after it would change index): the whole list is, and its location
    returned."""
    if not loc:
        return None
    for depth, part in enumerate(loc):
        last = depth == len(loc) - 1
        if isinstance(data, dict) and part in data:
            if last:
                del data[part]
                return loc
            parent, data = data, data[part]
            if isinstance(data, list):
                del parent[part]
                return loc[: depth + 1]
        else:
            return None
    return None


def _lookup(data: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        if isinstance(data, dict) and str(part) in data:
            data = data[str(part)]
        elif isinstance(data, list) and str(part).isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _MISSING
    return data


def _pydantic_problem(error: Any, raw: dict[str, Any]) -> Problem:
    key = _key_path(error["loc"])
    value = error.get("input", _MISSING) if error["type"] != "missing" else _MISSING
    allowed = error["msg"]
    if error["type"] == "extra_forbidden":
        allowed = "unknown key (check its spelling against the configuration reference)"
    elif error["type"] == "string_pattern_mismatch":
        allowed = f"must match {error['ctx']['pattern']}"
    elif error["type"] == "missing":
        allowed = "this key is required"
    elif error["type"] == "value_error":
        allowed = str(error["ctx"]["error"])
    given = _lookup(raw, tuple(error["loc"]))
    if isinstance(given, float):
        allowed += f" (YAML read an unquoted number here and dropped its trailing zeros: quote it, as in '{given:.2f}')"
    return Problem(key, value, allowed)
