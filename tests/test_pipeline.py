"""The infra pipeline file: its references resolve, prod waits for staging's smoke test, no literal secrets; its task
image provides every command the tasks run; what Pulumi.yaml asks of the Python host, requirements.txt provides."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.azure import kubeconfig
from tests.conftest import PROJECT_DIR
from tests.test_kubeconfig import AKS_USER_CREDENTIALS

CI_DIR = PROJECT_DIR / "ci"
PIPELINE = yaml.safe_load((CI_DIR / "pipeline.yml").read_text())
JOBS = {job["name"]: job for job in PIPELINE["jobs"]}
RESOURCES = {resource["name"] for resource in PIPELINE["resources"]}
NESTED = ("do", "in_parallel", "steps", "try", "on_success", "on_failure", "on_abort", "on_error", "ensure")


def steps(node: Any) -> Iterator[dict[str, Any]]:
    """Every step of a plan, nested ones (do, in_parallel, try, hooks) included, in order."""
    if isinstance(node, list):
        for item in node:
            yield from steps(item)
    elif isinstance(node, dict):
        if any(key in node for key in ("get", "put", "task", "set_pipeline")):
            yield node
        for key in NESTED:
            if key in node:
                yield from steps(node[key])


def job_steps(name: str) -> list[dict[str, Any]]:
    return list(steps(JOBS[name]["plan"]))


def upstream(name: str) -> set[str]:
    """Every job a job's inputs must have passed through, transitively."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for step in job_steps(todo.pop()):
            for passed in step.get("passed", []):
                if passed not in seen:
                    seen.add(passed)
                    todo.append(passed)
    return seen


def task_file(step: dict[str, Any]) -> Path:
    """A task's `file:` is `<input>/<path in that input>`; every input here is this repository."""
    first, _, rest = step["file"].partition("/")
    assert first in RESOURCES, f"task {step['task']} reads {step['file']} from an unknown input"
    return PROJECT_DIR / rest


def test_every_passed_names_a_job_and_every_get_put_a_resource():
    for name in JOBS:
        for step in job_steps(name):
            for passed in step.get("passed", []):
                assert passed in JOBS, f"{name}: passed: {passed} is not a job"
            for verb in ("get", "put"):
                if verb in step:
                    resource = step.get("resource", step[verb])
                    assert resource in RESOURCES, f"{name}: {verb}: {resource} is not a resource"


def task_steps() -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name in JOBS for step in job_steps(name) if "task" in step]


def test_every_task_file_and_script_exists_and_every_param_is_declared():
    assert task_steps()
    for job, step in task_steps():
        path = task_file(step)
        assert path.is_file(), f"task {step['task']}: {path} does not exist"
        config = yaml.safe_load(path.read_text())
        if "image" in step:
            # The step's image wins over the file's; it must be one this job fetched.
            assert "image_resource" not in config, f"{path.name}: image_resource would be ignored, the step sets image"
            assert step["image"] in {s.get("get") for s in job_steps(job)}, f"{job}: image {step['image']} not fetched"
        else:
            assert config["image_resource"]["source"]["tag"], f"{path.name}: the task image must be pinned"
            assert config["image_resource"]["source"]["tag"] != "latest"
        first, _, rest = config["run"]["path"].partition("/")
        if rest:  # a script in an input; otherwise the executable the pinned image ships (oci-build-task's `build`)
            script = PROJECT_DIR / rest
            assert first in RESOURCES and script.is_file() and os.access(script, os.X_OK), (
                f"{path.name}: {script} is not an executable file"
            )
        else:
            assert "image" not in step, f"{path.name}: runs {first}, which only its own image_resource can provide"
        undeclared = set(step.get("params", {})) - set(config.get("params") or {})
        assert not undeclared, f"task {step['task']} passes params {path.name} does not declare: {undeclared}"


def test_pipeline_sets_itself_from_git_before_anything_else_runs():
    (setter,) = [name for name in JOBS if any(s.get("set_pipeline") == "self" for s in job_steps(name))]
    assert any(s.get("get") in RESOURCES and s.get("trigger") for s in job_steps(setter))
    assert [s["file"] for s in job_steps(setter) if "set_pipeline" in s] == ["cdstack/ci/pipeline.yml"]
    for name in set(JOBS) - {setter}:
        assert setter in upstream(name), f"{name} can run before the pipeline has set itself"


def commands(name: str) -> list[tuple[str | None, str | None]]:
    """(STACK, COMMAND) of each task of a job, in order."""
    return [
        (s.get("params", {}).get("STACK"), s.get("params", {}).get("COMMAND"))
        for s in job_steps(name)
        if "task" in s and "pulumi.yml" in s["file"]
    ]


def test_tests_then_staging_preview_and_up_then_smoke():
    assert "make test" in (CI_DIR / "tasks" / "test.sh").read_text()
    assert commands("staging-up") == [("staging", "preview"), ("staging", "up")]
    assert "test" in upstream("staging-up")
    assert "staging-up" in upstream("staging-smoke")
    assert all(s.get("trigger") for s in job_steps("staging-up") + job_steps("staging-smoke") if "get" in s)


