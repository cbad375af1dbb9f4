#!/usr/bin/env bash
# Timing accuracy of the fault proxy's toxics (run by hand, never in CI):
#   latency error (p50, p99) for 1/10/100/1000 ms, delivered/set bandwidth for
#   0.1/1/5/20/100 MB/s, and the slicer's time for 3 MB with delay 0.
# Ours (`ninefold toxiproxy`), and a real `toxiproxy-server` next to it when one
# is on PATH (or given as TOXIPROXY=/path/to/toxiproxy-server).
# Bounded: BUDGET s per latency setting (default 10), DUR s of data per rate
# (default 2): about 1.5 minutes per server.
# Arguments are passed to timing.py (--only latency|bandwidth, --latencies,
# --rates). Needs: python3, curl. Throughput vs a direct connection is bench/faults/throughput.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-}
if [ -z "$BIN" ]; then
  for b in "${CARGO_TARGET_DIR:-$ROOT/target}/release/ninefold" "${CARGO_TARGET_DIR:-$ROOT/target}/debug/ninefold"; do
    [ -x "$b" ] && { BIN=$b; break; }
  done
fi
[ -n "$BIN" ] || { echo "build ninefold first (cargo build --bin ninefold), or set BIN"; exit 2; }
TOXIPROXY=${TOXIPROXY:-$(command -v toxiproxy-server || true)}
BUDGET=${BUDGET:-10}
ARGS=("$@")   # passed to timing.py, e.g. --only latency --latencies 10,100
DUR=${DUR:-2}

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_api() {
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$1/version" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server on port $1 did not start"; return 3
}

run_one() { # label, port
  python3 "$ROOT/bench/faults/timing.py" --api "http://127.0.0.1:$2" --label "$1" \
    --budget "$BUDGET" --dur "$DUR" "${ARGS[@]}" | tee -a "$WORK/results.jsonl"
}

echo "== ours: $BIN"
PORT=$(free_port)
"$BIN" toxiproxy --port "$PORT" --seed 1 > "$WORK/ours.out" 2> "$WORK/ours.err" &
PIDS+=($!)
wait_api "$PORT"
run_one ours "$PORT"

if [ -n "$TOXIPROXY" ]; then
  echo "== toxiproxy: $TOXIPROXY ($("$TOXIPROXY" -version 2>&1 | head -1))"
  TPORT=$(free_port)
  "$TOXIPROXY" -host 127.0.0.1 -port "$TPORT" > "$WORK/tp.out" 2>&1 &
  PIDS+=($!)
  wait_api "$TPORT"
  run_one toxiproxy "$TPORT"
else
  echo "== no toxiproxy-server on PATH: ours alone"
fi

echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
python3 - "$WORK/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
servers = sorted({r["server"] for r in rows}, key=lambda s: s != "ours")
def get(kind, key, val, field, srv):
    for r in rows:
        if r["server"] == srv and r["kind"] == kind and (key is None or r[key] == val):
            return r[field]
    return None
fmt = lambda v, f: "—" if v is None else f.format(v)
print("| latency set | " + " | ".join(f"{s} error p50 / p99 (ms)" for s in servers) + " |")
print("|---|" + "---|" * len(servers))
for ms in sorted({r["set_ms"] for r in rows if r["kind"] == "latency"}):
    cells = [f'{fmt(get("latency","set_ms",ms,"err_p50_ms",s),"{:+.3f}")} / {fmt(get("latency","set_ms",ms,"err_p99_ms",s),"{:+.3f}")}' for s in servers]
    print(f"| {ms} ms | " + " | ".join(cells) + " |")
print()
print("| bandwidth set | " + " | ".join(f"{s} delivered / set" for s in servers) + " |")
print("|---|" + "---|" * len(servers))
for mb in sorted({r["set_mb_per_s"] for r in rows if r["kind"] == "bandwidth"}):
    cells = [fmt(get("bandwidth","set_mb_per_s",mb,"ratio",s), "{:.1%}") for s in servers]
    print(f"| {mb:g} MB/s | " + " | ".join(cells) + " |")
print("| no toxic | " + " | ".join(fmt(get("plain",None,None,"mb_per_s",s),"{} MB/s") for s in servers) + " |")
print()
print("| slicer 1024±512 B | " + " | ".join(servers) + " |")
print("|---|" + "---|" * len(servers))
for d in (0, 100):
    b = get("slicer","delay_us",d,"bytes","ours")
    cells = [fmt(get("slicer","delay_us",d,"seconds",s), "{:.3f} s") for s in servers]
    print(f"| delay {d} µs, {fmt(b and b/1e6,'{:g}')} MB | " + " | ".join(cells) + " |")
PY
