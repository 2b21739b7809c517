"""``minictr doctor``: print what this machine offers the lessons, and how to fix what is missing.

Exit status 0 when every lesson can run, 1 otherwise (warnings do not count).
``--json`` prints the same data for scripts and CI. The checks live in
``minictr/doctor.py``, ``minictr/doctor_sec.py`` (what the host supports of a
container's confinement) and, for an ordinary user, ``minictr/doctor_rootless.py``; this module hands them the lessons' records
(``minictr.labs.lessons()``) and prints.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check that this machine can run containers and the lessons")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.add_argument("--no-probes", action="store_true",
                   help="only read /proc and /sys: no forked unshare, mount or cgroup probes")
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    import json

    import os

    from . import doctor, doctor_sec, labs

    # The lessons' LESSON records say what each failure blocks; doctor itself never imports the labs.
    lessons = labs.lessons()
    checks = doctor.run_checks(lessons=lessons, probes=not args.no_probes)
    if os.geteuid() != 0:  # an ordinary user: what rootless mode offers here, and what to enable
        from . import doctor_rootless
        checks += doctor_rootless.run_checks(lessons=lessons)
    checks += doctor_sec.run_checks(doctor.read_status(), probes=not args.no_probes, lessons=lessons)
    if args.json:
        print(json.dumps(doctor.as_dict(checks), indent=2))
    else:
        print(doctor.format_table(checks))
    return 0 if doctor.all_lessons_can_run(checks) else 1
