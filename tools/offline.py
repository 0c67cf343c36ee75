"""Run cdstack for a stack under Pulumi's mock engine and record what `pulumi up` would register.

This is the machinery behind the offline plan (`tools/plan.py`), the benchmark and the graph tests. It feeds the
program the stack file's configuration through Pulumi's own config API (as the CLI would), records every
RegisterResource request the program makes (type, name, parent, dependencies, inputs with secrets masked, options),
and answers the few provider functions the program invokes with plausible values. No CLI, plugin, credential or
network is used.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import pickle
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi.runtime
from google.protobuf import json_format
from pulumi.runtime import mocks

from components import attestation
from components.vault import login as vault_login
from tools import stackfile

if TYPE_CHECKING:
    from components.config.loader import ConfigError
    from components.config.schema import StackConfig

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = "cdstack"

# Markers of Pulumi's wire format (sdk/go/common/resource/sig).
_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

SECRET = "[secret]"
UNKNOWN = "[unknown]"

SECURE_PLACEHOLDER = stackfile.SECURE_PLACEHOLDER

OFFLINE_DEPLOYER_CLAIMS = {"oid": "offline-plan-deployer", "groups": ["offline-plan-admins"]}
"""A person on a laptop (an object id and a groups claim): who the offline plan logs in to Vault as."""


def unsigned_jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT with `claims`, expiring an hour from now unless they say otherwise (as a fresh ARM token)."""
    claims = {"exp": int(time.time()) + 3600, **claims}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJub25lIn0.{payload}.offline"


def offline_deployer() -> vault_login.Deployer:
    """The offline plan's deployer: a person's token, whatever the environment says (it must never reach Azure)."""
    return vault_login.Deployer(unsigned_jwt(OFFLINE_DEPLOYER_CLAIMS), None)


