"""Which Pod Security Standards level each rendered pod satisfies, and whether each namespace's pods meet the level
the namespace enforces (components/pod_security.py).

    python -m tools.pod_security staging      per namespace: its enforce level, the strictest level all its pods
                                              meet, and every pod that fails its namespace's level (exit 1)

The rules are Kubernetes' own (kubernetes.io/docs/concepts/security/pod-security-standards, "Profile Details"),
checked on the pod specs Helm renders from the pinned charts (tools/render.py) and the pods the program declares
itself. Pods an operator writes from a custom resource (ECK's Elasticsearch, Kibana, Beat) are checked on the
template the chart gives it; the operator adds containers of its own, so for those the result is a lower bound.
Not checked: the AppArmor annotations of the pod's metadata (no chart here sets one).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

from components import pod_security
from components.pod_security import LEVELS, Level
from tools import render, short_run, workloads

# Baseline: capabilities a container may add.
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP",
    "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
# Baseline: the "safe" sysctls (the list grows with Kubernetes minors; this is 1.33's).
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
# Restricted: the only volume types allowed.
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
VOLUME_KEYS_NOT_TYPES = {"name"}


def containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def _context(container: dict[str, Any]) -> dict[str, Any]:
    return container.get("securityContext") or {}


def baseline_violations(spec: dict[str, Any]) -> list[str]:
    found = []
    pod = spec.get("securityContext") or {}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host):
            found.append(f"{host}")
    if (pod.get("windowsOptions") or {}).get("hostProcess"):
        found.append("hostProcess")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            found.append(f"hostPath volume {volume.get('name')}")
    sysctls = {s.get("name") for s in pod.get("sysctls") or []} - SAFE_SYSCTLS
    found += [f"sysctl {name}" for name in sorted(str(s) for s in sysctls)]
    for context in [pod, *(_context(c) for c in containers(spec))]:
        selinux = context.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            found.append("seLinuxOptions")
        if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
            found.append("seccompProfile Unconfined")
        if (context.get("appArmorProfile") or {}).get("type") == "Unconfined":
            found.append("appArmorProfile Unconfined")
    for container in containers(spec):
        name = container.get("name")
        context = _context(container)
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        if (context.get("windowsOptions") or {}).get("hostProcess"):
            found.append(f"{name}: hostProcess")
        added = set((context.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        found += [f"{name}: adds capability {cap}" for cap in sorted(added)]
        if context.get("procMount", "Default") != "Default":
            found.append(f"{name}: procMount {context['procMount']}")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                found.append(f"{name}: hostPort {port['hostPort']}")
    return found


def restricted_violations(spec: dict[str, Any]) -> list[str]:
    """Restricted's own rules (baseline's come on top: `violations`)."""
    found = []
    pod = spec.get("securityContext") or {}
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - VOLUME_KEYS_NOT_TYPES
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume {volume.get('name')} of type {', '.join(sorted(kinds - RESTRICTED_VOLUMES))}")
    if pod.get("runAsUser") == 0:
        found.append("runAsUser 0")
    for container in containers(spec):
        name = container.get("name")
        context = _context(container)
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        non_root = context.get("runAsNonRoot", pod.get("runAsNonRoot"))
        if non_root is not True:
            found.append(f"{name}: runAsNonRoot is not true")
        if context.get("runAsUser") == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = (context.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: no RuntimeDefault or Localhost seccompProfile")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{name}: does not drop ALL capabilities")
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        found += [f"{name}: adds capability {cap} (restricted allows NET_BIND_SERVICE only)" for cap in sorted(added)]
    return found


def violations(spec: dict[str, Any], level: Level) -> list[str]:
    """Why a pod spec fails `level` (empty: it meets it)."""
    if level == "privileged":
        return []
    found = baseline_violations(spec)
    return found + restricted_violations(spec) if level == "restricted" else found


def strictest(spec: dict[str, Any]) -> Level:
    return next(level for level in reversed(LEVELS) if not violations(spec, level))


def stack_pods(stack: str) -> list[workloads.Pod]:
    """Every pod template of a stack: its Helm releases rendered from the pinned charts, and its own objects."""
    plan, releases, version = render.stack_releases(stack)
    objects = render.plan_objects(plan)
    rendered = render.render_releases(releases, version, extra_crds=[o for o, _, _ in objects])
    errors = [f"{r.release.name}: {r.error}" for r in rendered if r.error]
    if errors:
        raise RuntimeError("render failed: " + "; ".join(errors))
    pods = [pod for r in rendered for pod in workloads.pods(r.release.name, r.objects)]
    return pods + workloads.pods("cdstack", [o for o, _, _ in objects])


def by_namespace(pods: list[workloads.Pod]) -> dict[str, list[workloads.Pod]]:
    found: dict[str, list[workloads.Pod]] = {}
    for pod in pods:
        found.setdefault(pod.namespace, []).append(pod)
    return found


def problems(pods: list[workloads.Pod], vault_store: str | None = "raft") -> list[str]:
    """Every pod that fails the level its namespace enforces (`vault_store`: the stack's `vault.storage`)."""
    found = []
    for namespace, members in sorted(by_namespace(pods).items()):
        enforce = pod_security.level(namespace, vault_store).enforce
        for pod in members:
            why = violations(pod.spec, enforce)
            if why:
                found.append(f"{pod.owner} fails {enforce} (namespace {namespace}): {'; '.join(why)}")
    return found


def operator_made(pod: workloads.Pod) -> bool:
    return pod.owner.split("/", 1)[0] in workloads.OPERATOR_KINDS


def report(pods: list[workloads.Pod], vault_store: str | None = "raft") -> list[str]:
    lines = []
    for namespace, members in sorted(by_namespace(pods).items()):
        enforce = pod_security.level(namespace, vault_store).enforce
        meets = min((strictest(p.spec) for p in members), key=LEVELS.index)
        partial = " (operator-made pods checked on their templates only)" if any(map(operator_made, members)) else ""
        lines.append(f"{namespace}: enforce {enforce}, its {len(members)} pods all meet {meets}{partial}")
        for pod in members:
            if strictest(pod.spec) != "restricted":
                lines.append(f"  {pod.owner}: {strictest(pod.spec)}: {'; '.join(violations(pod.spec, 'restricted'))}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.pod_security", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("stack")
    args = parser.parse_args(argv)
    from tools import offline

    store = offline.load_config(args.stack).vault.in_cluster_store
    pods = stack_pods(args.stack)
    print("\n".join(report(pods, store)))
    failing = problems(pods, store)
    print("\n".join(failing) if failing else "every pod meets its namespace's level")
    return 1 if failing else 0


if __name__ == "__main__":
    short_run.run(main)
