#!/usr/bin/env python3
"""measure.py RUNS CMD... -- CMD... -- ...: runs the commands interleaved (one of each per
round, so background load hits them alike) and prints each one's median wall time in ms."""
import statistics, subprocess, sys, time

runs = int(sys.argv[1])
cmds, cur = [], []
for a in sys.argv[2:] + ["--"]:
    if a == "--":
        cmds.append(cur)
        cur = []
    else:
        cur.append(a)
times = [[] for _ in cmds]
for r in range(runs + 2):  # two warm-up rounds
    for i, c in enumerate(cmds):
        t = time.perf_counter()
        subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        if r >= 2:
            times[i].append((time.perf_counter() - t) * 1000)
print(*(round(statistics.median(t), 1) for t in times))
