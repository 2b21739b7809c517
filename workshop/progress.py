"""Who is stuck on which exercise: a table of the room, user by exercise (run as root).

    sudo /opt/minictr-hub/venv/bin/python workshop/progress.py                 # everyone, every exercise tried
    sudo .../python workshop/progress.py --lesson 00 --lesson 01             # those lessons' exercises
    sudo .../python workshop/progress.py --users workshop/users.txt --watch 30  # again every 30 s

Each participant's kernels append their check results to
~/.local/state/minictr/checks.jsonl (the hub sets MINICTR_CHECK_LOG; minictr/labs/progress.py
writes and reads them). Homes are 0700, hence root. Prints, for example::

    user       00.ns_differences  01.decode_status  last check
    ada        ok                 x3                40 s ago (01.decode_status)
    grace      -                  .                 6 min ago (00.ns_differences)

Man pages: passwd(5) (where the homes are).
"""

from __future__ import annotations

import argparse
import os
import pwd
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))
import roster  # noqa: E402  (workshop/roster.py: importable only after the path above)
from minictr.labs import checks, progress  # noqa: E402  (the checkout, likewise: a script run from it)

LOG = ".local/state/minictr/checks.jsonl"
INSTALLED_USERS = "/opt/minictr-hub/users.txt"


def read_logs(names: list[str], log: str = LOG) -> dict[str, list[dict]]:
    logs = {}
    for name in names:
        try:
            home = pwd.getpwnam(name).pw_dir
        except KeyError:
            continue  # listed but not created (yet)
        try:
            with open(os.path.join(home, log), encoding="utf-8", errors="replace") as f:
                logs[name] = progress.parse(f.read())
        except FileNotFoundError:
            logs[name] = []
    return logs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--users", default=INSTALLED_USERS if os.path.exists(INSTALLED_USERS)
                    else os.path.join(HERE, "users.txt"), help="the user list (default: the installed hub's)")
    ap.add_argument("--lesson", action="append", default=[], metavar="NN", help="only this lesson's exercises")
    ap.add_argument("--watch", type=float, metavar="SECONDS", help="print again every SECONDS until Ctrl-C")
    args = ap.parse_args(argv)
    try:
        names = [p.name for p in roster.read(args.users) if not p.admin]
    except (OSError, roster.RosterError) as e:
        print(f"progress: {e}", file=sys.stderr)
        return 1
    exercises = [x for x in checks.ids() if x.split(".")[0] in args.lesson] if args.lesson else None
    while True:
        logs = read_logs(names)
        print("\n".join(progress.table(logs, exercises)))
        print(progress.LEGEND)
        if not args.watch:
            return 0
        try:
            time.sleep(args.watch)
        except KeyboardInterrupt:
            return 0
        print()


if __name__ == "__main__":
    sys.exit(main())
