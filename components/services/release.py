"""How every Kubernetes service is released: one namespace per concern, Secrets the charts reference, Helm releases.

Every release has a fixed name, the catalog's repository and the stack's pinned version, is atomic (a failed install
or upgrade rolls back and cleans up), waits as long as its chart needs (catalog timeout) and keeps a bounded history.
The one exception is a release nothing in the stack waits on (`awaited=False`): `up` applies it and moves on.
Secret values never go into Helm values: they go into Kubernetes Secrets created here and the chart references them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import catalog, image_digests, pod_security, sizing
from components.config.schema import StackConfig

HISTORY = 10
"""Helm release revisions kept: enough to roll back, few enough that release Secrets stay small."""


def namespace(
    concern_namespace: str, provider: k8s.Provider, parent: pulumi.Resource, vault_store: str | None = "raft"
) -> k8s.core.v1.Namespace:
    """A concern's namespace, with the Pod Security admission labels of its level (components/pod_security.py;
    `vault_store`: the secrets namespace's level depends on Vault's store)."""
    labels = {"app.kubernetes.io/managed-by": "pulumi", **pod_security.labels(concern_namespace, vault_store)}
    return k8s.core.v1.Namespace(
        f"{concern_namespace}-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=concern_namespace, labels=labels),
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )


def secret(
    name: str,
    ns: k8s.core.v1.Namespace,
    string_data: Mapping[str, pulumi.Input[str]],
    provider: k8s.Provider,
    parent: pulumi.Resource,
    secret_type: str = "Opaque",
) -> k8s.core.v1.Secret:
    """A Kubernetes Secret with a fixed name that a chart references; its data is a Pulumi secret. `secret_type`:
    what its reader requires (ECK takes file-realm users only from `kubernetes.io/basic-auth` Secrets)."""
    return k8s.core.v1.Secret(
        f"{name}-secret",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=ns.metadata.name),
        type=secret_type,
        string_data=pulumi.Output.secret(dict(string_data)),
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )


def release(
    name: str,
    chart_key: str,
    cfg: StackConfig,
    ns: k8s.core.v1.Namespace,
    values: pulumi.Input[Mapping[str, Any]],
    provider: k8s.Provider,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
    protect: bool = False,
    timeout_seconds: int | None = None,
    awaited: bool = True,
    release_name: pulumi.Input[str] | None = None,
) -> k8s.helm.v3.Release:
    """A Helm release of a catalog chart at the stack's version. `depends_on`: only what the values cannot carry;
    `timeout_seconds`: a wait derived from the stack (default: the catalog's install timeout); `release_name`: the
    Helm release's name where it differs from the resource's (a change replaces the release, new one first).

    `awaited=False` is for a release no resource of the stack needs ready, whose health is watched once it runs:
    `up` neither waits for its pods nor rolls it back (Helm's install sets wait whenever atomic is set, action/
    install.go `i.Wait = i.Wait || i.Atomic`, so skipAwait needs atomic off; pulumi-kubernetes passes
    `Wait = !SkipAwait`, provider/pkg/provider/helm_release.go). A manifest the API server refuses still fails the
    `up`; the policy pack allows it only for releases its config lists with a reason (helm-atomic-with-timeout)."""
    chart = catalog.CHARTS[chart_key]
    # With a mirror the chart is an OCI reference `<mirror>/<chart>` and no repository is named (Helm reads OCI
    # charts by reference only); the same name and version are installed, from the stack's own registry.
    mirror = cfg.chart_mirror
    return k8s.helm.v3.Release(
        name,
        name=release_name or name,
        chart=f"{mirror.rstrip('/')}/{chart.chart}" if mirror else chart.chart,
        version=cfg.chart_version(chart_key),
        repository_opts=None if mirror else k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
        namespace=ns.metadata.name,
        values=image_digests.with_digests(
            chart_key, cfg.chart_version(chart_key), sizing.with_requests(chart_key, values), image_digests.read_lock()
        ),
        atomic=awaited,
        skip_await=None if awaited else True,
        cleanup_on_fail=True,
        timeout=timeout_seconds or chart.timeout_seconds,
        max_history=HISTORY,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on), protect=protect),
    )
