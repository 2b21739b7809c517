"""Lesson 06 (the PID namespace): the tiny-init exercise, and helpers for the notebook.

Exercise ``06.init``: ``def tiny_init(argv) -> int`` is PID 1. It runs
``argv`` (a host command) as its child, passes signals on to it, reaps every
zombie the kernel hands it, and returns the command's exit code (128+N for a
signal N). The check makes it PID 1 for real: a forked child unshares
``CLONE_NEWPID`` and forks again, and that grandchild, the first process of the
new namespace, calls ``tiny_init``. From outside, the check then

- sends SIGTERM to it (a PID 1 without a handler never even receives it);
- counts its zombie children while the command still runs (orphans are
  reparented to PID 1, and only PID 1 can reap them);
- compares the value returned with the command's exit status.

A wrong answer cannot hang the notebook: after a few seconds the check kills
the namespace's PID 1, and with it every process in the namespace.
Reference: ``tiny_init`` below, which is ``minictr run --init``'s
own loop (``minictr.process.forward_and_reap``).

Man pages: pid_namespaces(7), signal(7), wait(2), prctl(2) (PR_SET_CHILD_SUBREAPER), proc(5).
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any, Callable

from .. import procfs
from .kit import Case, CaseFailed, Exercise, exc_line, in_child, register
from .lesson import Lesson
from ..syscalls import CloneFlags

__all__ = ["LESSON", "as_pid1", "children_of", "tiny_init", "zombies_of"]

LESSON = Lesson("06", "PID namespace", needs_root=True, tools=("nsenter", "sh", "sleep"), namespaces=("pid",), privilege="root")


# -- the reference: a tiny init --------------------------------------------------------------

def tiny_init(argv: list[str]) -> int:
    """Be PID 1 for ``argv``: run it as a child, pass signals on, reap every zombie.

    The same as ``minictr run --init`` does (``process._init_and_exec``): fork
    and exec the command, then ``process.forward_and_reap``. Returns the
    command's exit code, or 128+N when a signal N killed it.
    """
    from .. import process

    child = os.fork()
    if child == 0:
        try:
            os.execvp(argv[0], list(argv))
        finally:
            os._exit(127)  # exec failed: "command not found", as a shell says
    return process.forward_and_reap(child)


def children_of(pid: int, proc: str = "/proc") -> list[dict[str, str]]:
    """The /proc/PID/status of every process whose parent is ``pid`` (zombies included)."""
    out = []
    for name in os.listdir(proc):
        if name.isdigit():
            st = procfs.status(int(name), proc)
            if st.get("PPid") == str(pid):
                st["Pid"] = name
                out.append(st)
    return out


def zombies_of(pid: int, proc: str = "/proc") -> list[dict[str, str]]:
    """The children of ``pid`` that are zombies (State "Z"): exited, not yet waited for."""
    return [c for c in children_of(pid, proc) if c.get("State", "").startswith("Z")]


def as_pid1(fn: Callable[[list[str]], int], argv: list[str], *,
            during: Callable[[int], Any] | None = None, limit: float = 6.0) -> dict:
    """Call ``fn(argv)`` as PID 1 of a new PID namespace; return what happened, as data.

    ``during(pid)`` runs outside while it does (``pid`` is PID 1's number as
    seen from outside); its result is under "observed". The answer has
    "returned" (fn's return value), or "error" (fn raised), or "timeout"
    (still running after ``limit`` seconds: then it was killed).
    """
    def body():
        from ..syscalls import linux

        # Why in this forked child and not in the caller: unshare(CLONE_NEWPID)
        # decides where the caller's *next* child is born, for good.
        linux().unshare(CloneFlags.NEWPID)
        r, w = os.pipe()
        init = os.fork()
        if init == 0:  # PID 1 of the new namespace
            try:
                os.close(r)
                # Start from the kernel's defaults, not from what the notebook's
                # process had installed: PID 1 semantics are about SIG_DFL.
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                            signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL)
                try:
                    answer = {"returned": fn(list(argv)), "pid": os.getpid()}
                except NotImplementedError:
                    answer = {"error": "NotImplementedError"}
                except BaseException as e:
                    answer = {"error": exc_line(e)}
                try:
                    data = json.dumps(answer).encode()
                except TypeError:
                    data = json.dumps({"error": f"returned {answer['returned']!r}, not an int"}).encode()
                os.write(w, data)
            finally:
                os._exit(0)
        os.close(w)
        observed = during(init) if during else None
        deadline = time.monotonic() + limit
        status = None
        while time.monotonic() < deadline:
            done, st = os.waitpid(init, os.WNOHANG)
            if done:
                status = st
                break
            time.sleep(0.02)
        if status is None:
            os.kill(init, signal.SIGKILL)  # kills the whole namespace
            os.waitpid(init, 0)
            os.close(r)
            return {"timeout": True, "observed": observed}
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        os.close(r)
        try:
            answer = json.loads(data) if data else {"error": "PID 1 died without an answer"}
        except ValueError:
            answer = {"error": "more than one process wrote an answer: did a forked child return "
                               "from tiny_init instead of exec'ing (or os._exit)?"}
        return {**answer, "observed": observed}

    return in_child(body, timeout=limit + 10)


def _wait_for_child_named(pid: int, name: str, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(c.get("Name") == name for c in children_of(pid)):
            return True
        time.sleep(0.01)
    return False


def _send_sigterm_until_gone(pid: int) -> dict:
    """Wait for the command (sleep) to run under PID 1, then SIGTERM PID 1 until it exits (3 s)."""
    started = _wait_for_child_named(pid, "sleep")
    deadline = time.monotonic() + 3.0
    sent = 0
    while time.monotonic() < deadline:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                break   # PID 1 has exited
        except ChildProcessError:
            break
        os.kill(pid, signal.SIGTERM)
        sent += 1
        time.sleep(0.2)
    return {"started": started, "sent": sent}


def _count_zombies_later(pid: int) -> dict:
    """Wait until both orphans were reparented to PID 1 and have exited, then count its zombie children.

    The command is ``sh -c '(sleep 0.2 &); (sleep 0.2 &); sleep 2; exit 3'``.
    Its shell is PID 1's first child. Once that shell's only child is its
    ``sleep 2``, both subshells are gone and their ``sleep 0.2`` belong to PID
    1; once none of those runs any more, they are either reaped or zombies.
    (An orphan is told apart by its PID, not its name: just after fork, before
    exec, it is still called "sh".)
    """
    started = _wait_for_child_named(pid, "sh")
    kids = children_of(pid)
    main = kids[0]["Pid"] if started and kids else None
    deadline = time.monotonic() + 1.8
    while main and time.monotonic() < deadline:
        kids = children_of(pid)
        subshells_gone = [c.get("Name") for c in children_of(int(main))] == ["sleep"]
        orphans_running = [k for k in kids if k["Pid"] != main and not k.get("State", "").startswith("Z")]
        if subshells_gone and not orphans_running:
            break
        time.sleep(0.02)
    return {"started": started, "zombies": len(zombies_of(pid))}


def _init_cases() -> list[Case]:
    cache: dict[tuple[int, str], dict] = {}

    def trial(fn, key: str, argv: list[str], during=None, limit: float = 6.0) -> dict:
        if (id(fn), key) not in cache:
            cache[(id(fn), key)] = as_pid1(fn, argv, during=during, limit=limit)
        t = cache[(id(fn), key)]
        if t.get("error") == "NotImplementedError":
            raise NotImplementedError
        if "error" in t:
            raise CaseFailed(f"your tiny_init raised {t['error']}")
        return t

    def returns(key: str, argv: list[str], want: int, why: str):
        def run(fn):
            t = trial(fn, key, argv)
            if t.get("timeout"):
                raise CaseFailed(f"tiny_init({argv!r}) did not return within 6 seconds")
            if t["returned"] != want:
                raise CaseFailed(f"tiny_init({argv!r}) returned {t['returned']!r}, expected {want}: {why}")
        return run

    def forwards(fn):
        t = trial(fn, "sigterm", ["sleep", "30"], _send_sigterm_until_gone, limit=1.0)
        if not t["observed"]["started"]:
            raise CaseFailed("the command `sleep 30` never ran as a child of your init: fork, then exec argv")
        if t.get("timeout"):
            raise CaseFailed("SIGTERM was sent to your init again and again for 3 seconds, and `sleep 30` "
                             "kept running: a PID 1 only receives the signals it has a handler for; "
                             "signal.signal(SIGTERM, a handler that os.kill()s the child)")
        if t["returned"] != 128 + signal.SIGTERM:
            raise CaseFailed(f"after SIGTERM, tiny_init returned {t['returned']!r}, expected 143 "
                             "(the command was killed by signal 15: 128+15)")

    def reaps(fn):
        argv = ["sh", "-c", "(sleep 0.2 &); (sleep 0.2 &); sleep 2; exit 3"]
        t = trial(fn, "orphans", argv, _count_zombies_later)
        if not t["observed"]["started"]:
            raise CaseFailed("the command never ran as a child of your init: fork, then exec argv")
        n = t["observed"]["zombies"]
        if n:
            raise CaseFailed(f"{n} zombie{'s' if n > 1 else ''} left while the command still ran: orphans are "
                             "reparented to PID 1; wait for any child (os.wait()), not only the command")
        if t.get("timeout") or t["returned"] != 3:
            raise CaseFailed(f"the command exited with 3, tiny_init returned {t.get('returned')!r}")

    return [
        Case("returns the command's exit code (exit 7)",
             returns("exit7", ["sh", "-c", "exit 7"], 7, "the exit code is the command's")),
        Case("returns 128+N when signal N kills the command",
             returns("kill9", ["sh", "-c", "kill -KILL $$"], 137, "killed by SIGKILL: 128+9")),
        Case("a SIGTERM sent to PID 1 reaches the command", forwards),
        Case("orphans are reaped while the command runs", reaps),
    ]


register(Exercise(
    id="06.init", title="Write a tiny init that reaps and forwards signals",
    function="tiny_init", signature="def tiny_init(argv: list[str]) -> int",
    cases=_init_cases,
    reference=lambda: tiny_init,
    needs_root=True,
))


# The lesson's quizzes, out of the notebook's sight (minictr.labs.quizzes reads this table as data;
# the notebook shows one with Quiz.lab(id), its options shuffled).
QUIZZES = {
    "06.pid1-sigterm": {
        "question": "docker stop sends SIGTERM to a container whose PID 1 is a shell script with no trap. "
                    "What happens?",
        "right": {
            "nothing, until the grace period ends and SIGKILL (from the host) kills it":
                "PID 1 of a namespace only gets the signals it has a handler for; SIGKILL from an ancestor "
                "namespace is the exception. That is the 10-second wait of `docker stop`, and what --init avoids.",
        },
        "wrong": {
            "it stops at once: SIGTERM kills the script":
                "It would for any other process; PID 1 of a namespace ignores signals it has no handler for.",
            "it never stops: PID 1 ignores SIGKILL too":
                "Only from inside its namespace; SIGKILL from the host (an ancestor namespace) always kills it.",
            "the kernel restarts PID 1": "The kernel never restarts anything: when PID 1 dies, the namespace ends.",
        },
    },
    "06.orphan-reaper": {
        "question": "Inside a container, a daemon double-forks and its parent exits. "
                    "Who must wait() for the daemon when it exits?",
        "right": {
            "the container's PID 1":
                "Orphans are reparented to the init of their own PID namespace (or to a subreaper inside it). "
                "If that PID 1 never calls wait(), the dead daemon stays a zombie.",
        },
        "wrong": {
            "the host's init (PID 1 of the machine)":
                "Orphans never leave their PID namespace: the host's init cannot even see them as its children.",
            "nobody: the kernel cleans up": "The kernel keeps a zombie until its parent calls wait().",
            "the runtime, runc or minictr":
                "The runtime is outside the namespace, and not the daemon's parent after the reparenting.",
        },
    },
}
