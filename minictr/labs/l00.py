"""Lesson 00 (a container is just a process): the namespace-comparison exercise.

Exercise ``00.ns_differences``: ``def ns_differences(pid_a, pid_b) -> set[str]``
returns the namespace kinds (names in /proc/PID/ns) in which two processes
differ. The check compares the answer with /proc for a process against
itself and, as root, against forked children in new namespaces. The
reference, ``ns_differences`` below, is written the way a learner would.

Man pages: namespaces(7), proc(5) (/proc/PID/ns), unshare(2).
"""

from __future__ import annotations

import os

from .. import procfs
from .kit import Case, CaseFailed, ChildInNamespaces, Exercise, has_root, register
from .lesson import Lesson

# needs_root: the lab starts containers (`minictr run busybox ...`), though the exercise does not
LESSON = Lesson("00", "A container is just a process", needs_root=True, tools=("ps",), privilege="either")


# -- the reference, as a learner writes it ---------------------------------------------------

def ns_differences(pid_a, pid_b) -> set[str]:
    """The namespace kinds (names in /proc/PID/ns) in which two processes differ.

    Each link in /proc/PID/ns reads like ``uts:[4026531838]``: the kind and the
    inode number of the namespace. Same text, same namespace.
    """
    kinds = set(os.listdir(f"/proc/{pid_a}/ns")) & set(os.listdir(f"/proc/{pid_b}/ns"))
    return {k for k in kinds
            if os.readlink(f"/proc/{pid_a}/ns/{k}") != os.readlink(f"/proc/{pid_b}/ns/{k}")}


# -- the checks ---------------------------------------------------------------------

def _ns_cases() -> list[Case]:
    from ..syscalls import CloneFlags

    def truth(a, b) -> set[str]:
        links_a, links_b = procfs.ns_ids(a), procfs.ns_ids(b)
        return {k for k in links_a.keys() & links_b.keys() if links_a[k] != links_b[k]}

    def compare(fn, a, b, label):
        got = fn(a, b)
        want = truth(a, b)
        if not isinstance(got, (set, frozenset)):
            raise CaseFailed(f"returned {type(got).__name__}, expected a set of kinds like {{'uts'}}")
        if set(got) != want:
            raise CaseFailed(f"{label}: returned {sorted(got)}, expected {sorted(want)}{_why(got, want, a)}")

    def same(fn):
        me = os.getpid()
        compare(fn, me, me, "a process against itself")

    def with_child(flags, label):
        def run(fn):
            with ChildInNamespaces(flags) as pid:
                compare(fn, os.getpid(), pid, label)
                compare(fn, pid, os.getpid(), label + " (arguments swapped)")
        return run

    cases = [Case("a process against itself", same)]
    if has_root():
        # unshare(CLONE_NEWPID | CLONE_NEWTIME) moves the caller's *children* only: its own
        # pid and time stay, and pid_for_children and time_for_children change. A fixed
        # list of seven kinds misses exactly these.
        cases.append(Case("a child whose children get new pid and time namespaces",
                          with_child(CloneFlags.NEWPID | CloneFlags.NEWTIME, "pid+time-for-children child")))
        cases.append(Case("a child in new uts and ipc namespaces",
                          with_child(CloneFlags.NEWUTS | CloneFlags.NEWIPC, "uts+ipc child")))
        cases.append(Case("a child in new net, mount and uts namespaces",
                          with_child(CloneFlags.NEWNET | CloneFlags.NEWNS | CloneFlags.NEWUTS,
                                     "net+mnt+uts child")))
    return cases



def _why(got, want: set[str], pid) -> str:
    """The diagnosis after "returned X, expected Y": which kinds went wrong, and the likely cause."""
    got = set(got)
    missing, extra = sorted(want - got), sorted(got - want)
    present = set(os.listdir(f"/proc/{pid}/ns"))
    unknown = sorted(k for k in got if k not in present)
    if unknown:
        return (f": {unknown} are not in /proc/PID/ns on this kernel; take the kinds from "
                "os.listdir(f'/proc/{pid}/ns'), not from a list")
    notes = []
    if missing:
        notes.append(f"missing {missing}")
        if any(k.endswith("_for_children") or k == "time" for k in missing):
            notes.append("unshare(CLONE_NEWPID | CLONE_NEWTIME) changes only the *_for_children links "
                         "(the namespaces its children will get): list /proc/PID/ns instead of naming the kinds")
    if extra:
        notes.append(f"{extra} are the same namespace in both (compare os.readlink of each link)")
    return ": " + "; ".join(notes)


register(Exercise(
    id="00.ns_differences", title="Compare the namespaces of two processes",
    function="ns_differences", signature="def ns_differences(pid_a, pid_b) -> set[str]",
    cases=_ns_cases,
    reference=lambda: ns_differences,
))


# The lesson's quizzes, out of the notebook's sight (minictr.labs.quizzes reads this table as data;
# the notebook shows one with Quiz.lab(id), its options shuffled).
QUIZZES = {
    "00.where-containers-live": {
        "question": "Where does the Linux kernel keep its list of running containers?",
        "right": {
            "nowhere: a container is a process with its own namespaces, root and cgroup":
                "The kernel only has processes. Namespaces, the root directory and cgroups are attributes "
                "of processes; runtimes keep their own bookkeeping (minictr: /run/minictr/ID/state.json).",
        },
        "wrong": {
            "in a table of container objects, one per container":
                "The kernel has no container object: `ps` on the host lists a container's processes "
                "like any other, and nothing in /proc says 'container'.",
            "in /sys/fs/containers":
                "No such directory: /sys shows devices, cgroups and kernel settings, never containers.",
            "in the container runtime's kernel module":
                "A runtime is an ordinary program (minictr is Python); it loads no kernel module.",
        },
    },
}
