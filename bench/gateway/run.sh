#!/usr/bin/env bash
# Reference gateway vs nginx, same machine, same run, same load generator, same two
# backends. wrk on core 0; proxy and both backends on core 1.
#   (a) gateway as a plain proxy (round-robin)           vs nginx proxy_pass + keepalive
#   (b) gateway with HS256 JWT + usage plan + least-request vs the same nginx
#   (c) latency at a fixed rate (RATE, default 10000 req/s), open loop, measured from each
#       request's intended send time by `ninefold attack --rate` (coordinated-omission free)
# Each round runs nginx, (a), (b) back to back, in an order that rotates from round to
# round; ROUNDS rounds; medians reported.
# Usage: bench/gateway/run.sh [ROUNDS=3] [DURATION=10s] [CONNECTIONS=50]
#   ONLY=ab or ONLY=c runs only the flat-out part or only the fixed-rate part.
#   Like for like by default: one worker each, access logs off in both. LOGS=on turns
#   them on in both: nginx to a file, the gateway through its non-blocking JSON writer
#   (stderr to a file).
# Needs: apt-get install -y wrk nginx; a release build (done here).
set -euo pipefail
ROUNDS=${1:-3}
DURATION=${2:-10s}
CONNS=${3:-50}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -z ${NO_BUILD:-} ]]; then # NO_BUILD=1: use the binaries already in target/release
  cargo build --release -q -p reference-gateway --examples --manifest-path "$ROOT/Cargo.toml"
  cargo build --release -q -p ninefold --bin ninefold --example hello --manifest-path "$ROOT/Cargo.toml"
fi
BIN="$ROOT/target/release/examples"

# Waits for a JSON ready line in FILE and prints the value of KEY.
ready() {
  local file=$1 key=$2
  for _ in $(seq 1 100); do
    if grep -q '"event":"ready"' "$file" 2>/dev/null; then
      grep '"event":"ready"' "$file" | head -1 | sed -E "s/.*\"$key\":\"([^\"]+)\".*/\1/"
      return 0
    fi
    sleep 0.1
  done
  echo "timeout waiting for $file" >&2
  return 1
}

taskset -c 1 "$BIN/hello" 127.0.0.1:0 b1 >"$WORK/b1.out" & PIDS+=($!)
taskset -c 1 "$BIN/hello" 127.0.0.1:0 b2 >"$WORK/b2.out" & PIDS+=($!)
B1=$(ready "$WORK/b1.out" addr)
B2=$(ready "$WORK/b2.out" addr)

NGINX_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/nginx/logs"
LOGS=${LOGS:-off}
if [[ $LOGS == on ]]; then
  NGINX_ACCESS_LOG="access_log $WORK/nginx/logs/access.log;"
  GW_LOG=(--access-log)
else
  NGINX_ACCESS_LOG="access_log off;"
  GW_LOG=()
fi
echo "access logs: $LOGS in both"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
error_log $WORK/nginx/logs/error.log warn;
pid $WORK/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  $NGINX_ACCESS_LOG
  upstream backends { server $B1; server $B2; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
taskset -c 1 nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' & PIDS+=($!)
NGINX_MASTER=$!

taskset -c 1 "$BIN/bench_gateway" --upstream "$B1" --upstream "$B2" "${GW_LOG[@]}" >"$WORK/gw.out" 2>"$WORK/gw.log" & PIDS+=($!)
GW_PID=$!
GW=$(ready "$WORK/gw.out" addr)
taskset -c 1 "$BIN/bench_gateway" --upstream "$B1" --upstream "$B2" --balance least-request \
  --jwt-secret bench-secret --plan-rate 1000000000 --plan-burst 1000000 "${GW_LOG[@]}" >"$WORK/gwj.out" 2>"$WORK/gwj.log" & PIDS+=($!)
GWJ_PID=$!
GWJ=$(ready "$WORK/gwj.out" addr)
TOKEN=$(grep '"event":"token"' "$WORK/gwj.out" | sed -E 's/.*"token":"([^"]+)".*/\1/')

for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$NGINX_PORT/" >/dev/null && break; sleep 0.1; done
curl -fs "http://$GW/" >/dev/null
curl -fs -H "Authorization: Bearer $TOKEN" "http://$GWJ/" >/dev/null
# A request without a token must be refused, or (b) measures nothing.
test "$(curl -s -o /dev/null -w '%{http_code}' "http://$GWJ/")" = 401

NGINX_WORKER=$(pgrep -P "$NGINX_MASTER" | head -1)
# CPU time (clock ticks, user + system) a process has used so far. On a shared machine
# req/s mostly measures how much of core 1 the proxy got; CPU per request does not.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# run NAME PID URL [wrk args…] → appends "NAME rps p50 p99 non2xx cpu_us_per_req" to results
run() {
  local name=$1 pid=$2 url=$3; shift 3
  local out t0 t1
  t0=$(ticks "$pid")
  out=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$@" "$url")
  t1=$(ticks "$pid")
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  local total cpu
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu=$(python3 -c "print(f'{($t1 - $t0) / $HZ * 1e6 / $total:.2f}')")
  echo "$name $rps $p50 $p99 ${non2xx:-0} $cpu" | tee -a "$WORK/results"
}

# The order rotates from round to round, so that none of the three always runs first (or
# right after another) while the machine's speed drifts.
ORDER=(nginx gateway_plain gateway_jwt_plan_lr)
ONLY=${ONLY:-}
[[ $ONLY == c ]] || echo "name req/s p50 p99 non2xx proxy_cpu_us_per_request"
for r in $(seq 1 "$ROUNDS"); do
  [[ $ONLY == c ]] && break
  for i in 0 1 2; do
    case ${ORDER[$(((i + r) % 3))]} in
      nginx) run nginx "$NGINX_WORKER" "http://127.0.0.1:$NGINX_PORT/" ;;
      gateway_plain) run gateway_plain "$GW_PID" "http://$GW/" ;;
      gateway_jwt_plan_lr) run gateway_jwt_plan_lr "$GWJ_PID" "http://$GWJ/" -H "Authorization: Bearer $TOKEN" ;;
    esac
  done
