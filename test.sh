#!/usr/bin/env bash
# The test suite (what the README's second command and .ci/run call).
set -euo pipefail
cd "$(dirname "$0")"
[ -e libtorch ] || ./setup.sh
# --release: the same profile as the README's first command (./setup.sh builds target/release), so the
# tests reuse its compiled dependencies instead of building the whole tree a second time.
cargo test --release --workspace "$@"
