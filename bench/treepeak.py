#!/usr/bin/env python3
"""treepeak.py PID OUT: samples, every 50 ms until SIGTERM, the resident memory of PID and every
process below it (the daemon and the plugins it starts), summed; writes the peak in KiB to OUT.

It walks the tree from PID through /proc/PID/task/*/children, reading only those processes, so
that the sampling itself costs the measured machine little CPU.
"""
import glob
import os
import signal
import sys
import time

root, out = int(sys.argv[1]), sys.argv[2]
page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)


def children(pid):
    kids = []
    for f in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            with open(f) as h:
                kids.extend(int(c) for c in h.read().split())
        except OSError:
            pass
    return kids


def tree_rss_kib():
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/statm") as h:
                total += int(h.read().split()[1]) * page_kib
        except (OSError, ValueError, IndexError):
            continue
        todo.extend(children(pid))
    return total


peak = 0
while running:
    peak = max(peak, tree_rss_kib())
    time.sleep(0.05)
peak = max(peak, tree_rss_kib())
with open(out, "w") as f:
    f.write(f"{peak}\n")
