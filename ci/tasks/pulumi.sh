#!/usr/bin/env bash
# Run `pulumi $COMMAND` for $STACK non-interactively, as the stack's deployer identity (ci/tasks/azure-login.sh: the
# job's Concourse idtoken, no stored secret). The Kubernetes provider's kubeconfig runs `kubelogin get-token --login
# azurecli` (components/azure/kubeconfig.py); AAD_LOGIN_METHOD, exported there, overrides --login (Azure/kubelogin
# pkg/internal/token/options.go, UpdateFromEnv), so the task needs no Azure CLI and no `az login`.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${STACK:?}" "${COMMAND:?}" "${PULUMI_BACKEND_URL:?}"
source ci/tasks/azure-login.sh
export PULUMI_SKIP_UPDATE_CHECK=true

pulumi install  # .venv from requirements.txt (Pulumi.yaml: toolchain pip, virtualenv .venv) and provider plugins
# The Vault provider logs in with this ARM token of the deployer identity (components/vault/login.py). It reads it
# from its own environment, which is the pulumi CLI's, so it is exported here, fresh (about an hour) for each run.
TERRAFORM_VAULT_AUTH_JWT="$(.venv/bin/python -m tools.deployer_token)"
export TERRAFORM_VAULT_AUTH_JWT
(cd policy && pulumi install)  # the policy pack's venv from policy/requirements.txt (policy/PulumiPolicy.yaml)
case "$COMMAND" in
  preview) pulumi preview --stack "$STACK" --non-interactive --diff --policy-pack policy --policy-pack-config "policy/config.$STACK.json" ;;
  up) pulumi up --stack "$STACK" --non-interactive --yes --diff --policy-pack policy --policy-pack-config "policy/config.$STACK.json" ;;
  *) echo "COMMAND must be preview or up, got $COMMAND" >&2; exit 2 ;;
esac
