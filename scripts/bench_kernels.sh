#!/usr/bin/env bash
# Issue 17: facealign's choice of tract kernels (AVX-512 off on AVX-512 CPUs, facealign_detect::kernels)
# against tract's own (TRACT_CPU_ISA set to the empty string), in interleaved pairs so that the
# drifts of a shared machine hit both alike. Per pair: `facealign bench --runtime tract` (batch-1
# latency, median of 300 runs) of three shipped models, then, with E2E=1, scripts/bench_predict.sh
# (end to end per one-face photo, N photos). Prints one line per run and the medians at the end.
# Usage: [FACEALIGN=path] [PAIRS=10] [E2E=1] [N=81] scripts/bench_kernels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
B=${FACEALIGN:-./target/release/facealign}
export FACEALIGN=$B
PAIRS=${PAIRS:-10}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
run() { # label, then any environment assignments for the run
  local label=$1; shift
  env "$@" "$B" bench --runtime tract --model adult68-fast --model adult68-heatmap-lite --model adult68 \
    --steps 300 --warmup 30 --json | python3 -c '
import json, sys
for m in json.load(sys.stdin):
    print(sys.argv[1], m["model"], "1t", m["tract_1t_ms"])
    print(sys.argv[1], m["model"], "2t", m["tract_2t_ms"])' "$label"
  if [ "${E2E:-0}" = 1 ]; then
    env "$@" N="${N:-81}" REPS=3 scripts/bench_predict.sh | awk -v l="$label" '{
      for (i = 1; i <= NF; i++) if ($i == "photo" && $(i + 2) == "ms" && $(i + 3) == "wall,") print l, "predict", "wall", $(i + 1);
      for (i = 1; i <= NF; i++) if ($(i + 1) == "ms" && $(i + 2) == "CPU") print l, "predict", "cpu", $i }'
  fi
}
for i in $(seq "$PAIRS"); do
  run facealign | tee -a "$out"
  run tract TRACT_CPU_ISA= | tee -a "$out"
done
python3 - "$out" <<'PY'
import statistics, sys
from collections import defaultdict
d = defaultdict(list)
for line in open(sys.argv[1]):
    label, what, kind, v = line.split()
    d[(what, kind, label)].append(float(v))
print("\n| measure | tract's own kernels | facealign's choice | facealign's faster in |")
print("|---|---|---|---|")
for what, kind in sorted({(w, k) for w, k, _ in d}):
    a, b = d[(what, kind, "tract")], d[(what, kind, "facealign")]
    wins = sum(x > y for x, y in zip(a, b))
    print(f"| {what} {kind} (ms) | {statistics.median(a):.2f} ({min(a):.2f}-{max(a):.2f}) | "
          f"{statistics.median(b):.2f} ({min(b):.2f}-{max(b):.2f}) | {wins} of {len(a)} |")
PY
