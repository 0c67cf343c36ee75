"""The stack's internal CA: cert-manager issues the certificates in-cluster services serve, and every client trusts
this CA alone (no public CA, no `insecureSkipVerify`).

The chain, all cert-manager (cert-manager.io/v1):
1. ClusterIssuer `cdstack-selfsigned` (selfSigned): it signs exactly one certificate, the CA's own.
2. Certificate `cdstack-internal-ca` in cert-manager's namespace: `isCA`, ten years, its key never rotated, so a
   renewed CA certificate (same key, same subject) still verifies every leaf signed before (cert-manager v1.18 made
   `rotationPolicy: Always` the default; `Never` is asked for explicitly). The key stays in the cluster: it is in no
   Pulumi state, output or value.
3. ClusterIssuer `cdstack-internal-ca` (`ca.secretName`): a ClusterIssuer reads its Secret from the cluster resource
   namespace, which is cert-manager's own namespace by default (cert-manager `--cluster-resource-namespace`).
4. Leaf certificates (`leaf_certificate_spec`): a server's, or a trust anchor for a client namespace. cert-manager
   writes the issuing CA into every Secret it issues (`ca.crt`, CA issuer), so a client namespace gets the CA from a
   Certificate of its own, not by copying Secrets across namespaces.

Every Certificate and the CA ClusterIssuer carry `pulumi.com/waitFor: condition=Ready` (pulumi-kubernetes' generic
await for custom resources), so whatever mounts a Secret starts only once cert-manager has written it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import naming

API_VERSION = "cert-manager.io/v1"
WAIT_FOR_READY = {"pulumi.com/waitFor": "condition=Ready"}

CA_DURATION = "87600h"  # ten years
CA_RENEW_BEFORE = "8760h"  # cert-manager renews it (same key) in its last year
LEAF_DURATION = "2160h"  # 90 days, cert-manager's default
LEAF_RENEW_BEFORE = "720h"  # renewed 30 days before expiry: a month to notice a renewal that failed
KEY = {"algorithm": "ECDSA", "size": 256}


def issuer_ref(name: str) -> dict[str, str]:
    return {"name": name, "kind": "ClusterIssuer", "group": "cert-manager.io"}


def ca_certificate_spec(stack: str) -> dict[str, Any]:
    return {
        "isCA": True,
        "commonName": f"cdstack {stack} internal CA",
        "secretName": naming.INTERNAL_CA_SECRET,
        "duration": CA_DURATION,
        "renewBefore": CA_RENEW_BEFORE,
        "privateKey": {**KEY, "rotationPolicy": "Never"},
        "issuerRef": issuer_ref(naming.SELF_SIGNED_ISSUER),
    }


def leaf_certificate_spec(
    secret_name: str,
    common_name: str,
    usages: Sequence[str],
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
) -> dict[str, Any]:
    """A certificate from the internal CA; its Secret holds tls.crt, tls.key and the CA as ca.crt."""
    spec: dict[str, Any] = {
        "secretName": secret_name,
        "commonName": common_name,
        "duration": LEAF_DURATION,
        "renewBefore": LEAF_RENEW_BEFORE,
        "privateKey": {**KEY, "rotationPolicy": "Always"},
        "usages": ["digital signature", *usages],
        "issuerRef": issuer_ref(naming.INTERNAL_CA_ISSUER),
    }
    if dns_names:
        spec["dnsNames"] = list(dns_names)
    if ip_addresses:
        spec["ipAddresses"] = list(ip_addresses)
    return spec


def certificate(
    name: str,
    namespace: pulumi.Input[str],
    spec: dict[str, Any],
    provider: k8s.Provider,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource],
) -> k8s.apiextensions.CustomResource:
    """A cert-manager Certificate that `pulumi up` waits for until its Secret is written."""
    return k8s.apiextensions.CustomResource(
        f"{name}-certificate",
        api_version=API_VERSION,
        kind="Certificate",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, annotations=WAIT_FOR_READY),
        spec=spec,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on)),
    )


class InternalCa(pulumi.ComponentResource):
    """The self-signed bootstrap issuer, the CA certificate and the CA ClusterIssuer leaves are issued from.

    `issuer` is what a leaf Certificate waits for: the CA ClusterIssuer, Ready only once the CA's Secret exists."""

    issuer: k8s.apiextensions.CustomResource

    def __init__(
        self,
        name: str,
        stack: str,
        provider: k8s.Provider,
        cert_manager: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`cert_manager`: the release that installs the CRDs and the admission webhook these objects need."""
        super().__init__("cdstack:services:InternalCa", name, None, opts)
        in_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        self_signed = k8s.apiextensions.CustomResource(
            "selfsigned-issuer",
            api_version=API_VERSION,
            kind="ClusterIssuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=naming.SELF_SIGNED_ISSUER),
            spec={"selfSigned": {}},
            opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[cert_manager])),
        )
        ca = certificate(
            naming.INTERNAL_CA_SECRET,
            naming.NAMESPACES["cert-manager"],
            ca_certificate_spec(stack),
            provider,
            self,
            depends_on=[self_signed],
        )
        self.issuer = k8s.apiextensions.CustomResource(
            "internal-ca-issuer",
            api_version=API_VERSION,
            kind="ClusterIssuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=naming.INTERNAL_CA_ISSUER, annotations=WAIT_FOR_READY),
            spec={"ca": {"secretName": naming.INTERNAL_CA_SECRET}},
            opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[ca])),
        )
        self.register_outputs({"issuer": naming.INTERNAL_CA_ISSUER})
