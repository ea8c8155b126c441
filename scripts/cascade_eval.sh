#!/usr/bin/env bash
# Issue 13, session 32: a first model alone or with a refine model (a cascade, `--refine-model`) on the held-out
# protocols of the annealing study (docs/RESULTS.md): AFLW validation and test (19 true points, NME by box), AFLW
# validation turned 45° and 60°, the 51 adult fixture faces from the ground-truth box, and the 33 faces of the
# adult test photos end to end from the default detectors. Rows `..._1`: the first model's one crop; `..._r`: one
# refinement pass, by the refine model when one is given (else by the first model itself).
# Usage: scripts/cascade_eval.sh OUT_DIR FIRST_MODEL [REFINE_MODEL]   (repository root; FACEALIGN=binary)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/adult_fixtures.sh  # B, F, ADULT
out=$1 first=$2
R=(); [ -n "${3:-}" ] && R=(--refine-model "$3")
mkdir -p "$out"
AV='coco:../shared/data/aflw/train.json#@configs/aflw/val_ids.txt'
AT='coco:../shared/data/aflw/train.json#@configs/aflw/test_ids.txt'
run() {
  local name=$1; shift
  $B eval --model "$first" "$@" --json "$out/$name.json.tmp" > "$out/$name.md.tmp"
  mv "$out/$name.json.tmp" "$out/$name.json"; mv "$out/$name.md.tmp" "$out/$name.md"
}
run aflw_val_1 --norm box --data "$AV"
run aflw_val_r --norm box --data "$AV" --refine 1 "${R[@]}"
run aflw_test_1 --norm box --data "$AT"
run aflw_test_r --norm box --data "$AT" --refine 1 "${R[@]}"
run aflw_val_rot45_r --norm box --data "$AV" --rotate 45 --refine 1 "${R[@]}"
run aflw_val_rot60_r --norm box --data "$AV" --rotate 60 --refine 1 "${R[@]}"
run fix51_1 --data "${ADULT[@]}"
run fix51_r --data "${ADULT[@]}" --refine 1 "${R[@]}"
run e2e33_1 --detector ultraface-rfb,yunet-320 --data "${ADULT[@]:1}"
run e2e33_r --detector ultraface-rfb,yunet-320 --refine 1 "${R[@]}" --data "${ADULT[@]:1}"
# One line per protocol: NME % and FR@0.10 % of the whole set.
for f in aflw_val_1 aflw_val_r aflw_test_1 aflw_test_r aflw_val_rot45_r aflw_val_rot60_r fix51_1 fix51_r e2e33_1 e2e33_r; do
  printf '%s\t%s\n' "$f" "$(grep -m1 '| all |' "$out/$f.md" | awk -F'|' '{gsub(/ /,""); print $5 "\t" $8}')"
done | tee "$out/summary.tsv"
