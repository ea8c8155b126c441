#!/usr/bin/env bash
# facealign training set-up: idempotent. Installs the training engine (libtorch from PyPI's
# torch==2.13.0 wheel) into a project-local virtualenv, links it as ./libtorch (what
# .cargo/config.toml points tch at), and builds target/release/facealign with the `train` feature.
# Prediction and evaluation do not need it: `cargo build --release -p facealign-cli` alone builds
# the pure-Rust binary. Re-running skips whatever is already in place.
set -euo pipefail
cd "$(dirname "$0")"

TORCH_VERSION=2.13.0
PY=${PYTHON:-python3}

if ! command -v cargo >/dev/null; then
  echo "setup.sh: cargo is required (https://rustup.rs)" >&2
  exit 1
fi
if ! command -v "$PY" >/dev/null; then
  echo "setup.sh: $PY is required for the libtorch wheel" >&2
  exit 1
fi

# 1. The torch wheel in .venv (no global Python changes).
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$TORCH_VERSION' else 1)" 2>/dev/null; then
  echo "setup.sh: installing torch==$TORCH_VERSION into .venv (large download, once)"
  .venv/bin/pip install --disable-pip-version-check -q "torch==$TORCH_VERSION"
fi
# numpy/h5py/hdf5storage are only for the fixture and reference scripts (not needed to build or test).
if [ "${FACEALIGN_SCRIPT_DEPS:-0}" = 1 ]; then
  .venv/bin/pip install --disable-pip-version-check -q numpy h5py hdf5storage
fi

# 2. ./libtorch -> the wheel's torch folder (include/ and lib/).
torch_dir=$(.venv/bin/python -c "import torch, pathlib; print(pathlib.Path(torch.__file__).parent)")
ln -sfn "$torch_dir" libtorch

# 3. Build the release binary with training (rpath to libtorch embedded by build.rs: no env vars
# needed to run it).
cargo build --release -p facealign-cli --features train
echo "setup.sh: built $(pwd)/target/release/facealign"
