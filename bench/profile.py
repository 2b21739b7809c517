"""Where the time of one ``minictr run --rm busybox -- /bin/true`` goes, phase by phase.

    python -m bench.profile --runs 20      # (bench.run calls it too, for latest.md)

Each run is a fresh interpreter that executes ``RUNNER`` below: it imports
what ``minictr run`` imports, wraps the steps of the run path with timers,
and runs the real ``cli.main()``. The medians over the runs are the figures.
The interpreter's own start is timed apart: ``python`` running an empty
script, as the venv's ``minictr`` command is a script; and ``python -m`` of
an empty module, for ``python -m minictr``. The timers
add a little (a few microseconds a call), so the phases sum to a bit more
than an untimed run.

This is a measuring tool, not part of minictr: it reaches into private
functions (``container._exits_within``) on purpose.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

#: (phase, what it covers), in the order a run goes through them.
PHASES = (
    ("imports", "minictr's modules, as `run` imports them"),
    ("ctypes", "ctypes and libc, for unshare/setns/mount/pivot_root"),
    ("prepare", "image lookup, the container's overlay dirs, the config"),
    ("state writes", "the state file: creating, running"),
    ("cgroup create", "a group in each tree (mkdir, cpuset copy)"),
    ("fork", "unshare(CLONE_NEWPID), fork, setns back"),
    ("child builds the container", "join cgroups, unshare, hostname, lo, mount plan, pivot_root"),
    ("exec", "the child's user, env, workdir, stdio, then execve"),
    ("/bin/true runs and exits", "until the parent sees it gone, and reaps it"),
    ("cleanup", "OOM check, cgroup rmdir, container dir and state removed"),
    ("the rest", "argument reading, names, bookkeeping"),
)

RUNNER = r'''
import json, os, sys, time
T0 = time.perf_counter()
from minictr import cli
from minictr import cgroups, container, process, state, syscalls
from minictr.image import quick
t_imports = time.perf_counter() - T0
t = time.perf_counter()
syscalls.linux()
t_ctypes = time.perf_counter() - t
spent = {}

def timed(owner, name, phase):
    f = getattr(owner, name)
    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            spent[phase] = spent.get(phase, 0.0) + time.perf_counter() - t
    setattr(owner, name, wrapper)

timed(container, "prepare", "prepare")
timed(state.State, "save", "state writes")
timed(container, "_cgroup_create", "cgroup create")
timed(process, "spawn", "fork")
timed(process.Init, "setup", "child builds the container")
timed(process.Init, "start", "exec")
timed(container, "_exits_within", "/bin/true runs and exits")
timed(container.Container, "_reap", "/bin/true runs and exits")
timed(state, "record_exit", "cleanup")
timed(container, "_remove_leftovers", "cleanup")
sys.argv = ["minictr", "run", "--rm", "--network", "none", "busybox", "--", "/bin/true"]
t = time.perf_counter()
code = cli.main()
main = time.perf_counter() - t
spent["the rest"] = main - sum(spent.values())
spent["imports"], spent["ctypes"] = t_imports, t_ctypes
print(json.dumps(spent))
os._exit(code)
'''


def _wall(argv: list[str], env: dict, runs: int) -> float:
    """Median wall time of ``argv`` in seconds (posix_spawn + waitpid)."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def profile(py: str, env: dict, runs: int = 20, work: Path | None = None) -> dict:
    """``{"phases": {phase: median ms}, "python (empty script)": ms, "python -m (empty module)": ms, "total": ms}``."""
    empty = Path(work or "/tmp") / "bench_empty_module"
    empty.mkdir(parents=True, exist_ok=True)
    (empty / "minictr_bench_empty.py").write_text("")
    env_empty = dict(env, PYTHONPATH=f"{empty}:{env.get('PYTHONPATH', '')}")
    samples: dict[str, list[float]] = {}
    for i in range(runs + 2):
        out = subprocess.run([py, "-c", RUNNER], env=env, check=True, capture_output=True, text=True).stdout
        if i < 2:
            continue  # warm-up: page cache, the layer cache, .pyc files
        for phase, seconds in json.loads(out.splitlines()[-1]).items():
            samples.setdefault(phase, []).append(seconds * 1e3)
    phases = {name: round(statistics.median(samples.get(name, [0.0])), 2) for name, _ in PHASES}
    floor = {
        "python (empty script)": round(_wall([py, str(empty / "minictr_bench_empty.py")], env, runs) * 1e3, 2),
        "python -m (empty module)": round(_wall([py, "-m", "minictr_bench_empty"], env_empty, runs) * 1e3, 2),
    }
    return {"phases": phases, **floor, "runs": runs,
            "total": round(floor["python (empty script)"] + sum(phases.values()), 2)}


def markdown(p: dict) -> str:
    """The breakdown as a markdown table, with each phase's share of the whole."""
    total = p["total"]
    rows = ["| phase | median ms | share | what |", "|---|---:|---:|---|"]
    start = p["python (empty script)"]
    rows.append(f"| interpreter start | {start:.1f} | {start / total:.0%} | "
                f"`python` running an empty script, as the `minictr` command is one "
                f"(`python -m` of an empty module: {p['python -m (empty module)']:.1f} ms) |")
    for name, what in PHASES:
        ms = p["phases"][name]
        rows.append(f"| {name} | {ms:.1f} | {ms / total:.0%} | {what} |")
    rows.append(f"| **sum** | **{total:.1f}** | | (the timers add a little) |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from . import fixtures
    from .fixtures import REPO
    from .view import as_root

    ap = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    ap.add_argument("--work", default="/tmp/minictr-bench")
    args = ap.parse_args(argv)
    if not as_root():  # in the host's own cgroup view, as minictr's users run it
        return 1
    work = Path(args.work)
    env = fixtures.env_for(work, REPO)
    subprocess.run([args.python, "-m", "compileall", "-q", str(REPO / "minictr")], check=True, env=env)
    fixtures.export_rootfs(work)  # makes sure the store has busybox
    print(markdown(profile(args.python, env, args.runs, work)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