def test_prod_jobs_come_after_staging_smoke_and_a_person_starts_them():
    prod_jobs = [name for name in JOBS if any(s.get("params", {}).get("STACK") == "prod" for s in job_steps(name))]
    assert set(prod_jobs) == {"prod-up", "prod-smoke"}
    for name in prod_jobs:
        assert "staging-smoke" in upstream(name), f"{name} does not wait for staging's smoke test"
    assert all(s.get("passed") == ["staging-smoke"] for s in job_steps("prod-up") if "get" in s)
    assert not any(s.get("trigger") for s in job_steps("prod-up")), "prod-up must be started by a person"
    assert commands("prod-up") == [("prod", "preview"), ("prod", "up")]
    assert "prod-up" in upstream("prod-smoke")


def test_updates_of_one_stack_are_serialised():
    by_stack: dict[str, set[str]] = {}
    for name in JOBS:
        for stack in {s.get("params", {}).get("STACK") for s in job_steps(name)} - {None}:
            by_stack.setdefault(stack, set()).add(name)
    assert set(by_stack) == {"staging", "prod"}
    for stack, names in by_stack.items():
        shared = set.intersection(*(set(JOBS[n].get("serial_groups", [])) for n in names))
        assert shared, f"the jobs of {stack} ({sorted(names)}) share no serial group"
        others = {n for s, ns in by_stack.items() if s != stack for n in ns}
        assert not any(shared & set(JOBS[n].get("serial_groups", [])) for n in others), (
            "stacks should not block each other"
        )


# --- no literal secrets -------------------------------------------------------------------------------------------

VAR = re.compile(r"\(\([^()]+\)\)")
SENSITIVE_KEY = re.compile(r"(secret|password|passwd|token|private_key|_key$|^key$|client_id|role_id)", re.IGNORECASE)
SECRET_LOOKING = {
    "a GUID": re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    "a long hex string": re.compile(r"\b[0-9a-fA-F]{32,}\b"),
    "a long base64 string": re.compile(r"[A-Za-z0-9+/]{40,}={0,2}"),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "credentials in a URL": re.compile(r"://[^/\s:@]+:[^/\s@]+@"),
    "a Vault token": re.compile(r"\bhv[sbr]\.[A-Za-z0-9_-]{20,}"),
    "an Azure storage key or SAS": re.compile(r"(AccountKey=|[?&]sig=)"),
}
SHELL_ASSIGNMENT = re.compile(r"\b([A-Z_]*(SECRET|PASSWORD|TOKEN|KEY)[A-Z_]*)=([^\s;]+)")
CHECKSUM = re.compile(r"\b[A-Z_]*SHA256=[0-9a-f]{64}\b")  # a published checksum (ci/Dockerfile) is not a secret


def literal_secrets(path: Path) -> list[str]:
    """Things in a pipeline, task or script file that look like secrets and are not ((credential manager)) vars."""
    text = CHECKSUM.sub("", path.read_text())
    found = [f"{path.name}: {what}" for what, pattern in SECRET_LOOKING.items() if pattern.search(VAR.sub("", text))]
    if path.suffix == ".yml":

        def walk(node: Any, key: str = "") -> None:
            if isinstance(node, dict):
                for k, v in node.items():
                    walk(v, str(k))
            elif isinstance(node, list):
                for item in node:
                    walk(item, key)
            elif SENSITIVE_KEY.search(key) and node is not None and not VAR.fullmatch(str(node)):
                found.append(f"{path.name}: {key} is a literal value, not a ((var))")

        walk(yaml.safe_load(text))
    else:
        for name, _, value in SHELL_ASSIGNMENT.findall(text):
            if not value.strip("\"'").startswith("$"):
                found.append(f"{path.name}: {name} is assigned a literal value")
    return found


def ci_files() -> list[Path]:
    return sorted(p for p in CI_DIR.rglob("*") if p.is_file())