@dataclass
class Registration:
    """One resource the program registered, as the engine would see it."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    protect: bool
    ignore_changes: list[str]
    provider: str
    delete_before_replace: bool
    replace_on_changes: list[str]
    additional_secret_outputs: list[str]
    custom_timeouts: dict[str, str]
    retain_on_delete: bool
    state: dict[str, Any] = field(default_factory=dict)
    secret_keys: dict[str, list[str]] = field(default_factory=dict)
    """Per input masked whole as a secret map (a Secret's stringData), its keys where known: which keys a Secret
    holds is no secret, and the render audit checks that every key a pod reads exists."""

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent or None,
            "custom": self.custom,
            "inputs": self.inputs,
            "dependencies": self.dependencies,
            "propertyDependencies": self.property_dependencies,
            "options": {
                "protect": self.protect,
                "ignoreChanges": self.ignore_changes,
                "provider": self.provider or None,
                "deleteBeforeReplace": self.delete_before_replace,
                "replaceOnChanges": self.replace_on_changes,
                "additionalSecretOutputs": self.additional_secret_outputs,
                "customTimeouts": self.custom_timeouts,
                "retainOnDelete": self.retain_on_delete,
            },
        }


def _mask(value: Any) -> Any:
    """Plain JSON of a wire-format value: secrets become [secret], unknowns [unknown], resources their URN."""
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == _SECRET_SIG:
            return SECRET
        if sig == _RESOURCE_SIG:
            return value.get("urn")
        if sig == _OUTPUT_SIG:
            if value.get("secret"):
                return SECRET
            return _mask(value["value"]) if "value" in value else UNKNOWN
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if value == _UNKNOWN:
        return UNKNOWN
    return value


def _secret_map_keys(inputs: dict[str, Any]) -> dict[str, list[str]]:
    """The keys of each top-level input that is a secret map (wire format: a secret or secret output of a dict)."""
    found = {}
    for name, value in inputs.items():
        if isinstance(value, dict) and (
            value.get(_SIG) == _SECRET_SIG or (value.get(_SIG) == _OUTPUT_SIG and value.get("secret"))
        ):
            inner = value.get("value")
            if isinstance(inner, dict):
                found[name] = sorted(inner)
    return found


class RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, plus a record of every registration's full request."""

    def __init__(self, mock: mocks.Mocks):
        super().__init__(mock)
        self.registrations: dict[str, Registration] = {}

    def RegisterResource(self, request):  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        timeouts = json_format.MessageToDict(request.customTimeouts) if request.HasField("customTimeouts") else {}
        self.registrations[response.urn] = Registration(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=request.custom,
            inputs=_mask(json_format.MessageToDict(request.object)),
            dependencies=sorted(set(request.dependencies)),
            property_dependencies={
                key: sorted(set(deps.urns)) for key, deps in request.propertyDependencies.items() if deps.urns
            },
            protect=request.protect if request.HasField("protect") else False,
            ignore_changes=list(request.ignoreChanges),
            provider=request.provider,
            delete_before_replace=request.deleteBeforeReplace,
            replace_on_changes=list(request.replaceOnChanges),
            additional_secret_outputs=list(request.additionalSecretOutputs),
            custom_timeouts=timeouts,
            retain_on_delete=request.retainOnDelete if request.HasField("retainOnDelete") else False,
            state=self.resources.get(response.urn, mocks.MockMonitor.ResourceRegistration("", "", {})).state,
            secret_keys=_secret_map_keys(json_format.MessageToDict(request.object)),
        )
        return response


# What AKS returns for an Entra ID cluster: kubelogin with device-code login (the program must rewrite it).
FAKE_KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- cluster: {server: 'https://offline-plan.invalid:443', certificate-authority-data: ''}
  name: offline
contexts:
- context: {cluster: offline, user: offline}
  name: offline
current-context: offline
users:
- name: offline
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubelogin
      args: [get-token, --environment, AzurePublicCloud, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630,
             --client-id, 80faf920-1908-4b52-b5ef-a8e7bedfc67a, --tenant-id, 00000000-0000-4000-8000-000000000001,
             --login, devicecode]
"""

TENANT_ID = "00000000-0000-4000-8000-000000000001"
SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000002"


def _kubeconfig_b64() -> str:
    return base64.b64encode(FAKE_KUBECONFIG.encode()).decode()


# Provider functions the program invokes, answered with plausible values. Keyed by function token.
CALLS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "azure-native:authorization:getClientConfig": lambda args: {
        "clientId": "00000000-0000-4000-8000-000000000003",
        "objectId": "00000000-0000-4000-8000-000000000004",
        "subscriptionId": SUBSCRIPTION_ID,
        "tenantId": TENANT_ID,
    },
    "azuread:index/getClientConfig:getClientConfig": lambda args: {
        "clientId": "00000000-0000-4000-8000-000000000003",
        "objectId": "00000000-0000-4000-8000-000000000004",
        "tenantId": TENANT_ID,
    },
    "azure-native:containerservice:listManagedClusterUserCredentials": lambda args: {
        "kubeconfigs": [{"name": "clusterUser", "value": _kubeconfig_b64()}],
    },
    "azure-native:containerservice:listManagedClusterAdminCredentials": lambda args: {
        "kubeconfigs": [{"name": "clusterAdmin", "value": _kubeconfig_b64()}],
    },
    "azure-native:storage:listStorageAccountKeys": lambda args: {
        "keys": [{"keyName": "key1", "permissions": "FULL", "value": "b2ZmbGluZS1wbGFuLWtleQ=="}],
    },
    "azuread:index/getApplicationPublishedAppIds:getApplicationPublishedAppIds": lambda args: {
        "result": {"MicrosoftGraph": "00000003-0000-0000-c000-000000000000"},
    },
    "azuread:index/getGroup:getGroup": lambda args: {
        "objectId": args.get("objectId"),
        "displayName": f"group-{args.get('objectId', '')[:8]}",
        "securityEnabled": True,
    },
}


def _cluster_identity(name: str, identity: dict[str, Any]) -> dict[str, Any]:
    """A cluster's identity as ARM returns it: a system-assigned one gets a principal; user-assigned ones (a list of
    ids in the SDK's input) come back as a map of id to the identity's principal and client."""
    if identity.get("type") == "UserAssigned":
        users = identity.get("userAssignedIdentities") or []
        return {
            **identity,
            "userAssignedIdentities": {i: {"principalId": _guid(i), "clientId": _guid(i + "/c")} for i in users},
        }
    return {**identity, "principalId": _guid(name + "/identity"), "tenantId": TENANT_ID}


# Outputs the providers compute that the program reads, by resource type.
OUTPUTS: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
    "azure-native:containerservice:ManagedCluster": lambda name, inputs: {
        "oidcIssuerProfile": {
            **inputs.get("oidcIssuerProfile", {}),
            "issuerURL": f"https://westeurope.oic.prod-aks.azure.com/{TENANT_ID}/{_guid(name)}/",
        },
        "identity": _cluster_identity(name, inputs.get("identity", {})),
        "fqdn": f"{inputs.get('dnsPrefix', name)}-offline.hcp.westeurope.azmk8s.io",
    },
    "azure-native:dbforpostgresql:Server": lambda name, inputs: {
        "fullyQualifiedDomainName": f"{inputs.get('serverName', name)}.postgres.database.azure.com",
    },
    "azure-native:managedidentity:UserAssignedIdentity": lambda name, inputs: {
        "clientId": _guid(name + "/client"),
        "principalId": _guid(name + "/principal"),
        "tenantId": TENANT_ID,
    },
    "azure-native:network:PublicIPAddress": lambda name, inputs: {"ipAddress": "20.31.0.10"},
    # A key's public fingerprint names the worker generation (services/concourse.py): one stable per key here.
    "tls:index/privateKey:PrivateKey": lambda name, inputs: {
        "publicKeyFingerprintSha256": f"SHA256:offline-{name}",
    },
    "azure-native:keyvault:Vault": lambda name, inputs: {
        "properties": {
            **inputs.get("properties", {}),
            "vaultUri": f"https://{inputs.get('vaultName')}.vault.azure.net/",
        },
    },
    "azure-native:keyvault:Key": lambda name, inputs: {
        "keyUri": f"https://offline.vault.azure.net/keys/{inputs.get('keyName', name)}",
    },
    "azuread:index/application:Application": lambda name, inputs: {
        "clientId": _guid(name + "/client"),
        "objectId": _guid(name + "/object"),
    },
    "azuread:index/servicePrincipal:ServicePrincipal": lambda name, inputs: {"objectId": _guid(name + "/object")},
    "azuread:index/applicationPassword:ApplicationPassword": lambda name, inputs: {
        "keyId": _guid(name + "/key"),
        "value": "offline-plan-client-secret",
    },
    "azuread:index/group:Group": lambda name, inputs: {"objectId": _guid(name + "/object")},
    # Vault generates both approle ids; Concourse's auth param is built from them.
    "vault:appRole/authBackendRole:AuthBackendRole": lambda name, inputs: {
        "roleId": f"offline-role-id-{inputs.get('roleName', name)}"
    },
    "vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId": lambda name, inputs: {
        "secretId": f"offline-secret-id-{name}",
        "accessor": f"offline-accessor-{name}",
    },
    # The API server stamps every object; Concourse's pods carry their Secrets' version to roll on change.
    "kubernetes:core/v1:Secret": lambda name, inputs: {
        "metadata": {**inputs.get("metadata", {}), "resourceVersion": "1"}
    },
    "random:index/randomPassword:RandomPassword": lambda name, inputs: {"result": "offline-plan-password"},
    "random:index/randomString:RandomString": lambda name, inputs: {"result": "q7k2"[: int(inputs["length"])]},
}


def _guid(seed: str) -> str:
    """A stable, plausible GUID for a resource's computed id (the same on every offline run)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"offline-plan/{seed}"))


def _resource_id(args: mocks.MockResourceArgs) -> str:
    return f"/offline/{args.typ.replace(':', '/')}/{args.name}"


def _azure_name(typ: str, name: str, inputs: dict[str, Any]) -> str:
    """The `name` output azure-native derives from the `<type>Name` input, or `<last word of type>Name`
    (StorageAccount's `accountName`, BlobContainer's `containerName`), or `resourceName`."""
    type_name = typ.rsplit(":", 1)[-1]
    last_word = re.findall(r"[A-Z][a-z0-9]*", type_name)[-1]
    candidates = (type_name[0].lower() + type_name[1:] + "Name", last_word.lower() + "Name", "resourceName", "name")
    for key in candidates:
        if isinstance(inputs.get(key), str):
            return inputs[key]
    return name


STACK_REFERENCE = "pulumi:pulumi:StackReference"
ORGANIZATION = "organization"
"""A self-managed backend's fixed organization (the first part of `organization/cdstack/<stack>`)."""


class PlanMocks(mocks.Mocks):
    """Resources echo their inputs plus the outputs the program reads; functions answer from CALLS.

    A StackReference (the promotion gate's read of its source stack) answers with `stack_outputs[<stack name>]`,
    or with no outputs for a stack not in that table.
    """

    def __init__(self, stack_outputs: dict[str, dict[str, Any]] | None = None):
        self.stack_outputs = stack_outputs or {}

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict]:
        if args.typ == STACK_REFERENCE:
            outputs = self.stack_outputs.get(args.name, {})
            return args.name, {"name": args.name, "outputs": outputs, "secretOutputNames": []}
        state = {**args.inputs}
        if args.typ.startswith("azure-native:"):
            state["name"] = _azure_name(args.typ, args.name, args.inputs)
        state.update(OUTPUTS.get(args.typ, lambda name, inputs: {})(args.name, args.inputs))
        return _resource_id(args), state

    def call(self, args: mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        handler = CALLS.get(args.token)
        # No check failures: an empty list, as the SDK's mock monitor iterates it (None fails every invoke).
        return (handler(args.args) if handler else {}), []


def read_stack_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """The `config:` of a stack file as the Pulumi CLI hands it to a program (YAML 1.2: see tools/stackfile.py)."""
    return stackfile.read(path)


def flatten_config(config: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """A `config:` map (YAML data, as in a stack file) as Pulumi hands it to a program: strings as written,
    numbers and booleans as JSON text, objects as JSON; `secure:` values a secret placeholder."""
    return stackfile.pulumi_config({"config": config})


@dataclass
class Plan:
    stack: str
    registrations: list[Registration]
    outputs: dict[str, Any]

    def by_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def get(self, type_: str, name: str) -> Registration:
        matches = [r for r in self.registrations if r.type == type_ and r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources of type {type_} named {name}")
        return matches[0]


def run(
    stack: str,
    config: dict[str, str],
    secret_keys: list[str] | None = None,
    program: Callable[[], object] | None = None,
    stack_outputs: dict[str, dict[str, Any]] | None = None,
    deployer: vault_login.DeployerSource = offline_deployer,
    attestations: attestation.Store | None = None,
) -> Plan:
    """Run `program` (cdstack's own by default) for `stack` with `config`; return what it registered.

    `stack_outputs` answers StackReferences: {"org/project/stack": {output name: value}}. `deployer` says who runs
    it (default: a person, never the environment's identity). `attestations` are the source stacks' smoke
    attestations (default: none, and the gate checks none: see components/attestation.py store_source).
    Raises whatever the program raises, ConfigError included, before or while registering.
    """
    if program is None:
        from components.program import main as program

    # First: reading the infra stack file is a program run of its own, which sets the engine's globals.
    stack_outputs = answered_stack_outputs(config, stack_outputs)
    pulumi.runtime.settings.ROOT.set(None)  # each run is a fresh program with a fresh root stack
    # Who runs it, for Vault's JWT login: offline, a fake (the plan never reaches Azure).
    vault_login.deployer_source[:] = [deployer]
    # The promotion gate's smoke attestations: an offline plan has no history of the source's smoke runs (prod's
    # release set is often one staging passed weeks ago), so only a test's own store is checked.
    attestation.store_source[:] = [lambda: attestations]
    pulumi.runtime.set_all_config(config, secret_keys or [])
    monitor = RecordingMonitor(PlanMocks(stack_outputs))
    # The organization of the self-managed backend the stacks live in (every project there sits under it).
    pulumi.runtime.set_mocks(
        PlanMocks(stack_outputs),
        project=PROJECT,
        stack=stack,
        preview=True,
        monitor=monitor,
        organization=ORGANIZATION,
    )
    outputs: dict[str, Any] = {}

    async def collect_outputs() -> None:
        root = pulumi.runtime.settings.get_root_resource()
        for key, value in getattr(root, "outputs", {}).items():
            output = pulumi.Output.from_input(value)
            resolved = await output.future()
            outputs[key] = SECRET if await output.is_secret() else resolved

    def body() -> Any:
        asyncio.get_running_loop().set_exception_handler(quiet_copies_of_the_error)
        program()
        return asyncio.ensure_future(collect_outputs())

    try:
        with pickler_restored(), cyclic_collector_paused():
            mocks.test(body)()
    except BaseException as error:
        setattr(error, RAISED, True)
        raise
    # Sorted by URN: the SDK registers resources from a thread pool, in an order that varies from run to run, and
    # two plans of one commit must be byte-identical to be diffed.
    return Plan(stack, sorted(monitor.registrations.values(), key=lambda r: r.urn), outputs)


RAISED = "_cdstack_raised_by_run"
"""Set on the error a run raised: its copies in the run's Outputs are not reported again (quiet_copies_of_the_error)."""


def quiet_copies_of_the_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The event loop's handler of errors nobody awaited, minus the error the run already raised.

    When the program raises (a refused gate, a ConfigError from an apply), every Output derived from the failed one
    holds the same exception, and none is awaited once the run has stopped: thousands of futures, each of which asyncio
    reports as "Future exception was never retrieved", with the whole traceback, when the collector reaches it. The
    caller has the error itself; the reports are noise, and formatting them cost up to 20 s of CPU per refused run.
    Any other unretrieved error is reported as asyncio would."""
    if getattr(context.get("exception"), RAISED, False):
        return
    loop.default_exception_handler(context)


@contextmanager
def cyclic_collector_paused() -> Iterator[None]:
    """Keep Python's cyclic garbage collector out of a program run. A run allocates some 20,000 Outputs and their
    futures and callbacks, which trigger a collection every few hundred allocations, each walking the whole heap:
    measured on staging, half of a run's time (1.9 s with the collector, 1.0 s without) for 18 MiB more peak memory,
    since reference counting frees nearly all of a run's garbage anyway. The collector comes back after the run (it
    was on before) and finds the rest at its next turn."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def pickler_restored() -> Iterator[None]:
    """Put pickle's pure-Python Pickler back as it was after a program run. pulumi.dynamic's serialize_provider
    (pulumi 3.272.0, dynamic/dynamic.py) patches `pickle._Pickler._batch_setitems` and `save_dict` to sort dicts and
    restores only `pickle.Pickler`, so every dynamic resource it serializes wraps the previous wrapper. One `pulumi
    up` serializes a handful; a process that plans hundreds of times (the test suite, the audits) reaches Python's
    recursion limit inside pickle."""
    saved = {name: pickle._Pickler.__dict__[name] for name in ("_batch_setitems", "save_dict")}  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(pickle._Pickler, name, method)  # type: ignore[attr-defined]


def run_stack(stack: str, project_dir: Path = PROJECT_DIR) -> Plan:
    """Run cdstack for the stack file `Pulumi.<stack>.yaml` in `project_dir`."""
    config, secret_keys, stack_outputs = stack_file_inputs(stack, project_dir)
    return run(stack, config, secret_keys, stack_outputs=stack_outputs)


def stack_file_inputs(
    stack: str, project_dir: Path = PROJECT_DIR
) -> tuple[dict[str, str], list[str], dict[str, dict[str, Any]]]:
    """What run_stack hands `run` for `Pulumi.<stack>.yaml`: its config, its secret keys and the outputs of the stacks
    it reads (source_stack_outputs)."""
    config, secret_keys = read_stack_file(project_dir / f"Pulumi.{stack}.yaml")
    return config, secret_keys, source_stack_outputs(config, project_dir)


def load_config(stack: str, project_dir: Path = PROJECT_DIR) -> StackConfig:
    """The validated StackConfig of `Pulumi.<stack>.yaml`, loaded by the program's own `loader.load()`."""
    return validated_config(stack, *read_stack_file(project_dir / f"Pulumi.{stack}.yaml"))


def stack_names(project_dir: Path = PROJECT_DIR) -> list[str]:
    """Every stack with a `Pulumi.<stack>.yaml` in the project."""
    return sorted(path.name.split(".")[1] for path in project_dir.glob("Pulumi.*.yaml"))


def cross_stack_errors(stack: str, project_dir: Path = PROJECT_DIR) -> list[ConfigError]:
    """The cross-stack problems (components/cross_stack.py) of `stack` against every other stack file here.

    A stack file that does not validate on its own is left out: its own plan reports it."""
    from components import cross_stack
    from components.config.loader import ConfigError

    configs = [load_config(stack, project_dir)]
    for other in stack_names(project_dir):
        if other != stack:
            try:
                configs.append(load_config(other, project_dir))
            except (ConfigError, stackfile.StackFileError):
                continue
    return cross_stack.errors(configs, only=stack)


def validated_config(stack: str, config: dict[str, str], secret_keys: list[str]) -> StackConfig:
    """The program's own `loader.load()` of `config` as stack `stack`, run under the mock engine (it creates nothing).

    Raises ConfigError exactly as the program would."""
    from components.config import loader

    loaded: list[StackConfig] = []
    run(stack, config, secret_keys, program=lambda: loaded.append(loader.load()))
    return loaded[0]


def source_stack_outputs(config: dict[str, str], project_dir: Path) -> dict[str, dict[str, Any]]:
    """What the offline plan assumes the stacks this one reads exported, as if each one's last `pulumi up` had
    deployed what git holds: planned from `Pulumi.<stack>.yaml` in the same project by the functions its program
    exports them with.

    - the promotion gate's source (`cdstack:promotion.sourceStack`): the release set its stack file deploys;
    - the infra stack (`cdstack:infraStack`): its Concourse's issuer and the pipeline's subjects
      (components/infra_pipeline.trust_outputs).
    A stack outside this project exports nothing offline, and the reader says so.
    """
    from components.releases import release_set

    outputs = infra_stack_outputs(config, project_dir)
    source = str(json.loads(config.get(f"{PROJECT}:promotion", "{}")).get("sourceStack", ""))
    source_stack = _project_stack(source, project_dir)
    if source_stack is not None:
        outputs.setdefault(source, {})["releaseSet"] = release_set(load_config(source_stack, project_dir))
    return outputs


def answered_stack_outputs(
    config: dict[str, str], stack_outputs: dict[str, dict[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """What a run's StackReferences answer: the infra stack's trust outputs, as `pulumi up` would find them, overridden
    stack by stack by `stack_outputs` (the promotion source's release set stays the caller's choice)."""
    return {**infra_stack_outputs(config, PROJECT_DIR), **(stack_outputs or {})}


def infra_stack_outputs(config: dict[str, str], project_dir: Path) -> dict[str, dict[str, Any]]:
    """The infra stack's (`cdstack:infraStack`) issuer and pipeline subjects, computed from its stack file by the
    function its program exports them with (components/infra_pipeline.trust_outputs)."""
    from components.concourse.infra_pipeline import trust_outputs

    infra = config.get(f"{PROJECT}:infraStack", "")
    infra_stack = _project_stack(infra, project_dir)
    if infra_stack is None:
        return {}
    return {infra: trust_outputs(load_config(infra_stack, project_dir))}


def _project_stack(name: str, project_dir: Path) -> str | None:
    """The stack of `org/cdstack/<stack>` when its stack file is in this project; None otherwise (a malformed name
    is left to config.load(), which reports it with its key path)."""
    parts = name.split("/")
    if len(parts) != 3 or parts[1] != PROJECT or not (project_dir / f"Pulumi.{parts[2]}.yaml").exists():
        return None
    return parts[2]
