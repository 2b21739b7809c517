"""Round-robin timing of rows that are more than one command: ``run -d`` then ``stop``, a build.

``minictr.timing`` times one command per row. Some rows are a short sequence
(``run -d NAME ...`` then ``stop NAME``), and some need untimed work after
each run (``rm NAME``, so that the next round starts from the same state).
A ``Row`` is that: its timed steps, run one after the other (the row's time is
their sum, and each step's time is kept too), and its untimed ``after`` steps.

Every round runs every row once, in the given order, so that all rows, and
both sides of each pair, meet the same moments of a machine whose speed
drifts (the reasoning of ``time_commands(..., interleave=True)``).
``{n}`` in an argument becomes the round's number (names that must be new in
each round).

Each command is started with posix_spawn(3), stdin and stdout on /dev/null,
stderr kept in a file for the message of a failure, and waited for with
waitpid(2); a step that exits non-zero raises ``RuntimeError`` (it would time
its error path). The spawn costs the same on both sides of a pair.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
import time
from typing import NamedTuple

from minictr import timing


class Row(NamedTuple):
    name: str
    steps: tuple          # argvs timed one after the other
    after: tuple = ()     # argvs run after each timed run, untimed (clean-up)


def expand(argv, n: int) -> list[str]:
    """``argv`` with ``{n}`` replaced by the round number ``n``."""
    return [str(a).replace("{n}", str(n)) for a in argv]


def _which(cmd: str, env: dict) -> str:
    path = cmd if "/" in cmd else shutil.which(cmd, path=env.get("PATH"))
    if path is None:
        raise FileNotFoundError(f"command not found: {cmd}")
    return path


def time_rows(rows: list[Row], runs: int, warmup: int = 1, *, env: dict | None = None,
              cwd: str | None = None) -> dict:
    """``{row name: stats of the row's total, plus "steps": [stats of each timed step]}``."""
    env = dict(os.environ if env is None else env)
    totals: dict[str, list[float]] = {r.name: [] for r in rows}
    steps: dict[str, list[list[float]]] = {r.name: [[] for _ in r.steps] for r in rows}
    devnull = os.open(os.devnull, os.O_RDWR)
    err = tempfile.TemporaryFile()
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
               (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]

    def spawn(argv: list[str], timed: bool) -> float:
        err.seek(0)
        err.truncate()
        t0 = time.perf_counter()
        pid = os.posix_spawn(_which(argv[0], env), argv, env, file_actions=actions)
        _, status = os.waitpid(pid, 0)
        dt = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        if code != 0 and timed:
            err.seek(0)
            raise RuntimeError(f"{shlex.join(argv)} exited with {code}: "
                               f"{err.read().decode(errors='replace').strip()[-1000:]}")
        return dt

    old_cwd = os.getcwd() if cwd else None
    try:
        if cwd:
            os.chdir(cwd)
        for n in range(warmup + runs):
            for row in rows:
                try:
                    dts = [spawn(expand(s, n), True) for s in row.steps]
                finally:
                    for s in row.after:
                        spawn(expand(s, n), False)
                if n >= warmup:
                    totals[row.name].append(sum(dts))
                    for i, dt in enumerate(dts):
                        steps[row.name][i].append(dt)
    finally:
        os.close(devnull)
        err.close()
        if old_cwd:
            os.chdir(old_cwd)
    return {name: {**timing.stats(t), "steps": [timing.stats(s) for s in steps[name]]}
            for name, t in totals.items()}
