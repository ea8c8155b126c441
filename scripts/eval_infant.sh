#!/usr/bin/env bash
# Issue 13: the nine infant protocols of docs/RESULTS.md on the 40 validation infants
# (configs/infanface/val_ids.txt), rows `all`, `challenging` and `common` (InfAnFace's subsets: 31 and 9
# of the 40; since session 18) per model and protocol: one crop, refinement,
# flip averaging, a photo turned 45°, end to end with the default detector (upright, turned 45°, and
# with --search-turned at 45° and 90°).
# Usage: [FACEALIGN=path] scripts/eval_infant.sh MODEL [COMPARE...]   (shipped names, run folders or files)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${FACEALIGN:-./target/release/facealign}
V='pts:../shared/data/infanface/train#@configs/infanface/val_ids.txt'
[ $# -ge 1 ] || { sed -n '2,7p' "$0"; exit 2; }
m=$1; shift
cmp=(); for c in "$@"; do cmp+=(--compare "$c"); done
while IFS= read -r proto; do
  echo "== ${proto:-one crop}"
  # shellcheck disable=SC2086 # the protocol is a list of flags
  "$B" eval --model "$m" "${cmp[@]}" --data "$V" $proto | grep -E '\| (all|common|challenging) \|'
done <<'P'

--refine 1
--refine 1 --flip-average
--rotate 45 --refine 2
--detector ultraface-rfb --refine 1
--detector ultraface-rfb --refine 2
--detector ultraface-rfb --rotate 45 --refine 2
--detector ultraface-rfb --rotate 45 --refine 2 --search-turned
--detector ultraface-rfb --search-turned --rotate 90 --refine 2
P
