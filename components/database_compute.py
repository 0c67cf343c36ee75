"""The PostgreSQL server's compute as Azure sells it: a SKU belongs to one tier (catalog.POSTGRES_SKUS), and the
zone-redundant standby is offered only in the General Purpose and Memory Optimized tiers. Azure refuses either
mistake only halfway through a `pulumi up`, so they are config errors here."""

from __future__ import annotations

from components import catalog
from components.config.schema import StackConfig
from components.problem import Problem


def tier_problems(cfg: StackConfig) -> list[Problem]:
    """High availability needs a tier that offers it."""
    db = cfg.database
    if db.high_availability and db.sku_tier == "Burstable":
        return [
            Problem.at("database.skuTier", db.sku_tier, "high availability needs GeneralPurpose or MemoryOptimized")
        ]
    return []


def sku_problems(cfg: StackConfig) -> list[Problem]:
    """The SKU is one of skuTier's; the message names the SKUs of that tier and the tier of that SKU."""
    db = cfg.database
    sku = catalog.POSTGRES_SKUS.get(db.sku_name)
    if sku is None or sku.tier == db.sku_tier:
        return []  # an unknown SKU is refused by the schema
    in_tier = sorted(name for name, s in catalog.POSTGRES_SKUS.items() if s.tier == db.sku_tier)
    return [
        Problem.at(
            "database.skuName",
            db.sku_name,
            f"is a {sku.tier} SKU, but skuTier is {db.sku_tier}: use one of {', '.join(in_tier)} "
            f"or set skuTier: {sku.tier}",
        )
    ]
