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
                controllers=("memory", "pids", "cpu"))

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
