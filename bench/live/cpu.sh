#!/usr/bin/env bash
# The live dashboard's cost by thread (run by hand, never in CI). See README.md.
#   ROUNDS=5 SECS=15 bench/live/cpu.sh
# `ninefold attack` flat out (closed loop, 50 connections, one worker) against
# examples/hello on core 1, in a tmux pane (a real pty), once drawing the
# dashboard and once with `--json` (no live feed, no events, no dashboard:
# the path without anything watching). The whole ninefold process (worker,
# live feed, dashboard thread) is pinned to core 0, so whatever the dashboard
# takes, it takes from the generator's core. threads.py reads every thread's
# CPU time from /proc. Per round: req/s of each mode, the worker thread's CPU
# per request in each mode, and the CPU every other thread used, as a share of
# the run (of core 0). Rounds alternate which mode goes first; medians.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=bench/load/hello.sh
source "$ROOT/bench/load/hello.sh"
NF=${NF:-$ROOT/target/release/ninefold}
HELLO=$ROOT/target/release/examples/hello
PORT=${PORT:-18192}
URL=http://127.0.0.1:$PORT/
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-15}
OUT=${OUT:-$ROOT/target/bench-live-cpu}
mkdir -p "$OUT"

need_release_builds
for tool in tmux python3 taskset; do
  command -v $tool >/dev/null || { echo "$tool is needed" >&2; exit 2; }
done

start_hello "$PORT" 1
trap 'kill $TARGET 2>/dev/null || true; for s in /tmp/tmux-$(id -u)/nfcpu-$$-*; do tmux -S "$s" kill-server 2>/dev/null || true; done' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# One attack in a pane ($1: tui draws the dashboard, json writes --json to a
# file); prints "requests worker_cpu_s other_threads_cpu_s".
pane() {
  local tag=$1 flags=""
  # A socket per pane: a new session on a server still exiting would fail.
  local SOCK=nfcpu-$$-$(date +%s%N)
  [[ $tag == json ]] && flags="--json >$OUT/attack.json"
  rm -f "$OUT/attack.json"
  tmux -L "$SOCK" new-session -d -s b -x 160 -y 45 \
    "taskset -c 0 $ROOT/bench/live/threads.py $OUT/threads-$tag.tsv -- $NF attack $URL -c 50 -d ${SECS}s --workers 1 $flags; tmux -L $SOCK wait-for -S done; sleep 30"
  local server
  server=$(tmux -L "$SOCK" display-message -p '#{pid}')
  tmux -L "$SOCK" wait-for done
  # The terminal's own work (tmux parsing and keeping the screen), not ninefold's.
  awk '{print ($14 + $15) / 100}' "/proc/$server/stat" >"$OUT/tmux-$tag.txt"
  tmux -L "$SOCK" capture-pane -p -S -100 -t b >"$OUT/pane-$tag.txt"
  tmux -L "$SOCK" kill-server
  python3 - "$OUT/threads-$tag.tsv" "$OUT/pane-$tag.txt" "$OUT/attack.json" <<'PY'
import json, os, re, sys
threads = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
total = sum(float(c) for n, c in threads if n == "total")
other = sum(float(c) for n, c in threads if n not in ("total", "user") and not n.startswith("ninefold-load"))
# The workers' share: the process's exact total less every other thread's.
worker = total - other
if os.path.exists(sys.argv[3]):
    requests = json.load(open(sys.argv[3]))["requests"]
else:
    requests = re.findall(r"^requests (\d+)", open(sys.argv[2]).read(), re.M)[-1]
print(requests, worker, other)
PY
}

: >"$OUT/rounds.tsv"
for i in $(seq "$ROUNDS"); do
  if (( i % 2 )); then t=$(pane tui); p=$(pane json); else p=$(pane json); t=$(pane tui); fi
  python3 - "$t" "$p" "$SECS" <<'PY' | tee -a "$OUT/rounds.tsv"
import sys
(tn, tw, to), (pn, pw, po) = (map(float, a.split()) for a in sys.argv[1:3])
secs = float(sys.argv[3])
print(f"{tn/secs:.0f}\t{pn/secs:.0f}\t{tn/pn:.4f}\t{tw/tn*1e6:.3f}\t{pw/pn*1e6:.3f}\t{(tw/tn)/(pw/pn):.4f}\t{to/secs*100:.2f}\t{po/secs*100:.2f}")
PY
done
echo "columns: dashboard req/s, plain req/s, req/s ratio, worker µs CPU/req (dashboard, --json), worker CPU/req ratio, other threads' CPU as % of core 0 (dashboard, --json)"
echo "rounds: $OUT/rounds.tsv; the last dashboard round's threads: $OUT/threads-tui.tsv"
echo "median req/s ratio dashboard/--json:      $(cut -f3 "$OUT/rounds.tsv" | median)"
echo "median worker CPU/request ratio:         $(cut -f6 "$OUT/rounds.tsv" | median)"
echo "median other threads, % of core 0:       $(cut -f7 "$OUT/rounds.tsv" | median) (dashboard)  $(cut -f8 "$OUT/rounds.tsv" | median) (--json)"
