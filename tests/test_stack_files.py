"""Stack files as operators write them: a corpus of mistakes (each refused with file, key, value and what is
allowed, before any resource exists), the unusual spellings Pulumi accepts, rules between stacks, and a plan that
is the same bytes on every run.

Mistakes are planted in the text of the committed stack files and read back through `tools/stackfile.py`, the
reader the offline plan uses, so each case also exercises how Pulumi reads YAML.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components import catalog
from components.config.loader import KNOWN_NAMESPACES, ConfigError
from components.config.schema import StackConfig
from tests.conftest import PROJECT_DIR
from tests.services import counting_program
from tools import offline, plan, stackfile

STACKS = ("staging", "prod")


def original(stack: str) -> str:
    return (PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text()


def replace_line(text: str, old: str, new: str) -> str:
    """`text` with the one line whose content is `old` (indentation kept) changed to `new`."""
    pattern = re.compile(rf"^(\s*){re.escape(old)}$", re.MULTILINE)
    assert len(pattern.findall(text)) == 1, f"{old!r} is not exactly one line"
    return pattern.sub(lambda m: m.group(1) + new, text)


def add_config(text: str, line: str) -> str:
    return text.replace("config:\n", f"config:\n  {line}\n", 1)


def run_text(stack: str, text: str, tmp_path: Path) -> tuple[Exception | None, int]:
    """Plan `text` as Pulumi.<stack>.yaml: the error raised (None if it planned) and how many resources registered."""
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(text)
    config, secret_keys = stackfile.read(path)
    registered: list[int] = []

    try:
        offline.run(stack, config, secret_keys, program=counting_program(registered), stack_outputs=_staging_outputs())
    except ConfigError as error:
        return error, registered[0]
    return None, registered[0]


def _staging_outputs() -> dict[str, dict[str, Any]]:
    from components.releases import release_set

    return {"organization/cdstack/staging": {"releaseSet": release_set(offline.load_config("staging"))}}


@dataclass(frozen=True)
class Mistake:
    name: str
    stack: str
    edit: Callable[[str], str]
    key: str
    shown: str
    """How the message shows the value given (`got <shown>`)."""
    allowed: str


def _namespace_typos() -> list[Mistake]:
    """Each namespace misspelt three ways (a letter dropped, two swapped, one doubled) on a key of its own."""
    cases = []
    keys = {"cdstack": "production: true", "azure-native": "location: westeurope", "pulumi": "tags: {}"}
    for namespace in KNOWN_NAMESPACES:
        suffix = keys.get(namespace, "someSetting: x")
        for typo in (namespace[:-1], namespace[0] + namespace[2] + namespace[1] + namespace[3:], namespace + "s"):
            if typo in KNOWN_NAMESPACES:
                continue
            key, value = suffix.split(": ")
            shown = {"{}": "'{}'"}.get(value, repr(value))
            cases.append(
                Mistake(
                    f"namespace {typo}",
                    "prod",
                    lambda t, line=f"{typo}:{suffix}": add_config(t, line),
                    f"{typo}:{key}",
                    shown,
                    f"did you mean {namespace}:?",
                )
            )
    return cases


def _regions() -> list[Mistake]:
    written = {"west-europe": "westeurope", "West Europe": "westeurope", "WestEurope": "westeurope"}
    written |= {"north-europe": "northeurope", "eastus-2": "eastus2", "swedencentrall": "swedencentral"}
    cases = [
        Mistake(
            f"region {text}",
            "staging",
            lambda t, text=text: replace_line(t, "cdstack:location: westeurope", f"cdstack:location: {text}"),
            "cdstack:location",
            repr(text),
            f"did you mean {meant}?",
        )
        for text, meant in written.items()
    ]
    cases.append(
        Mistake(
            "region empty",
            "staging",
            lambda t: replace_line(t, "cdstack:location: westeurope", 'cdstack:location: ""'),
            "cdstack:location",
            "''",
            "Azure region with availability zones",
        )
    )
    cases.append(
        Mistake(
            "region without zones",
            "staging",
            lambda t: replace_line(t, "cdstack:location: westeurope", "cdstack:location: westus"),
            "cdstack:location",
            "'westus'",
            "Azure region with availability zones",
        )
    )
    return cases


def _vm_sizes() -> list[Mistake]:
    cases = []
    # Prod's file: its two pools have different sizes, so each line names one pool.
    for pool, size in (("systemPool", "Standard_D4ds_v5"), ("workerPool", "Standard_D16ds_v5")):
        for wrong in (size.replace("v5", "v9"), size.removeprefix("Standard_"), size.lower(), size + "x"):
            cases.append(
                Mistake(
                    f"{pool} {wrong}",
                    "prod",
                    lambda t, size=size, wrong=wrong: replace_line(t, f"vmSize: {size}", f"vmSize: {wrong}"),
                    f"cdstack:cluster.{pool}.vmSize",
                    repr(wrong),
                    f"must be a VM size from components/catalog.py VM_SIZES (did you mean {size}?)"
                    if wrong != size.removeprefix("Standard_")
                    else "must be a VM size from components/catalog.py VM_SIZES",
                )
            )
    return cases


def _sku_tiers() -> list[Mistake]:
    """For each tier, the first SKU of every other tier: Azure refuses a SKU outside its tier."""
    firsts: dict[str, str] = {}
    for name, sku in catalog.POSTGRES_SKUS.items():
        firsts.setdefault(sku.tier, name)
    cases = []
    for tier in firsts:
        for sku_tier, sku in firsts.items():
            if sku_tier == tier:
                continue
            cases.append(
                Mistake(
                    f"sku {sku} in {tier}",
                    "staging",
                    lambda t, sku=sku, tier=tier: replace_line(
                        replace_line(t, "skuName: Standard_B2ms", f"skuName: {sku}"),
                        "skuTier: Burstable",
                        f"skuTier: {tier}",
                    ),
                    "cdstack:database.skuName",
                    repr(sku),
                    f"is a {sku_tier} SKU, but skuTier is {tier}",
                )
            )
    return cases


def _yaml_spellings() -> list[Mistake]:
    return [
        Mistake(
            "unquoted Slack channel is a comment",
            "prod",
            lambda t: replace_line(t, 'slackChannel: "#cd-alerts"', "slackChannel: #cd-alerts"),
            "cdstack:observability.slackChannel",
            "null",
            "valid string",
        ),
        Mistake(
            "unquoted 1.30 loses its zero",
            "prod",
            lambda t: replace_line(t, 'kubernetesVersion: "1.36"', "kubernetesVersion: 1.30"),
            "cdstack:cluster.kubernetesVersion",
            "'1.3'",
            "quote it, as in '1.30'",
        ),
        Mistake(
            # go-yaml v3 reads 0815 as the float 815 (8 is no octal digit), and Pulumi hands the program 815: the
            # text typed is gone, so every unquoted number or boolean is refused, 4711 as much as 0815.
            "unquoted tag value loses its leading zero",
            "prod",
            lambda t: replace_line(t, 'costCenter: "4711"', "costCenter: 0815"),
            "cdstack:tags.costCenter",
            "815",
            'quote it in the stack file, as in "0815"',
        ),
        Mistake(
            "a database SKU that does not exist",
            "prod",
            lambda t: replace_line(t, "skuName: Standard_D4ds_v5", "skuName: Standard_D5ds_v5"),
            "cdstack:database.skuName",
            "'Standard_D5ds_v5'",
            "a PostgreSQL flexible server SKU from components/catalog.py POSTGRES_SKUS (did you mean",
        ),
        Mistake(
            "production API server open to the internet",
            "prod",
            lambda t: replace_line(t, "- 203.0.113.0/24", "- 0.0.0.0/0"),
            "cdstack:cluster.apiAuthorizedRanges[0]",
            "'0.0.0.0/0'",
            "opens the API server to most of the internet",
        ),
        Mistake(
            "production API server open to half the internet",
            "prod",
            lambda t: replace_line(t, "- 198.51.100.17/32", "- 128.0.0.0/1"),
            "cdstack:cluster.apiAuthorizedRanges[1]",
            "'128.0.0.0/1'",
            "/8 or narrower",
        ),
        Mistake(
            "a version that is no version",
            "staging",
            lambda t: replace_line(t, 'kubernetesVersion: "1.37"', "kubernetesVersion: latest"),
            "cdstack:cluster.kubernetesVersion",
            "'latest'",
            "must match",
        ),
        Mistake(
            "database version as an unsupported number",
            "staging",
            lambda t: t.replace("  cdstack:database:\n", "  cdstack:database:\n    version: 12\n"),
            "cdstack:database.version",
            "'12'",
            "'14', '15', '16' or '17'",
        ),
        Mistake(
            "a key in no section",
            "staging",
            lambda t: add_config(t, "cdstack:workerPool: {maxCount: 3}"),
            "cdstack:workerPool",
            "'{\"maxCount\":3}'",
            "unknown key; known keys are allowTeamPrivilegedRoles, backup, canary, chartMirror, charts, cluster,",
        ),
    ]


CORPUS = _namespace_typos() + _regions() + _vm_sizes() + _sku_tiers() + _yaml_spellings()


def test_the_corpus_is_large():
    assert len(CORPUS) >= 50


@pytest.mark.parametrize("mistake", CORPUS, ids=[m.name for m in CORPUS])
def test_each_mistake_is_refused_with_file_key_value_and_what_is_allowed(mistake: Mistake, tmp_path: Path):
    text = mistake.edit(original(mistake.stack))
    assert text != original(mistake.stack)
    error, registered = run_text(mistake.stack, text, tmp_path)
    assert isinstance(error, ConfigError), f"{mistake.name} was accepted"
    assert registered == 0
    message = str(error)
    assert message.startswith(f"Pulumi.{mistake.stack}.yaml: invalid configuration")
    line = next((line for line in message.splitlines() if line.strip().startswith(mistake.key + ":")), "")
    assert f"{mistake.key}: got {mistake.shown};" in line, message
    assert mistake.allowed in line, line


def test_three_independent_mistakes_come_in_one_run(tmp_path: Path):
    """A refused field, a cross-field rule and a production rule: one message, not three rounds."""
    text = original("prod")
    text = replace_line(text, "cdstack:location: westeurope", "cdstack:location: west-europe")
    text = replace_line(text, "minCount: 4", "minCount: 30")
    text = replace_line(text, "webReplicas: 2", "webReplicas: 1")
    text = add_config(text, "cdstak:production: true")
    text = replace_line(text, "vmSize: Standard_D16ds_v5", "vmSize: Standard_D16ds_v9")
    error, registered = run_text("prod", text, tmp_path)
    assert error is not None and registered == 0
    assert isinstance(error, ConfigError)
    assert sorted(error.keys) == sorted(
        [
            "cdstak:production",
            "cdstack:location",
            "cdstack:cluster.workerPool.vmSize",
            "cdstack:cluster.workerPool.minCount",
            "cdstack:concourse.webReplicas",
        ]
    )


def test_a_rule_whose_input_was_refused_is_not_reported_against_a_stand_in(tmp_path: Path):
    """maxCount refused: its default stands in, and minCount must not be compared with that default."""
    text = replace_line(original("prod"), "maxCount: 12", "maxCount: many")
    text = replace_line(text, "minCount: 4", "minCount: 8")
    error, _ = run_text("prod", text, tmp_path)
    assert isinstance(error, ConfigError)
    assert error.keys == ["cdstack:cluster.workerPool.maxCount"]


def test_a_duplicated_key_is_refused_as_the_cli_refuses_it(tmp_path: Path):
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(replace_line(original("staging"), "count: 3", "count: 3\n      count: 4"))
    with pytest.raises(stackfile.StackFileError, match=r"Pulumi.staging.yaml: mapping key 'count' already defined"):
        stackfile.read(path)


# Valid spellings: each one planted alone, each must plan, with the value Pulumi would give the program.
SPELLINGS: list[tuple[str, str, str, str, Callable[[StackConfig], Any], Any]] = [
    (
        "unquoted time",
        "prod",
        'startTime: "22:00"',
        "startTime: 22:00",
        lambda c: c.cluster.maintenance_window.start_time,
        "22:00",
    ),
    (
        "unquoted offset",
        "prod",
        'utcOffset: "+01:00"',
        "utcOffset: +01:00",
        lambda c: c.cluster.maintenance_window.utc_offset,
        "+01:00",
    ),
    (
        "unquoted minor version",
        "prod",
        'kubernetesVersion: "1.36"',
        "kubernetesVersion: 1.36",
        lambda c: c.cluster.kubernetes_version,
        "1.36",
    ),
    (
        "quoted number",
        "prod",
        "durationHours: 6",
        'durationHours: "6"',
        lambda c: c.cluster.maintenance_window.duration_hours,
        6,
    ),
    (
        "quoted literal number",
        "prod",
        "serverReplicas: 3",
        'serverReplicas: 3\n    consulReplicas: "3"',
        lambda c: c.vault.consul_replicas,
        3,
    ),
    ("quoted storage size", "prod", "storageGb: 256", 'storageGb: "256"', lambda c: c.database.storage_gb, 256),
    (
        "boolean in capitals",
        "prod",
        "highAvailability: true",
        "highAvailability: True",
        lambda c: c.database.high_availability,
        True,
    ),
    (
        "TTL in seconds",
        "prod",
        "raftStorageGi: 20",
        "raftStorageGi: 20\n    tokenTtl: 3600",
        lambda c: c.vault.token_ttl,
        "3600s",
    ),
    (
        "number with separator",
        "prod",
        "raftStorageGi: 20",
        "raftStorageGi: 2_0",
        lambda c: c.vault.raft_storage_gi,
        20,
    ),
]


@pytest.mark.parametrize(
    ("stack", "old", "new", "read", "expected"), [s[1:] for s in SPELLINGS], ids=[s[0] for s in SPELLINGS]
)
def test_each_valid_spelling_is_accepted(
    stack: str, old: str, new: str, read: Callable[[StackConfig], Any], expected: Any, tmp_path: Path
):
    for name in STACKS:
        shutil.copy(PROJECT_DIR / f"Pulumi.{name}.yaml", tmp_path)
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(replace_line(original(stack), old, new))
    assert read(offline.load_config(stack, tmp_path)) == expected


@pytest.mark.parametrize("version", [17, "17"])
def test_the_readmes_path_command_is_accepted(version: Any):
    """`pulumi config set --path cdstack:database.version 17` stores the number 17 (pulumi config set --help)."""
    raw = stackfile.config_map(PROJECT_DIR / "Pulumi.staging.yaml")
    raw["cdstack:database"] = {**raw.get("cdstack:database", {}), "version": version}
    assert offline.validated_config("staging", *offline.flatten_config(raw)).database.version == "17"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("22:00", "22:00"),  # YAML 1.1 read 1320
        ("yes", "yes"),  # YAML 1.1 read true
        ("off", "off"),
        ("True", True),
        ("~", None),
        ("", None),
        ("17", 17),
        ("0777", 511),
        ("0o17", 15),
        ("0x1F", 31),
        ("0b101", 5),
        ("1_000", 1000),
        ("-5", -5),
        ("1.30", 1.3),
        ("1e3", 1000.0),
        ("08", 8.0),
        ("1.2.3", "1.2.3"),
        ("v1.21.1", "v1.21.1"),
        ("2024-01-02", "2024-01-02 00:00:00 +0000 UTC"),
        ("10.40.0.0/16", "10.40.0.0/16"),
    ],
)
def test_plain_scalars_resolve_as_go_yaml_v3_does(text: str, value: Any):
    assert stackfile.resolve_plain(text) == value
    assert type(stackfile.resolve_plain(text)) is type(value)


def test_top_level_values_reach_the_program_as_pulumi_passes_them():
    config, secret_keys = stackfile.pulumi_config(
        stackfile.parse(
            "config:\n  cdstack:a: 17\n  cdstack:b: '17'\n  cdstack:c: true\n  cdstack:d: {v: 17.0, t: 22:00}\n"
            "  e: x\n  cdstack:f: {secure: AAAB}\n"
        )
    )
    assert config == {
        "cdstack:a": "17",
        "cdstack:b": "17",
        "cdstack:c": "true",
        "cdstack:d": '{"t":"22:00","v":17}',
        "cdstack:e": "x",
        "cdstack:f": stackfile.SECURE_PLACEHOLDER,
    }
    assert secret_keys == ["cdstack:f"]


def test_provider_and_pulumi_namespaces_are_accepted(tmp_path: Path):
    text = add_config(original("staging"), "pulumi:tags: {team: platform}")
    text = add_config(text, "kubernetes:enableServerSideApply: true")
    error, _ = run_text("staging", text, tmp_path)
    assert error is None


# ---------------------------------------------------------------------------------------------------------------------
# Rules between stacks


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in STACKS:
        shutil.copy(PROJECT_DIR / f"Pulumi.{name}.yaml", tmp_path)
    return tmp_path


def test_the_committed_stacks_pass_the_rules_between_stacks():
    for stack in offline.stack_names():
        assert offline.cross_stack_errors(stack) == []


COLLISIONS = [
    ("prod", "domain: cd.contoso.com", "domain: staging.cd.contoso.com", "cdstack:dns.domain", "dns.domain"),
    (
        "prod",
        "zoneResourceGroup: rg-contoso-dns",
        "zoneResourceGroup: rg-contoso-dns\n    hosts: {grafana: ci.staging.cd.contoso.com}",
        "cdstack:dns.hosts.grafana",
        "concourse host",
    ),
    ("staging", "10.40.", "10.50.", "cdstack:network.addressSpace", "addressSpace 10.50.0.0/16"),
]


@pytest.mark.parametrize(("edited", "old", "new", "key", "allowed"), COLLISIONS, ids=[c[3] for c in COLLISIONS])
def test_the_plan_refuses_a_stack_that_collides_with_another(
    edited: str, old: str, new: str, key: str, allowed: str, project: Path, capsys: pytest.CaptureFixture[str]
):
    path = project / f"Pulumi.{edited}.yaml"
    path.write_text(path.read_text().replace(old, new))
    for stack in STACKS:
        assert offline.load_config(stack, project)  # each valid on its own

    assert plan.main(["prod", "--project-dir", str(project)]) == 2

    err = capsys.readouterr().err
    assert "error: Pulumi.prod.yaml: invalid configuration" in err
    line = next(line for line in err.splitlines() if line.startswith(f"  {key}: got "))
    assert f"must differ from Pulumi.staging.yaml's {allowed}" in line or f"Pulumi.staging.yaml's {allowed}" in line
    # Staging's plan names the collision too: the pair is one mistake, seen from either side.
    assert plan.main(["staging", "--project-dir", str(project)]) == 2
    assert "error: Pulumi.staging.yaml: invalid configuration" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------------
# The plan is the same bytes on every run


@pytest.mark.exhaustive  # test_golden_plans compares a fresh plan with the committed one byte for byte
def test_two_plans_of_one_commit_are_byte_identical(tmp_path: Path):
    runs = []
    for i in range(2):
        out = tmp_path / f"plan{i}.json"
        done = subprocess.run(
            [sys.executable, "-m", "tools.plan", "prod", "--json", str(out)],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append((done.stdout.replace(str(out), "plan.json"), out.read_bytes()))
    assert runs[0] == runs[1]
    resources = json.loads(runs[0][1])["resources"]
    assert [r["urn"] for r in resources] == sorted(r["urn"] for r in resources)


def test_a_refused_list_item_and_an_unrelated_rule_come_in_one_run(tmp_path: Path):
    text = replace_line(
        original("prod"),
        "- 6f1c2a9e-3b7d-4c11-9e2a-5d8b0f4a7c31   # platform-admins",
        "- not-a-guid",
    )
    text = replace_line(text, "elasticsearchNodes: 3", "elasticsearchNodes: 1")
    text = replace_line(text, "- name: payments", "- name: Payments")
    error, registered = run_text("prod", text, tmp_path)
    assert isinstance(error, ConfigError) and registered == 0
    assert sorted(error.keys) == [
        "cdstack:cluster.adminGroupObjectIds[0]",
        "cdstack:observability.elasticsearchNodes",
        "cdstack:teams[0].name",
    ]


def test_anchors_and_merge_keys_read_as_go_yaml_reads_them():
    document = stackfile.parse(
        "base: &pool {vmSize: Standard_D4ds_v5, count: 2}\n"
        "config:\n"
        "  cdstack:a: {<<: *pool, count: 3}\n"
        "  cdstack:b: *pool\n"
    )
    config, _ = stackfile.pulumi_config(document)
    assert json.loads(config["cdstack:a"]) == {"vmSize": "Standard_D4ds_v5", "count": 3}
    assert json.loads(config["cdstack:b"]) == {"vmSize": "Standard_D4ds_v5", "count": 2}


@pytest.mark.parametrize("text", ["config: {cdstack:a: .inf}", "config:\n  a: [1\n", "config: [1, 2]"])
def test_what_the_cli_cannot_read_is_a_stack_file_error(text: str):
    with pytest.raises(stackfile.StackFileError, match=r"^Pulumi.x.yaml: "):
        stackfile.pulumi_config(stackfile.parse(text, "Pulumi.x.yaml"), "Pulumi.x.yaml")


def test_the_plan_reports_an_unreadable_stack_file_in_one_line(project: Path, capsys: pytest.CaptureFixture[str]):
    staging = project / "Pulumi.staging.yaml"
    staging.write_text(replace_line(staging.read_text(), "count: 3", "count: 3\n      count: 4"))
    assert plan.main(["staging", "--project-dir", str(project)]) == 2
    assert capsys.readouterr().err.startswith("error: Pulumi.staging.yaml: mapping key 'count' already defined")
