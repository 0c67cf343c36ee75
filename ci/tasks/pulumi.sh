#!/usr/bin/env bash
# Run `pulumi $COMMAND` for $STACK non-interactively. The Key Vault secrets provider and the Blob backend read Azure
# credentials from AZURE_*; the providers read ARM_*: both come from the same service principal.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${STACK:?}" "${COMMAND:?}" "${PULUMI_BACKEND_URL:?}" "${ARM_CLIENT_ID:?}" "${ARM_CLIENT_SECRET:?}" "${ARM_TENANT_ID:?}"
: "${VAULT_ROLE_ID:?}" "${VAULT_SECRET_ID:?}"
export AZURE_CLIENT_ID="$ARM_CLIENT_ID" AZURE_CLIENT_SECRET="$ARM_CLIENT_SECRET" AZURE_TENANT_ID="$ARM_TENANT_ID"
# The Kubernetes provider's kubeconfig runs `kubelogin get-token --login azurecli` (components/azure/kubeconfig.py);
# AAD_LOGIN_METHOD overrides --login, and with `spn` kubelogin logs in as the same service principal from
# AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_TENANT_ID (Azure/kubelogin pkg/internal/token/options.go,
# UpdateFromEnv), so the task needs no Azure CLI and no `az login`.
export AAD_LOGIN_METHOD=spn
export PULUMI_SKIP_UPDATE_CHECK=true

pulumi install  # .venv from requirements.txt (Pulumi.yaml: toolchain pip, virtualenv .venv) and provider plugins
case "$COMMAND" in
  preview) pulumi preview --stack "$STACK" --non-interactive --diff ;;
  up) pulumi up --stack "$STACK" --non-interactive --yes --diff ;;
  *) echo "COMMAND must be preview or up, got $COMMAND" >&2; exit 2 ;;
esac
