#!/usr/bin/env bash
# `make test` in the task image (ci/Dockerfile: Python, the Pulumi CLI and make).
set -euo pipefail
cd "$(dirname "$0")/../.."
make test
