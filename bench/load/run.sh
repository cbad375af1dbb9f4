#!/usr/bin/env bash
# Load-engine benchmarks (run by hand, never in CI). See README.md.
#   bench/load/run.sh [flat|rate|memory|all]
# Generator pinned to core 0, target (examples/hello, one current-thread runtime) to core 1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=bench/load/hello.sh
source "$ROOT/bench/load/hello.sh"
NF=${NF:-$ROOT/target/release/ninefold}
HELLO=$ROOT/target/release/examples/hello
OHA=${OHA:-$(command -v oha || true)}
PORT=${PORT:-18181}
URL=http://127.0.0.1:$PORT/
RUNS=${RUNS:-3}
FLAT_S=${FLAT_S:-10}
RATE_S=${RATE_S:-30}
OUT=${OUT:-$ROOT/target/bench-load}
mkdir -p "$OUT"

need_release_builds

start_hello "$PORT" 1
trap 'kill $TARGET 2>/dev/null || true' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# CPU seconds (user+sys) of a command, from GNU time's "%U %S" written to $1.
cpu_of() { awk '{print $1 + $2}' "$1"; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'d': d}))" "$@"; }

flat() {
  echo "== flat out, ${FLAT_S}s, 50 connections, ${RUNS} runs (generator on core 0, target on core 1)"
  : >"$OUT/flat.tsv"
  for i in $(seq "$RUNS"); do
    /usr/bin/time -f "%U %S" -o "$OUT/wrk.time" taskset -c 0 wrk -t1 -c50 -d"${FLAT_S}s" "$URL" >"$OUT/wrk.txt"
    local wrk_rps wrk_req wrk_cpu
    wrk_rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk.txt")
    wrk_req=$(awk '/requests in/ {print $1}' "$OUT/wrk.txt")
    wrk_cpu=$(cpu_of "$OUT/wrk.time")
    /usr/bin/time -f "%U %S" -o "$OUT/nf.time" taskset -c 0 "$NF" attack "$URL" -c 50 -d "${FLAT_S}s" --workers 1 --json >"$OUT/nf.json" || true
    local nf_rps nf_req nf_cpu
    nf_rps=$(json "$OUT/nf.json" "d['rps']")
    nf_req=$(json "$OUT/nf.json" "d['requests']")
    nf_cpu=$(cpu_of "$OUT/nf.time")
    python3 - "$wrk_rps" "$wrk_req" "$wrk_cpu" "$nf_rps" "$nf_req" "$nf_cpu" >>"$OUT/flat.tsv" <<'PY'
import sys
wr, wq, wc, nr, nq, nc = map(float, sys.argv[1:])
wus, nus = wc / wq * 1e6, nc / nq * 1e6
print(f"{nr/wr:.3f}\t{nus/wus:.3f}\t{wr:.0f}\t{nr:.0f}\t{wus:.2f}\t{nus:.2f}")
PY
    tail -1 "$OUT/flat.tsv" | awk -F'\t' '{printf "run: wrk %s req/s (%s us CPU/req), ninefold %s req/s (%s us CPU/req): ratio %s, CPU ratio %s\n", $3, $5, $4, $6, $1, $2}'
  done
  echo "median req/s ratio ninefold/wrk: $(cut -f1 "$OUT/flat.tsv" | median)   (target >= 1.0)"
  echo "median CPU/request ratio ninefold/wrk: $(cut -f2 "$OUT/flat.tsv" | median)   (target <= 1.2)"
}

rate() {
  for r in ${RATES:-10000 20000}; do
    echo "== fixed rate ${r} req/s for ${RATE_S}s, 50 connections, ${RUNS} runs"
    : >"$OUT/rate-$r.tsv"
    for i in $(seq "$RUNS"); do
      taskset -c 0 "$NF" attack "$URL" --rate "$r" -c 50 -d "${RATE_S}s" --workers 1 --json >"$OUT/nf-rate.json" || true
      local err p99 oha_p99=nan
      err=$(json "$OUT/nf-rate.json" "abs(d['rps'] - $r) / $r * 100")
      p99=$(json "$OUT/nf-rate.json" "d['latency_ms']['p99']")
      if [[ -n $OHA ]]; then
        taskset -c 0 "$OHA" "$URL" -z "${RATE_S}s" -q "$r" --latency-correction -c 50 --no-tui --output-format json >"$OUT/oha.json" 2>/dev/null || true
        oha_p99=$(json "$OUT/oha.json" "d['latencyPercentiles']['p99'] * 1000" 2>/dev/null || echo nan)
      fi
      printf "%s\t%s\t%s\n" "$err" "$p99" "$oha_p99" >>"$OUT/rate-$r.tsv"
      echo "run: ninefold rate error ${err}%, p99 ${p99} ms; oha p99 ${oha_p99} ms"
    done
    echo "median rate error: $(cut -f1 "$OUT/rate-$r.tsv" | median)%  (target <= 0.1%)"
    echo "median p99: ninefold $(cut -f2 "$OUT/rate-$r.tsv" | median) ms, oha $(cut -f3 "$OUT/rate-$r.tsv" | median) ms"
  done
}

memory() {
  local rate=${MEM_RATE:-2000}
  echo "== memory: peak RSS of a 60 s vs a 10 s run at ${rate} req/s, ${RUNS} runs"
  : >"$OUT/memory.tsv"
  for i in $(seq "$RUNS"); do
    local short long
    /usr/bin/time -f "%M" -o "$OUT/short.rss" taskset -c 0 "$NF" attack "$URL" --rate "$rate" -c 50 -d 10s --workers 1 --json >/dev/null || true
    /usr/bin/time -f "%M" -o "$OUT/long.rss" taskset -c 0 "$NF" attack "$URL" --rate "$rate" -c 50 -d 60s --workers 1 --json >/dev/null || true
    short=$(tail -1 "$OUT/short.rss"); long=$(tail -1 "$OUT/long.rss")
    printf "%s\n" "$(python3 -c "print(f'{$long/$short:.3f}')")" >>"$OUT/memory.tsv"
    echo "run: peak RSS 10 s ${short} KiB, 60 s ${long} KiB"
  done
  echo "median RSS ratio 60 s / 10 s: $(median <"$OUT/memory.tsv")  (target <= 1.10)"
}

case ${1:-all} in
  flat) flat ;;
  rate) rate ;;
  memory) memory ;;
  all) flat; rate; memory ;;
  *) echo "usage: $0 [flat|rate|memory|all]" >&2; exit 2 ;;
esac
