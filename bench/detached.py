"""Fifty detached containers at once: start time, the monitors' memory, and a clean removal.

A stress run, not a test (``make test`` starts ten; see tests/integration/test_detached.py)::

    sudo .venv/bin/python -m bench.detached            # 50 containers
    sudo .venv/bin/python -m bench.detached --count 20

It uses a private store and runtime dir under a temporary directory, runs
``minictr run -d busybox sleep 600`` COUNT times, checks that ``ps`` shows
them all Up, reads every monitor's VmRSS, stops one with ``stop``, removes
them all with ``rm -f``, and checks that no monitor, init, cgroup or state
is left. Exit status 0 when every check held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from minictr import procfs

MINICTR = [sys.executable, "-m", "minictr"]


def rss_kb(pid: int) -> int:
    """VmRSS once the process is the monitor (the launcher reports the start just before its execve)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"minictr.monitor" in f.read():
                break
        time.sleep(0.02)
    return procfs.rss_kib(pid)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=50)
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="minictr-detached-")
    env = dict(os.environ, MINICTR_ROOT=f"{work}/store", MINICTR_RUNTIME_DIR=f"{work}/run")

    def mc(*a, check=True):
        r = subprocess.run([*MINICTR, *a], env=env, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise SystemExit(f"minictr {' '.join(a)}: exit {r.returncode}: {r.stderr.strip()}")
        return r

    ok = True
    ids: list[str] = []
    try:
        mc("image", "build-default")
        times = []
        for i in range(args.count):
            t = time.monotonic()
            ids.append(mc("run", "-d", "--name", f"s{i}", "busybox", "sleep", "600").stdout.strip())
            times.append(time.monotonic() - t)
        up = mc("ps", "-q", "--no-trunc").stdout.split()
        states = [json.load(open(f"{work}/run/{cid}/state.json")) for cid in ids]
        rss = [rss_kb(s["supervisor_pid"]) for s in states]
        times.sort()
        print(f"{args.count} x run -d: median {times[len(times) // 2] * 1000:.0f} ms, "
              f"max {times[-1] * 1000:.0f} ms, total {sum(times):.1f} s")
        print(f"running: {len(up)}/{args.count}; monitor RSS: max {max(rss) / 1024:.1f} MB, "
              f"mean {sum(rss) / len(rss) / 1024:.1f} MB")
        ok &= sorted(up) == sorted(ids) and max(rss) <= 10 * 1024
        t = time.monotonic()
        mc("stop", "-t", "1", "s0")
        print(f"stop -t 1 (sleep ignores SIGTERM as PID 1): {time.monotonic() - t:.2f} s")
        t = time.monotonic()
        mc("rm", "-f", *ids)
        print(f"rm -f of {args.count}: {time.monotonic() - t:.2f} s")
        left = [s for s in states if procfs.alive(s["pid"]) or procfs.alive(s["supervisor_pid"])]
        from minictr import cgroups
        groups = [cid for cid in ids if cgroups.open(cid) is not None]
        run_left = os.listdir(f"{work}/run") if os.path.isdir(f"{work}/run") else []
        print(f"left behind: {len(left)} processes, {len(groups)} cgroups, {len(run_left)} state dirs")
        ok &= not left and not groups and not run_left
    finally:
        if ids:
            mc("rm", "-f", *ids, check=False)
        shutil.rmtree(work, ignore_errors=True)
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
