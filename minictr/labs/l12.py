"""Lesson 12 (a container that lives on): the core of ``exec``, joining a running container's namespaces.

One exercise:

- ``12.enter``: ``def enter(pid: int, kinds: list[str]) -> None`` opens
  ``/proc/PID/ns/KIND`` for each kind and calls setns(2) on it, in the order
  nsenter(1) uses (user first if any, mnt last), and, when ``pid`` is among
  the kinds, forks: setns(pid) moves only the caller's *children* into the
  PID namespace, so the parent waits for the child and exits with its status,
  and only the child returns. The checks start a container of their own
  (``minictr run -d``), run ``enter`` in a forked child (``kit.in_child``) and
  compare its /proc/self/ns links with the container init's. They catch, with
  a diagnosis: mnt joined before the others (after it /proc is the
  container's, where /proc/PID names nothing), no fork after setns(pid) (the
  pid link is still the host's), kinds left out, and kinds joined that were
  not asked for.

The quizzes' answer keys live here (``QUIZZES``), not in the notebook.

Man pages: setns(2), nsenter(1), pid_namespaces(7), namespaces(7), fork(2), waitpid(2).
"""

from __future__ import annotations

import os

from .kit import Case, CaseFailed, Exercise, in_child, register
from .lesson import Lesson

__all__ = ["LESSON", "QUIZZES", "enter", "ORDER"]

LESSON = Lesson("12", "A container that lives on", needs_root=True, tools=("ps",),
                namespaces=("mnt", "uts", "ipc", "net", "pid", "cgroup"), privilege="root")

#: The order of setns(2): user first (it gives the powers over the others), mnt last (it changes /).
ORDER = ("user", "ipc", "uts", "net", "pid", "cgroup", "time", "mnt")


# -- exercise: enter a running container ---------------------------------------------------

def enter(pid: int, kinds: list[str]) -> None:
    """minictr's answer: join ``kinds`` of process ``pid``; with "pid", fork and return in the child."""
    from ..syscalls import linux

    kernel = linux()
    fds = [os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
           for kind in sorted(kinds, key=ORDER.index)]      # every link opened while /proc is still ours
    try:
        for fd in fds:
            kernel.setns(fd, 0)                               # 0: the fd itself says which kind
    finally:
        for fd in fds:
            os.close(fd)
    if "pid" in kinds:
        child = os.fork()                                     # setns(pid) moved only our future children
        if child:
            _, status = os.waitpid(child, 0)
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)       # the parent goes, with the child's status


def _start(tag: str) -> tuple[str, int]:
    """``minictr run -d`` a busybox that sleeps: (its name, its init's host PID)."""
    import subprocess
    import sys

    from .. import state

    name = f"lesson12-check-{tag}-{os.getpid()}"
    subprocess.run([sys.executable, "-m", "minictr", "rm", "-f", name], capture_output=True)
    r = subprocess.run([sys.executable, "-m", "minictr", "run", "-d", "--name", name, "busybox", "sleep", "120"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"the check could not start its container: {r.stderr.strip()}")
    return name, state.load(name).pid


def _remove(name: str) -> None:
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "minictr", "rm", "-f", name], capture_output=True)


def _links(pid: int | str, kinds, proc_fd: int | None = None) -> dict:
    out = {}
    for kind in kinds:
        try:
            out[kind] = os.readlink(f"{pid}/ns/{kind}", dir_fd=proc_fd) if proc_fd is not None \
                else os.readlink(f"/proc/{pid}/ns/{kind}")
        except OSError as e:
            out[kind] = f"error {e.errno}"
    return out


ALL = ("mnt", "pid", "net", "uts", "ipc", "cgroup")   # mnt first on purpose: the learner must order them


def _run_enter(fn, kinds: list[str], tag: str) -> tuple[dict, dict, dict]:
    """Start a container, run ``fn(pid, kinds)`` in a forked child: (container links, host links, child's view)."""
    name, pid = _start(tag)
    try:
        theirs = _links(pid, ALL)
        ours = _links("self", ALL)

        def body():
            proc_fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)   # the host's /proc, for after setns(mnt)
            try:
                fn(pid, list(kinds))
            except FileNotFoundError as e:
                return {"enoent": str(e.filename), "links": _links("self", ALL, proc_fd)}
            return {"links": _links("self", ALL, proc_fd), "getpid": os.getpid(),
                    "for_children": _links("self", ["pid_for_children"], proc_fd)["pid_for_children"]}

        try:
            got = in_child(body, timeout=15.0)
        except ValueError:
            raise CaseFailed("two answers came back: after the fork both processes returned; the parent must "
                             "waitpid the child and os._exit with its status, only the child returns") from None
        return theirs, ours, got
    finally:
        _remove(name)


