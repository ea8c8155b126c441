#!/usr/bin/env bash
# Issue 13 (session 18): five-fold cross-validation of an infant recipe on all 210 InfAnFace training faces,
# so that every face is a held-out face once and InfAnFace's Common subset (no attribute; 47 faces) is
# measured on more than the 9 of the 40-face validation split.
#   fold 0 = configs/infanface/val_ids.txt, folds 1-4 = configs/infanface/cv5_fold{1..4}_ids.txt
#   (scripts/make_splits.py). Each fold trains the recipe on the other faces (runs/infant/NAME-cvK,
#   resumed where a session stopped) and is scored at its LAST epoch (no face of the fold picks anything),
#   exported and calibrated as a shipped file is (the detector-box fit uses the true boxes of all 210 faces,
#   no model output, as the shipped file's does); the table pools the five folds (face-weighted means).
# Usage: [FACEALIGN=bin] [JOBS=2] scripts/infant_cv.sh CONFIG NAME [FOLD0_RUN]
#   FOLD0_RUN: an existing run of CONFIG on val_ids.txt (e.g. runs/infant/hm_ft_a68hmr3d_r90-s0) stands in for
#   fold 0. `EVAL_ONLY=1` skips training (pools the folds that are finished); `ONLY=IDS_FILE` scores only
#   the faces listed there (e.g. those dlib's detector finds: scripts/dlib_infants.py --found); `FOLDS="0 1 2"`
#   trains and pools only those folds (a paired comparison of two recipes on the folds both finished);
#   `SET="key=value ..."` overrides config keys of every fold (e.g. `SET=init_from=adult68-heatmap` starts
#   from the shipped file when the run the config names is not on this machine).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${FACEALIGN:-./target/release/facealign}
[ $# -ge 2 ] || { sed -n '2,16p' "$0"; exit 2; }
cfg=$1 name=$2 fold0=${3:-runs/infant/$2-cv0}
T=../shared/data/infanface/train
ids() { if [ "$1" = 0 ]; then echo configs/infanface/val_ids.txt; else echo "configs/infanface/cv5_fold$1_ids.txt"; fi; }
dir() { if [ "$1" = 0 ]; then echo "$fold0"; else echo "runs/infant/$name-cv$1"; fi; }
finished() {  # RUN: its metrics.csv has a row per epoch of its config
  [ -f "$1/last.safetensors" ] && python3 - "$1" <<'PY'
import csv, sys, tomllib
d = sys.argv[1]
sys.exit(len(list(csv.DictReader(open(f'{d}/metrics.csv')))) != tomllib.load(open(f'{d}/config.toml', 'rb'))['epochs'])
PY
}
train_fold() {
  local d; d=$(dir "$1")
  if finished "$d"; then return; fi
  if [ -f "$d/config.toml" ]; then
    "$B" train --quiet --resume "$d" >>"$d.log" 2>&1
  else
    mkdir -p "$(dirname "$d")"
    local sets=(--set "data.val_ids=$(ids "$1")") kv
    for kv in ${SET:-}; do sets+=(--set "$kv"); done
    "$B" train --quiet "$cfg" "${sets[@]}" --out "$d" >>"$d.log" 2>&1
  fi
}
if [ -z "${EVAL_ONLY:-}" ]; then
  running=0
  for k in ${FOLDS:-0 1 2 3 4}; do
    train_fold "$k" &
    running=$((running + 1))
    if [ "$running" -ge "${JOBS:-2}" ]; then wait -n; running=$((running - 1)); fi
  done
  wait
fi

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for k in ${FOLDS:-0 1 2 3 4}; do
  d=$(dir "$k")
  finished "$d" || { echo "fold $k ($d): not finished, left out" >&2; continue; }
  "$B" model export "$d/last.safetensors" "$tmp/fold$k.safetensors" >/dev/null
  "$B" model calibrate "$tmp/fold$k.safetensors" --data "pts:$T" >/dev/null
  "$B" model calibrate --detector yunet "$tmp/fold$k.safetensors" --data "pts:$T" >/dev/null
  "$B" model calibrate --detector yunet-320 "$tmp/fold$k.safetensors" --data "pts:$T" >/dev/null
  grep -v '^#' "$(ids "$k")" | sort >"$tmp/ids$k.txt"
  if [ -n "${ONLY:-}" ]; then
    grep -v '^#' "$ONLY" | sort | comm -12 "$tmp/ids$k.txt" - >"$tmp/only$k.txt"
    mv "$tmp/only$k.txt" "$tmp/ids$k.txt"
  fi
  while IFS='|' read -r tag proto; do
    # shellcheck disable=SC2086 # the protocol is a list of flags
    "$B" eval --model "$tmp/fold$k.safetensors" --data "pts:$T#@$tmp/ids$k.txt" $proto \
      | grep -E '^\| fold' | sed "s/^/$tag|/" >>"$tmp/rows"
  done <<'P'
one crop|
--refine 1|--refine 1
--refine 1 --flip-average|--refine 1 --flip-average
end to end --refine 1|--detector ultraface-rfb --refine 1
end to end --refine 1 --flip-average|--detector ultraface-rfb --refine 1 --flip-average
end to end --refine 1 --search-turned|--detector ultraface-rfb --refine 1 --search-turned
end to end --refine 1, detectors ultraface-rfb then yunet|--detector ultraface-rfb,yunet --refine 1
end to end --refine 1 --search-turned, detectors ultraface-rfb then yunet|--detector ultraface-rfb,yunet --refine 1 --search-turned
end to end --refine 1 --flip-average --search-turned, detectors ultraface-rfb then yunet|--detector ultraface-rfb,yunet --refine 1 --flip-average --search-turned
end to end --refine 1, detectors ultraface-rfb then yunet-320|--detector ultraface-rfb,yunet-320 --refine 1
end to end --refine 1 --search-turned, detectors ultraface-rfb then yunet-320|--detector ultraface-rfb,yunet-320 --refine 1 --search-turned
end to end --refine 1 --flip-average --search-turned, detectors ultraface-rfb then yunet-320|--detector ultraface-rfb,yunet-320 --refine 1 --flip-average --search-turned
end to end --refine 1, detectors yunet-320 then ultraface-rfb|--detector yunet-320,ultraface-rfb --refine 1
end to end --refine 1 --search-turned, detectors yunet-320 then ultraface-rfb|--detector yunet-320,ultraface-rfb --refine 1 --search-turned
end to end --refine 1 --flip-average --search-turned, detectors yunet-320 then ultraface-rfb|--detector yunet-320,ultraface-rfb --refine 1 --flip-average --search-turned
P
done
# Pool: rows are `tag|| model | subset | n | NME | median | FR8 | FR10 | AUC |`; face-weighted means.
python3 - "$tmp/rows" <<'PY'
import sys
acc = {}
for line in open(sys.argv[1]):
    tag, rest = line.split('|', 1)
    f = [x.strip() for x in rest.strip().strip('|').split('|')]
    if f[1] not in ('all', 'common', 'challenging'):
        continue  # the attribute subsets, and the per-part table
    sub, n, nme, fr10 = f[1], int(f[2]), float(f[3]), float(f[6])
    a = acc.setdefault((tag, sub), [0, 0.0, 0.0, 0])
    a[0] += n; a[1] += n * nme; a[2] += n * fr10; a[3] += 1
print('| protocol | subset | folds | faces | NME % (ocular) | FR@0.10 % |')
print('|---|---|---|---|---|---|')
for (tag, sub), (n, s, fr, k) in acc.items():
    print(f'| {tag} | {sub} | {k} | {n} | {s / n:.2f} | {fr / n:.1f} |')
PY
