"""The security contexts the stack asks of the pods it runs, in chart-values spelling (camelCase), so that the
posture scan (`make scan`, tools/scan.py) finds nothing it does not explain. Each chart's values place them where
its templates read them (the render audit's dead-settings check proves that every key lands)."""

from __future__ import annotations

from typing import Any

NOBODY = 65534
"""`nobody`: a UID above 10000 (checkov's high-UID check, CKV_K8S_40) that owns nothing on the node, for images that
run any UID (static binaries, images that write only to their volumes)."""

RUNTIME_DEFAULT = {"type": "RuntimeDefault"}
"""The container runtime's default seccomp profile (CKV_K8S_31)."""


def pod_context(uid: int = NOBODY) -> dict[str, Any]:
    """A pod running as `uid` (user and group), never as root, under the runtime's seccomp profile."""
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "seccompProfile": RUNTIME_DEFAULT}


LOCKED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
}
"""A container with no capability, no way to gain privileges and nothing to write outside its volumes."""


TMP = "/tmp"
"""Where a process writes its scratch files: an emptyDir under a read-only root file system (CKV_K8S_22)."""


def scratch(name: str, path: str = TMP) -> tuple[dict[str, Any], dict[str, Any]]:
    """A pod-lifetime writable directory at `path` for a container whose root file system is read-only: the volume and
    its mount, for the chart's extra-volume values."""
    return {"name": name, "emptyDir": {}}, {"name": name, "mountPath": path}
