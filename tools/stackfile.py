"""Read a stack file's `config:` exactly as the Pulumi CLI hands it to the program.

The CLI parses `Pulumi.<stack>.yaml` with go-yaml v3 (pulumi/pulumi sdk/go/common/encoding/marshal.go) into plain Go
values (sdk/go/common/resource/config/object.go `unmarshalObject`), then gives the program each top-level key as a
string: strings as written, numbers and booleans as their JSON text, objects and lists as JSON (`MarshalString`).
go-yaml v3 resolves plain scalars by the YAML 1.2 core schema plus a few compatibility rules (resolve.go, read at
go-yaml/yaml f6f7691, the v3 branch):

- `true`/`True`/`TRUE` and `false`/... are booleans; `yes`, `no`, `on`, `off`, `y`, `n` are strings;
- `~`, `null`, `Null`, `NULL` and an empty value are null;
- integers in decimal, `0x` hex, `0o` and legacy `0777` octal, `0b` binary, `_` separators ignored;
- floats (`1.5`, `1e3`, `.5`, `.inf`, `.nan`); base-60 numbers (`22:00`) are NOT numbers: they stay strings;
- unquoted `2024-01-02`-style timestamps become Go's `time.Time.String()` text;
- anything quoted, or tagged `!!str`, is a string; `<<` merges mappings; a key written twice is an error.

PyYAML reads YAML 1.1 instead (`22:00` is 1320, `yes` is true, `0777` is 511 in both but `1_000` differs...), so the
offline plan, promote and the tests read stack files only through this module. The grammar itself is parsed with
ruamel.yaml (a YAML 1.2 parser); only the resolution of plain scalars to values is done here, after go-yaml v3.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import math
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml import events as ev
from ruamel.yaml.error import MarkedYAMLError

PROJECT = "cdstack"

# Placeholder for a `secure:` stack value: the offline plan cannot decrypt it, and needs not.
SECURE_PLACEHOLDER = "offline-plan-placeholder"

_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_SPECIAL = {
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_TIMESTAMP = re.compile(
    r"^(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})-(?P<d>[0-9]{1,2})"
    r"(?:(?:[Tt]| )(?P<H>[0-9]{1,2}):(?P<M>[0-9]{1,2}):(?P<S>[0-9]{1,2})(?:\.(?P<f>[0-9]{1,9}))?"
    r"(?P<z>Z|[+-][0-9]{2}:[0-9]{2})?)?$"
)
_STR_TAG = "tag:yaml.org,2002:str"


class StackFileError(Exception):
    """A stack file the Pulumi CLI itself would refuse to read (YAML syntax, duplicate keys, unsupported values)."""


def _go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64) after removing `_`, plus the `0b`/`0o` forms go-yaml v3 adds."""
    plain = text.replace("_", "")
    match = re.fullmatch(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)", plain)
    if not match:
        return None
    sign, digits = match.groups()
    lower = digits.lower()
    if lower.startswith(("0x", "0o", "0b")):
        value = int(lower[2:], {"x": 16, "o": 8, "b": 2}[lower[1]])
    elif lower.startswith("0"):
        value = int(lower, 8)  # legacy 0777 octal, still read by go-yaml v3 (and plain 0)
    else:
        value = int(lower)
    value = -value if sign == "-" else value
    return value if -(2**63) <= value < 2**64 else None


def _go_time_string(match: re.Match[str]) -> str:
    """Go's `time.Time.String()` of an unquoted YAML timestamp (what Pulumi's config stores for one)."""
    parts = {k: int(v) for k, v in match.groupdict().items() if v is not None and k not in ("f", "z")}
    stamp = dt.datetime(parts["y"], parts["m"], parts["d"], parts.get("H", 0), parts.get("M", 0), parts.get("S", 0))
    text = stamp.strftime("%Y-%m-%d %H:%M:%S")
    fraction = (match.group("f") or "").rstrip("0")
    if fraction:
        text += "." + fraction
    zone = match.group("z")
    if zone in (None, "Z"):
        return text + " +0000 UTC"
    offset = zone.replace(":", "")
    return f"{text} {offset} {offset}"


def resolve_plain(text: str) -> Any:
    """The value go-yaml v3 gives a plain (unquoted, untagged) scalar when decoding into `any`."""
    if text in _SPECIAL:
        return _SPECIAL[text]
    if text[:1] == ".":
        try:
            return float(text)
        except ValueError:
            return text
    if text[:1] in "+-0123456789":
        stamp = _TIMESTAMP.match(text)
        if stamp:
            return _go_time_string(stamp)
        integer = _go_int(text)
        if integer is not None:
            return integer
        plain = text.replace("_", "")
        if _YAML_FLOAT.match(plain):
            return float(plain)
    return text


