#!/usr/bin/env bash
# Build the facealign wheel: stage the shipped models into python/facealign/models/, then
# `maturin build --release`. Usage: crates/facealign-py/build_wheel.sh [PYTHON]
#   PYTHON: an interpreter with maturin installed (default: python3).
#   FACEALIGN_WHEEL_MODELS="adult68 aflw19 ...": bundle only these landmark models (default: every
#   models/*.safetensors; defaults.toml's models must be among them).
# The wheel lands in target/wheels/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="${1:-python3}"
# An interpreter given as a relative path must survive the `cd` below.
if [[ "$py" == */* ]]; then py="$(cd "$(dirname "$py")" && pwd)/$(basename "$py")"; fi

stage="$here/python/facealign/models"
rm -rf "$stage"
mkdir -p "$stage/detectors"
cp "$root/models/defaults.toml" "$stage/"
if [[ -n "${FACEALIGN_WHEEL_MODELS:-}" ]]; then
    for m in $FACEALIGN_WHEEL_MODELS; do
        cp "$root/models/$m.safetensors" "$stage/"
    done
else
    cp "$root"/models/*.safetensors "$stage/"
fi
# Every default of defaults.toml must be bundled.
for m in $(sed -n 's/^[a-z0-9]* *= *"\(.*\)"/\1/p' "$stage/defaults.toml"); do
    [[ -f "$stage/$m.safetensors" ]] || { echo "defaults.toml names $m, which is not bundled" >&2; exit 1; }
done
# Detectors: the default list (ultraface-rfb, then yunet where it finds no face), from the repository's models/detectors or
# the shared folder (where yunet lives), and UltraFace's MIT licence (YuNet, MIT too, comes
# without a licence file here).
for f in version-RFB-320.onnx face_detection_yunet.onnx LICENSE-ultraface; do
    for d in "$root/models/detectors" "$root/../shared/models/detectors"; do
        if [[ -f "$d/$f" ]]; then cp "$d/$f" "$stage/detectors/"; break; fi
    done
    [[ -f "$stage/detectors/$f" ]] || { echo "detector file $f not found" >&2; exit 1; }
done

cd "$here"
start=$(date +%s)
"$py" -m maturin build --release --out "$root/target/wheels" "${@:2}"
echo "wheel build: $(( $(date +%s) - start )) s"
ls -l "$root"/target/wheels/facealign-*.whl
