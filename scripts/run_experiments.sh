#!/usr/bin/env bash
# The issue-7 study: every InfAnFace preset and the MTFL L2/ACR pair, 3 seeds each, then an
# evaluation of every run's best checkpoint on its validation split (JSON under runs/exp/).
# Usage: scripts/run_experiments.sh [main|ablations|all]   (from the repository root, after ./setup.sh)
# Wall-clock on the 2-core machine is recorded in runs/exp/times.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${FACEALIGN:-./target/release/facealign}
what=${1:-all}
mkdir -p runs/exp
run() {  # config seed val-spec
  local cfg=$1 seed=$2 val=$3 name
  name=$(basename "$cfg" .toml)-$(basename "$(dirname "$cfg")")-s$seed
  if [ -f "runs/exp/$name/eval.json" ]; then return; fi
  rm -rf "runs/exp/$name"
  local t0=$(date +%s)
  $B train "$cfg" --set seed=$seed --out "runs/exp/$name" --quiet > "runs/exp/$name.log" 2>&1
  local t1=$(date +%s)
  $B eval --model "runs/exp/$name" --data "$val" --json "runs/exp/$name/eval.json" > "runs/exp/$name/eval.md"
  printf '%s\t%s\n' "$name" $((t1 - t0)) >> runs/exp/times.tsv
  echo "$name: $((t1 - t0)) s; $(grep -m1 '| all |' "runs/exp/$name/eval.md")"
}
INF='pts:../shared/data/infanface/train#@configs/infanface/val_ids.txt'
MTFL='mtfl:../shared/data/mtfl/train.txt#@configs/mtfl/val_ids.txt'
# Priority order: the L2-vs-ACR comparisons with 3 seeds first, then the ablations.
if [ "$what" = main ] || [ "$what" = all ]; then
  for seed in 0 1 2; do
    for c in mnv2_l2 mnv2_acr; do run configs/infanface/$c.toml $seed "$INF"; done
  done
  for seed in 0 1 2; do
    for c in mnv2_l2 mnv2_acr; do run configs/mtfl/$c.toml $seed "$MTFL"; done
  done
fi
if [ "$what" = ablations ] || [ "$what" = all ]; then
  for seed in 0 1 2; do
    for c in mnv2_wing mnv2_asm mnv2_acr_lambda1 mnv2_acr_lambda3 asmnet_l2 asmnet_asm; do
      run configs/infanface/$c.toml $seed "$INF"
    done
  done
fi
