"""Whether AKS supports the cluster as configured: its Kubernetes minor on the day of the run (the calendar in
catalog.py) and long-term support, which AKS sells only with the Premium tier."""

from __future__ import annotations

from datetime import date

from components import catalog
from components.config.schema import StackConfig
from components.problem import Problem


def kubernetes_support(cfg: StackConfig, today: date) -> tuple[str, str] | None:
    """AKS's support of the stack's Kubernetes minor on `today` (catalog.kubernetes_support)."""
    return catalog.kubernetes_support(cfg.cluster.kubernetes_version, today, cfg.cluster.long_term_support)


def version_problems(cfg: StackConfig, today: date) -> list[Problem]:
    """A minor past its end of support (or not in the calendar) is refused; one near its end only warns (load())."""
    support = kubernetes_support(cfg, today)
    if support is None or support[0] != "error":
        return []
    return [Problem.at("cluster.kubernetesVersion", cfg.cluster.kubernetes_version, support[1])]


def long_term_support_problems(cfg: StackConfig) -> list[Problem]:
    """AKS long-term support (support plan AKSLongTermSupport) requires the Premium tier."""
    if cfg.cluster.long_term_support and cfg.cluster.sku_tier != "Premium":
        return [Problem.at("cluster.skuTier", cfg.cluster.sku_tier, "must be Premium when longTermSupport is true")]
    return []
