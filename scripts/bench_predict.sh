#!/usr/bin/env bash
# Issue 17: end-to-end `facealign predict` time per photo (decode + detector + landmarks with the
# default refinement), on a folder of N one-face 500x375 JPEGs (five bundled fixture photos,
# cycled; crates/facealign-infer/examples/bench_photos.rs). The marginal time per photo is
# (t(N photos) - t(1 photo)) / (N - 1): start-up (model and detector load) cancels. Each timing is
# the best of REPS runs; wall clock and CPU (user + sys) are both printed.
# Usage: [FACEALIGN=path] [N=33] [REPS=3] scripts/bench_predict.sh [extra predict flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${FACEALIGN:-./target/release/facealign}
N=${N:-33}
REPS=${REPS:-3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cargo run -q --release -p facealign-infer --example bench_photos -- "$dir/all" "$N" > /dev/null
mkdir "$dir/one"
cp "$dir/all/photo_000.jpg" "$dir/one/"
best() { # best wall and CPU seconds of REPS runs of: predict FOLDER extra...
  local folder=$1; shift
  for _ in $(seq "$REPS"); do
    /usr/bin/time -f '%e %U %S' -o "$dir/t" "$B" predict "$folder" --json "$dir/out.json" "$@" > /dev/null
    awk '{print $1, $2 + $3}' "$dir/t"
  done | sort -n | head -1
}
read -r w1 c1 < <(best "$dir/one" "$@")
read -r wn cn < <(best "$dir/all" "$@")
faces=$(grep -o '"landmarks"' "$dir/out.json" | wc -l)
awk -v w1="$w1" -v c1="$c1" -v wn="$wn" -v cn="$cn" -v n="$N" -v f="$faces" -v flags="$*" 'BEGIN {
  printf "predict %s: 1 photo %.2f s wall, %d photos %.2f s wall (%d faces); per photo %.1f ms wall, %.1f ms CPU\n",
    flags, w1, n, wn, f, 1000 * (wn - w1) / (n - 1), 1000 * (cn - c1) / (n - 1) }'
