#!/usr/bin/env bash
# Instructions and syscalls per request over TLS: `ninefold attack` vs wrk against the
# same nginx TLS server, counted rather than timed (the style of
# bench/load/instructions.sh), so the figures hold on a machine shared with other work.
# See README.md.
#
#   bench/tls/instructions.sh [N=8000] [CONNECTIONS=50]
#
# Each generator runs flat out (closed loop) under `valgrind --tool=callgrind`, a short
# and a long run; instructions per request = (Ir_long − Ir_short) / (requests_long −
# requests_short), which cancels start-up, the 50 handshakes and shut-down. ninefold stops
# after -n N/4 and -n N requests, wrk after -d 8s and -d 20s (it says how many it sent;
# WRK_SHORT, WRK_LONG).
# Syscalls per request come the same way from `strace -c -f`. Also prints the server's
# (nginx's) CPU per request under each generator at full speed (`SERVER_S` seconds, default
# 5, no valgrind): the work a generator's way of sending costs the other side.
# Long-run profiles land in $OUT (default target/bench-tls-instr) for callgrind_annotate.
# Needs: apt-get install -y valgrind strace wrk nginx openssl; a release build
# (NO_BUILD=1 to use the one there, NF=… for another binary).
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
N=${1:-8000}
CONNS=${2:-50}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$ROOT/target/bench-tls-instr}
NF=${NF:-${CARGO_TARGET_DIR:-$ROOT/target}/release/ninefold}
SERVER_S=${SERVER_S:-5}
mkdir -p "$OUT"

if [[ -z ${NO_BUILD:-} ]]; then
  cargo build --release -q --bin ninefold --manifest-path "$ROOT/Cargo.toml"
fi
command -v wrk >/dev/null && command -v nginx >/dev/null && command -v valgrind >/dev/null \
  && command -v strace >/dev/null || { echo "needs wrk, nginx, valgrind, strace" >&2; exit 2; }

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# shellcheck source=bench/tls/server.sh
source "$ROOT/bench/tls/server.sh"
tls_server "$WORK" # sets PORT, URL, CA, NGINX_PID (and adds it to PIDS)

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'d': d}))" "$@"; }
ir_of() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }
sys_of() { awk '$NF=="total" {print $4}' "$1"; }
# nginx's worker CPU so far, in clock ticks (utime + stime of every nginx process).
server_ticks() {
  local t=0 p
  for p in $(pgrep -P "$NGINX_PID") "$NGINX_PID"; do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$t"
}

# gen NAME SIZE WRAPPER...: runs generator NAME under WRAPPER; prints its completed requests.
gen() {
  local name=$1 size=$2; shift 2
  # wrk's 50 OpenSSL handshakes alone take several seconds under callgrind: its runs are
  # longer than bench/load's so that both have sent requests after them.
  local n=$((N / 4)) d=${WRK_SHORT:-8s}
  [[ $size == long ]] && n=$N d=${WRK_LONG:-20s}
  [[ $size == timed ]] && n=0 d=${SERVER_S}s
  case $name in
    ninefold)
      local limit=(-n "$n")
      [[ $n == 0 ]] && limit=(-d "$d")
      "$@" "$NF" attack "$URL" "${limit[@]}" -c "$CONNS" --workers 1 --timeout 60s \
        --ca-file "$CA" --json >"$WORK/nf.json" || true
      json "$WORK/nf.json" "d['outcomes']['ok']"
      ;;
    wrk)
      "$@" wrk -t1 -c"$CONNS" -d"$d" --timeout 60s "$URL" >"$WORK/wrk.txt"
      awk '/requests in/ {print $1}' "$WORK/wrk.txt"
      ;;
  esac
}

: >"$WORK/results"
for name in ninefold wrk; do
  declare -A req=() ir=() sys=()
  for size in short long; do
    prof=$OUT/$name.$size.callgrind
    req[$size]=$(gen "$name" "$size" valgrind --tool=callgrind --callgrind-out-file="$prof" --dump-line=no)
    ir[$size]=$(ir_of "$prof")
    sreq=$(gen "$name" "$size" strace -c -f -o "$WORK/$name.$size.strace")
    sys[$size]=$(sys_of "$WORK/$name.$size.strace")
    sys[$size.req]=$sreq
  done
  cp "$WORK/$name.long.strace" "$OUT/$name.long.strace"
  # The server's CPU per request while this generator runs flat out (its own core 0).
  before=$(server_ticks)
  sreq=$(gen "$name" timed taskset -c 0)
  after=$(server_ticks)
  python3 - "$name" "${req[short]}" "${req[long]}" "${ir[short]}" "${ir[long]}" \
    "${sys[short.req]}" "${sys[long.req]}" "${sys[short]}" "${sys[long]}" \
    "$sreq" "$((after - before))" "$(getconf CLK_TCK)" <<'PY' | tee -a "$WORK/results"
import sys
name = sys.argv[1]
r0, r1, i0, i1, s_r0, s_r1, s0, s1, tr, ticks, hz = map(float, sys.argv[2:])
server_us = ticks / hz / tr * 1e6 if tr else float("nan")
print(f"{name} {(i1 - i0) / (r1 - r0):.0f} {(s1 - s0) / (s_r1 - s_r0):.2f} {server_us:.2f} {tr:.0f}")
PY
done

python3 - "$WORK/results" "$SERVER_S" <<'PY'
import sys
rows = {l.split()[0]: [float(x) for x in l.split()[1:]] for l in open(sys.argv[1])}
secs = float(sys.argv[2])
print("per request over TLS (long run − short run): instructions, syscalls; nginx CPU per request at full speed")
for name, (ir, sy, srv, reqs) in rows.items():
    print(f"  {name:<10} {ir:>8.0f} instr  {sy:>5.2f} syscalls   instr ratio to wrk {ir / rows['wrk'][0]:.2f}"
          f"   nginx {srv:.2f} us/req ({reqs / secs:.0f} req/s over {secs:.0f} s)")
PY
