#!/usr/bin/env python3
"""treepeak.py PID OUT: samples, every 20 ms until SIGTERM, the resident memory of PID and every
process below it (the daemon and the plugins it starts), summed; writes the peak in KiB to OUT.
"""
import os
import signal
import sys
import time

root, out = int(sys.argv[1]), sys.argv[2]
running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)


def tree_rss_kib():
    parent, rss = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            parent[int(d)] = int(fields[1])
            rss[int(d)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
        except (OSError, ValueError, IndexError):
            continue
    total = 0
    for pid, kib in rss.items():
        p = pid
        while p and p != root:
            p = parent.get(p, 0)
        if p == root:
            total += kib
    return total


peak = 0
while running:
    peak = max(peak, tree_rss_kib())
    time.sleep(0.02)
peak = max(peak, tree_rss_kib())
with open(out, "w") as f:
    f.write(f"{peak}\n")