@pytest.mark.parametrize("path", ci_files(), ids=lambda p: str(p.relative_to(CI_DIR)))
def test_no_literal_secret_in_ci_files(path: Path):
    assert literal_secrets(path) == []


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("bad.yml", "params:\n  ARM_CLIENT_SECRET: s3cr3t-value\n"),
        ("bad.yml", "params:\n  ARM_CLIENT_ID: 6f1c2a9e-3b7d-4c11-9e2a-5d8b0f4a7c31\n"),
        ("bad.yml", "source:\n  private_key: |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n"),
        ("bad.yml", "source:\n  uri: https://bot:hunter2@git.example.com/cdstack.git\n"),
        ("bad.sh", "export AZURE_STORAGE_KEY=bm90LWEtcmVhbC1rZXktYnV0LWxvb2tzLWxpa2Utb25lLWZvci10aGUtdGVzdA==\n"),
        ("bad.sh", "VAULT_TOKEN=hvs.CAESIJzMx4Vb2l3eQpZZzJmcFFaVnhQ\n"),
        ("Dockerfile", "ARG CLIENT_SECRET=4c1f0d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d\n"),
    ],
)
def test_secret_scan_catches_planted_secrets(tmp_path: Path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    assert literal_secrets(path)


# --- the task image provides every command the tasks run ------------------------------------------------------------

DOCKERFILE = CI_DIR / "Dockerfile"
REQUIREMENTS = PROJECT_DIR / "requirements.txt"

# What the base image holds, from its definition (pulumi/pulumi-docker-containers docker/python/Dockerfile:
# python:<version>-slim-trixie plus curl, git, ca-certificates, poetry, uv, and the Pulumi CLI in /pulumi/bin).
BASE_IMAGE_COMMANDS = {
    "pulumi/pulumi-python-3.11": {"pulumi", "python3", "pip", "bash", "sh", "env", "dirname", "mktemp", "install"}
    | {"sha256sum", "rm", "curl", "git", "apt-get", "poetry", "uv"},
}
# Debian packages the Dockerfile may install, and the commands each one brings.
DEBIAN_PACKAGE_COMMANDS = {"make": {"make"}, "nodejs": {"node"}}
# What kubelogin itself runs for a login method (Azure/kubelogin pkg/internal/token: azurecli and azd shell out to
# their CLIs; spn, workloadidentity, msi and the others talk to Entra ID directly).
LOGIN_COMMANDS = {"azurecli": {"az"}, "azd": {"azd"}}

SHELL_KEYWORDS = {"if", "then", "else", "elif", "fi", "case", "esac", "for", "while", "until", "do", "done", "in", "!"}
SHELL_KEYWORDS |= {"{", "}", "[[", "]]", "time", "function"}
BASH_BUILTINS = {":", ".", "[", "alias", "bg", "bind", "break", "builtin", "caller", "cd", "command", "compgen"}
BASH_BUILTINS |= {"complete", "continue", "declare", "dirs", "disown", "echo", "enable", "eval", "exec", "exit"}
BASH_BUILTINS |= {"export", "false", "fc", "fg", "getopts", "hash", "help", "history", "jobs", "kill", "let", "local"}
BASH_BUILTINS |= {"logout", "mapfile", "popd", "printf", "pushd", "pwd", "read", "readarray", "readonly", "return"}
BASH_BUILTINS |= {"set", "shift", "shopt", "source", "suspend", "test", "times", "trap", "true", "type", "typeset"}
BASH_BUILTINS |= {"ulimit", "umask", "unalias", "unset", "wait"}
SEPARATORS = {";", ";;", "&&", "||", "|", "&", "(", ")", "\n"}
SUBSTITUTION = re.compile(r"\$\(([^()]*)\)|`([^`]*)`")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def strip_comments(script: str) -> str:
    """The script without its comments: a `#` outside quotes that starts a word ends the line."""
    lines = []
    for line in script.splitlines():
        quote, cut = "", len(line)
        for i, char in enumerate(line):
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char == "#" and (i == 0 or line[i - 1] in " \t"):
                cut = i
                break
        lines.append(line[:cut])
    return "\n".join(lines) + "\n"


def commands_called(script: str) -> set[str]:
    """The external commands a bash script runs: its interpreter and the first word of every simple command.

    Small on purpose: it knows the shell grammar the task scripts use (pipelines, lists, `$(...)`, `case` arms,
    assignments, `command -v` probes) and treats every builtin and keyword as provided by bash.
    """
    called: set[str] = set()
    shebang = script.splitlines()[0] if script.startswith("#!") else ""
    if shebang:
        called.add(shebang.split()[-1].rsplit("/", 1)[-1])

    def inner(match: re.Match[str]) -> str:
        called.update(commands_called(match.group(1) or match.group(2) or ""))
        return "X"

    text = strip_comments(script).replace("\\\n", " ")
    while SUBSTITUTION.search(text):
        text = SUBSTITUTION.sub(inner, text)
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace = " \t\r"  # newlines end commands
    lexer.commenters = ""
    tokens = list(lexer)
    at_command, skip_until = True, ""
    for i, token in enumerate(tokens):
        if skip_until:
            skip_until = "" if token == skip_until else skip_until
            continue
        if token in SEPARATORS:
            at_command = True
            continue
        if not at_command:
            continue
        if token == "case":
            skip_until = "in"
        elif token == "for":
            skip_until = "do"
        elif token in SHELL_KEYWORDS or ASSIGNMENT.match(token) or tokens[i + 1 : i + 2] == [")"]:  # `case` arm
            continue
        elif token in {"command", "exec"} and i + 1 < len(tokens) and tokens[i + 1] not in {"-v", "-V"}:
            continue  # `command foo` runs foo: the next word is in command position
        elif token not in BASH_BUILTINS:
            called.add(token)
        at_command = False
    return called


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined and comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = "\n".join(lines).replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def dockerfile_args(text: str) -> dict[str, str]:
    args: dict[str, str] = {}
    for instruction, rest in dockerfile_instructions(text):
        if instruction == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name.strip()] = value.strip().strip('"')
    return args


def base_image(text: str) -> tuple[str, str]:
    """The repository and tag of the Dockerfile's last FROM (the image the tasks run), its ARGs expanded."""
    args = dockerfile_args(text)
    reference = [rest.split()[0] for instruction, rest in dockerfile_instructions(text) if instruction == "FROM"][-1]
    reference = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], reference)
    repository, _, tag = reference.partition(":")
    return repository, tag


def image_commands(text: str) -> set[str]:
    """The commands the image definition checks it holds (its TASK_COMMANDS), each one provided by the base image, a
    Debian package the Dockerfile installs, or a file it installs into /usr/local/bin; anything else is an error."""
    installed = BASE_IMAGE_COMMANDS.get(base_image(text)[0], set())
    for instruction, rest in dockerfile_instructions(text):
        if instruction != "RUN":
            continue
        for packages in re.findall(r"apt-get install ([^&;|]+)", rest):
            for package in packages.split():
                installed |= DEBIAN_PACKAGE_COMMANDS.get(package.partition("=")[0], set())
        installed |= set(re.findall(r"/usr/local/bin/([\w.-]+)", rest))
    checked = set(dockerfile_args(text)["TASK_COMMANDS"].split())
    assert checked <= installed, f"the Dockerfile checks for {sorted(checked - installed)} but nothing provides them"
    runs = [" ".join(rest.split()) for instruction, rest in dockerfile_instructions(text) if instruction == "RUN"]
    assert any(re.match(r"for (\w+) in \$\{TASK_COMMANDS\}; do command -v \"\$\1\"", run) for run in runs), (
        "the Dockerfile does not check its TASK_COMMANDS"
    )
    return checked


