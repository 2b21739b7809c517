"""Lesson 07 (cgroups): the exercise "write the files that put a process in a cgroup".

The learner writes::

    def confine(fs, group: str, pid: int, memory: int) -> None

which makes the cgroup directory ``group``, limits its memory to ``memory``
bytes and moves process ``pid`` into it, through ``fs`` (``fs.mkdir(path)``,
``fs.write(path, value)``, ``fs.read(path)``, ``fs.exists(path)``: the
``minictr.cgroups.fs.CgroupFS`` interface). The check hands it a
``minictr.cgroups.fake.FakeCgroupFS`` on a temporary tree, which plays the
kernel's rules (a missing interface file is ENOENT, v2 controllers are enabled
top-down, no internal processes), for three hosts:

- cgroup v1: ``group`` is in the memory hierarchy (``memory.limit_in_bytes``);
- cgroup v2 with the parent already handing memory down (``memory.max``);
- cgroup v2 where the parent offers memory but does not hand it down yet: the
  learner must write ``+memory`` to the parent's ``cgroup.subtree_control``
  first, or ``memory.max`` does not exist in the new group.

In every case the limit must be written *before* the pid joins: a process that
joins first runs for a moment without a limit. The notebook then uses the
function for real, on this host, in a forked child (cleaned up).

The reference is minictr's own code: ``V1Group``/``V2Group.apply`` and ``add``
and ``v2._enable`` from ``minictr.cgroups``.

Man pages: cgroups(7); the kernel's Documentation/admin-guide/cgroup-v2.rst
("Enabling and Disabling", "No Internal Process Constraint") and cgroup-v1/memory.rst.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from .kit import Case, CaseFailed, Exercise, register
from .lesson import Lesson

LESSON = Lesson("07", "cgroups", needs_root=True, tools=("sh", "true"), namespaces=("cgroup",),
                controllers=("memory", "pids", "cpu"), privilege="root")

#: The pid the check asks to confine (the fake never signals real processes).
FAKE_PID = 4242
LIMIT = 32 << 20


def confine(fs, group: str, pid: int, memory: int) -> None:
    """minictr's answer: make ``group``, write its memory limit, then move ``pid`` in.

    v2 is recognised by the ``cgroup.controllers`` file of the parent; there
    the parent must list memory in its ``cgroup.subtree_control`` first. The
    limit allows no swap (memory+swap = memory), so the OOM killer acts at the
    limit.
    """
    from ..cgroups import v1, v2
    from ..cgroups.detect import Hierarchy
    from ..config import Resources

    parent = os.path.dirname(os.path.normpath(group))
    if fs.exists(os.path.join(parent, "cgroup.controllers")):
        v2._enable(fs, parent, ["memory"])
        fs.mkdir(group)
        g = v2.V2Group(fs, Hierarchy(2, parent, "/", ("memory",)), group, ("memory",))
    else:
        fs.mkdir(group)
        g = v1.V1Group(fs, Hierarchy(1, parent, "/", ("memory",)), group)
    g.apply(Resources(memory=memory, memory_swap=memory))
    g.add(pid)


def _check(fs, group: str, limit_file: str, memory: int) -> None:
    """What every case asks of the fake tree after the learner's function ran."""
    if not os.path.isdir(group):
        raise CaseFailed(f"the group {group} was not made: fs.mkdir(group) first")
    limit_path = os.path.join(group, limit_file)
    try:
        with open(limit_path) as f:
            got = f.read().strip()
    except FileNotFoundError:
        raise CaseFailed(f"{limit_file} is missing in the new group") from None
    if got != str(memory):
        raise CaseFailed(f"{limit_file} holds {got!r}, expected {str(memory)!r} (the limit in bytes)")
    procs = fs.procs(group)
    if FAKE_PID not in procs:
        raise CaseFailed(f"pid {FAKE_PID} is not in {group}/cgroup.procs (it holds {procs}): "
                         "write the pid to the new group's cgroup.procs")
    order = [os.path.basename(p) for p, _v in fs.writes if os.path.dirname(p) == group]
    if "cgroup.procs" in order and limit_file in order and order.index("cgroup.procs") < order.index(limit_file):
        raise CaseFailed(f"you wrote cgroup.procs before {limit_file}: the process ran for a moment "
                         "without a limit; write the limit first")
    if "cgroup.procs" not in order and "tasks" not in order:
        raise CaseFailed("the pid did not go through fs.write: use fs.write(path, pid), so that the "
                         "kernel's rules (here the fake's) apply")


