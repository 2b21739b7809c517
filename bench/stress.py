"""``make stress``: the store under concurrent use, and ``run`` killed at random moments (root).

    python -m bench.stress                          # about 2 minutes
    python -m bench.stress --seconds 10 --kills 12  # a short one

Two scenarios, each on a private store and runtime dir (issue 13):

1. **concurrency**: several processes run ``load``, ``rmi``, ``image prune``,
   ``images`` and ``run --rm busybox true`` against one store for a while.
   A failure is any non-zero exit, except ``rmi`` of an image that another
   process already removed ("not found"), which docker reports the same way.
   Afterwards ``image check`` must be clean.
2. **kills**: ``minictr run`` is SIGKILLed 30-300 ms after it starts (on a warm
   store, and on a "fresh" one whose layers must be unpacked first); then
   ``ps -a``, ``rm -f`` of every container and ``image prune`` run, and every
   kind of leftover is counted: storage dirs, state dirs, temp files and
   half-unpacked layers, leases, cgroups, mounts and processes.

The figures are printed as a table, like ``make bench``. The functions are
also used by tests/integration/test_store_stress.py with small numbers.
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_SCRIPT = Path(sys.executable).parent / "minictr"
MINICTR = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "minictr"]


class Store:
    """A private store and runtime dir, and the minictr command pointed at them."""

    def __init__(self, base: Path):
        self.base = base
        self.root, self.run = base / "store", base / "run"
        self.env = dict(os.environ, MINICTR_ROOT=str(self.root), MINICTR_RUNTIME_DIR=str(self.run))

    def __call__(self, *args, timeout=120) -> subprocess.CompletedProcess:
        return subprocess.run([*MINICTR, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def popen(self, *args) -> subprocess.Popen:
        return subprocess.Popen([*MINICTR, *args], env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)


def _ok(r: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    if r.returncode != 0:
        raise RuntimeError(f"{what}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def make_archives(s: Store, work: Path, n: int = 3) -> list[tuple[str, Path]]:
    """``n`` small images of their own (one tiny layer each) and one that shares busybox's blobs."""
    _ok(s("image", "build-default"), "build-default")
    out = []
    for i in range(n):
        rootfs = work / f"rootfs{i}.tar"
        src = work / f"src{i}"
        (src / "etc").mkdir(parents=True, exist_ok=True)
        (src / "etc" / "stress").write_text(f"image {i}\n" + "x" * (50_000 * (i + 1)))
        subprocess.run(["tar", "-C", str(src), "-cf", str(rootfs), "."], check=True)
        name = f"stress/img{i}:latest"
        _ok(s("import", "-c", f"LABEL n={i}", str(rootfs), name), "import")
        out.append((name, work / f"img{i}.tar"))
    _ok(s("tag", "busybox", "stress/bb:latest"), "tag")
    out.append(("stress/bb:latest", work / "bb.tar"))
    for name, path in out:
        _ok(s("save", "-o", str(path), name), "save")
        _ok(s("rmi", name), "rmi")
    return out


def concurrency(s: Store, archives, seconds: float = 5.0, workers: int = 6, seed: int | None = None) -> dict:
    """Run the mix for ``seconds``; return counts, failures (lines) and the store check."""
    rnd = random.Random(seed)
    kinds = ["load", "rmi", "prune", "run", "images", "load"][:max(workers, 4)] + ["load"] * max(0, workers - 6)
    counts = {k: 0 for k in ("load", "rmi", "prune", "run", "images")}
    failures: list[str] = []
    deadline = time.monotonic() + seconds
    running: dict[subprocess.Popen, tuple[str, str]] = {}

    def start(kind: str) -> None:
        if kind == "load":
            name, path = rnd.choice(archives)
            argv = ("load", "-q", "-i", str(path))
        elif kind == "rmi":
            name = rnd.choice(archives)[0]
            argv = ("rmi", name)
        elif kind == "prune":
            argv = ("image", "prune")
        elif kind == "run":
            argv = ("run", "--rm", "busybox", "true")
        else:
            argv = ("images",)
        p = subprocess.Popen([*MINICTR, *argv], env=s.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True)
        running[p] = (kind, " ".join(argv))

    for k in kinds[:workers]:
        start(k)
    while running:
        for p in list(running):
            if p.poll() is None:
                continue
            kind, what = running.pop(p)
            err = p.stderr.read()
            p.stdout.close()
            p.stderr.close()
            counts[kind] += 1
            benign = kind == "rmi" and "not found" in err
            if (p.returncode != 0 and not benign) or "unexpected error" in err:
                failures.append(f"{what}: exit {p.returncode}: {err.strip()}")
            if time.monotonic() < deadline:
                start(kind)
        time.sleep(0.005)
    check = s("image", "check")
    return {"counts": counts, "failures": failures, "seconds": seconds,
            "loads_per_s": counts["load"] / seconds, "check": check.stdout.strip() if check.returncode else "",
            "check_rc": check.returncode}


