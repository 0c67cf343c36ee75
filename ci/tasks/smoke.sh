#!/usr/bin/env bash
# Read the stack's outputs, check the deployed services against them (health stage), then run a build on the stack
# and follow its traces (end-to-end stage), and attest a passing run beside the state (tools/smoke.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${STACK:?}" "${PULUMI_BACKEND_URL:?}" "${ARM_CLIENT_ID:?}" "${ARM_CLIENT_SECRET:?}" "${ARM_TENANT_ID:?}"
export AZURE_CLIENT_ID="$ARM_CLIENT_ID" AZURE_CLIENT_SECRET="$ARM_CLIENT_SECRET" AZURE_TENANT_ID="$ARM_TENANT_ID"
export PULUMI_SKIP_UPDATE_CHECK=true
# The end-to-end stage logs in to the stack's Vault as the pipeline's deployer (the same JWT login as `pulumi up`).
export VAULT_ROLE="${VAULT_ROLE:-pipeline}"

pulumi install  # .venv from requirements.txt: the end-to-end stage uses the project's team API client
outputs="$(mktemp)"
pulumi stack output --stack "$STACK" --json >"$outputs"
.venv/bin/python -m tools.smoke --outputs "$outputs"