done

# (c) fixed rate: p50/p99 of latency from the intended send time, per proxy and round.
RATE=${RATE:-10000}
NF="$ROOT/target/release/ninefold"
fixed() {
  local name=$1 pid=$2 url=$3; shift 3
  local t0 t1
  t0=$(ticks "$pid")
  taskset -c 0 "$NF" attack "$url" --rate "$RATE" -c "$CONNS" -d "$DURATION" --workers 1 --json "$@" >"$WORK/fixed.json" || true
  t1=$(ticks "$pid")
  python3 - "$name" "$WORK/fixed.json" "$t0" "$t1" "$HZ" <<'PY' | tee -a "$WORK/fixed"
import json, sys
d = json.load(open(sys.argv[2]))
l = d["latency_ms"]
cpu = (int(sys.argv[4]) - int(sys.argv[3])) / int(sys.argv[5]) * 1e6 / max(d["requests"], 1)
print(sys.argv[1], d["rps"], l["p50"], l["p99"], d["requests"] - d["outcomes"].get("ok", 0), f"{cpu:.2f}")
PY
}
# At a fixed rate the proxy sleeps between requests: its CPU per request includes the
# wake-ups, which is most of what a request costs at this rate.
echo "name achieved_rps p50_ms p99_ms not_ok proxy_cpu_us_per_request   (fixed rate $RATE req/s)"
for r in $(seq 1 "$ROUNDS"); do
  [[ $ONLY == ab ]] && break
  for i in 0 1 2; do
    case ${ORDER[$(((i + r) % 3))]} in
      nginx) fixed nginx "$NGINX_WORKER" "http://127.0.0.1:$NGINX_PORT/" ;;
      gateway_plain) fixed gateway_plain "$GW_PID" "http://$GW/" ;;
      gateway_jwt_plan_lr) fixed gateway_jwt_plan_lr "$GWJ_PID" "http://$GWJ/" -H "Authorization: Bearer $TOKEN" ;;
    esac
  done
done

[[ $ONLY == ab ]] || python3 - "$WORK/fixed" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
m = {}
for name in ("nginx", "gateway_plain", "gateway_jwt_plan_lr"):
    p50 = statistics.median(float(r[2]) for r in rows if r[0] == name)
    p99 = statistics.median(float(r[3]) for r in rows if r[0] == name)
    cpu = statistics.median(float(r[5]) for r in rows if r[0] == name)
    m[name] = (p50, p99)
    print(f"median {name}: p50 {p50:.3f} ms, p99 {p99:.3f} ms, {cpu:.2f} us proxy CPU/request")
for name in ("gateway_plain", "gateway_jwt_plan_lr"):
    print(f"(c) {name}: p50 {m[name][0] / m['nginx'][0]:.2f}x nginx, p99 {m[name][1] / m['nginx'][1]:.2f}x nginx  (target <= 1.0)")
# Within a round the three ran back to back: the per-round ratio is the steadier figure.
by = {n: [(float(r[2]), float(r[3])) for r in rows if r[0] == n] for n in m}
for name in ("gateway_plain", "gateway_jwt_plan_lr"):
    r50 = [g[0] / n[0] for g, n in zip(by[name], by["nginx"])]
    r99 = [g[1] / n[1] for g, n in zip(by[name], by["nginx"])]
    print(f"(c) {name}: per-round medians p50 {statistics.median(r50):.2f}x nginx"
          f" ({sum(x <= 1 for x in r50)} of {len(r50)} rounds <= 1),"
          f" p99 {statistics.median(r99):.2f}x nginx ({sum(x <= 1 for x in r99)} of {len(r99)} rounds <= 1)")
PY

[[ $ONLY == c ]] || python3 - "$WORK/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med, cpu = {}, {}
for name in ("nginx", "gateway_plain", "gateway_jwt_plan_lr"):
    med[name] = statistics.median(float(r[1]) for r in rows if r[0] == name)
    cpu[name] = statistics.median(float(r[5]) for r in rows if r[0] == name)
    bad = sum(int(r[4]) for r in rows if r[0] == name)
    print(f"median {name}: {med[name]:.0f} req/s, {cpu[name]:.2f} us CPU/request (non-2xx: {bad})")
# Each round runs the three back to back: the ratio within a round is the steadier figure
# when the machine's speed drifts between rounds.
by = {n: [float(r[1]) for r in rows if r[0] == n] for n in med}
for label, name in (("(a)", "gateway_plain"), ("(b)", "gateway_jwt_plan_lr")):
    per = [g / n for g, n in zip(by[name], by["nginx"])]
    print(f"{label} per-round req/s ratios {', '.join(f'{x:.2f}' for x in per)}: median {statistics.median(per):.3f}")
print(f"(a) req/s  gateway plain / nginx       = {med['gateway_plain'] / med['nginx']:.3f}  (target >= 1.0)")
print(f"(b) req/s  gateway jwt+plan+lr / nginx = {med['gateway_jwt_plan_lr'] / med['nginx']:.3f}  (target >= 0.9)")
print(f"(a) CPU/request nginx / gateway plain       = {cpu['nginx'] / cpu['gateway_plain']:.3f}  (>= 1.0: gateway cheaper)")
print(f"(b) CPU/request nginx / gateway jwt+plan+lr = {cpu['nginx'] / cpu['gateway_jwt_plan_lr']:.3f}")
PY
