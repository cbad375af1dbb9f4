#!/usr/bin/env bash
# `ninefold attack --h2` vs h2load (nghttp2), same machine, same run, same h2c server
# (nghttpd --no-tls serving one small file), same connections and streams per connection,
# one client thread each. Client on core 0, server on core 1.
# Each round runs both back to back, the order alternating from round to round; ROUNDS
# rounds; medians and their ratio reported.
# Usage: bench/h2/run.sh [ROUNDS=5] [DURATION=10s] [CONNECTIONS=4] [STREAMS=25]
#   NO_BUILD=1 uses target/release/ninefold as it is.
# Needs: apt-get install -y nghttp2-client nghttp2-server; a release build (done here).
set -euo pipefail
ROUNDS=${1:-5}
DURATION=${2:-10s}
CONNS=${3:-4}
STREAMS=${4:-25}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -z ${NO_BUILD:-} ]]; then
  cargo build --release -q -p ninefold --bin ninefold --manifest-path "$ROOT/Cargo.toml"
fi
NF=${NINEFOLD:-$ROOT/target/release/ninefold}

mkdir -p "$WORK/htdocs"
printf 'hello from nghttpd\n' >"$WORK/htdocs/index.html"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 1 nghttpd --no-tls -d "$WORK/htdocs" "$PORT" >"$WORK/nghttpd.log" 2>&1 & PIDS+=($!)
URL="http://127.0.0.1:$PORT/"
for _ in $(seq 1 50); do
  h2load -n 1 "$URL" 2>/dev/null | grep -q '1 succeeded' && break
  sleep 0.1
done
SECS=${DURATION%s}

run_h2load() {
  local out
  out=$(taskset -c 0 h2load -t 1 -c "$CONNS" -m "$STREAMS" -D "$SECS" "$URL")
  local rps failed
  rps=$(awk '/^finished in/ {print $4}' <<<"$out")
  failed=$(awk '/^requests:/ {print $10}' <<<"$out")
  echo "h2load $rps failed=$failed" | tee -a "$WORK/results"
}

run_ninefold() {
  local rps
  taskset -c 0 "$NF" attack "$URL" --h2 -c "$CONNS" --h2-streams "$STREAMS" -d "$DURATION" \
    --workers 1 --json >"$WORK/nf.json"
  rps=$(python3 -c "import json; v=json.load(open('$WORK/nf.json')); print(f\"{v['rps']:.0f} failed={v['requests'] - v['outcomes']['ok']}\")")
  echo "ninefold $rps" | tee -a "$WORK/results"
}

echo "$(date -u +%F) $CONNS connections x $STREAMS streams, $DURATION per run, $ROUNDS rounds"
for r in $(seq 1 "$ROUNDS"); do
  if ((r % 2)); then run_ninefold; run_h2load; else run_h2load; run_ninefold; fi
done

python3 - "$WORK/results" <<'PY'
import statistics, sys
rps = {}
for line in open(sys.argv[1]):
    name, value = line.split()[:2]
    rps.setdefault(name, []).append(float(value))
m = {k: statistics.median(v) for k, v in rps.items()}
for k in ("ninefold", "h2load"):
    print(f"median {k}: {m[k]:.0f} req/s  (runs: {', '.join(f'{x:.0f}' for x in rps[k])})")
print(f"ratio ninefold / h2load: {m['ninefold'] / m['h2load']:.3f}")
PY