def _key_text(key: Any) -> str:
    """A mapping key as Go's fmt `%v` prints it (Pulumi turns every key into a string that way)."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "<nil>"
    if isinstance(key, float):
        return _go_float(key)
    return str(key)


def _go_float(value: float) -> str:
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    return re.sub(r"e([-+])0*([0-9])", r"e\1\2", text)


class _Builder:
    """Builds plain values from ruamel.yaml's parse events, resolving scalars as go-yaml v3 does."""

    def __init__(self, events: list[ev.Event], source: str):
        self.events = events
        self.position = 0
        self.anchors: dict[str, Any] = {}
        self.source = source

    def _fail(self, event: ev.Event, message: str) -> StackFileError:
        mark = event.start_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        return StackFileError(f"{self.source}: {message} ({where})")

    def next(self) -> ev.Event:
        event = self.events[self.position]
        self.position += 1
        return event

    def value(self) -> Any:
        event = self.next()
        if isinstance(event, ev.AliasEvent):
            if event.anchor not in self.anchors:
                raise self._fail(event, f"unknown anchor {event.anchor!r}")
            return self.anchors[event.anchor]
        if isinstance(event, ev.ScalarEvent):
            result = self.scalar(event)
        elif isinstance(event, ev.SequenceStartEvent):
            result = []
            while not isinstance(self.events[self.position], ev.SequenceEndEvent):
                result.append(self.value())
            self.next()
        elif isinstance(event, ev.MappingStartEvent):
            result = self.mapping(event)
        else:
            raise self._fail(event, f"unexpected {type(event).__name__}")
        if getattr(event, "anchor", None):
            self.anchors[event.anchor] = result
        return result

    def scalar(self, event: ev.ScalarEvent) -> Any:
        if event.style is not None or event.tag == _STR_TAG:
            return event.value
        if event.tag not in (None, "!"):
            tagged = resolve_plain(event.value)
            if event.tag == "tag:yaml.org,2002:float" and isinstance(tagged, int) and not isinstance(tagged, bool):
                return float(tagged)
            return tagged
        return resolve_plain(event.value)

    def mapping(self, start: ev.Event) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        lines: dict[str, int] = {}
        while not isinstance(self.events[self.position], ev.MappingEndEvent):
            key_event = self.events[self.position]
            is_merge = isinstance(key_event, ev.ScalarEvent) and key_event.style is None and key_event.value == "<<"
            key = self.value()
            value = self.value()
            if is_merge:
                for source in value if isinstance(value, list) else [value]:
                    if not isinstance(source, dict):
                        raise self._fail(key_event, "map merge requires a mapping or a list of mappings")
                    for k, v in source.items():
                        merged.setdefault(k, v)
                continue
            if isinstance(key, (dict, list)):
                raise self._fail(key_event, "a mapping key must be a scalar")
            text = _key_text(key)
            if text in result:
                raise self._fail(key_event, f"mapping key {text!r} already defined at line {lines[text]}")
            lines[text] = key_event.start_mark.line + 1 if key_event.start_mark else 0
            result[text] = value
        self.next()
        return {**{k: v for k, v in merged.items() if k not in result}, **result}


def parse(text: str, source: str = "<stack file>") -> Any:
    """The first YAML document of `text` as go-yaml v3 decodes it into `any` (None for an empty file): a copy of its
    own, which the caller may edit."""
    return copy.deepcopy(_parsed(text, source))


@functools.lru_cache(maxsize=32)
def _parsed(text: str, source: str) -> Any:
    """parse's result, remembered: the tools and the tests read the same few stack files hundreds of times in one
    process (every plan, every config check), and ruamel.yaml's pure-Python parser takes some 8 ms a file each time."""
    try:
        events = list(YAML(typ="safe", pure=True).parse(text))
    except MarkedYAMLError as error:
        raise StackFileError(f"{source}: invalid YAML: {error}") from None
    documents = [i for i, e in enumerate(events) if isinstance(e, ev.DocumentStartEvent)]
    if not documents:
        return None
    builder = _Builder(events, source)
    builder.position = documents[0] + 1
    return builder.value()


def _go_json(value: Any, source: str, key: str) -> str:
    """Go's json.Marshal of a decoded value (sorted keys; whole floats without `.0`; NaN/Inf refused as Go does)."""

    def plain(v: Any) -> Any:
        if isinstance(v, float) and not isinstance(v, bool):
            if math.isnan(v) or math.isinf(v):
                raise StackFileError(f"{source}: {key}: json: unsupported value: {v} (quote it to make it a string)")
            return int(v) if v == int(v) and abs(v) < 1e21 else v
        if isinstance(v, dict):
            return {k: plain(item) for k, item in v.items()}
        if isinstance(v, list):
            return [plain(item) for item in v]
        return v

    return json.dumps(plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"} and isinstance(value["secure"], str)


def pulumi_config(document: Any, source: str = "<stack file>") -> tuple[dict[str, str], list[str]]:
    """The `config:` of a parsed stack file as Pulumi passes it to a program: {full key: string}, secret keys.

    `secure:` values cannot be decrypted offline; they become a placeholder that is flagged secret, so the program
    sees a secret exactly where `pulumi up` would give it one.
    """
    if document is None:
        return {}, []
    if not isinstance(document, dict):
        raise StackFileError(f"{source}: a stack file is a YAML mapping (got {type(document).__name__})")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{source}: config: must be a mapping of keys to values")
    flat: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in config.items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if _is_secure(value):
            flat[full_key] = SECURE_PLACEHOLDER
            secret_keys.append(full_key)
        elif isinstance(value, str):
            flat[full_key] = value
        else:
            flat[full_key] = _go_json(value, source, full_key)
    return flat, secret_keys


def read(path: Path) -> tuple[dict[str, str], list[str]]:
    """The `config:` of the stack file at `path`, as the Pulumi CLI hands it to the program."""
    return pulumi_config(parse(path.read_text(), path.name), path.name)


def config_map(path: Path) -> dict[str, Any]:
    """The `config:` map of a stack file as data (YAML 1.2 values), for tests and tools that edit it."""
    document = parse(path.read_text(), path.name) or {}
    return dict(document.get("config") or {})
