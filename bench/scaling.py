"""Scaling figures: image size, layer unpack throughput, many containers at once.

* ``image_size``   run latency of busybox against busybox + a 500 MB layer,
                   warm (layers cached: the overlay makes it flat) and cold
                   (the first run unpacks the layer).
* ``unpack``       minictr.tarball.extract against GNU tar on the same layer file.
* ``concurrency``  N ``minictr run`` CLIs at once: wall time for N ``/bin/true``
                   containers, and the memory of each supervising CLI while
                   its container sleeps (VmRSS and Pss from /proc, see proc(5)).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from minictr import timing

from . import fixtures


def _timed(argv: list[str], env: dict, cwd: str | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def image_size(py: str, work: Path, repo: Path, env: dict, runs: int, cold_runs: int = 3) -> dict:
    big, big_blob = fixtures.build_big_image(work)
    run = [*fixtures.minictr_command(py), "run", "--rm", "--network", "none"]  # as runc's spec: lo only
    cold = []
    for _ in range(cold_runs):
        fixtures.drop_layer_cache(work, big_blob)
        cold.append(_timed(run + [big, "--", "/bin/true"], env, str(repo)))
    warm = timing.time_commands({"busybox (2 MB)": run + ["busybox", "--", "/bin/true"],
                                 "busybox + 500 MB layer": run + [big, "--", "/bin/true"]},
                                runs=runs, warmup=2, env=env, cwd=str(repo))
    return {"warm": warm, "cold_first_run": timing.stats(cold),
            "big_layer_bytes": big_blob.stat().st_size}


def unpack(work: Path, reps_big: int = 3, reps_small: int = 5) -> dict:
    """Seconds and MB/s of tarball.extract and GNU tar for the big layer and busybox's."""
    from minictr import tarball

    _, big_blob = fixtures.build_big_image(work)
    _, small_blob = fixtures.busybox_layer(work)
    out = {}
    for label, blob, reps in (("500 MB tar", big_blob, reps_big), ("busybox tar.gz", small_blob, reps_small)):
        size = blob.stat().st_size
        row = {"bytes": size}
        for tool in ("minictr.tarball.extract", "GNU tar -x"):
            times = []
            for _ in range(reps):
                with tempfile.TemporaryDirectory(dir=work, prefix="unpack-") as dest:
                    t0 = time.perf_counter()
                    if tool.startswith("minictr"):
                        tarball.extract(blob, dest)
                    else:
                        subprocess.run(["tar", "-xf", str(blob), "-C", dest], check=True)
                    times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            row[tool] = {"median_s": med, "MB_per_s": size / med / 1e6, "times": times}
        out[label] = row
    return out


def _wait_handoff(procs, deadline: float) -> None:
    """Until every supervising process runs minictr/supervise.py and waits (see container.run).

    It waits once it has unblocked the signals the CLI blocked across execve:
    SigBlk in /proc/PID/status is 0 again.
    """
    for p in procs:
        while time.monotonic() < deadline:
            with open(f"/proc/{p.pid}/cmdline", "rb") as f:
                handed_off = b"supervise.py" in f.read()
            with open(f"/proc/{p.pid}/status") as f:
                unblocked = any(line.startswith("SigBlk:") and int(line.split()[1], 16) == 0 for line in f)
            if handed_off and unblocked:
                break
            time.sleep(0.01)


def _read_mem(pid: int) -> tuple[int, int]:
    """(VmRSS, Pss) in kB of a live process."""
    rss = pss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def _running(work: Path) -> int:
    n = 0
    run = work / "run"
    for cid in os.listdir(run) if run.exists() else ():
        try:
            with open(run / cid / "state.json") as f:
                n += json.load(f).get("status") == "running"
        except (OSError, ValueError):
            pass
    return n


def concurrency(py: str, work: Path, repo: Path, env: dict, counts=(1, 10, 50)) -> dict:
    run = [*fixtures.minictr_command(py), "run", "--rm", "--network", "none"]  # as runc's spec: lo only
    out = {}
    for n in counts:
        # 1. wall time: N containers of /bin/true started at once, until all have exited
        t0 = time.perf_counter()
        procs = [subprocess.Popen(run + ["busybox", "--", "/bin/true"], env=env, cwd=str(repo)) for _ in range(n)]
        codes = [p.wait() for p in procs]
        wall = time.perf_counter() - t0
        if any(codes):
            raise RuntimeError(f"{n} concurrent runs: exit codes {codes}")
        # 2. memory: N containers that wait on stdin; measure each supervising CLI while they wait
        t0 = time.perf_counter()
        procs = [subprocess.Popen(run + ["-i", "busybox", "--", "cat"], env=env, cwd=str(repo),
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL) for _ in range(n)]
        try:
            deadline = time.monotonic() + 60 + n
            while _running(work) < n:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise RuntimeError(f"{n} containers did not all start")
                time.sleep(0.01)
            all_up = time.perf_counter() - t0
            # A run that lasts hands off to the small supervisor (same PID) after
            # container.HANDOFF_AFTER seconds: measure the process that waits, once it does.
            _wait_handoff(procs, deadline)
            mem = [_read_mem(p.pid) for p in procs]
        finally:
            for p in procs:
                p.stdin.close()  # cat sees end-of-file; the container exits
            codes = [p.wait(timeout=60) for p in procs]
        rss = [m[0] for m in mem]
        pss = [m[1] for m in mem]
        out[n] = {"wall_true_s": wall, "all_running_s": all_up, "exit_codes_ok": not any(codes),
                  "rss_kb_mean": statistics.fmean(rss), "rss_kb_max": max(rss),
                  "pss_kb_mean": statistics.fmean(pss), "pss_kb_max": max(pss)}
    return out
