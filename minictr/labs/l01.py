"""Lesson 01 (processes): the wait-status exercise.

Exercise ``01.decode_status``: ``def decode(status: int) -> int`` turns a
wait(2) status into an exit code (128+N for a signal N), as a shell does.
The check feeds it hand-made statuses and real ones from forked children.
The reference is the runtime's own rule, ``minictr.process.exit_status``,
imported when asked for.

Man pages: wait(2), fork(2), signal(7).
"""

from __future__ import annotations

import os
import signal
from typing import Callable

from .kit import Case, CaseFailed, Exercise, lazy, register
from .lesson import Lesson

# needs_root: the lab starts containers (`minictr run busybox ...`), though the exercise does not
LESSON = Lesson("01", "Processes", needs_root=True, tools=("sleep",), privilege="either")


# -- the checks ----------------------------------------------------------------------

def _status_cases() -> list[Case]:
    def real_status(how: str) -> int:
        pid = os.fork()
        if pid == 0:
            if how == "exit3":
                os._exit(3)
            os.kill(os.getpid(), signal.SIGKILL)
            os._exit(99)  # never reached
        return os.waitpid(pid, 0)[1]

    def expect(status: int) -> int:
        code = os.waitstatus_to_exitcode(status)
        return code if code >= 0 else 128 - code

    def case(name: str, status_fn: Callable[[], int], why: str) -> Case:
        def run(fn):
            status = status_fn()
            got = fn(status)
            want = expect(status)
            if got != want:
                raise CaseFailed(f"decode({status:#06x}) returned {got!r}, expected {want}: {why}")
        return Case(name, run)

    return [
        case("exit(0)", lambda: 0x0000, "the child exited with 0, in bits 8-15"),
        case("exit(1)", lambda: 0x0100, "the exit code is in bits 8-15"),
        case("exit(42)", lambda: 0x2A00, "the exit code is in bits 8-15"),
        case("exit(255)", lambda: 0xFF00, "the exit code is in bits 8-15"),
        case("killed by SIGKILL", lambda: 0x0009, "killed by signal 9: the convention is 128+9"),
        case("killed by SIGTERM", lambda: 0x000F, "killed by signal 15: the convention is 128+15"),
        case("killed by SIGINT", lambda: 0x0002, "killed by signal 2 (Ctrl-C): 128+2"),
        case("SIGSEGV with a core dump", lambda: 0x008B,
             "signal 11, and bit 7 (0x80) says a core was dumped: it is not part of the signal"),
        case("a real child that called _exit(3)", lambda: real_status("exit3"), "the child exited with 3"),
        case("a real child killed by SIGKILL", lambda: real_status("kill"), "killed by signal 9"),
    ]


register(Exercise(
    id="01.decode_status", title="Decode a wait status into an exit code",
    function="decode", signature="def decode(status: int) -> int",
    cases=_status_cases,
    reference=lambda: lazy("minictr.process", "exit_status"),
))


# The lesson's quizzes, out of the notebook's sight (minictr.labs.quizzes reads this table as data;
# the notebook shows one with Quiz.lab(id), its options shuffled).
QUIZZES = {
    "01.oom-exit-code": {
        "question": "A container's process was killed by the OOM killer (SIGKILL, signal 9). "
                    "What exit code does docker report?",
        "right": {"137": "128 + 9 = 137: the shell's rule for 'killed by signal N', which docker and minictr follow."},
        "wrong": {
            "9": "9 is the signal's number; an exit code of 9 would mean the program called exit(9).",
            "-9": "That is how Python's subprocess reports a signal (returncode -9); exit codes are 0-255.",
            "1": "1 is a program's own 'something failed'; a killed process never got to choose a code.",
        },
    },
}
