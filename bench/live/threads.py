#!/usr/bin/env python3
"""Run a command, sample its threads' CPU time from /proc until it exits, and
write the last sample, one line per thread: `name<TAB>cpu_seconds`.

    threads.py OUT -- command args...

Used by bench/live/cpu.sh (the dashboard's cost by thread)."""
import os
import subprocess
import sys
import time

out, cmd = sys.argv[1], sys.argv[sys.argv.index("--") + 1 :]
tick = os.sysconf("SC_CLK_TCK")
child = subprocess.Popen(cmd)
last = {}
while child.poll() is None:
    sample = {}
    try:
        for tid in os.listdir(f"/proc/{child.pid}/task"):
            with open(f"/proc/{child.pid}/task/{tid}/stat") as f:
                stat = f.read()
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            # utime and stime are fields 14 and 15 of stat(5); 11 and 12 after the name.
            sample[(name, tid)] = (int(fields[11]) + int(fields[12])) / tick
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    if sample:
        last = sample
    time.sleep(0.1)
with open(out, "w") as f:
    for (name, tid), cpu in sorted(last.items()):
        f.write(f"{name}\t{cpu:.2f}\n")
sys.exit(child.returncode)
