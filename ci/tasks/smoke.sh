#!/usr/bin/env bash
# Read the stack's outputs, check the deployed services against them (health stage), then run a build on the stack
# and follow its traces (end-to-end stage), and attest a passing run beside the state (tools/smoke.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${STACK:?}" "${PULUMI_BACKEND_URL:?}"
source ci/tasks/azure-login.sh  # the state and its Key Vault secrets provider, as the stack's deployer identity
export PULUMI_SKIP_UPDATE_CHECK=true
# The end-to-end stage logs in to the stack's Vault as the pipeline's deployer (the same JWT login as `pulumi up`).
export VAULT_ROLE="${VAULT_ROLE:-pipeline}"

pulumi install  # .venv from requirements.txt: the end-to-end stage uses the project's team API client
outputs="$(mktemp)"
pulumi stack output --stack "$STACK" --json >"$outputs"
# Elasticsearch, Prometheus and Alertmanager are inside the cluster, and the ChartMuseum and Elasticsearch logins are
# in its Secrets: the smoke reaches them through the Kubernetes API as the deployer (kubectl port-forward and get
# secret, tools/cluster_access.py), with the cluster's kubeconfig whose kubelogin uses the workload identity above.
KUBECONFIG="$(mktemp)"
export KUBECONFIG
.venv/bin/python -m tools.cluster_access --outputs "$outputs" >"$KUBECONFIG"
.venv/bin/python -m tools.smoke --outputs "$outputs" --port-forward
