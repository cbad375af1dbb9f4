#!/usr/bin/env bash
# `ninefold attack --h2` vs h2load (nghttp2), same machine, same run, same h2c server
# (nghttpd --no-tls serving one small file), same connections and streams per connection,
# one client thread each. Client on core 0, server on core 1.
# Each round runs both back to back, the order alternating from round to round; ROUNDS
# rounds; medians and their ratios reported (req/s, and CPU time per request).
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

# CPU time (user + system, GNU time) per request done: on a shared machine req/s mostly
# says how much of core 0 the client got; CPU per request does not.
cpu_us() { python3 -c "u, s = open('$WORK/time').read().split()[-2:]; print(f'{(float(u) + float(s)) * 1e6 / $1:.2f}')"; }

run_h2load() {
  local out
  out=$(/usr/bin/time -f '%U %S' -o "$WORK/time" taskset -c 0 h2load -t 1 -c "$CONNS" -m "$STREAMS" -D "$SECS" "$URL")
  local rps done failed
  rps=$(awk '/^finished in/ {print $4}' <<<"$out")
  done=$(awk '/^requests:/ {print $8}' <<<"$out")
  failed=$(awk '/^requests:/ {print $10}' <<<"$out")
  echo "h2load $rps $(cpu_us "$done") failed=$failed" | tee -a "$WORK/results"
}

run_ninefold() {
  local rps done failed
  /usr/bin/time -f '%U %S' -o "$WORK/time" taskset -c 0 "$NF" attack "$URL" --h2 -c "$CONNS" \
    --h2-streams "$STREAMS" -d "$DURATION" --workers 1 --json >"$WORK/nf.json"
  read -r rps done failed < <(python3 -c "import json; v=json.load(open('$WORK/nf.json')); print(f\"{v['rps']:.0f} {v['outcomes']['ok']} failed={v['requests'] - v['outcomes']['ok']}\")")
  echo "ninefold $rps $(cpu_us "$done") $failed" | tee -a "$WORK/results"
}

echo "$(date -u +%F) $CONNS connections x $STREAMS streams, $DURATION per run, $ROUNDS rounds"
for r in $(seq 1 "$ROUNDS"); do
  if ((r % 2)); then run_ninefold; run_h2load; else run_h2load; run_ninefold; fi
done

python3 - "$WORK/results" <<'PY'
import statistics, sys
rps, cpu = {}, {}
for line in open(sys.argv[1]):
    name, value, us = line.split()[:3]
    rps.setdefault(name, []).append(float(value))
    cpu.setdefault(name, []).append(float(us))
m = {k: statistics.median(v) for k, v in rps.items()}
c = {k: statistics.median(v) for k, v in cpu.items()}
for k in ("ninefold", "h2load"):
    print(f"median {k}: {m[k]:.0f} req/s, {c[k]:.2f} CPU us/request  (runs: {', '.join(f'{x:.0f}' for x in rps[k])})")
print(f"ratio ninefold / h2load: {m['ninefold'] / m['h2load']:.3f} req/s, {c['ninefold'] / c['h2load']:.3f} CPU per request")
PY
