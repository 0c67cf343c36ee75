#!/usr/bin/env bash
# Run `pulumi $COMMAND` for $STACK non-interactively. The Key Vault secrets provider and the Blob backend read Azure
# credentials from AZURE_*; the providers read ARM_*: both come from the same service principal.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${STACK:?}" "${COMMAND:?}" "${PULUMI_BACKEND_URL:?}" "${ARM_CLIENT_ID:?}" "${ARM_CLIENT_SECRET:?}" "${ARM_TENANT_ID:?}"
export AZURE_CLIENT_ID="$ARM_CLIENT_ID" AZURE_CLIENT_SECRET="$ARM_CLIENT_SECRET" AZURE_TENANT_ID="$ARM_TENANT_ID"
# The Kubernetes provider's kubeconfig runs `kubelogin get-token --login azurecli` (components/azure/kubeconfig.py);
# AAD_LOGIN_METHOD overrides --login, and with `spn` kubelogin logs in as the same service principal from
# AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_TENANT_ID (Azure/kubelogin pkg/internal/token/options.go,
# UpdateFromEnv), so the task needs no Azure CLI and no `az login`.
export AAD_LOGIN_METHOD=spn
export PULUMI_SKIP_UPDATE_CHECK=true

pulumi install  # .venv from requirements.txt (Pulumi.yaml: toolchain pip, virtualenv .venv) and provider plugins
# The Vault provider logs in with this ARM token of the service principal (components/vault_login.py). It reads it
# from its own environment, which is the pulumi CLI's, so it is exported here, fresh (about an hour) for each run.
TERRAFORM_VAULT_AUTH_JWT="$(.venv/bin/python -m tools.deployer_token)"
export TERRAFORM_VAULT_AUTH_JWT
(cd policy && pulumi install)  # the policy pack's venv from policy/requirements.txt (policy/PulumiPolicy.yaml)
case "$COMMAND" in
  preview) pulumi preview --stack "$STACK" --non-interactive --diff --policy-pack policy --policy-pack-config "policy/config.$STACK.json" ;;
  up) pulumi up --stack "$STACK" --non-interactive --yes --diff --policy-pack policy --policy-pack-config "policy/config.$STACK.json" ;;
  *) echo "COMMAND must be preview or up, got $COMMAND" >&2; exit 2 ;;
esac
