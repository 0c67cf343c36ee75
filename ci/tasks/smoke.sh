#!/usr/bin/env bash
# Read the stack's outputs, then check the deployed services against them. Needs only the standard library.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${STACK:?}" "${PULUMI_BACKEND_URL:?}"
source ci/tasks/azure-login.sh  # the state and its Key Vault secrets provider, as the stack's deployer identity
export PULUMI_SKIP_UPDATE_CHECK=true

outputs="$(mktemp)"
pulumi stack output --stack "$STACK" --json >"$outputs"
python3 -m tools.smoke --outputs "$outputs"