def requirement_pins(path: Path) -> dict[str, tuple[set[str], str]]:
    """{normalised name: (extras, exact version)} of a requirements file; `-r` includes are not followed."""
    pins: dict[str, tuple[set[str], str]] = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[([^\]]*)\])?==([^\s;#]+)", line.strip())
        if match:
            extras = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = (extras, match.group(3))
    return pins


def login_method(pulumi_script: str) -> str:
    """The kubelogin login the infra tasks get: AAD_LOGIN_METHOD overrides the kubeconfig's --login."""
    exported = re.search(r"^\s*export .*\bAAD_LOGIN_METHOD=([\w-]+)", pulumi_script, re.MULTILINE)
    return exported.group(1) if exported else kubeconfig.DEFAULT_LOGIN


SOURCED = re.compile(r"^\s*(?:source|\.) ci/tasks/([\w.-]+)", re.MULTILINE)


def deployer_script(scripts: dict[str, str]) -> str:
    """pulumi.sh with the files it sources in place: what one `pulumi preview`/`up` task runs."""
    text = scripts.get("pulumi.sh", "")
    return SOURCED.sub(lambda m: scripts.get(m.group(1), ""), text)


def commands_needed(scripts: dict[str, str], pulumi_yaml: dict[str, Any], requirements: Path) -> dict[str, str]:
    """{command: why} for everything the pipeline's tasks run, directly or through the programs they start."""
    needed = {command: f"called by {name}" for name, text in scripts.items() for command in commands_called(text)}
    options = pulumi_yaml["runtime"].get("options", {})
    # The program's virtualenv is made by `pulumi install` (Pulumi.yaml's virtualenv), from python3 below.
    if venv := options.get("virtualenv"):
        needed = {command: why for command, why in needed.items() if not command.startswith(f"{venv}/bin/")}
    if pulumi_yaml["runtime"]["name"] == "python":
        # The pip toolchain creates the virtualenv and runs the program with python3 (pulumi-language-python).
        needed["python3"] = "Pulumi.yaml runtime python"
    if options.get("typechecker") == "pyright" and "nodejs" not in requirement_pins(requirements)["pyright"][0]:
        # pyright is a Node program; without the nodejs extra, the pyright wrapper runs the `node` on the PATH.
        needed["node"] = "Pulumi.yaml typechecker pyright"
    exec_config = yaml.safe_load(kubeconfig.non_interactive(AKS_USER_CREDENTIALS))["users"][0]["user"]["exec"]
    needed[exec_config["command"]] = "the Kubernetes provider's kubeconfig exec"
    if any(re.search(r"-m tools\.smoke\b.*--port-forward", text) for text in scripts.values()):
        needed["kubectl"] = "tools.smoke --port-forward (tools/cluster_access.py)"
    method = login_method(deployer_script(scripts))
    needed |= {command: f"kubelogin --login {method}" for command in LOGIN_COMMANDS.get(method, set())}
    return needed


def missing_commands(scripts: dict[str, str], dockerfile: str, pulumi_yaml: dict[str, Any]) -> list[str]:
    provided = image_commands(dockerfile)
    needed = commands_needed(scripts, pulumi_yaml, REQUIREMENTS)
    return sorted(f"{command} ({why})" for command, why in needed.items() if command not in provided)


def task_scripts() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted((CI_DIR / "tasks").glob("*.sh"))}


def pulumi_yaml() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())


def test_command_parser_sees_every_command_of_the_task_scripts():
    assert commands_called(task_scripts()["pulumi.sh"]) == {"bash", "dirname", "pulumi", ".venv/bin/python"}
    assert commands_called(task_scripts()["azure-login.sh"]) == {"mktemp"}
    assert commands_called(task_scripts()["smoke.sh"]) == {"bash", "dirname", "mktemp", "pulumi", ".venv/bin/python"}
    script = "#!/bin/sh\nif ! command -v jq >/dev/null; then apt-get install -y jq; fi # a comment: curl\n"
    script += 'x="$(date -u)" FOO=1 helm template . | kubectl apply -f - && case "$A" in a) az login ;; esac\n'
    assert commands_called(script) == {"sh", "apt-get", "date", "helm", "kubectl", "az"}


def test_every_command_the_tasks_run_is_in_the_task_image():
    assert missing_commands(task_scripts(), DOCKERFILE.read_text(), pulumi_yaml()) == []


