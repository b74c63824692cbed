#!/usr/bin/python3
"""pss.py MASTER_PID STORE_DIR: PSS (KiB) of a gunicorn master and its
workers, read from /proc/PID/smaps: the store's mappings (files under
STORE_DIR and anonymous shared memory, the arena: the measure of
tests/check_db_pss.c) and the whole process. A page shared by n processes
counts 1/n in each, so the sums are what the processes really take.
Prints one JSON object."""
import json
import sys


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(x) for x in f.read().split()]


def pss(pid, store):
    store_kib = total = 0
    counting = False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            first = line.split(None, 1)[0]
            if first.endswith(":"):
                if first == "Pss:":
                    kib = int(line.split()[1])
                    total += kib
                    store_kib += kib if counting else 0
                continue
            parts = line.split(None, 5)
            path = parts[5].strip() if len(parts) > 5 else ""
            counting = (path.startswith(store.rstrip("/") + "/") or
                        (parts[1][3] == "s" and path.startswith("/dev/zero")))
    return store_kib, total


def main():
    master, store = int(sys.argv[1]), sys.argv[2]
    procs = [master] + children(master)
    rows = {p: pss(p, store) for p in procs}
    print(json.dumps({"processes": len(procs),
                      "store_kib": sum(r[0] for r in rows.values()),
                      "total_kib": sum(r[1] for r in rows.values()),
                      "per_process": {str(p): {"store_kib": r[0], "total_kib": r[1]}
                                      for p, r in rows.items()}}))


if __name__ == "__main__":
    main()
