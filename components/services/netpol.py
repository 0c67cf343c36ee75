"""The stack's NetworkPolicies (components/network_edges.py builds them): created in each namespace as soon as the
namespace exists, so every pod starts behind them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from components import network_edges
from components.config.schema import StackConfig


class NetworkPolicies(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider: k8s.Provider,
        namespaces: Mapping[str, k8s.core.v1.Namespace],
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`namespaces`: the Namespace resource of every namespace the stack deploys into, by name."""
        super().__init__("cdstack:services:NetworkPolicies", name, None, opts)
        self.policies: list[k8s.networking.v1.NetworkPolicy] = []
        for manifest in network_edges.policies(cfg):
            meta = manifest["metadata"]
            ns = namespaces[meta["namespace"]]
            self.policies.append(
                k8s.networking.v1.NetworkPolicy(
                    f"{meta['namespace']}-{meta['name']}",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=meta["name"], namespace=ns.metadata.name),
                    # The manifest's own (camelCase) spec: the provider sends it as written.
                    spec=cast(Any, manifest["spec"]),
                    opts=pulumi.ResourceOptions(parent=self, provider=provider),
                )
            )
        self.register_outputs({})
