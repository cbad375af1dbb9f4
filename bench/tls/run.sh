#!/usr/bin/env bash
# `ninefold attack` over TLS vs `wrk` over TLS, same TLS server (nginx), same run (by hand,
# never in CI). See README.md.
#   bench/tls/run.sh                 # RUNS=5 rounds of DURATION=10s each, order rotated
# Flat out, 50 keep-alive connections, one generator thread pinned to core 0, nginx (one
# worker, `return 200`) pinned to core 1. A self-signed CA and a leaf for localhost
# (openssl, ECDSA P-256) are made in a temporary folder; ninefold verifies the leaf with
# --ca-file (wrk verifies nothing: the difference is one verification per connection).
# Needs: apt-get install -y wrk nginx openssl; a release build (cargo build --release --bin ninefold).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NF=${NF:-${CARGO_TARGET_DIR:-$ROOT/target}/release/ninefold}
RUNS=${RUNS:-5}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
[[ -x $NF ]] || { echo "build first: cargo build --release --bin ninefold" >&2; exit 2; }
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "needs wrk and nginx" >&2; exit 2; }

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# shellcheck source=bench/tls/server.sh
source "$ROOT/bench/tls/server.sh"
tls_server "$WORK" # sets PORT, URL, CA, NGINX_PID (and adds it to PIDS)

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  nginx $(nginx -v 2>&1 | sed 's/.*\///')  $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)  $("$NF" --version)"
echo "TLS: $(echo | openssl s_client -connect "127.0.0.1:$PORT" -servername localhost 2>/dev/null | grep -E '^(New|Protocol|    Cipher)' | head -2 | tr -s ' ' | tr '\n' ' ')"
echo "flat out, $CONNS connections, ${DURATION}s per run, $RUNS rounds (generator on core 0, nginx on core 1)"

# Each prints req/s and CPU µs (user+sys, GNU time) per request; ninefold also its bad
# requests and TLS handshake p50.
wrk_run() {
  /usr/bin/time -f "%U %S" -o "$WORK/wrk.time" taskset -c 0 wrk -t1 -c"$CONNS" -d"${DURATION}s" "$URL" >"$WORK/wrk.txt"
  python3 - "$WORK/wrk.txt" "$WORK/wrk.time" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s*([\d.]+)", t).group(1))
n = int(re.search(r"(\d+) requests in", t).group(1))
u, s = map(float, open(sys.argv[2]).read().split()[-2:])
print(f"{rps:.0f} {(u + s) / n * 1e6:.2f}")
PY
}
nf_run() {
  /usr/bin/time -f "%U %S" -o "$WORK/nf.time" taskset -c 0 "$NF" attack "$URL" -c "$CONNS" -d "${DURATION}s" --workers 1 --ca-file "$WORK/ca.pem" --json >"$WORK/nf.json" || true
  python3 - "$WORK/nf.json" "$WORK/nf.time" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
u, s = map(float, open(sys.argv[2]).read().split()[-2:])
bad = d["requests"] - d["outcomes"]["ok"]
print(f"{d['rps']:.0f} {(u + s) / d['requests'] * 1e6:.2f} {bad} {d['connection_setup_ms']['tls_handshake']['p50']:.3f}")
PY
}

: >"$WORK/rounds.tsv"
for i in $(seq "$RUNS"); do
  # Rotate the order: odd rounds wrk first, even rounds ninefold first.
  if (( i % 2 )); then read -r w wc < <(wrk_run); read -r n nc bad hs < <(nf_run); else read -r n nc bad hs < <(nf_run); read -r w wc < <(wrk_run); fi
  ratio=$(python3 -c "print(f'{$n/$w:.3f}')")
  cpu=$(python3 -c "print(f'{$nc/$wc:.3f}')")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$ratio" "$w" "$n" "$bad" "$hs" "$cpu" >>"$WORK/rounds.tsv"
  echo "round $i ($( (( i % 2 )) && echo 'wrk first' || echo 'ninefold first')): wrk $w req/s ($wc us CPU/req), ninefold $n req/s ($nc us CPU/req, bad $bad, handshake p50 ${hs} ms): ratio $ratio, CPU ratio $cpu"
done
python3 - "$WORK/rounds.tsv" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
print(f"median wrk {statistics.median(float(r[1]) for r in rows):.0f} req/s, "
      f"median ninefold {statistics.median(float(r[2]) for r in rows):.0f} req/s, "
      f"median ratio ninefold/wrk {statistics.median(float(r[0]) for r in rows):.3f}   (target >= 1.0), "
      f"median CPU/request ratio ninefold/wrk {statistics.median(float(r[5]) for r in rows):.3f}")
PY