def test_a_command_missing_from_the_task_image_is_caught():
    scripts, dockerfile = task_scripts(), DOCKERFILE.read_text()
    # A task script starts calling a tool the image lacks.
    planted = {**scripts, "pulumi.sh": scripts["pulumi.sh"] + 'az account show --query id -o tsv >"$out"\n'}
    assert missing_commands(planted, dockerfile, pulumi_yaml()) == ["az (called by pulumi.sh)"]
    # The login method goes back to the Azure CLI (the kubeconfig's default) without adding it to the image.
    login = scripts["azure-login.sh"]
    no_login = {**scripts, "azure-login.sh": login.replace("export AAD_LOGIN_METHOD=workloadidentity\n", "")}
    assert missing_commands(no_login, dockerfile, pulumi_yaml()) == ["az (kubelogin --login azurecli)"]
    # The image stops providing kubelogin: the Dockerfile's own check would pass, the tasks' needs would not.
    without = dockerfile.replace(' kubelogin kubectl"', ' kubectl"')
    assert missing_commands(scripts, without, pulumi_yaml()) == [
        "kubelogin (the Kubernetes provider's kubeconfig exec)"
    ]
    # The image stops providing kubectl, which the smoke's port-forwards and Secret reads run.
    without = dockerfile.replace(' kubectl"', '"')
    assert missing_commands(scripts, without, pulumi_yaml()) == [
        "kubectl (tools.smoke --port-forward (tools/cluster_access.py))"
    ]
    # The image claims a tool that nothing installs.
    with pytest.raises(AssertionError, match="nothing provides"):
        image_commands(dockerfile.replace('TASK_COMMANDS="', 'TASK_COMMANDS="az '))


def test_the_smoke_task_reaches_the_cluster_as_the_deployer_and_takes_no_service_login_as_a_var():
    """The end-to-end smoke's in-cluster links (Elasticsearch, Prometheus, Alertmanager) and its logins (ChartMuseum,
    Elasticsearch's reader) come through the Kubernetes API, with a kubeconfig made after the Azure login; no task
    param carries them."""
    script = task_scripts()["smoke.sh"]
    lines = [line.strip() for line in script.splitlines() if line.strip() and not line.strip().startswith("#")]
    login = next(i for i, line in enumerate(lines) if line.startswith("source ci/tasks/azure-login.sh"))
    kubeconfig_made = next(i for i, line in enumerate(lines) if "-m tools.cluster_access" in line)
    smoke = next(i for i, line in enumerate(lines) if "-m tools.smoke " in line)
    assert login < kubeconfig_made < smoke
    assert lines[kubeconfig_made].endswith('>"$KUBECONFIG"') and "export KUBECONFIG" in lines[:smoke]
    assert "--port-forward" in lines[smoke].split()
    params = set(yaml.safe_load((CI_DIR / "tasks" / "smoke.yml").read_text())["params"])
    reached_in_cluster = {"ELASTICSEARCH_URL", "PROMETHEUS_URL", "ALERTMANAGER_URL"}
    logins = {f"{p}_{k}" for p in ("CHARTMUSEUM", "ELASTICSEARCH") for k in ("USERNAME", "PASSWORD")}
    assert not params & (reached_in_cluster | logins)


def test_infra_tasks_hand_the_vault_provider_a_fresh_token_of_their_service_principal():
    """The Vault provider reads TERRAFORM_VAULT_AUTH_JWT from the pulumi CLI's environment (components/vault/login.py):
    the task fetches it after `pulumi install` (the module runs in the program's virtualenv) and before any command,
    assigned apart from `export` so that a failed fetch stops the task (`set -e`)."""
    script = task_scripts()["pulumi.sh"]
    lines = script.splitlines()
    fetch = lines.index('TERRAFORM_VAULT_AUTH_JWT="$(.venv/bin/python -m tools.deployer_token)"')
    assert lines[fetch + 1] == "export TERRAFORM_VAULT_AUTH_JWT"
    first_install = next(i for i, line in enumerate(lines) if line.startswith("pulumi install"))
    first_command = next(i for i, line in enumerate(lines) if re.search(r"\bpulumi (preview|up)\b", line))
    assert first_install < fetch < first_command


def test_infra_tasks_log_in_to_the_cluster_with_their_idtoken():
    # kubelogin's workloadidentity login reads AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE
    # (Azure/kubelogin pkg/internal/token/options.go UpdateFromEnv); azure-login.sh, which pulumi.sh sources, exports
    # them, and no client secret.
    script = deployer_script(task_scripts())
    assert login_method(script) == "workloadidentity"
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE"):
        assert re.search(rf"^export .*\b{name}=", script, re.MULTILINE), f"pulumi.sh does not export {name}"
    assert "SECRET" not in script


def unverified_downloads(text: str) -> list[str]:
    """Downloads in a Dockerfile that are not checked against a sha256 pinned in one of its ARGs."""
    args = dockerfile_args(text)
    found = [rest for instruction, rest in dockerfile_instructions(text) if instruction == "ADD" and "://" in rest]
    for instruction, run in dockerfile_instructions(text):
        if instruction != "RUN":
            continue
        for fetch in re.findall(r"\b(?:curl|wget)\b[^&|;]*", run):
            target = re.search(r" -[oO] (\S+)", fetch)
            check = target and re.search(
                rf'echo "\$\{{(\w+_SHA256)\}}  {re.escape(target.group(1))}" \| sha256sum -c -', run
            )
            if not check or not re.fullmatch(r"[0-9a-f]{64}", args.get(check.group(1), "")):
                found.append(" ".join(fetch.split()))
    return found


