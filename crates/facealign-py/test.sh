#!/usr/bin/env bash
# Build the facealign wheel, install it into a virtualenv and run the pytest suite.
#
#   crates/facealign-py/test.sh            # reuse crates/facealign-py/.venv-py if it exists
#   crates/facealign-py/test.sh --fresh    # recreate the virtualenv first
#
# Steps: build the CLI (`cargo build --release -p facealign-cli`, the reference the tests compare
# against), create the venv (pip install maturin pytest numpy), build the wheel
# (build_wheel.sh → target/wheels/), install it, write tests/golden/cli_predict.json with the CLI
# (the fallback reference when the binary is absent), run pytest from outside the source tree.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${FACEALIGN_PY_VENV:-$here/.venv-py}"

if [[ "${1:-}" == "--fresh" ]]; then rm -rf "$venv"; fi
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet "maturin>=1.7,<2" pytest numpy
fi

(cd "$root" && cargo build --release -p facealign-cli)
"$here/build_wheel.sh" "$venv/bin/python"
wheel="$(ls -t "$root"/target/wheels/facealign-*.whl | head -1)"
"$venv/bin/pip" install --quiet --force-reinstall --no-deps "$wheel"

# The golden reference (used by the tests only when target/release/facealign is missing).
fixtures="$root/../shared/data/fixtures/dlib"
golden="$here/tests/golden/cli_predict.json"
mkdir -p "$(dirname "$golden")"
(cd "$root/.." && "$root/target/release/facealign" predict \
    shared/data/fixtures/dlib/2008_001322.jpg shared/data/fixtures/dlib/2009_004587.jpg \
    --json "$golden" >/dev/null)

cd "$here/tests"   # not the crate folder: `import facealign` must find the installed package
FACEALIGN_REPO="$root" "$venv/bin/python" -m pytest -q -p no:cacheprovider test_predict.py
