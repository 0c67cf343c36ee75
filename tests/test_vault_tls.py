"""Vault's listener speaks TLS with a certificate from the stack's internal CA, and every Vault client verifies it.

The checks are functions over the planned graph (the mock engine's registrations), so each planted mistake (TLS off,
a client without the CA, a certificate that does not name the address a client dials) is shown failing them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from components import clock, naming
from components.services import concourse, secrets
from tests.conftest import TODAY, cached_plan
from tests.services import HELM_RELEASE, at, stack_cfg, strings_in, vault_hcl_path
from tools import offline

CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"
CLUSTER_ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer"
SERVERS_TRANSPORT = "kubernetes:traefik.io/v1alpha1:ServersTransport"
VAULT_INIT = "pulumi-python:dynamic/vault:Init"
CRONJOB = "kubernetes:batch/v1:CronJob"

UNSEAL = secrets.UnsealKey("tenant", "kv-contoso-staging", "vault-unseal", "client-id")


@pytest.fixture(scope="module", params=["staging", "prod"])
def plan(request: pytest.FixtureRequest) -> Iterator[offline.Plan]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(clock.ENV, TODAY)
        yield cached_plan(request.param)


def internal_certificates(plan: offline.Plan) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, Secret name) -> spec of every Certificate the internal CA issues."""
    return {
        (c.inputs["metadata"]["namespace"], c.inputs["spec"]["secretName"]): c.inputs["spec"]
        for c in plan.by_type(CERTIFICATE)
        if c.inputs["spec"]["issuerRef"]
        == {"name": naming.INTERNAL_CA_ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"}
    }


def certificate_of(plan: offline.Plan, namespace: str, secret: str) -> offline.Registration:
    [found] = [
        c
        for c in plan.by_type(CERTIFICATE)
        if c.inputs["metadata"]["namespace"] == namespace and c.inputs["spec"]["secretName"] == secret
    ]
    return found


def names(spec: dict[str, Any]) -> list[str]:
    return [*spec.get("dnsNames", []), *spec.get("ipAddresses", [])]


def covers(spec: dict[str, Any], host: str) -> bool:
    """Whether the certificate names `host` (a `*.` name covers exactly one more label, as TLS clients check)."""
    return any(n == host or (n.startswith("*.") and host.split(".", 1)[-1] == n[2:]) for n in names(spec))


# ---------------------------------------------------------------------------------------------------------------------
# The checks


def listener_problems(values: dict[str, Any]) -> list[str]:
    """What keeps the Vault release's listener from serving TLS with the mounted internal certificate."""
    problems = []
    config = at(values, vault_hcl_path(values))
    listener = config.split('listener "tcp"', 1)[1].split("}", 1)[0]
    if "tls_disable" in listener:
        problems.append("the listener disables TLS")
    for key, path in (("tls_cert_file", secrets.TLS_CERT_FILE), ("tls_key_file", secrets.TLS_KEY_FILE)):
        if f'"{path}"' not in listener or key not in listener:
            problems.append(f"the listener's {key} is not {path}")
    if values.get("global", {}).get("tlsDisable", True) is not False:
        problems.append("global.tlsDisable is not false: the chart's probes, VAULT_ADDR and ports stay HTTP")
    mounted = {v["name"] for v in values["server"].get("extraVolumes", []) if v.get("type") == "secret"}
    if naming.VAULT_TLS_SECRET not in mounted:
        problems.append(f"Secret {naming.VAULT_TLS_SECRET} is not mounted")
    if values["server"].get("extraEnvironmentVars", {}).get("VAULT_CACERT") != secrets.CA_FILE:
        problems.append("the pod's own CLI does not trust the CA (VAULT_CACERT)")
    return problems


def client_problems(plan: offline.Plan) -> list[str]:
    """Every way a Vault client in the graph would talk to Vault's listener without verifying it against the CA."""
    problems: list[str] = []
    issued = internal_certificates(plan)
    vault_ns = naming.NAMESPACES["secrets"]
    server = issued.get((vault_ns, naming.VAULT_TLS_SECRET))
    vault = plan.get(HELM_RELEASE, "vault")
    if server is None:
        return ["Vault's listener certificate is not issued by the internal CA"]
    if certificate_of(plan, vault_ns, naming.VAULT_TLS_SECRET).urn not in vault.dependencies:
        problems.append("the Vault release does not wait for its certificate")
    problems += listener_problems(vault.inputs["values"])

    # Concourse web: an https URL the certificate names, and the CA as a file from an internal certificate's Secret.
    values = plan.get(HELM_RELEASE, "concourse").inputs["values"]
    url = urlsplit(at(values, "concourse.web.vault.url"))
    if url.scheme != "https" or not covers(server, url.hostname or ""):
        problems.append(f"Concourse dials {url.geturl()}, which Vault's certificate does not name over https")
    ca_file = next((e["value"] for e in values["web"].get("env", []) if e["name"] == "CONCOURSE_VAULT_CA_CERT"), "")
    mounts = {m["mountPath"]: m["name"] for m in values["web"].get("additionalVolumeMounts", [])}
    volumes = {v["name"]: v for v in values["web"].get("additionalVolumes", [])}
    volume = volumes.get(mounts.get(ca_file.rsplit("/", 1)[0], ""), {})
    secret_name = volume.get("secret", {}).get("secretName")
    ns = naming.NAMESPACES["concourse"]
    if not ca_file or (ns, secret_name) not in issued:
        problems.append("Concourse web does not read the internal CA (CONCOURSE_VAULT_CA_CERT from an issued Secret)")
    elif certificate_of(plan, ns, str(secret_name)).urn not in plan.get(HELM_RELEASE, "concourse").dependencies:
        problems.append("the Concourse release does not wait for the Secret holding the CA")
    if at(values, "concourse.web.vault").get("insecureSkipVerify"):
        problems.append("Concourse skips verifying Vault")

    # Traefik, for the public host: HTTPS to the pods through a ServersTransport that trusts the CA.
    annotations = at(vault.inputs["values"], "server.service.annotations")
    reference = annotations.get(secrets.TRAEFIK_SERVERS_TRANSPORT, "")
    transports = {
        f"{t.inputs['metadata']['namespace']}-{t.inputs['metadata']['name']}@kubernetescrd": t
        for t in plan.by_type(SERVERS_TRANSPORT)
    }
    transport = transports.get(reference)
    if annotations.get(secrets.TRAEFIK_SERVERS_SCHEME) != "https" or transport is None:
        problems.append("the ingress reaches Vault without TLS through a known ServersTransport")
    else:
        spec = transport.inputs["spec"]
        cas = [(transport.inputs["metadata"]["namespace"], ca.get("secret")) for ca in spec.get("rootCAs", [])]
        if spec.get("insecureSkipVerify") or not cas or not all(ca in issued for ca in cas):
            problems.append("the ServersTransport does not verify against the internal CA")
        if not covers(server, spec.get("serverName", "")):
            problems.append("the ServersTransport's serverName is not in Vault's certificate")
        init = plan.get(VAULT_INIT, "vault-init")
        if transport.urn not in init.dependencies:
            problems.append("Vault's initialiser does not wait for the transport to the listener")

    # Nothing else dials the in-cluster Vault: any other value naming its service is a client this check misses.
    for release in plan.by_type(HELM_RELEASE):
        if release.name not in {"vault", "concourse"} and any(
            f"vault.{vault_ns}.svc" in s for s in strings_in(release.inputs["values"])
        ):
            problems.append(f"release {release.name} talks to Vault and is not checked for the CA")
    for job in plan.by_type(CRONJOB):
        if any(f"vault.{vault_ns}.svc" in s for s in strings_in(job.inputs)):
            problems.append(f"CronJob {job.name} talks to Vault and is not checked for the CA")
    return problems


# ---------------------------------------------------------------------------------------------------------------------
# The stacks pass


def test_the_internal_ca_is_a_cert_manager_chain_whose_key_never_leaves_the_cluster(plan: offline.Plan):
    self_signed = plan.get(CLUSTER_ISSUER, "selfsigned-issuer")
    assert self_signed.inputs["spec"] == {"selfSigned": {}}
    ca = plan.get(CERTIFICATE, f"{naming.INTERNAL_CA_SECRET}-certificate")
    spec = ca.inputs["spec"]
    assert spec["isCA"] is True
    assert spec["issuerRef"]["name"] == naming.SELF_SIGNED_ISSUER
    assert spec["privateKey"]["rotationPolicy"] == "Never"  # a renewed CA still verifies the leaves it signed
    assert ca.inputs["metadata"]["namespace"] == naming.NAMESPACES["cert-manager"]  # the cluster resource namespace
    issuer = plan.get(CLUSTER_ISSUER, "internal-ca-issuer")
    assert issuer.inputs["spec"] == {"ca": {"secretName": naming.INTERNAL_CA_SECRET}}
    assert ca.urn in issuer.dependencies
    assert plan.get(HELM_RELEASE, "cert-manager").urn in self_signed.dependencies
    # Everything that mounts an issued Secret waits until cert-manager has written it.
    for waited in [issuer, *plan.by_type(CERTIFICATE)]:
        assert waited.inputs["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Ready"}, waited.name
    # No CA key material anywhere in the program's inputs.
    assert not [r.name for r in plan.registrations if "PRIVATE KEY" in str(r.inputs) and "cert-manager" in r.type]


def test_every_vault_client_verifies_the_listener_against_the_internal_ca(plan: offline.Plan):
    assert client_problems(plan) == []


def test_vault_certificate_names_every_address_clients_dial():
    spec = secrets.vault_certificate_spec()
    for host in (
        "vault.vault.svc.cluster.local",  # Concourse
        "vault.vault.svc",  # the ingress's ServersTransport
        "vault-0.vault-internal",  # a pod by name (VAULT_CLUSTER_ADDR's host)
        "vault-active.vault.svc",
        "localhost",
        "127.0.0.1",  # the chart's VAULT_ADDR inside the pod
    ):
        assert covers(spec, host), host
    assert spec["usages"] == ["digital signature", "server auth"]
    assert spec["renewBefore"] == "720h"


def test_a_standby_redirects_clients_to_a_name_the_certificate_covers():
    api_addr = urlsplit(at(secrets.vault_values(stack_cfg("staging"), UNSEAL), "server.ha.apiAddr"))
    assert api_addr.scheme == "https"
    assert covers(
        secrets.vault_certificate_spec(), (api_addr.hostname or "").replace("$(vault_k8s_pod_name)", "vault-1")
    )


def test_a_renewed_certificate_is_reloaded_without_a_restart():
    values = secrets.vault_values(stack_cfg("staging"), UNSEAL)
    assert at(values, "server.shareProcessNamespace") is True
    [sidecar] = at(values, "server.extraContainers")
    assert sidecar["volumeMounts"] == [{"name": secrets.TLS_VOLUME, "mountPath": secrets.TLS_DIR, "readOnly": True}]
    script = sidecar["command"][-1]
    assert secrets.TLS_CERT_FILE in script
    assert "pkill -HUP -x vault" in script


def test_an_external_vault_gets_no_internal_ca_and_concourse_keeps_the_system_roots():
    external = stack_cfg("staging", vault={"mode": "external", "address": "https://vault.example.com"})
    assert concourse.vault_ca_web_values(external) == {}
    assert concourse.vault_ca_web_values(stack_cfg("staging"))["env"] == [
        {"name": "CONCOURSE_VAULT_CA_CERT", "value": concourse.VAULT_CA_FILE}
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Planted mistakes fail


def planted(plan: offline.Plan, release: str, change: Any) -> offline.Plan:
    mistaken = copy.deepcopy(plan)
    change(mistaken.get(HELM_RELEASE, release).inputs["values"])
    return mistaken


def tls_disabled(values: dict[str, Any]) -> None:
    *parents, key = vault_hcl_path(values).split(".")
    holder = at(values, ".".join(parents))
    holder[key] = holder[key].replace('listener "tcp" {', 'listener "tcp" {\n  tls_disable = 1')


def chart_tls_off(values: dict[str, Any]) -> None:
    values["global"]["tlsDisable"] = True


def concourse_without_ca(values: dict[str, Any]) -> None:
    values["web"]["env"] = []


def concourse_over_http(values: dict[str, Any]) -> None:
    values["concourse"]["web"]["vault"]["url"] = "http://vault.vault.svc.cluster.local:8200"


def concourse_to_an_unnamed_host(values: dict[str, Any]) -> None:
    values["concourse"]["web"]["vault"]["url"] = "https://vault.example.internal:8200"


def ingress_in_clear(values: dict[str, Any]) -> None:
    del values["server"]["service"]["annotations"][secrets.TRAEFIK_SERVERS_SCHEME]


def another_client(values: dict[str, Any]) -> None:
    values["env"] = [{"name": "VAULT_ADDR", "value": "https://vault.vault.svc:8200"}]


@pytest.mark.parametrize(
    ("release", "change", "message"),
    [
        ("vault", tls_disabled, "the listener disables TLS"),
        ("vault", chart_tls_off, "global.tlsDisable is not false"),
        ("concourse", concourse_without_ca, "Concourse web does not read the internal CA"),
        ("concourse", concourse_over_http, "which Vault's certificate does not name over https"),
        ("concourse", concourse_to_an_unnamed_host, "which Vault's certificate does not name over https"),
        ("vault", ingress_in_clear, "the ingress reaches Vault without TLS"),
        ("telegraf", another_client, "release telegraf talks to Vault and is not checked for the CA"),
    ],
)
def test_a_planted_mistake_fails(plan: offline.Plan, release: str, change: Any, message: str):
    problems = client_problems(planted(plan, release, change))
    assert any(message in p for p in problems), problems


def test_a_transport_that_skips_verification_fails(plan: offline.Plan):
    mistaken = copy.deepcopy(plan)
    mistaken.get(SERVERS_TRANSPORT, "vault-servers-transport").inputs["spec"] = {"insecureSkipVerify": True}
    problems = client_problems(mistaken)
    assert "the ServersTransport does not verify against the internal CA" in problems
    assert "the ServersTransport's serverName is not in Vault's certificate" in problems


def test_a_vault_release_that_does_not_wait_for_its_certificate_fails(plan: offline.Plan):
    mistaken = copy.deepcopy(plan)
    cert = certificate_of(mistaken, naming.NAMESPACES["secrets"], naming.VAULT_TLS_SECRET)
    mistaken.get(HELM_RELEASE, "vault").dependencies.remove(cert.urn)
    assert "the Vault release does not wait for its certificate" in client_problems(mistaken)
