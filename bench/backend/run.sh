#!/usr/bin/env bash
# One mock backend instance vs a bare hyper hello-world server, same machine,
# same run, same load generator: wrk pinned to core 0, the server to core 1.
#
# usage: [SKIP_BUILD=1] bench/backend/run.sh [RUNS=3] [DURATION=10s] [CONNECTIONS=50]
# Prints req/s per run and the median ratio backend / hello-world.
set -euo pipefail

RUNS=${1:-3}
DURATION=${2:-10s}
CONNS=${3:-50}
WRK_CORE=${WRK_CORE:-0}
SERVER_CORE=${SERVER_CORE:-1}

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 2; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then  # SKIP_BUILD=1 reuses the binaries already built
  cargo build --release --quiet --bin ninefold -p ninefold
  cargo build --release --quiet --example hello -p ninefold
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Wait (bounded) until the server's stdout has a line matching $2; print it.
wait_for_line() {
  local file=$1 pattern=$2
  for _ in $(seq 200); do
    if grep -q "$pattern" "$file" 2>/dev/null; then grep -m1 "$pattern" "$file"; return 0; fi
    sleep 0.05
  done
  echo "server did not become ready; its output:" >&2; cat "$file" >&2; return 1
}

# Run wrk against $1 and print requests/s.
load() {
  taskset -c "$WRK_CORE" wrk -t1 -c"$CONNS" -d"$DURATION" -s "$root/bench/backend/items.lua" "$1" \
    | tee -a "$work/wrk.log" \
    | awk '/Non-2xx|Socket errors/ {print "wrk: " $0 > "/dev/stderr"} /Requests\/sec/ {print $2}'
}

run_hello() {
  taskset -c "$SERVER_CORE" target/release/examples/hello 127.0.0.1:0 >"$work/hello.out" &
  server_pid=$!
  local addr; addr=$(wait_for_line "$work/hello.out" listening | awk '{print $2}')
  load "http://$addr"
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}

run_backend() {
  taskset -c "$SERVER_CORE" target/release/ninefold backend --instance bench-0 --seed 1 \
    --store "$work/store.db" >"$work/backend.out" &
  server_pid=$!
  local addr; addr=$(wait_for_line "$work/backend.out" '"event":"ready"' | sed -E 's/.*"addr":"([^"]+)".*/\1/')
  # Overwrite a few items so the view is not empty (the reads still never touch SQLite).
  for id in 1 2 3; do curl -s -o /dev/null -X PUT "http://$addr/items/$id" -d "{\"v\":$id}"; done
  load "http://$addr"
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}

echo "run hello_rps backend_rps ratio"
ratios=()
for run in $(seq "$RUNS"); do
  # Alternate the order so slow drift on a shared machine does not favour one side.
  if (( run % 2 )); then h=$(run_hello); b=$(run_backend); else b=$(run_backend); h=$(run_hello); fi
  r=$(awk -v b="$b" -v h="$h" 'BEGIN { printf "%.3f", b / h }')
  ratios+=("$r")
  echo "$run $h $b $r"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "median ratio backend/hello: $median (target >= 0.7)"
