"""The kubeconfig the Kubernetes provider uses: AKS's Entra ID user credentials, made to work without a person.

AKS returns, for a cluster with Entra ID, a kubeconfig whose user runs `kubelogin get-token --login devicecode`: it
prints a code and waits for someone to type it into a browser, so an unattended `pulumi up` hangs. `non_interactive()`
keeps what identifies the cluster's Entra application (server id, tenant, cloud) and drops the rest of the login
flags, so kubelogin logs in with the Azure CLI by default and lets its own environment variables choose another way:
`AAD_LOGIN_METHOD` overrides `--login` (kubelogin's options.go reads the environment after the flags), so the infra
Concourse sets `AAD_LOGIN_METHOD=workloadidentity` (with `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,
`AZURE_FEDERATED_TOKEN_FILE`) or `AAD_LOGIN_METHOD=spn` (with `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`,
`AZURE_TENANT_ID`), and a laptop needs nothing beyond `az login`.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

DEFAULT_LOGIN = "azurecli"
"""The login an operator's laptop has without any setup: the Azure CLI's cached `az login`."""

# Flags that say which Entra application and cloud the token is for, with their short forms. Everything else in the
# AKS exec args (`--login devicecode`, the Azure CLI's public `--client-id`) is about how to log in: that is ours.
_KEPT_FLAGS = {"--server-id": "--server-id", "--tenant-id": "--tenant-id", "-t": "--tenant-id"}
_KEPT_FLAGS |= {"--environment": "--environment", "-e": "--environment"}
_VALUED_FLAGS = {"-l", "--login", "--client-id", "--client-secret", "--client-certificate", "--username", "--password"}
_VALUED_FLAGS |= set(_KEPT_FLAGS) | {"--identity-resource-id", "--federated-token-file", "--authority-host"}


class KubeconfigError(ValueError):
    pass


def _kept_flags(args: list[str]) -> dict[str, str]:
    """The cluster-identifying flags of a kubelogin command line, in `--flag value` or `--flag=value` form."""
    kept: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        flag, has_inline, inline = arg.partition("=")
        if has_inline and flag.startswith("-"):
            value, i = inline, i + 1
        elif arg in _VALUED_FLAGS and i + 1 < len(args):
            flag, value, i = arg, args[i + 1], i + 2
        else:
            i += 1
            continue
        if flag in _KEPT_FLAGS:
            kept[_KEPT_FLAGS[flag]] = value
    return kept


def _rewrite_exec(exec_config: dict[str, Any]) -> dict[str, Any]:
    kept = _kept_flags([str(a) for a in exec_config.get("args") or []])
    if "--server-id" not in kept:
        raise KubeconfigError("the kubelogin exec config names no --server-id (the cluster's Entra application)")
    args = ["get-token", "--login", DEFAULT_LOGIN]
    for flag in ("--server-id", "--tenant-id", "--environment"):
        if flag in kept:
            args += [flag, kept[flag]]
    rewritten = {**exec_config, "command": "kubelogin", "args": args, "interactiveMode": "Never"}
    # Variables pinned in the kubeconfig would override the caller's choice of login; the caller's environment rules.
    env = [e for e in exec_config.get("env") or [] if not str(e.get("name", "")).startswith(("AAD_", "AZURE_"))]
    rewritten["env"] = env or None
    return rewritten


def non_interactive(kubeconfig: str) -> str:
    """The same kubeconfig with every kubelogin user logging in without a prompt (see the module docstring).

    Raises KubeconfigError when no user runs kubelogin: an Entra ID cluster always returns one, and anything else
    would make the provider fall back to something nobody reviewed.
    """
    document = yaml.safe_load(kubeconfig)
    if not isinstance(document, dict):
        raise KubeconfigError("the cluster's kubeconfig is not a YAML object")
    found = False
    for user in document.get("users") or []:
        exec_config = (user.get("user") or {}).get("exec")
        if isinstance(exec_config, dict) and os.path.basename(str(exec_config.get("command", ""))) == "kubelogin":
            user["user"]["exec"] = _rewrite_exec(exec_config)
            found = True
    if not found:
        raise KubeconfigError("the cluster's kubeconfig has no kubelogin user; is Entra ID integration on?")
    return yaml.safe_dump(document, sort_keys=False)
