"""Vault: its settings and their rules, its store, its first start (init, unseal keys in Key Vault), the deployer's
login, and what the stack configures in it (mounts, policies, approle, teams' paths, Raft snapshots)."""