def test_task_image_is_the_pulumi_cli_matching_the_sdk_pin_and_every_download_is_verified():
    text = DOCKERFILE.read_text()
    repository, tag = base_image(text)
    assert repository in BASE_IMAGE_COMMANDS
    assert tag == requirement_pins(REQUIREMENTS)["pulumi"][1], "the task image's Pulumi CLI differs from the SDK pin"
    assert "KUBELOGIN_SHA256" in text and unverified_downloads(text) == []
    # Planted: the checksum line dropped, a download piped to a shell, a checksum that is not one.
    assert unverified_downloads(re.sub(r".*sha256sum -c -.*\n", "", text))
    assert unverified_downloads(text + "RUN curl -fsSL https://aka.ms/InstallAzureCLIDeb | bash\n")
    assert unverified_downloads(re.sub(r"KUBELOGIN_SHA256=\w+", "KUBELOGIN_SHA256=latest", text))


def test_every_task_runs_in_the_image_the_pipeline_builds_from_the_dockerfile():
    (builder,) = [(job, step) for job, step in task_steps() if task_file(step).name == "image.yml"]
    config = yaml.safe_load(task_file(builder[1]).read_text())
    assert config["params"]["DOCKERFILE"] == "cdstack/ci/Dockerfile" and builder[1].get("privileged") is True
    (put,) = [step for step in job_steps(builder[0]) if "put" in step]
    assert put["params"]["image"] == "image/image.tar"
    for job, step in task_steps():
        if step is not builder[1]:
            assert step.get("image") == put["put"], f"{job}: task {step['task']} does not run in the built image"
            gets = [s for s in job_steps(job) if "get" in s]
            assert {tuple(s["passed"]) for s in gets} == {tuple(gets[0]["passed"])}, (
                f"{job}: the image and the commit must come through the same jobs"
            )


# --- what Pulumi.yaml asks of the Python host, requirements.txt provides -------------------------------------------

PYRIGHT_CONFIG = PROJECT_DIR / "pyrightconfig.json"
PROGRAM = ("__main__.py", "components")


def jsonc(text: str) -> dict[str, Any]:
    """pyrightconfig.json allows // comments; the ones here are whole lines."""
    return json.loads("\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//")))


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A pyright include/exclude entry (relative to the project root) as a regex over relative paths."""
    regex = re.escape(pattern.strip("/")).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
    return re.compile(regex + "$")


def host_scope(root: Path, config: dict[str, Any]) -> list[str]:
    """The files the Python host's pyright checks: every .py(i) under the program directory (the host passes the
    directory on the command line, which replaces `include`) that no `exclude` entry matches, itself or a parent."""
    excludes = [glob_regex(pattern) for pattern in config.get("exclude", [])]
    scope = []
    for directory, subdirectories, files in os.walk(root):
        here = Path(directory).relative_to(root)
        subdirectories[:] = [d for d in subdirectories if not any(e.match((here / d).as_posix()) for e in excludes)]
        for name in files:
            relative = (here / name).as_posix()
            if name.endswith((".py", ".pyi")) and not any(e.match(relative) for e in excludes):
                scope.append(relative)
    return sorted(scope)


def requirement_closure(requirements: Path) -> set[str]:
    """The distributions `pip install -r requirements.txt` installs: the pins and what they require, transitively
    (from the installed metadata; dependencies behind extras only where the pin asks for the extra)."""
    from packaging.requirements import Requirement

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    todo = [(name, extras) for name, (extras, _) in requirement_pins(requirements).items()]
    seen: set[str] = set()
    while todo:
        name, extras = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for spec in importlib.metadata.requires(name) or []:
            requirement = Requirement(spec)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras | {""}):
                todo.append((norm(requirement.name), set(requirement.extras)))
    return seen


def foreign_imports(root: Path, files: list[str], allowed: set[str]) -> list[str]:
    """`file: module` for each import of a module that is neither the standard library, the program's own, nor
    installed by one of the allowed distributions."""
    own = {Path(f).parts[0].removesuffix(".py") for f in files}
    providers = importlib.metadata.packages_distributions()
    found = []
    for name in files:
        for node in ast.walk(ast.parse((root / name).read_text())):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            for module in modules:
                top = module.partition(".")[0]
                dists = {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(top, [])}
                if top not in sys.stdlib_module_names and top not in own and not dists & allowed:
                    found.append(f"{name}: {module}")
    return found


def host_problems(root: Path) -> list[str]:
    """Why Pulumi's Python host, given only requirements.txt, would refuse or fail to run the program in root."""
    options = yaml.safe_load((root / "Pulumi.yaml").read_text())["runtime"]["options"]
    problems = []
    if options.get("toolchain") != "pip" or not (root / "requirements.txt").is_file():
        problems.append("the pip toolchain installs requirements.txt; there is none")
    venv = options.get("virtualenv", "")
    if venv not in (root / ".gitignore").read_text().split():
        problems.append(f"the virtualenv {venv} is not ignored by git")
    checker = options.get("typechecker")
    pins = requirement_pins(root / "requirements.txt")
    if checker and checker not in pins:
        problems.append(f"typechecker {checker} is not pinned in requirements.txt (the host checks it is installed)")
    dev = requirement_pins(root / "requirements-dev.txt")
    if checker in pins and checker in dev and dev[checker][1] != pins[checker][1]:
        problems.append(f"{checker} is pinned at {pins[checker][1]} and at {dev[checker][1]} in requirements-dev.txt")
    if checker == "pyright":
        config = jsonc((root / "pyrightconfig.json").read_text())
        scope = host_scope(root, config)
        outside = [f for f in scope if not f.startswith(tuple(PROGRAM))]
        if outside:
            problems.append(f"the host's pyright would check files outside the program: {outside[:5]}")
        problems += foreign_imports(root, scope, requirement_closure(root / "requirements.txt"))
    return problems


