#!/usr/bin/env bash
# `make test` in the task image, which ships Python and the Pulumi CLI but not make.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v make >/dev/null; then
  apt-get update -qq && apt-get install -qq -y --no-install-recommends make >/dev/null
fi
make test
