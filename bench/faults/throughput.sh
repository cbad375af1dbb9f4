#!/usr/bin/env bash
# Fault proxy benchmark (run by hand, never in CI):
#  1. throughput of a link with no toxics vs a direct connection (wrk → nginx "ok");
#  2. what a 100 ms downstream latency toxic adds at p50 (target: 100 ms ± 1 ms).
# wrk is pinned to core 0, nginx and the proxy to core 1. Medians of $RUNS runs.
# Needs: wrk, nginx (apt-get install -y wrk nginx-light), curl, python3.
# A real Toxiproxy is not packaged in Debian, so it is not compared here.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/target/release/ninefold}
RUNS=${RUNS:-3}
DUR=${DUR:-10s}
CONNS=${CONNS:-50}
LAT_CONNS=${LAT_CONNS:-10}

[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release --bin ninefold)

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
NGINX_PORT=$(free_port); API_PORT=$(free_port); PROXY_PORT=$(free_port)

cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server { listen 127.0.0.1:$NGINX_PORT; location / { return 200 "ok"; } }
}
CONF
taskset -c 1 nginx -c "$WORK/nginx.conf" -p "$WORK" &
PIDS+=($!)
taskset -c 1 "$BIN" toxiproxy --port "$API_PORT" --seed 1 > "$WORK/toxiproxy.out" 2> "$WORK/toxiproxy.err" &
PIDS+=($!)

# Wait for the ready line (bounded), never a fixed sleep.
for _ in $(seq 1 100); do
  grep -q '"event":"ready"' "$WORK/toxiproxy.out" 2>/dev/null && break
  sleep 0.1
done
grep -q '"event":"ready"' "$WORK/toxiproxy.out" || { echo "toxiproxy did not start"; cat "$WORK/toxiproxy.err"; exit 3; }
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$NGINX_PORT/" >/dev/null && break; sleep 0.1; done

API="http://127.0.0.1:$API_PORT"
curl -sf -XPOST "$API/proxies" \
  -d "{\"name\":\"hello\",\"listen\":\"127.0.0.1:$PROXY_PORT\",\"upstream\":\"127.0.0.1:$NGINX_PORT\"}" >/dev/null

rps() { taskset -c 0 wrk -t1 -c"$CONNS" -d"$DUR" "$1" | awk '/Requests\/sec/ {print $2}'; }
p50_ms() {
  taskset -c 0 wrk -t1 -c"$LAT_CONNS" -d"$DUR" --latency "$1" | awk '
    $1=="50%" { v=$2; if (v ~ /us$/) { sub(/us$/,"",v); v/=1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v*=1000 } print v }'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== throughput: wrk -t1 -c$CONNS -d$DUR, $RUNS runs (direct and proxied interleaved)"
: > "$WORK/direct"; : > "$WORK/proxied"; : > "$WORK/ratio"
for i in $(seq 1 "$RUNS"); do
  d=$(rps "http://127.0.0.1:$NGINX_PORT/"); p=$(rps "http://127.0.0.1:$PROXY_PORT/")
  r=$(awk -v p="$p" -v d="$d" 'BEGIN {printf "%.3f", p/d}')
  echo "run $i: direct $d req/s, through the proxy $p req/s, ratio $r"
  echo "$d" >> "$WORK/direct"; echo "$p" >> "$WORK/proxied"; echo "$r" >> "$WORK/ratio"
done
echo "median: direct $(median < "$WORK/direct") req/s, proxied $(median < "$WORK/proxied") req/s, ratio $(median < "$WORK/ratio")"

echo "== latency toxic: wrk -t1 -c$LAT_CONNS -d$DUR --latency, p50 with and without latency=100ms downstream"
: > "$WORK/added"
for i in $(seq 1 "$RUNS"); do
  base=$(p50_ms "http://127.0.0.1:$PROXY_PORT/")
  curl -sf -XPOST "$API/proxies/hello/toxics" -d '{"type":"latency","attributes":{"latency":100}}' >/dev/null
  tox=$(p50_ms "http://127.0.0.1:$PROXY_PORT/")
  curl -sf -XDELETE "$API/proxies/hello/toxics/latency_downstream" >/dev/null
  added=$(awk -v a="$tox" -v b="$base" 'BEGIN {printf "%.3f", a-b}')
  echo "run $i: p50 without $base ms, with $tox ms, added $added ms"
  echo "$added" >> "$WORK/added"
done
echo "median added at p50: $(median < "$WORK/added") ms (target 100 ± 1)"