def copy_project(tmp_path: Path) -> Path:
    """The files host_problems reads plus the program, in a scratch directory to plant mistakes in."""
    root = tmp_path / "project"
    for relative in ["Pulumi.yaml", ".gitignore", "requirements.txt", "requirements-dev.txt", "pyrightconfig.json"]:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text((PROJECT_DIR / relative).read_text())
    for path in [PROJECT_DIR / "__main__.py", *(PROJECT_DIR / "components").rglob("*.py"), PROJECT_DIR / "tests/x.py"]:
        target = root / path.relative_to(PROJECT_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text() if path.exists() else "import pytest\n")
    return root


def test_pulumi_yaml_asks_the_python_host_only_for_what_requirements_txt_provides():
    assert pulumi_yaml()["runtime"]["options"]["typechecker"] == "pyright"
    assert host_problems(PROJECT_DIR) == []
    scope = host_scope(PROJECT_DIR, jsonc(PYRIGHT_CONFIG.read_text()))
    assert (
        "__main__.py" in scope
        and "components/config/schema.py" in scope
        and not any(f.startswith("tests/") for f in scope)
    )


def test_the_python_host_check_catches_each_planted_mistake(tmp_path: Path):
    root = copy_project(tmp_path)
    assert host_problems(root) == []
    requirements = (root / "requirements.txt").read_text()

    (root / "requirements.txt").write_text(re.sub(r"(?m)^pyright.*\n", "", requirements))
    assert host_problems(root) == [
        "typechecker pyright is not pinned in requirements.txt (the host checks it is installed)"
    ]

    (root / "requirements.txt").write_text(re.sub(r"(?m)^pyright==\S+", "pyright==1.1.1", requirements))
    assert host_problems(root)[0].startswith("pyright is pinned at 1.1.1 and at ")
    (root / "requirements.txt").write_text(requirements)

    config = jsonc((root / "pyrightconfig.json").read_text())
    everything = {**config, "exclude": [e for e in config["exclude"] if e not in {"tests", "tools"}]}
    (root / "pyrightconfig.json").write_text(json.dumps(everything))
    assert host_problems(root) == [
        "the host's pyright would check files outside the program: ['tests/x.py']",
        "tests/x.py: pytest",
    ]
    (root / "pyrightconfig.json").write_text(json.dumps(config))

    (root / "components" / "promote.py").write_text("from ruamel.yaml import YAML\n")
    assert host_problems(root) == ["components/promote.py: ruamel.yaml"]


# --- no cloud secret: the idtoken var sources and the login path -----------------------------------------------------

REMAINING_VARS = {
    "cdstack-git.uri": "where the repository is (not a secret)",
    "cdstack-git.private_key": "the read-only deploy key: the git resource has no token exchange with the git host",
    "pulumi-state.backend_url": "the state container's URL (not a secret)",
    "pulumi-state.storage_account": "the state account's name (not a secret); the identity reaches it, no key",
    "azure-staging.client_id": "staging's deployer identity: an identifier, not a credential",
    "azure-staging.tenant_id": "an identifier",
    "azure-staging.subscription_id": "an identifier",
    "azure-prod.client_id": "prod's deployer identity: an identifier, not a credential",
    "azure-prod.tenant_id": "an identifier",
    "azure-prod.subscription_id": "an identifier",
    "azure-staging-idtoken:token": "minted by Concourse per build (idtoken var source), never stored",
    "azure-prod-idtoken:token": "minted by Concourse per build (idtoken var source), never stored",
    "concourse-smoke-staging.username": "the smoke user of the deployed Concourse (a local user: no token exchange)",
    "concourse-smoke-staging.password": "the smoke user's password",
    "concourse-smoke-prod.username": "the smoke user of the deployed Concourse (a local user: no token exchange)",
    "concourse-smoke-prod.password": "the smoke user's password",
    "task-image.repository": "where the task image goes (not a secret)",
    "task-image.username": "the registry login, kept: registry-image's ACR mode logs in as the worker's managed "
    "identity, not with the pipeline's idtoken (ci/pipeline.yml says why)",
    "task-image.password": "the registry login's password (a push-scoped registry token), kept for the same reason",
}


def pipeline_vars() -> set[str]:
    """Every ((var)) the pipeline's values use (its comments aside)."""
    return {match[2:-2].strip() for match in VAR.findall(json.dumps(PIPELINE))}


def test_no_cloud_secret_var_remains_and_every_var_left_has_its_reason():
    found = pipeline_vars()
    assert not {v for v in found if re.search(r"client_secret|storage_key|sas", v)}
    assert found == set(REMAINING_VARS), (
        f"a var without its reason, or a reason without its var: {found ^ set(REMAINING_VARS)}"
    )
    for path in ci_files():
        assert not re.search(r"client_secret|storage_key|CLIENT_SECRET|STORAGE_KEY", path.read_text()), path.name


