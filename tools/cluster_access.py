"""Reach a deployed stack's in-cluster services and read its Secrets as its deployer, through the Kubernetes API.

Elasticsearch, Prometheus and Alertmanager have no public address, and the end-to-end smoke (tools/smoke_e2e.py)
needs them, with Elasticsearch's read-only user and ChartMuseum's login. An operator with the deployer's identity
(a cluster admin through a `cluster.adminGroupObjectIds` group: Azure RBAC for Kubernetes) reaches them the way
kubectl does: `kubectl port-forward` to each Service, on a local port kubectl picks, and `kubectl get secret` for the
logins. Names, namespaces and ports are the program's own constants, and the Secrets the stack's outputs name; the
values go from the Secret straight into the smoke's environment, never through the pipeline's vars.

No NetworkPolicy edge is needed: a port-forward is a stream from kubectl through the API server to the kubelet,
whose container runtime enters the pod's network namespace and connects to the port on the pod's own loopback
(containerd pkg/cri/server/sandbox_portforward_linux.go dials `localhost:<port>` inside the sandbox's netns). No
packet crosses the pod's interface, where Cilium enforces policy.

    python -m tools.cluster_access --outputs outputs.json >kubeconfig

prints the cluster's user kubeconfig with a non-interactive kubelogin (components/azure/kubeconfig.py), read with
the deployer's Azure login (ARM listClusterUserCredential, ARM_SUBSCRIPTION_ID), for a task that has no `az`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

from components.azure.kubeconfig import non_interactive
from components.services import charts, logging, monitoring
from components.vault import login as vault_login

FORWARD_DEADLINE = 30.0
"""Seconds kubectl may take to report a port-forward listening (it resolves the Service to a ready pod first)."""
ARM_API_VERSION = "2024-10-01"
"""Microsoft.ContainerService managedClusters, for listClusterUserCredential."""


class ClusterAccessError(Exception):
    """A Service or a Secret of the stack cannot be reached; the message says which, in one line."""


@dataclass(frozen=True)
class Forward:
    """A Service the smoke reaches through a port-forward, and the variable it reads the local URL from."""

    variable: str
    namespace: str
    service: str
    port: int
    scheme: str = "http"


@dataclass(frozen=True)
class Login:
    """A login kept in a Secret (namespace/name), and the variables the smoke reads it from."""

    prefix: str
    """`<prefix>_USERNAME` and `<prefix>_PASSWORD`."""
    secret: str
    username_key: str
    password_key: str


ELASTICSEARCH = Forward(
    "ELASTICSEARCH_URL", logging.NAMESPACE, logging.ELASTICSEARCH_SERVICE, logging.ELASTICSEARCH_PORT, "https"
)
PROMETHEUS = Forward("PROMETHEUS_URL", monitoring.NAMESPACE, monitoring.PROMETHEUS_SERVICE, monitoring.PROMETHEUS_PORT)
ALERTMANAGER = Forward(
    "ALERTMANAGER_URL", monitoring.NAMESPACE, monitoring.ALERTMANAGER_SERVICE, monitoring.ALERTMANAGER_PORT
)


def forwards(outputs: dict[str, Any]) -> list[Forward]:
    """What the stack runs, by its outputs: Elasticsearch only with Kibana (a lean stack has neither)."""
    wanted = [PROMETHEUS, ALERTMANAGER]
    return [ELASTICSEARCH, *wanted] if "kibanaUrl" in outputs else wanted


def logins(outputs: dict[str, Any]) -> list[Login]:
    """The logins in the Secrets the outputs name: Elasticsearch's read-only user (role `viewer`, the file-realm user
    Grafana reads logs with; keys as ECK reads them) and ChartMuseum's (keys as its chart's env reads them)."""
    found = []
    if "elasticsearchReaderSecret" in outputs:
        found.append(Login("ELASTICSEARCH", str(outputs["elasticsearchReaderSecret"]), "username", "password"))
    if "chartmuseumAuthSecret" in outputs:
        user, password = charts.SECRET_MAPPINGS["BASIC_AUTH_USER"], charts.SECRET_MAPPINGS["BASIC_AUTH_PASS"]
        found.append(Login("CHARTMUSEUM", str(outputs["chartmuseumAuthSecret"]), user, password))
    return found


def read_secret(reference: str, kubectl: str = "kubectl") -> dict[str, str]:
    """The decoded data of the Secret `namespace/name`."""
    namespace, _, name = reference.partition("/")
    command = [kubectl, "get", "secret", "--namespace", namespace, name, "--output", "json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=FORWARD_DEADLINE, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ClusterAccessError(f"kubectl could not read Secret {reference}: {last}")
    data = json.loads(done.stdout).get("data") or {}
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


LISTENING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)")


def start_forward(forward: Forward, kubectl: str, deadline: float) -> tuple[subprocess.Popen[str], str]:
    """Start `kubectl port-forward` on a local port kubectl picks; the process and the URL once it listens."""
    command = [kubectl, "port-forward", "--namespace", forward.namespace, "--address", "127.0.0.1"]
    command += [f"service/{forward.service}", f":{forward.port}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    said: list[str] = []
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        end = time.monotonic() + deadline
        while (left := end - time.monotonic()) > 0 and selector.select(left):
            line = process.stdout.readline()
            if not line:  # kubectl exited
                break
            said.append(line.strip())
            if match := LISTENING.search(line):
                # kubectl goes on printing a line per connection: drain them, or a full pipe would stall it.
                threading.Thread(target=drain, args=(process.stdout,), daemon=True).start()
                return process, f"{forward.scheme}://127.0.0.1:{match.group(1)}"
    stop(process)
    reason = said[-1] if said else f"nothing within {deadline:g} s"
    raise ClusterAccessError(
        f"kubectl port-forward to {forward.namespace}/service/{forward.service}:{forward.port} failed: {reason}"
    )


def drain(stream: IO[str]) -> None:
    for _ in stream:
        pass


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def cluster_environment(
    outputs: dict[str, Any], kubectl: str = "kubectl", deadline: float = FORWARD_DEADLINE
) -> Iterator[dict[str, str]]:
    """The smoke's variables for the stack's in-cluster services and logins, with the port-forwards open while the
    block runs; each port-forward this started is ended after it, whatever happened."""
    started: list[subprocess.Popen[str]] = []
    try:
        env: dict[str, str] = {}
        for login in logins(outputs):
            data = read_secret(login.secret, kubectl)
            try:
                env[f"{login.prefix}_USERNAME"] = data[login.username_key]
                env[f"{login.prefix}_PASSWORD"] = data[login.password_key]
            except KeyError as error:
                raise ClusterAccessError(f"Secret {login.secret} has no key {error}") from None
        for forward in forwards(outputs):
            process, url = start_forward(forward, kubectl, deadline)
            started.append(process)
            env[forward.variable] = url
            if forward is ELASTICSEARCH:
                # Its certificate (ECK's self-signed CA) names the Service, not 127.0.0.1; the port-forward's stream
                # is already TLS to the API server and the kubelet, as the deployer, into that pod.
                env["ELASTICSEARCH_VERIFY"] = "false"
            print(f"ok    port-forward: {url} -> {forward.namespace}/service/{forward.service}:{forward.port}")
        yield env
    finally:
        for process in started:
            stop(process)


def user_kubeconfig(subscription: str, resource_group: str, cluster: str, arm_token: str) -> str:
    """The cluster's user kubeconfig (Entra ID: no credential in it, kubelogin fetches a token), made
    non-interactive."""
    url = (
        f"https://management.azure.com/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
        f"Microsoft.ContainerService/managedClusters/{cluster}/listClusterUserCredential"
    )
    reply = requests.post(
        url, params={"api-version": ARM_API_VERSION}, headers={"Authorization": f"Bearer {arm_token}"}, timeout=60
    )
    if reply.status_code != 200:
        raise ClusterAccessError(f"listClusterUserCredential of {cluster} answered HTTP {reply.status_code}")
    kubeconfigs = reply.json().get("kubeconfigs") or []
    if not kubeconfigs:
        raise ClusterAccessError(f"listClusterUserCredential of {cluster} returned no kubeconfig")
    return non_interactive(base64.b64decode(kubeconfigs[0]["value"]).decode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cluster_access", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--outputs", type=Path, required=True, help="JSON of `pulumi stack output --json`")
    args = parser.parse_args(argv)
    try:
        outputs = json.loads(args.outputs.read_text())
        subscription = os.environ.get("ARM_SUBSCRIPTION_ID", "")
        if not subscription:
            raise ClusterAccessError("set ARM_SUBSCRIPTION_ID: the subscription of the stack's cluster")
        # The deployer's ARM token (azure-identity's default chain: workload identity in the pipeline, `az` here).
        print(
            user_kubeconfig(
                subscription, outputs["resourceGroupName"], outputs["clusterName"], vault_login.arm_token()
            ),
            end="",
        )
    except (ClusterAccessError, KeyError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
