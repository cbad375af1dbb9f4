#!/usr/bin/env python3
"""Run a command, sample its threads' CPU time from /proc until it exits, and
write each thread's last sample, one line per thread: `name<TAB>cpu_seconds`,
then `total<TAB>cpu_seconds` of the whole process and `user<TAB>…`, its
user-space part (exact, from its rusage; a
thread's own figure misses at most its last 0.1 s if it ended before the process).

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
while True:
    ended, status, usage = os.wait4(child.pid, os.WNOHANG)
    if ended:
        break
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
    last.update(sample)
    time.sleep(0.1)
with open(out, "w") as f:
    for (name, tid), cpu in sorted(last.items()):
        f.write(f"{name}\t{cpu:.2f}\n")
    f.write(f"total\t{usage.ru_utime + usage.ru_stime:.3f}\n")
    f.write(f"user\t{usage.ru_utime:.3f}\n")
sys.exit(os.waitstatus_to_exitcode(status))
