#!/usr/bin/env bash
# Issues 13 and 16: the AFLW-19 study (MobileNetV2, L2 vs ACR, 3 seeds; then Wing and ASM-assisted at
# one seed) on true labels. Each run: configs/aflw/<config>.toml with the seed, into runs/aflw/<config>-s<seed>,
# then eval on the validation split (model selection) and the held-out test split, with the AFLW-Full
# protocol (NME by sqrt(w*h) of the landmark box) and per-|yaw|-bin rows.
# Usage: [AFLW_CONFIGS="mnv2_l2 mnv2_acr"] scripts/run_aflw.sh [SEEDS...]   (repository root, after ./setup.sh)
# Resumable: a finished run (test.json present) is skipped, an interrupted one continues with --resume
# (bit-identical to an uninterrupted run), and a run directory is locked while a process trains it, so
# two copies of this script (one per core: every config uses one libtorch thread) can share the list.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${FACEALIGN:-./target/release/facealign}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
DATA=../shared/data/aflw/train.json
mkdir -p runs/aflw
seeds=("$@"); [ ${#seeds[@]} -gt 0 ] || seeds=(0 1 2)
for seed in "${seeds[@]}"; do
  for c in ${AFLW_CONFIGS:-mnv2_l2 mnv2_acr}; do
    name=$c-s$seed
    dir=runs/aflw/$name
    [ -f "$dir/test.json" ] && continue
    mkdir "runs/aflw/.$name.lock" 2>/dev/null || { echo "$name: locked by another process, skipped"; continue; }
    trap 'rmdir "runs/aflw/.$name.lock" 2>/dev/null || true' EXIT
    t0=$(date +%s)
    if [ -f "$dir/last.safetensors" ]; then
      $B train --resume "$dir" --quiet >> "runs/aflw/$name.log" 2>&1
    else
      rm -rf "$dir"
      $B train "configs/aflw/$c.toml" --set seed="$seed" --out "$dir" --quiet > "runs/aflw/$name.log" 2>&1
    fi
    t1=$(date +%s)
    printf '%s\t%s\n' "$name" $((t1 - t0)) >> runs/aflw/times.tsv
    $B eval --model "$dir" --data "coco:$DATA#@configs/aflw/val_ids.txt" --norm box --json "$dir/val.json" > "$dir/val.md"
    # test.json (written atomically, last) marks the run finished.
    $B eval --model "$dir" --data "coco:$DATA#@configs/aflw/test_ids.txt" --norm box --plot "$dir/test_ced.png" \
      --json "$dir/test.json" > "$dir/test.md"
    rmdir "runs/aflw/.$name.lock"; trap - EXIT
    echo "$name: $((t1 - t0)) s; val $(grep -m1 '| all |' "$dir/val.md"); test $(grep -m1 '| all |' "$dir/test.md")"
  done
done
