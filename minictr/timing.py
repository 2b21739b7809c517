"""Time commands side by side: how long does it take to start a process, a container, a VM?

The benchmark harness (``bench/``) and lesson 00's chart both use this one
function. It needs only the standard library, and uses hyperfine(1) when it is
installed (the Debian package), because hyperfine calibrates its own overhead
and warms up::

    from minictr import timing
    res = timing.time_commands({
        "process": ["/bin/true"],
        "container": ["python", "-m", "minictr", "run", "--rm", "busybox", "--", "/bin/true"],
    }, runs=10)
    res["container"]["median"]          # seconds
    timing.ratio(res, "container", "process")

Every result is a dict of plain numbers (seconds): ``median``, ``q1``, ``q3``,
``iqr`` (q3 - q1, a spread that ignores the odd slow outlier), ``mean``,
``stdev``, ``min``, ``max``, ``runs``, and the raw ``times``.

Without hyperfine, each command is started with posix_spawn(3) and waited
for; that costs a little more per run than hyperfine's own measurement, so
compare only numbers taken the same way, in the same run.

Man pages: hyperfine(1), posix_spawn(3), waitpid(2), clock_gettime(2) (CLOCK_MONOTONIC).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import statistics
import tempfile
import time

__all__ = ["time_commands", "stats", "ratio", "have_hyperfine"]


def have_hyperfine() -> bool:
    return shutil.which("hyperfine") is not None


def stats(times: list[float]) -> dict:
    """Median, quartiles, IQR, mean and spread of a list of durations in seconds."""
    if not times:
        raise ValueError("no times to summarise")
    ts = sorted(times)
    if len(ts) >= 2:
        q1, _q2, q3 = statistics.quantiles(ts, n=4, method="inclusive")
    else:
        q1 = q3 = ts[0]
    return {
        "median": statistics.median(ts), "q1": q1, "q3": q3, "iqr": q3 - q1,
        "mean": statistics.fmean(ts), "stdev": statistics.stdev(ts) if len(ts) > 1 else 0.0,
        "min": ts[0], "max": ts[-1], "runs": len(ts), "times": list(times),
    }


def ratio(results: dict, name: str, baseline: str) -> float:
    """How many times slower ``name`` is than ``baseline`` (ratio of medians)."""
    return results[name]["median"] / results[baseline]["median"]


def _as_argv(cmd) -> list[str]:
    return shlex.split(cmd) if isinstance(cmd, str) else [str(a) for a in cmd]


def time_commands(cmds, runs: int = 10, warmup: int = 1, *, use_hyperfine: bool | None = None,
                  env: dict | None = None, cwd: str | None = None, json_path: str | None = None,
                  interleave: bool = False) -> dict:
    """Run every command ``runs`` times (after ``warmup`` untimed runs) and summarise its times.

    ``cmds`` is a dict ``{name: argv}`` (argv a list, or a string split like a
    shell would, without running a shell), or a plain list of argvs (named by
    their command line). Returns ``{name: stats}`` in the same order.
    A command that exits non-zero raises ``RuntimeError``: a failing command
    would time its error path, not the thing we want.

    ``use_hyperfine``: None means "if installed". ``json_path`` keeps
    hyperfine's ``--export-json`` file there.

    ``interleave=True`` (never with hyperfine) runs the commands round-robin:
    one run of each, then the next round. hyperfine times one command after
    the other, so on a machine whose speed drifts (a VM with noisy
    neighbours) the commands timed last meet other conditions than those
    timed first; round-robin gives every command the same share of good and
    bad moments, which makes the *ratios* trustworthy.
    """
    if not isinstance(cmds, dict):
        cmds = {shlex.join(_as_argv(c)): c for c in cmds}
    named = {name: _as_argv(c) for name, c in cmds.items()}
    if runs < 1:
        raise ValueError(f"runs must be at least 1, not {runs}")
    if interleave:
        times = _spawn_times(list(named.values()), runs, warmup, env, cwd)
        return {name: stats(t) for name, t in zip(named, times)}
    if use_hyperfine is None:
        use_hyperfine = have_hyperfine()
    if use_hyperfine:
        return _hyperfine(named, runs, warmup, env, cwd, json_path)
    return {name: stats(_spawn_times([argv], runs, warmup, env, cwd)[0]) for name, argv in named.items()}


def _hyperfine(named: dict, runs: int, warmup: int, env, cwd, json_path) -> dict:
    import subprocess

    with tempfile.TemporaryDirectory(prefix="minictr-timing-") as tmp:
        out = json_path or os.path.join(tmp, "hyperfine.json")
        argv = ["hyperfine", "--style", "none", "-N", "--warmup", str(warmup), "--runs", str(runs),
                "--export-json", out]
        for name, cmd in named.items():
            argv += ["-n", name, shlex.join(cmd)]
        proc = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"hyperfine failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
        with open(out) as f:
            data = json.load(f)
    return {name: stats(r["times"]) for name, r in zip(named, data["results"])}


def _spawn_times(argvs: list[list[str]], runs: int, warmup: int, env, cwd) -> list[list[float]]:
    """Run each argv ``warmup + runs`` times, round-robin; the times of the timed runs, per argv."""
    env = dict(os.environ if env is None else env)
    paths = []
    for argv in argvs:
        path = argv[0] if "/" in argv[0] else shutil.which(argv[0], path=env.get("PATH"))
        if path is None:
            raise FileNotFoundError(f"command not found: {argv[0]}")
        paths.append(path)
    devnull = os.open(os.devnull, os.O_RDWR)
    old_cwd = os.getcwd() if cwd else None
    times: list[list[float]] = [[] for _ in argvs]
    try:
        if cwd:
            os.chdir(cwd)
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1)]
        for i in range(warmup + runs):
            for path, argv, out in zip(paths, argvs, times):
                t0 = time.perf_counter()
                pid = os.posix_spawn(path, argv, env, file_actions=actions)
                _, status = os.waitpid(pid, 0)
                dt = time.perf_counter() - t0
                code = os.waitstatus_to_exitcode(status)
                if code != 0:
                    raise RuntimeError(f"{shlex.join(argv)} exited with {code}")
                if i >= warmup:
                    out.append(dt)
    finally:
        os.close(devnull)
        if old_cwd:
            os.chdir(old_cwd)
    return times