def _cases() -> list[Case]:
    from ..cgroups import fake

    def tree(build, **kw):
        base = tempfile.mkdtemp(prefix="minictr-l07-")
        root, _proc, fs = build(base, **kw)
        return base, root, fs

    def v1_case(fn):
        base, root, fs = tree(fake.build_v1)
        try:
            group = os.path.join(root, "memory", "lesson07")
            fn(fs, group, FAKE_PID, LIMIT)
            _check(fs, group, "memory.limit_in_bytes", LIMIT)
        finally:
            shutil.rmtree(base)

    def v2_case(delegated: bool):
        def run(fn):
            base, root, fs = tree(fake.build_v2, own_path="/lab", enabled_down=True)
            try:
                parent = os.path.join(root, "lab")
                if delegated:
                    fs.write(os.path.join(parent, "cgroup.subtree_control"), "+memory")
                    fs.writes.clear()
                group = os.path.join(parent, "lesson07")
                try:
                    fn(fs, group, FAKE_PID, LIMIT)
                except Exception as e:
                    if not delegated and "memory.max" in str(e):
                        raise CaseFailed("memory.max does not exist in the new group: on cgroup v2 a group "
                                         "has it only if its parent lists "
                                         "memory in cgroup.subtree_control; write '+memory' there first "
                                         "(the parent has a cgroup.controllers file: that is how you "
                                         "recognise v2)") from None
                    raise
                _check(fs, group, "memory.max", LIMIT)
            finally:
                shutil.rmtree(base)
        return run

    return [
        Case("cgroup v1: a group in the memory hierarchy, memory.limit_in_bytes, then the pid", v1_case),
        Case("cgroup v2, the parent already hands memory down: memory.max, then the pid", v2_case(True)),
        Case("cgroup v2, the parent does not hand memory down yet: +memory in its subtree_control",
             v2_case(False)),
    ]


register(Exercise(
    id="07.confine", title="Put a process in a cgroup with a memory limit",
    function="confine", signature="def confine(fs, group: str, pid: int, memory: int) -> None",
    cases=_cases,
    reference=lambda: confine,
))


# The lesson's quizzes, out of the notebook's sight (minictr.labs.quizzes reads this table as data;
# the notebook shows one with Quiz.lab(id), its options shuffled).
QUIZZES = {
    "07.oom": {
        "question": "A container run with --memory 64m allocates 100 MiB on a host without swap. What happens?",
        "right": {
            "the kernel's OOM killer kills a process of the container; minictr run exits with 137":
                "The limit is enforced by the memory cgroup: at the limit the kernel reclaims what it can, then "
                "runs the OOM killer inside that group only. SIGKILL is signal 9, hence 128 + 9 = 137.",
        },
        "wrong": {
            "malloc returns NULL at 64 MiB and the program carries on":
                "Linux overcommits: malloc succeeds, and the limit bites when the pages are touched, "
                "as a kill, not as an error.",
            "the host's OOM killer picks the biggest process on the machine":
                "The group's own limit was hit, so the kernel chooses inside that group only.",
            "the container is paused until memory is free":
                "Nothing frees memory for it: pausing would wait forever. (That is the freezer, a different controller.)",
        },
    },
    "07.pids-limit": {
        "question": "A container runs with `--pids-limit 20`. Its shell starts `sleep` in a loop, 200 times. "
                    "What happens when the group holds 20 processes and the loop forks once more?",
        "right": {
            "fork() fails with EAGAIN; the processes already running go on":
                "pids.max is a ceiling on the group's count: the kernel refuses the fork, and the shell says "
                "it \"can't fork\". Nothing is killed; the processes already started keep running.",
        },
        "wrong": {
            "the kernel kills the container, as the OOM killer would":
                "Only the memory controller kills. The pids controller refuses the fork and nothing more.",
            "the 21st process waits until one of the others exits":
                "fork() never waits for a free slot: it fails at once, and the caller decides what to do.",
            "the limit counts only the processes the shell started, not the shell itself":
                "pids.current counts every task in the group: the shell too (the lesson read 19 = 1 + 18).",
        },
    },
    "07.cpu-quota": {
        "question": "On an idle 2-CPU machine a container spins with `--cpus 0.5`. "
                    "About how much CPU time does it get in one second?",
        "right": {
            "about 0.5 s: 50 ms of every 100 ms period, then it is throttled until the next period":
                "--cpus writes a quota per period (cpu.cfs_quota_us / cpu.max): 50000 of 100000 us. "
                "The quota is a ceiling: on a busy machine it may get less.",
        },
        "wrong": {
            "half of whatever the other processes leave free, at least 0.5 s":
                "The quota is a ceiling, not a reservation: nothing guarantees a minimum (that is closer to cpu.shares).",
            "1 s: a loop uses one whole CPU, whatever the limit":
                "Without a limit it would; the quota throttles the group after 50 ms in each 100 ms period.",
            "2 s: it may use both CPUs": "One spinning loop is one thread: it can use one CPU at most, and here only half.",
        },
    },
    "07.cgroupns": {
        "question": "Inside a container with its own cgroup namespace, what does /proc/self/cgroup show?",
        "right": {
            "'/' for the container's own group: the path is relative to the namespace's root":
                "A cgroup namespace makes the group it was created in look like the root, so the container "
                "cannot learn (or depend on) where the host put it.",
        },
        "wrong": {
            "the full host path, such as /minictr/ID":
                "That is what the host sees in /proc/PID/cgroup; inside the namespace the root is the container's group.",
            "nothing: the file is empty in a container":
                "The file is there, with one line per hierarchy (v1) or one '0::' line (v2).",
            "a new, empty cgroup with no limits":
                "A cgroup namespace moves no process and changes no limit: it changes only how paths are shown.",
        },
    },
}
