#!/usr/bin/env bash
# The live dashboard's cost to the generator (run by hand, never in CI). See README.md.
#   bench/live/run.sh
# `ninefold attack` flat out against examples/hello in a tmux pane (a real pty),
# with the dashboard vs `--no-tui` (the plain progress line, no live feed);
# rounds alternate which goes first; medians of the req/s ratio.
# Generator pinned to core 0, target to core 1, as bench/load does.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NF=${NF:-$ROOT/target/release/ninefold}
HELLO=$ROOT/target/release/examples/hello
PORT=${PORT:-18191}
URL=http://127.0.0.1:$PORT/
ROUNDS=${ROUNDS:-6}
SECS=${SECS:-10}
OUT=${OUT:-$ROOT/target/bench-live}
SOCK=nfbench-$$
mkdir -p "$OUT"

[[ -x $NF && -x $HELLO ]] || { echo "build first: cargo build --release --bin ninefold --example hello" >&2; exit 2; }
command -v tmux >/dev/null || { echo "tmux is needed (apt-get install tmux)" >&2; exit 2; }

taskset -c 1 "$HELLO" "127.0.0.1:$PORT" >/dev/null 2>&1 &
TARGET=$!
trap 'kill $TARGET 2>/dev/null || true; tmux -L $SOCK kill-server 2>/dev/null || true' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# req/s of one attack in a tmux pane (a real pty), read off the pane's summary
# once it ends; $1 is "" (the dashboard draws) or --no-tui (the plain line).
pane() {
  tmux -L "$SOCK" new-session -d -s b -x 160 -y 45 \
    "taskset -c 0 $NF attack $URL -c 50 -d ${SECS}s --workers 1 $1; tmux -L $SOCK wait-for -S done; sleep 30"
  tmux -L "$SOCK" wait-for done
  tmux -L "$SOCK" capture-pane -p -S -100 -t b >"$OUT/pane.txt"
  tmux -L "$SOCK" kill-server
  grep -o '= [0-9]* req/s' "$OUT/pane.txt" | tail -1 | awk '{print $2}'
}
tui() { pane ""; }
plain() { pane --no-tui; }

: >"$OUT/rounds.tsv"
for i in $(seq "$ROUNDS"); do
  if (( i % 2 )); then t=$(tui); p=$(plain); else p=$(plain); t=$(tui); fi
  printf '%s\t%s\t%s\n' "$t" "$p" "$(python3 -c "print(f'{$t/$p:.4f}')")" | tee -a "$OUT/rounds.tsv"
done
echo "rounds (dashboard req/s, plain req/s, ratio): $OUT/rounds.tsv"
echo "median ratio dashboard/plain: $(cut -f3 "$OUT/rounds.tsv" | median)   (target >= 0.98)"
