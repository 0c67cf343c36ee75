"""ChartMuseum on the stack's Azure Blob container: the upload API on, basic auth with generated credentials, behind
the ingress with a Let's Encrypt certificate.

ChartMuseum reaches Azure Blob with the account key only (no managed identity), so the account name and key go into
the same Secret as the basic-auth login; the chart maps each Secret key onto ChartMuseum's environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import hardening, naming
from components.config.schema import StackConfig
from components.endpoints import BlobStore
from components.services import release

NAMESPACE = naming.NAMESPACES["charts"]
RELEASE = "chartmuseum"
AUTH_SECRET = "chartmuseum-auth"
USER = "charts"
"""The basic-auth user CI pushes and pulls charts with (its password is generated, in Secret chartmuseum-auth)."""

# ChartMuseum's environment variable -> key in AUTH_SECRET.
SECRET_MAPPINGS = {
    "AZURE_STORAGE_ACCOUNT": "azure-storage-account",
    "AZURE_STORAGE_ACCESS_KEY": "azure-storage-access-key",
    "BASIC_AUTH_USER": "basic-auth-user",
    "BASIC_AUTH_PASS": "basic-auth-pass",
}


SCRATCH = hardening.scratch("tmp")


def chartmuseum_values(cfg: StackConfig, container: pulumi.Input[str]) -> dict[str, Any]:
    host = cfg.dns.host("chartmuseum")
    return {
        "env": {
            "open": {
                "STORAGE": "microsoft",
                "STORAGE_MICROSOFT_CONTAINER": container,
                # The chart's true turns uploads off; false omits the variable, and ChartMuseum's default is API on.
                "DISABLE_API": False,
                "AUTH_ANONYMOUS_GET": False,  # reads need the login too
            },
            "existingSecret": AUTH_SECRET,
            "existingSecretMappings": SECRET_MAPPINGS,
        },
        "ingress": {
            "enabled": True,
            "ingressClassName": naming.INGRESS_CLASS,
            "annotations": {"cert-manager.io/cluster-issuer": naming.CLUSTER_ISSUER},
            "hosts": [{"name": host, "path": "/", "tls": True, "tlsSecret": "chartmuseum-tls"}],
        },
        # Pod Security `restricted` (components/pod_security.py): the chart sets none of this by default. ChartMuseum
        # keeps charts in Blob storage (the chart mounts its storage volume only for STORAGE=local), one static binary
        # that runs as any user: nobody, no capabilities, a read-only root and an emptyDir for Go's temporary files.
        "containerSecurityContext": {
            **hardening.LOCKED_CONTAINER,
            "runAsNonRoot": True,
            "runAsUser": hardening.NOBODY,
            "runAsGroup": hardening.NOBODY,
            "seccompProfile": hardening.RUNTIME_DEFAULT,
        },
        "deployment": {"extraVolumes": [SCRATCH[0]], "extraVolumeMounts": [SCRATCH[1]]},
    }


def auth_data(store: BlobStore, password: pulumi.Input[str]) -> Mapping[str, pulumi.Input[str]]:
    """AUTH_SECRET's keys (see SECRET_MAPPINGS)."""
    return {
        "azure-storage-account": store.account_name,
        "azure-storage-access-key": store.account_key,
        "basic-auth-user": USER,
        "basic-auth-pass": password,
    }


class ChartMuseum(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider: k8s.Provider,
        store: BlobStore,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:services:ChartMuseum", name, None, opts)
        ns = release.namespace(NAMESPACE, provider, self)
        self.namespace = ns
        password = random.RandomPassword(
            "chartmuseum-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        auth = release.secret(AUTH_SECRET, ns, auth_data(store, password.result), provider, self)
        self.user = USER
        self.release = release.release(
            RELEASE,
            RELEASE,
            cfg,
            ns,
            chartmuseum_values(cfg, store.container_name),
            provider,
            self,
            depends_on=[auth],  # the pod's environment comes from this Secret, by name
        )
        self.register_outputs({"chartmuseumUser": USER})