def _diagnose(theirs: dict, ours: dict, got: dict, kinds) -> None:
    if "enoent" in got:
        if got["links"].get("mnt") == theirs["mnt"]:
            raise CaseFailed(f"{got['enoent']} was not found after you joined mnt: from then on /proc is the "
                             "container's, where the host's PID names nothing; join mnt last (or open every "
                             "link before the first setns)")
        raise CaseFailed(f"{got['enoent']} not found: open /proc/PID/ns/KIND with the PID you were given")
    links = got["links"]
    if "pid" in kinds and links["pid"] != theirs["pid"]:
        if links["pid"] == ours["pid"] and got.get("for_children") == theirs["pid"]:
            raise CaseFailed("/proc/self/ns/pid is still the host's: setns(pid) moves only the caller's "
                             "children (pid_for_children); fork after it, let the parent waitpid and os._exit "
                             "with the child's status, and return in the child")
        if links["pid"] != ours["pid"]:
            raise CaseFailed("/proc/self/ns/pid is neither the host's nor the container's")
    missing = [k for k in kinds if links[k] != theirs[k]]
    if missing:
        raise CaseFailed(f"not joined: {', '.join(missing)} (still {'the host' if links[missing[0]] == ours[missing[0]] else 'another'}"
                         f"'s); join every kind in the list you are given")
    extra = [k for k in ALL if k not in kinds and links[k] != ours[k]]
    if extra:
        raise CaseFailed(f"joined {', '.join(extra)} although only {', '.join(kinds)} were asked for: "
                         "join the kinds in the list, no more")
    if "pid" in kinds and got.get("getpid", 0) < 2:
        raise CaseFailed(f"getpid() in the container is {got.get('getpid')}: the caller should be a new process "
                         "in its PID namespace, not PID 1")


def _cases() -> list[Case]:
    def everything(fn):
        theirs, ours, got = _run_enter(fn, list(ALL), "all")
        _diagnose(theirs, ours, got, ALL)

    def some(fn):
        kinds = ["uts", "net"]
        theirs, ours, got = _run_enter(fn, kinds, "some")
        _diagnose(theirs, ours, got, kinds)

    def pid_and_mnt(fn):
        kinds = ["mnt", "pid"]
        theirs, ours, got = _run_enter(fn, kinds, "pid")
        _diagnose(theirs, ours, got, kinds)

    return [
        Case("all six (listed mnt first): every /proc/self/ns link is the container init's", everything),
        Case("uts and net only: those two joined, mnt and pid still the host's", some),
        Case("mnt and pid: the caller returns as a new process in the container's PID namespace", pid_and_mnt),
    ]


register(Exercise(
    id="12.enter", title="Enter a running container",
    function="enter", signature="def enter(pid: int, kinds: list[str]) -> None",
    cases=_cases, reference=lambda: enter, needs_root=True,
))


# -- the quizzes: answer keys kept out of the notebook --------------------------------------

QUIZZES = {
    "12.fork": {
        "question": "Why does `exec` fork once more after setns(2) into the container's PID namespace?",
        "right": {
            "setns(pid) changes only the namespace of the caller's future children":
                "A process never changes its own PID namespace: setns(CLONE_NEWPID) sets pid_for_children, "
                "so only a child made afterwards is in the container's PID namespace, with a PID there.",
        },
        "wrong": {
            "to drop the host's capabilities":
                "Capabilities are dropped with capset and the bounding set, fork does not change them.",
            "because execve(2) cannot run in a joined namespace":
                "execve works in any namespace; the process would just not be in the container's PID namespace.",
            "so that the container's init becomes its parent":
                "The parent of an exec'd process is the process that forked it; in the container it appears "
                "with parent PID 0, as it came from outside.",
        },
        "hint": "read /proc/self/ns/pid and /proc/self/ns/pid_for_children after setns",
    },
    "12.stop": {
        "question": "`minictr stop -t 2` on a container whose PID 1 is `sh -c 'while :; do sleep 1; done'` "
                    "takes about two seconds and exits with 137. Why?",
        "right": {
            "PID 1 has no SIGTERM handler, so the kernel drops SIGTERM; SIGKILL comes after the grace period":
                "The kernel does not deliver a signal to a namespace's init that has no handler for it "
                "(SIGKILL from outside is the exception), so only the SIGKILL after 2 seconds ends it: 128 + 9.",
        },
        "wrong": {
            "sh needs two seconds to shut down cleanly":
                "sh never saw the SIGTERM: nothing shut down cleanly, the status 137 says SIGKILL.",
            "the monitor waits for the log to be flushed":
                "The monitor writes each line as it comes; the wait is the grace period before SIGKILL.",
            "SIGTERM is blocked by the seccomp filter":
                "seccomp filters system calls, not signals; kill(2) from the host is not the container's call.",
        },
        "hint": "lesson 06: what does the kernel do with a signal sent to PID 1 without a handler?",
    },
}
