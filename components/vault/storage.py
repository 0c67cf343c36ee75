"""Rules on where the in-cluster Vault keeps its data (`cdstack:vault.storage`) and how many servers it runs.

Raft (integrated storage) makes every Vault server a voter: a write commits once a majority has it, so n servers
survive floor((n-1)/2) failures. An even count adds a server without adding a failure it survives (4 survive one, as
3 do) and makes a split vote possible; production needs at least 3 to survive one failure or a node drain. On
Consul, Vault's servers are stateless (one active, the rest standby) and Consul's servers hold the quorum.

Switching the store of a deployed stack is not a configuration rule: it needs the deployed value, which the program
reads from the stack's own outputs (components/storage_guard.py)."""

from __future__ import annotations

from components.config.schema import StackConfig
from components.problem import Problem

PRODUCTION_RAFT_REPLICAS = (3, 5)


def replica_problems(cfg: StackConfig) -> list[Problem]:
    """Raft: an odd server count, 3 or 5 in production. Consul: 3 or 5 Consul servers in production."""
    v = cfg.vault
    store = v.in_cluster_store
    found = []
    if store == "raft":
        if v.server_replicas % 2 == 0:
            found.append(
                Problem.at(
                    "vault.serverReplicas",
                    v.server_replicas,
                    "must be odd on Raft storage (1, 3, 5 or 7): every server votes, and an even count survives no "
                    "more failures than one server fewer",
                )
            )
        elif cfg.production and v.server_replicas not in PRODUCTION_RAFT_REPLICAS:
            found.append(
                Problem.at(
                    "vault.serverReplicas",
                    v.server_replicas,
                    "must be 3 or 5 in production on Raft storage (a quorum that survives one server or node loss)",
                )
            )
    if store == "consul" and cfg.production and v.consul_replicas < 3:
        found.append(Problem.at("vault.consulReplicas", v.consul_replicas, "must be 3 or 5 in production"))
    return found


def migration_problems(cfg: StackConfig) -> list[Problem]:
    """`storageMigration` only means something for the in-cluster Vault's store."""
    if cfg.vault.storage_migration is not None and cfg.vault.in_cluster_store is None:
        return [
            Problem.at(
                "vault.storageMigration",
                cfg.vault.storage_migration,
                "only allowed when vault.mode is in-cluster (an external Vault's store is not this stack's)",
            )
        ]
    return []
