#!/usr/bin/env bash
# Ship trained runs as compact model files under models/ (f16 weights + the training config in the
# file's metadata), calibrate the default detector on each model's training faces, and point
# models/defaults.toml at the better 68-point and 5-point model (lower validation NME).
# Usage (repository root, after scripts/run_experiments.sh main): scripts/ship_models.sh
set -euo pipefail
cd "$(dirname "$0")/.."
B=${FACEALIGN:-./target/release/facealign}
ship() {  # run-dir name calibration-data
  $B model export "runs/exp/$1" "models/$2.safetensors"
  $B model calibrate "models/$2.safetensors" --data "$3"
}
ship mnv2_l2-infanface-s0 infanface-mnv2-l2 'pts:../shared/data/infanface/train'
ship mnv2_acr-infanface-s0 infanface-mnv2-acr 'pts:../shared/data/infanface/train'
nme() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[0]['rows'][0]['nme'])" "runs/exp/$1/eval.json"; }
better() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[3]); print(sys.argv[2] if a<=b else sys.argv[4])" "$@"; }
best68=$(better "$(nme mnv2_l2-infanface-s0)" infanface-mnv2-l2 "$(nme mnv2_acr-infanface-s0)" infanface-mnv2-acr)
best5=$(better "$(nme mnv2_l2-mtfl-s0)" mtfl-mnv2-l2 "$(nme mnv2_acr-mtfl-s0)" mtfl-mnv2-acr)
run5=$([ "$best5" = mtfl-mnv2-l2 ] && echo mnv2_l2-mtfl-s0 || echo mnv2_acr-mtfl-s0)
ship "$run5" "$best5" 'mtfl:../shared/data/mtfl/train.txt'
cat > models/defaults.toml <<TOML
# The model used when --model is not given, per landmark scheme (scripts/ship_models.sh:
# the shipped model with the lower validation NME).
ibug68 = "$best68"
five = "$best5"
TOML
cat models/defaults.toml
