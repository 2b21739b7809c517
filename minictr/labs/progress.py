"""Who is stuck on which exercise: each learner's check results, and a room's table of them.

When ``MINICTR_CHECK_LOG`` names a file (``~`` is expanded), every ``check(...)`` cell
appends one JSON line to it (JSON Lines; an append of one short line with O_APPEND
is one write(2), so two kernels of one learner do not interleave their lines)::

    {"t": 1764650000.0, "exercise": "00.ns_differences", "status": "failed", "passed": 2, "total": 5}

``status`` is ``passed``, ``failed``, ``not written`` (missing, or still raising
NotImplementedError) or ``needs root``. The workshop's hub sets the variable to
``~/.local/state/minictr/checks.jsonl`` for every participant (workshop/jupyterhub_config.py);
without it nothing is written, so notebooks run in CI or at home leave no trace. A log
that cannot be written is skipped in silence: the notebook matters more than the table.

``table(logs, exercises)`` turns the logs of a room (user -> lines) into the lines of a
table, user by exercise; ``workshop/progress.py`` prints it for the instructor.
Man pages: write(2) (O_APPEND).
"""

from __future__ import annotations

import json
import os
import time

LOG_ENV = "MINICTR_CHECK_LOG"
STATUSES = ("passed", "failed", "not written", "needs root")
LEGEND = ("ok: passed   xN: failed its last N checks   -: not written yet   "
          "root: needs root   .: not checked yet")


def status_of(result) -> str:
    """The one word for a ``checks.Result``."""
    if result.not_written:
        return "not written"
    if result.skipped_no_root:
        return "needs root"
    return "passed" if result.passed else "failed"


def record(result, environ=None, now=time.time) -> None:
    """Append ``result`` to the learner's log, when ``MINICTR_CHECK_LOG`` names one."""
    path = (os.environ if environ is None else environ).get(LOG_ENV)
    if not path:
        return
    path = os.path.expanduser(path)
    line = json.dumps({
        "t": round(now(), 1), "exercise": result.exercise.id, "status": status_of(result),
        "passed": sum(o.passed for o in result.outcomes), "total": len(result.outcomes),
    }) + "\n"
    try:
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def parse(text: str) -> list[dict]:
    """The well-formed entries of a log (a line cut short by a crash is skipped)."""
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("status") in STATUSES and isinstance(entry.get("exercise"), str):
            entries.append(entry)
    return entries


def cell(entries: list[dict]) -> str:
    """One learner's one exercise: the last status, and for failures how many in a row."""
    if not entries:
        return "."
    last = entries[-1]["status"]
    if last == "failed":
        streak = 0
        for e in reversed(entries):
            if e["status"] != "failed":
                break
            streak += 1
        return f"x{streak}"
    return {"passed": "ok", "not written": "-", "needs root": "root"}[last]


def table(logs: dict[str, list[dict]], exercises: list[str] | None = None, now: float | None = None) -> list[str]:
    """Lines of a table: one row per user, one column per exercise, and when each last checked.

    ``exercises`` defaults to every exercise that appears in some log, in id order.
    """
    now = time.time() if now is None else now
    if exercises is None:
        exercises = sorted({e["exercise"] for entries in logs.values() for e in entries})
    user_w = max([4, *(len(u) for u in logs)])
    widths = [max(len(x), 4) for x in exercises]
    head = "user".ljust(user_w) + "  " + "  ".join(x.ljust(w) for x, w in zip(exercises, widths)) + "  last check"
    lines = [head.rstrip()]
    for user in sorted(logs):
        entries = logs[user]
        cells = [cell([e for e in entries if e["exercise"] == x]).ljust(w) for x, w in zip(exercises, widths)]
        last = f"{ago(now - entries[-1]['t'])} ({entries[-1]['exercise']})" if entries else "never"
        lines.append(user.ljust(user_w) + "  " + "  ".join(cells) + "  " + last)
    return lines


def ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"
