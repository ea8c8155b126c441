#!/usr/bin/env bash
# The test suite (what the README's second command and .ci/run call).
set -euo pipefail
cd "$(dirname "$0")"
[ -e libtorch ] || ./setup.sh
cargo test --workspace "$@"
