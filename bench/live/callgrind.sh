#!/usr/bin/env bash
# The live dashboard's cost in instructions (run by hand, never in CI). See README.md.
#   bench/live/callgrind.sh
# `ninefold attack` flat out (closed loop, 10 connections, one worker) against
# examples/hello for SECS seconds under callgrind, in a tmux pane (a real pty),
# once drawing the dashboard and once with `--json` (no live feed, no
# events: nothing watching). Callgrind counts the
# user-space instructions of each thread exactly, so load on the machine does
# not blur them: the worker's instructions per request in each mode (what the
# live feed adds on the hot path) and the dashboard thread's instructions per
# second of the run (it draws by wall time, not per request).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=bench/load/hello.sh
source "$ROOT/bench/load/hello.sh"
NF=${NF:-$ROOT/target/release/ninefold}
HELLO=$ROOT/target/release/examples/hello
PORT=${PORT:-18193}
SECS=${SECS:-20}
OUT=${OUT:-$ROOT/target/bench-live-callgrind}
mkdir -p "$OUT"
rm -f "$OUT"/cg.*

need_release_builds
for tool in tmux valgrind callgrind_annotate; do
  command -v $tool >/dev/null || { echo "$tool is needed (apt-get install -y tmux valgrind)" >&2; exit 2; }
done

start_hello "$PORT"
trap 'kill $TARGET 2>/dev/null || true; for m in tui plain; do tmux -L nfcg-$$-$m kill-server 2>/dev/null || true; done' EXIT

for mode in tui plain; do
  # A socket per pane: a new session on a server still exiting would fail.
  SOCK=nfcg-$$-$mode
  flag=""; [[ $mode == plain ]] && flag="--json >$OUT/attack.json"
  tmux -L "$SOCK" new-session -d -s b -x 160 -y 45 \
    "valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=$OUT/cg.$mode $NF attack http://127.0.0.1:$PORT/ -c 10 -d ${SECS}s --workers 1 $flag 2>$OUT/valgrind-$mode.txt; tmux -L $SOCK wait-for -S done; sleep 30"
  tmux -L "$SOCK" wait-for done
  tmux -L "$SOCK" capture-pane -p -S -100 -t b >"$OUT/pane-$mode.txt"
  tmux -L "$SOCK" kill-server
done

python3 - "$OUT" "$SECS" <<'PY'
import glob, json, re, sys
out, secs = sys.argv[1], float(sys.argv[2])
def threads(mode):
    """Instructions by thread: the dashboard's (it runs live/dashboard.rs), the
    worker's (with --workers 1, the largest of the others), and the rest."""
    dashboard, rest = 0, []
    for path in sorted(glob.glob(f"{out}/cg.{mode}-*")):
        text = open(path).read()
        total = int(re.search(r"^summary: (\d+)", text, re.M).group(1))
        if "live/dashboard.rs" in text:
            dashboard += total
        else:
            rest.append(total)
    rest.sort()
    return {"dashboard": dashboard, "worker": rest[-1], "other": sum(rest[:-1])}
def requests(mode):
    if mode == "plain":
        return json.load(open(f"{out}/attack.json"))["requests"]
    return int(re.findall(r"^requests (\d+)", open(f"{out}/pane-{mode}.txt").read(), re.M)[-1])
t, p = threads("tui"), threads("plain")
tr, pr = requests("tui"), requests("plain")
wt, wp = t["worker"] / tr, p["worker"] / pr
print(f"worker instructions/request: dashboard {wt:.0f}, --json {wp:.0f}, +{wt - wp:.0f} ({(wt / wp - 1) * 100:+.2f}%)")
print(f"dashboard thread: {t.get('dashboard', 0) / secs / 1e6:.1f} M instructions/s; other threads: {t.get('other', 0) / secs / 1e6:.1f} M/s (--json: {p.get('other', 0) / secs / 1e6:.1f} M/s)")
print(f"requests under callgrind: dashboard {tr}, --json {pr}")
PY
