"""Can an ordinary user set cgroup limits here? Only in a cgroup v2 subtree delegated to them.

cgroup files belong to root. A user may create groups and write limits only
where the directory and its ``cgroup.procs`` and ``cgroup.subtree_control``
were handed to them: systemd does it for ``user@UID.service`` with
``Delegate=yes`` (cgroup-v2.rst, "Delegation"; systemd.resource-control(5)),
and only on cgroup v2. The controllers usable there are the ones its
``cgroup.controllers`` lists (systemd's default delegates ``memory pids``;
``cpu cpuset io`` need ``Delegate=cpu cpuset io memory pids``).

``find`` looks, read-only; ``check_limits`` refuses a limit flag that cannot
be honoured, with one line saying why and what to enable. A rootless run
never ignores a limit silently.
"""

from __future__ import annotations

import os

from ..config import Resources
from ..errors import CgroupError
from .detect import detect

#: Which run flag asks for which controller (for the refusal's words).
FLAGS = {"memory": "--memory", "pids": "--pids-limit", "cpu": "--cpus/--cpu-shares", "cpuset": "--cpuset-cpus"}
HINT = ("enable cgroup v2 delegation: boot with systemd.unified_cgroup_hierarchy=1 (pure cgroup v2), and give "
        "user@.service `Delegate=cpu cpuset io memory pids` in a drop-in "
        "(/etc/systemd/system/user@.service.d/delegate.conf), then log in again; or run as root")


class Delegation:
    """A subtree handed to this user: its ``dir`` and the ``controllers`` it offers."""

    def __init__(self, dir: str, controllers: frozenset):
        self.dir = dir
        self.controllers = controllers

    def __repr__(self) -> str:
        return f"Delegation({self.dir!r}, {sorted(self.controllers)})"


def find(root: str = "/sys/fs/cgroup", proc_self_cgroup: str = "/proc/self/cgroup",
         euid: int | None = None) -> tuple[Delegation | None, str]:
    """``(delegation, "")`` or ``(None, why not)``: the highest group above our own that is ours.

    Ours: the directory and its ``cgroup.subtree_control`` and ``cgroup.procs``
    belong to ``euid`` (systemd chowns exactly those of a delegated unit).
    """
    uid = os.geteuid() if euid is None else euid
    layout = detect(root, proc_self_cgroup)
    h = layout.unified
    if h is None:
        return None, f"this host has no cgroup v2 (cgroups: {layout.kind})"
    if layout.kind != "v2":
        held = " ".join(h.controllers) or "no controller"
        return None, f"this host's cgroups are {layout.kind}: its cgroup v2 tree holds {held}"
    mount = os.path.normpath(h.mount)
    current = os.path.normpath(h.own_dir)
    found = None
    while current != mount and current.startswith(mount):
        if not all(_owned(os.path.join(current, f), uid) for f in ("", "cgroup.subtree_control", "cgroup.procs")):
            break
        found = current
        current = os.path.dirname(current)
    if found is None:
        return None, f"no cgroup v2 subtree is delegated to uid {uid} (your group {h.own_path} is root's)"
    try:
        with open(os.path.join(found, "cgroup.controllers")) as f:
            controllers = frozenset(f.read().split())
    except OSError:
        controllers = frozenset()
    return Delegation(found, controllers), ""


def _owned(path: str, uid: int) -> bool:
    try:
        return os.stat(path).st_uid == uid
    except OSError:
        return False


def check_limits(resources: Resources, **where) -> Delegation:
    """Raise ``CgroupError`` (one line: the flag, why, what to enable) unless every limit can be set.

    ``where`` passes ``root``, ``proc_self_cgroup`` and ``euid`` to ``find`` (tests use fake trees).
    """
    from .manager import needed_controllers
    need = needed_controllers(resources)
    flags = ", ".join(FLAGS[c] for c in sorted(need))
    found, why = find(**where)
    if found is None:
        raise CgroupError(f"{flags} cannot be honoured rootless: {why}", hint=HINT)
    missing = sorted(need - found.controllers)
    if missing:
        raise CgroupError(f"{flags} cannot be honoured rootless: the {' '.join(missing)} controller is not "
                          f"delegated to you (your subtree {found.dir} has: "
                          f"{' '.join(sorted(found.controllers)) or 'none'})", hint=HINT)
    return found