def test_the_var_sources_are_what_infra_pipeline_computes_from_each_stack_file():
    """One source of truth: the var source's audience, scope and lifetime come from
    components/concourse/infra_pipeline.py and the stack's longest `up` (components/concourse/idtoken.py), which the
    deployer identities' federated credentials use too."""
    from components.concourse import idtoken, infra_pipeline
    from tests.services import stack_cfg

    expected = [
        infra_pipeline.var_source(stack, idtoken.token_lifetime_seconds(stack_cfg(stack)))
        for stack in ("staging", "prod")
    ]
    assert PIPELINE["var_sources"] == expected
    for source in PIPELINE["var_sources"]:
        lifetime = source["config"]["expires_in"]
        assert int(lifetime.removesuffix("h")) * 3600 <= idtoken.MAX_EXPIRES_IN


def test_only_a_stacks_deploy_jobs_read_its_token():
    """The test, image and set-pipeline jobs read no idtoken at all; each deploy job reads only its own stack's."""
    from components.concourse import infra_pipeline

    stacks = ("staging", "prod")
    for job in JOBS:
        read = {
            stack
            for stack in stacks
            for step in job_steps(job)
            if "task" in step and infra_pipeline.var_source_name(stack) in json.dumps(step.get("params", {}))
        }
        assert read == {stack for stack in stacks if job in infra_pipeline.deploy_jobs(stack)}, job
        for step in job_steps(job):
            if "task" in step and read:
                (stack,) = read
                assert step["params"]["AZURE_ID_TOKEN"] == infra_pipeline.token_var(stack), (job, step["task"])


def login_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Nothing but what a deployer task gets: the two ids and the job's token (plus PATH and an empty HOME)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": os.environ["PATH"], "HOME": str(home), "TMPDIR": str(tmp_path), **extra}


def sourced(env: dict[str, str], command: str) -> str:
    import subprocess

    script = f"set -euo pipefail\nsource ci/tasks/azure-login.sh\n{command}\n"
    done = subprocess.run(
        ["bash", "-c", script], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


TENANT = "4d3c2b1a-0000-4000-8000-00000000000a"
CLIENT = "9e8d7c6b-0000-4000-8000-00000000000b"


def test_azure_login_puts_the_token_in_a_private_file_every_client_reads(tmp_path: Path):
    env = login_env(tmp_path, ARM_CLIENT_ID=CLIENT, ARM_TENANT_ID=TENANT, AZURE_ID_TOKEN="header.claims.signature")
    out = sourced(env, 'env; stat -c "mode=%a" "$AZURE_FEDERATED_TOKEN_FILE"; cat "$AZURE_FEDERATED_TOKEN_FILE"')
    lines = out.splitlines()
    exported = dict(line.split("=", 1) for line in lines[:-2] if "=" in line)
    assert lines[-2] == "mode=600" and lines[-1] == "header.claims.signature"
    assert "AZURE_ID_TOKEN" not in exported  # only the file holds it: no child process inherits the token
    assert exported["ARM_USE_OIDC"] == "true"
    assert exported["ARM_OIDC_TOKEN_FILE_PATH"] == exported["AZURE_FEDERATED_TOKEN_FILE"]
    assert (exported["AZURE_CLIENT_ID"], exported["AZURE_TENANT_ID"]) == (CLIENT, TENANT)
    assert exported["AAD_LOGIN_METHOD"] == "workloadidentity"
    assert not {k for k in exported if "SECRET" in k or k == "AZURE_STORAGE_KEY"}


def test_the_vault_login_token_comes_from_the_idtoken_alone(tmp_path: Path):
    """The real azure-identity (the program's vault_login.azure_credential, which tools/deployer_token.py runs)
    exchanges the Concourse token in the file for an ARM token, with nothing else in the environment: the task's own
    azure-login.sh sets it up, and the grant that reaches the (loopback) token endpoint is the client-assertion grant
    of workload identity, for the deployer's client id in its tenant, with the job's token as the assertion."""
    from tests.concourse_idtoken import TokenEndpoint, concourse_issuer, entra_token_endpoint

    with concourse_issuer() as concourse, entra_token_endpoint(tmp_path / "tls") as entra:
        token = concourse.token("main", "cdstack", "staging-up")
        env = login_env(
            tmp_path,
            ARM_CLIENT_ID=CLIENT,
            ARM_TENANT_ID=TENANT,
            AZURE_ID_TOKEN=token,
            # the test's loopback Entra ID and the CA of its certificate: the only two additions
            AZURE_AUTHORITY_HOST=entra.authority,
            REQUESTS_CA_BUNDLE=str(entra.ca_file),
        )
        printed = sourced(env, ".venv/bin/python -m tools.deployer_token")
    assert printed.strip() == TokenEndpoint.access_token(CLIENT)
    (grant,) = entra.grants
    assert grant["tenant"] == TENANT and grant["client_id"] == CLIENT
    assert grant["grant_type"] == "client_credentials"
    assert grant["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert grant["client_assertion"] == token
    assert grant["scope"] == "https://management.azure.com/.default"


def test_the_task_image_reads_the_token_with_an_sdk_that_rereads_the_file():
    # azure-identity re-reads AZURE_FEDERATED_TOKEN_FILE after 10 minutes (TokenFileMixin, 1.27.0); older releases
    # lack WorkloadIdentityCredential's file re-read this relies on. The task image's .venv comes from this pin.
    _, version = requirement_pins(REQUIREMENTS)["azure-identity"]
    assert tuple(int(p) for p in version.split(".")[:2]) >= (1, 27)
