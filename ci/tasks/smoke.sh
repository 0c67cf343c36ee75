#!/usr/bin/env bash
# Read the stack's outputs, then check the deployed services against them. Needs only the standard library.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${STACK:?}" "${PULUMI_BACKEND_URL:?}" "${ARM_CLIENT_ID:?}" "${ARM_CLIENT_SECRET:?}" "${ARM_TENANT_ID:?}"
export AZURE_CLIENT_ID="$ARM_CLIENT_ID" AZURE_CLIENT_SECRET="$ARM_CLIENT_SECRET" AZURE_TENANT_ID="$ARM_TENANT_ID"
export PULUMI_SKIP_UPDATE_CHECK=true

outputs="$(mktemp)"
pulumi stack output --stack "$STACK" --json >"$outputs"
python3 -m tools.smoke --outputs "$outputs"
