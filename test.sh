#!/usr/bin/env bash
# The test suite (what the README's second command and .ci/run call).
set -euo pipefail
cd "$(dirname "$0")"
# Training and the torch runtime need libtorch (PyPI's torch wheel in .venv, linked as ./libtorch).
[ -e libtorch ] || ./setup.sh
# 1. The default build has no libtorch: check that nothing in it depends on tch.
if cargo tree -p facealign-cli -e normal --prefix none 2>/dev/null | grep -qE '^(tch|torch-sys) '; then
  echo "test.sh: the default facealign-cli build depends on tch" >&2
  exit 1
fi
# 2. The default (tch-free) binary through its CLI tests (prediction and evaluation on tract).
cargo test --release -p facealign-cli --test tests "$@"
# 3. The Python package (maturin wheel of the pure-Rust runtime) in its own virtualenv, with pytest.
crates/facealign-py/test.sh
# 4. Everything, with the train feature (last, so target/release/facealign can train). --release: the
# profile of the README's first command, so the tests reuse its compiled dependencies.
cargo test --release --workspace --features facealign-cli/train "$@"