def _ids_in(run: Path) -> set[str]:
    out = set()
    for n in os.listdir(run) if run.is_dir() else ():
        cid = n[5:].partition("-")[0] if n.startswith((".new-", ".del-")) else n
        if len(cid) == 64:
            out.add(cid)
    return out


def leftovers(s: Store, ids: set[str]) -> dict[str, list[str]]:
    """Everything a container or a store operation may leave behind, by kind."""
    def ls(d: Path) -> list[str]:
        return sorted(os.listdir(d)) if d.is_dir() else []
    tmp = ls(s.root / "tmp")
    cg = []
    for cid in ids:
        for depth in ("*", "*/*", "*/*/*"):
            cg += glob.glob(f"/sys/fs/cgroup/{depth}/minictr/{cid}")
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if str(s.base) in line]
    procs = []
    needle = f"MINICTR_ROOT={s.root}".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    procs.append(pid)
        except OSError:
            continue
    return {"storage": ls(s.root / "containers"), "state": ls(s.run),
            "tmp": [t for t in tmp if not t.startswith("layer-")], "layers": [t for t in tmp if t.startswith("layer-")],
            "leases": ls(s.root / "leases"), "cgroups": cg, "mounts": mounts, "processes": procs}


def kills(s: Store, n: int = 12, fresh_every: int = 3, seed: int | None = None,
          low: float = 0.03, high: float = 0.3) -> dict:
    """Kill ``run`` ``n`` times at random moments, clean up with ps/rm/prune, count the leftovers."""
    rnd = random.Random(seed)
    ids: set[str] = set()
    for i in range(n):
        if fresh_every and i % fresh_every == 0:  # a fresh store: the run must unpack busybox again
            shutil.rmtree(s.root / "layers", ignore_errors=True)
        p = s.popen("run", *(["--rm"] if i % 2 else []), "busybox", "true")
        time.sleep(rnd.uniform(low, high))
        p.send_signal(signal.SIGKILL)
        p.wait()
        ids |= _ids_in(s.run)
    before = {k: len(v) for k, v in leftovers(s, ids).items()}  # what the kills left, for the figures
    ps = s("ps", "-a")
    errors = [] if ps.returncode == 0 else [f"ps -a: {ps.stderr.strip()}"]
    left = s("ps", "-aq", "--no-trunc").stdout.split()
    if left:
        r = s("rm", "-f", *left)
        if r.returncode:
            errors.append(f"rm -f: {r.stderr.strip()}")
    r = s("image", "prune")
    if r.returncode:
        errors.append(f"image prune: {r.stderr.strip()}")
    time.sleep(0.1)  # a killed container's init may take a moment to be reaped
    found = leftovers(s, ids)
    return {"kills": n, "containers_seen": len(ids), "before": before, "leftovers": found, "errors": errors,
            "check": s("image", "check").returncode}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.stress", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60, help="length of the concurrency run")
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--kills", type=int, default=100, help="how many runs to kill")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("make stress needs root (it runs containers)", file=sys.stderr)
        return 1
    base = Path(tempfile.mkdtemp(prefix="minictr-stress-"))
    try:
        s = Store(base / "c")
        archives = make_archives(s, base)
        t0 = time.monotonic()
        c = concurrency(s, archives, args.seconds, args.workers)
        ks = Store(base / "k")
        _ok(ks("image", "build-default"), "build-default")  # warm; every third kill removes the unpacked layers
        k = kills(ks, args.kills)
        rows = [("figure", "value"),
                ("concurrency: seconds, processes", f"{args.seconds:g} s, {args.workers}"),
                *[(f"  {kind} done", v) for kind, v in c["counts"].items()],
                ("  loads/s", f"{c['loads_per_s']:.2f}"),
                ("  failures", len(c["failures"])),
                ("  image check afterwards", "clean" if c["check_rc"] == 0 else "PROBLEMS"),
                ("kills of run (SIGKILL at 30-300 ms)", k["kills"]),
                ("  containers seen", k["containers_seen"]),
                *[(f"  left by the kills, before ps/rm/prune: {kind}", v) for kind, v in k["before"].items()
                  if kind in ("storage", "state", "tmp", "layers", "leases")],
                *[(f"  leftovers: {kind}", len(v)) for kind, v in k["leftovers"].items()],
                ("  ps/rm/prune errors", len(k["errors"])),
                ("  image check afterwards", "clean" if k["check"] == 0 else "PROBLEMS"),
                ("total time", f"{time.monotonic() - t0:.0f} s")]
        w = max(len(str(r[0])) for r in rows)
        for a, b in rows:
            print(f"{str(a).ljust(w)}   {b}")
        for line in c["failures"][:10] + k["errors"]:
            print("failure:", line)
        for kind, v in k["leftovers"].items():
            for item in v[:5]:
                print(f"leftover {kind}: {item}")
        bad = c["failures"] or c["check_rc"] or k["errors"] or k["check"] or any(k["leftovers"].values())
        return 1 if bad else 0
    finally:
        for d in ("c", "k"):
            st = Store(base / d)
            left = st("ps", "-aq", "--no-trunc").stdout.split()
            if left:
                st("rm", "-f", *left)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
