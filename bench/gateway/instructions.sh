#!/usr/bin/env bash
# Instructions (and syscalls) per proxied request: the reference gateway vs nginx, counted
# rather than timed, so the figures hold on a machine shared with other work.
#
#   bench/gateway/instructions.sh [N=20000] [CONNECTIONS=50] [WARMUP=2000]
#
# For each proxy (nginx proxy_pass + keepalive, 1 worker; gateway plain; gateway with HS256
# JWT + usage plan + least-request) in front of the same two hello backends:
#   1. start it under `valgrind --tool=callgrind`, send WARMUP requests (connections to the
#      backends, allocator and caches warm), zero the counters (`callgrind_control -z`),
#      send exactly N requests with `ninefold attack -n N -c CONNECTIONS` (closed loop,
#      native speed), dump the counters (`callgrind_control -d`): instructions / N;
#   2. start it again natively, attach `strace -c -f` for N requests: syscalls / N.
# Writes callgrind profiles to $OUT (default target/bench-gateway-instr) for
# `callgrind_annotate --inclusive=yes FILE | head -60`.
# Needs: apt-get install -y valgrind strace nginx; a release build (done here).
set -euo pipefail
N=${1:-20000}
CONNS=${2:-50}
WARMUP=${3:-2000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$ROOT/target/bench-gateway-instr}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$OUT"

if [[ -z ${NO_BUILD:-} ]]; then
  cargo build --release -q -p reference-gateway --example bench_gateway --manifest-path "$ROOT/Cargo.toml"
  cargo build --release -q -p ninefold --bin ninefold --example hello --manifest-path "$ROOT/Cargo.toml"
fi
BIN=$ROOT/target/release
GATEWAY=${GATEWAY:-$BIN/examples/bench_gateway}
NF=$BIN/ninefold

# Waits for a JSON ready line in FILE and prints the value of KEY.
ready() {
  local file=$1 key=$2
  for _ in $(seq 1 600); do
    if grep -q '"event":"ready"' "$file" 2>/dev/null; then
      grep '"event":"ready"' "$file" | head -1 | sed -E "s/.*\"$key\":\"([^\"]+)\".*/\1/"
      return 0
    fi
    sleep 0.1
  done
  echo "timeout waiting for $file" >&2
  return 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 600); do curl -fs "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

"$BIN/examples/hello" 127.0.0.1:0 b1 >"$WORK/b1.out" & PIDS+=($!)
"$BIN/examples/hello" 127.0.0.1:0 b2 >"$WORK/b2.out" & PIDS+=($!)
B1=$(ready "$WORK/b1.out" addr)
B2=$(ready "$WORK/b2.out" addr)

nginx_conf() {
  local dir=$1 port=$2
  mkdir -p "$dir/logs"
  cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
master_process off;
daemon off;
error_log $dir/logs/error.log warn;
pid $dir/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  upstream backends { server $B1; server $B2; keepalive 64; }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
}

# attack URL COUNT [header]: exactly COUNT requests, closed loop, from core 0.
attack() {
  local url=$1 count=$2; shift 2
  local out
  out=$("$NF" attack "$url" -n "$count" -c "$CONNS" --workers 1 --timeout 60s --json "$@" || true)
  # A stray failure (a timeout under valgrind) does not spoil the count; report it.
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); ok=d["outcomes"].get("ok",0); n=d["requests"]
o, st = d["outcomes"], d["statuses"]
if ok != n: print(f"warning: {ok} of {n} requests answered 2xx: {o} {st}", file=sys.stderr)' "$out"
}

# start NAME WRAPPER...: starts the proxy NAME under the given wrapper command (maybe none),
# sets PROXY_PID and URL (and TOKEN for the JWT gateway).
start() {
  local name=$1; shift
  TOKEN=
  case $name in
    nginx)
      local port; port=$(free_port)
      rm -rf "$WORK/nginx"; nginx_conf "$WORK/nginx" "$port"
      "$@" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/$name.out" 2>&1 & PROXY_PID=$!
      URL="http://127.0.0.1:$port/"
      wait_http "$URL"
      ;;
    gateway_plain)
      "$@" "$GATEWAY" --upstream "$B1" --upstream "$B2" >"$WORK/$name.out" 2>"$WORK/$name.err" & PROXY_PID=$!
      URL="http://$(ready "$WORK/$name.out" addr)/"
      ;;
    gateway_jwt_plan_lr)
      "$@" "$GATEWAY" --upstream "$B1" --upstream "$B2" --balance least-request \
        --jwt-secret bench-secret --plan-rate 1000000000 --plan-burst 1000000 >"$WORK/$name.out" 2>"$WORK/$name.err" & PROXY_PID=$!
      URL="http://$(ready "$WORK/$name.out" addr)/"
      for _ in $(seq 1 100); do grep -q '"event":"token"' "$WORK/$name.out" && break; sleep 0.1; done
      TOKEN=$(grep '"event":"token"' "$WORK/$name.out" | sed -E 's/.*"token":"([^"]+)".*/\1/')
      # A request without a token must be refused, or this measures nothing.
      test "$(curl -s -o /dev/null -w '%{http_code}' "$URL")" = 401
      ;;
  esac
  PIDS+=("$PROXY_PID")
}
auth_args() { [[ -n $TOKEN ]] && printf '%s\n' -H "Authorization: Bearer $TOKEN"; true; }

stop() { kill -INT "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true; }

: >"$WORK/results"
# PROXIES="gateway_plain" measures a subset (nginx's own figure is steady at ~17.2k).
for name in ${PROXIES:-nginx gateway_plain gateway_jwt_plan_lr}; do
  # 1. instructions
  prof=$OUT/$name.callgrind
  rm -f "$prof"*
  start "$name" valgrind --tool=callgrind --callgrind-out-file="$prof" --dump-line=no
  mapfile -t AUTH < <(auth_args)
  attack "$URL" "$WARMUP" "${AUTH[@]}"
  callgrind_control -z "$PROXY_PID" >/dev/null
  attack "$URL" "$N" "${AUTH[@]}"
  callgrind_control -d "$PROXY_PID" >/dev/null
  stop
  dump=$prof.1 # part 1: the counters from the zero to the dump
  ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
  # 2. syscalls
  start "$name"
  mapfile -t AUTH < <(auth_args)
  attack "$URL" "$WARMUP" "${AUTH[@]}"
  strace -c -f -p "$PROXY_PID" -o "$WORK/$name.strace" 2>/dev/null & STRACE=$!
  sleep 1 # strace attaches asynchronously; nothing is sent meanwhile, so nothing is missed
  attack "$URL" "$N" "${AUTH[@]}"
  kill -INT "$STRACE"; wait "$STRACE" 2>/dev/null || true
  stop
  sys=$(awk '$NF=="total" {print $4}' "$WORK/$name.strace")
  python3 -c "import sys; ir,sy,n=map(float,sys.argv[2:]); print(f'{sys.argv[1]} {ir/n:.0f} {sy/n:.2f}')" "$name" "$ir" "$sys" "$N" | tee -a "$WORK/results"
done

python3 - "$WORK/results" "$N" <<'PY'
import sys
rows = {l.split()[0]: (float(l.split()[1]), float(l.split()[2])) for l in open(sys.argv[1])}
print(f"per request over N={sys.argv[2]}: instructions, syscalls")
for name, (ir, sy) in rows.items():
    ratio = f"   instr ratio to nginx {ir / rows['nginx'][0]:.2f}" if 'nginx' in rows else ""
    print(f"  {name:<22} {ir:>8.0f} instr  {sy:>5.2f} syscalls{ratio}")
PY
