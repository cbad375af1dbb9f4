#!/usr/bin/env bash
# Instructions (and syscalls) per request of the load generator: `ninefold attack` vs wrk
# (and oha when installed), counted rather than timed, so the figures hold on a machine
# shared with other work. See README.md.
#
#   bench/load/instructions.sh [N=40000] [CONNECTIONS=50]
#
# Each generator runs flat out (closed loop) against examples/hello under
# `valgrind --tool=callgrind`, twice: a short and a long run. Instructions per request
# = (Ir_long − Ir_short) / (requests_long − requests_short), which cancels start-up and
# shut-down (runtime, histograms, the final report). ninefold and oha stop after a
# request count (-n N/4 and -n N); wrk only stops after a duration (-d 2s and -d 8s
# under callgrind), and reports how many it sent. Syscalls per request come the same
# way from `strace -c -f`.
# Writes the long runs' callgrind profiles to $OUT (default target/bench-load-instr) for
# `callgrind_annotate --inclusive=yes FILE | head -60`.
# Needs: apt-get install -y valgrind strace wrk; a release build (done here).
set -euo pipefail
N=${1:-40000}
CONNS=${2:-50}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=bench/load/hello.sh
source "$ROOT/bench/load/hello.sh"
OUT=${OUT:-$ROOT/target/bench-load-instr}
NF=${NF:-$ROOT/target/release/ninefold}
HELLO=$ROOT/target/release/examples/hello
OHA=${OHA:-$(command -v oha || true)}
PORT=${PORT:-18191}
URL=http://127.0.0.1:$PORT/
mkdir -p "$OUT"
WORK=$(mktemp -d)

if [[ -z ${NO_BUILD:-} ]]; then
  cargo build --release -q --bin ninefold --example hello --manifest-path "$ROOT/Cargo.toml"
fi

start_hello "$PORT"
trap 'kill $TARGET 2>/dev/null || true; rm -rf "$WORK"' EXIT

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'d': d}))" "$@"; }
# Total instructions of a finished callgrind run.
ir_of() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }
# Total syscalls of an `strace -c` summary.
sys_of() { awk '$NF=="total" {print $4}' "$1"; }

# gen NAME SIZE WRAPPER...: runs generator NAME (short or long run) under WRAPPER; prints
# the number of requests it completed.
gen() {
  local name=$1 size=$2; shift 2
  local n=$((N / 4)) d=2s
  [[ $size == long ]] && n=$N d=8s
  case $name in
    ninefold)
      "$@" "$NF" attack "$URL" -n "$n" -c "$CONNS" --workers 1 --timeout 60s --json >"$WORK/nf.json" || true
      json "$WORK/nf.json" "d['outcomes']['ok']"
      ;;
    wrk)
      "$@" wrk -t1 -c"$CONNS" -d"$d" --timeout 60s "$URL" >"$WORK/wrk.txt"
      awk '/requests in/ {print $1}' "$WORK/wrk.txt"
      ;;
    oha)
      "$@" "$OHA" -n "$n" -c "$CONNS" --no-tui --output-format json "$URL" >"$WORK/oha.json" 2>/dev/null
      json "$WORK/oha.json" "d['statusCodeDistribution'].get('200', 0)"
      ;;
  esac
}

: >"$WORK/results"
generators=(ninefold wrk)
[[ -n $OHA ]] && generators+=(oha)
for name in "${generators[@]}"; do
  declare -A req=() ir=() sys=()
  for size in short long; do
    prof=$OUT/$name.$size.callgrind
    req[$size]=$(gen "$name" "$size" valgrind --tool=callgrind --callgrind-out-file="$prof" --dump-line=no)
    ir[$size]=$(ir_of "$prof")
    sreq=$(gen "$name" "$size" strace -c -f -o "$WORK/$name.$size.strace")
    sys[$size]=$(sys_of "$WORK/$name.$size.strace")
    sys[$size.req]=$sreq
  done
  python3 - "$name" "${req[short]}" "${req[long]}" "${ir[short]}" "${ir[long]}" \
    "${sys[short.req]}" "${sys[long.req]}" "${sys[short]}" "${sys[long]}" <<'PY' | tee -a "$WORK/results"
import sys
name = sys.argv[1]
r0, r1, i0, i1, s_r0, s_r1, s0, s1 = map(float, sys.argv[2:])
print(f"{name} {(i1 - i0) / (r1 - r0):.0f} {(s1 - s0) / (s_r1 - s_r0):.2f} {r1:.0f}")
PY
done

python3 - "$WORK/results" <<'PY'
import sys
rows = {l.split()[0]: (float(l.split()[1]), float(l.split()[2])) for l in open(sys.argv[1])}
print("per request (long run − short run): instructions, syscalls")
for name, (ir, sy) in rows.items():
    print(f"  {name:<10} {ir:>8.0f} instr  {sy:>5.2f} syscalls   instr ratio to wrk {ir / rows['wrk'][0]:.2f}")
PY
