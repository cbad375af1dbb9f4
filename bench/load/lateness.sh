#!/usr/bin/env bash
# The generator's own lateness at fixed rates (run by hand, never in CI). See README.md,
# "Generator lateness".
#   bench/load/lateness.sh            RATES="10 100 1000 10000" RUNS=3 LATE_S=5
# For each rate: intended-time latency p50/p99 against service time p50/p99 of the same
# run (the peer: the gap is what the generator adds), dispatch lag p50/p99, and the
# generator's CPU (user+sys over the run's length, GNU time). Medians of RUNS runs.
# Generator pinned to core 0, target (examples/hello) to core 1, as bench/load/run.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=bench/load/hello.sh
source "$ROOT/bench/load/hello.sh"
NF=${NF:-$ROOT/target/release/ninefold}
HELLO=${HELLO:-$ROOT/target/release/examples/hello}
PORT=${PORT:-18191}
URL=http://127.0.0.1:$PORT/
RUNS=${RUNS:-3}
LATE_S=${LATE_S:-5}
RATES=${RATES:-10 100 1000 10000}
OUT=${OUT:-$ROOT/target/bench-lateness}
mkdir -p "$OUT"

need_release_builds

start_hello "$PORT" 1
trap 'kill $TARGET 2>/dev/null || true' EXIT

echo "commit $(git -C "$ROOT" rev-parse --short HEAD), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "| rate | latency p50 | latency p99 | service p50 | service p99 | dispatch lag p50 | dispatch lag p99 | generator CPU |\n"
printf "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
for r in $RATES; do
  : >"$OUT/rate-$r.tsv"
  for i in $(seq "$RUNS"); do
    /usr/bin/time -f "%U %S %e" -o "$OUT/nf.time" \
      taskset -c 0 "$NF" attack "$URL" --rate "$r" -c 10 -d "${LATE_S}s" --workers 1 --json >"$OUT/nf.json" || true
    python3 - "$OUT/nf.json" "$OUT/nf.time" >>"$OUT/rate-$r.tsv" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
u, s, e = map(float, open(sys.argv[2]).read().split()[-3:])
def q(k, p):
    v = d.get(k)
    return "nan" if v is None else f"{v[p]:.3f}"
# CPU over the attack's own traffic duration (start-up and the report are ~tens of ms).
print("\t".join([q("latency_ms", "p50"), q("latency_ms", "p99"),
                 q("service_time_ms", "p50"), q("service_time_ms", "p99"),
                 q("dispatch_lag_ms", "p50"), q("dispatch_lag_ms", "p99"),
                 f"{(u + s) / d['duration_s'] * 100:.1f}"]))
PY
  done
  python3 - "$r" "$OUT/rate-$r.tsv" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[2]).read().split("\n") if l]
med = [statistics.median(float(r[i]) for r in rows) for i in range(7)]
ms = [f"{v:.3f} ms" for v in med[:6]]
print(f"| {sys.argv[1]} req/s | " + " | ".join(ms) + f" | {med[6]:.1f}% of a core |")
PY
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
