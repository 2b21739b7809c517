"""Lesson 04 (mount namespace and pivot_root): the pivot_root sequence exercise.

Exercise ``04.pivot_sequence``: ``def enter_root(sys, new_root) -> None``
makes ``new_root`` the root of the mount namespace and drops the old one.
The check never mounts anything: ``trace_pivot`` calls the learner's function
in a forked child with a recording ``FakeSyscalls`` and stand-ins for the os
calls, and the cases replay the recorded paths (``format_call`` shows a call
as the man page spells it). The reference, ``enter_root`` below, is
minictr's own mount plan and ``rootfs.pivot_into`` put together.

Man pages: pivot_root(2), mount(2), umount(2), mount_namespaces(7).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from ..syscalls import Syscalls
from .kit import Case, CaseFailed, Exercise, has_root, in_child, private_mount_namespace, register
from .lesson import Lesson

__all__ = ["LESSON", "enter_root", "trace_pivot", "format_call", "PIVOT_NEW_ROOT"]

LESSON = Lesson("04", "Mount namespace and pivot_root", needs_root=True, namespaces=("mnt",), privilege="root")


# -- the reference: the pivot_root sequence --------------------------------------------------

def enter_root(sys: Syscalls, new_root: str) -> None:
    """Make ``new_root`` the root of this mount namespace and drop the old root.

    This is minictr's own code, put together: the first two steps of
    ``rootfs.plan`` (make every mount private, so nothing propagates to the
    host; bind-mount new_root onto itself, because pivot_root needs a mount
    point), then ``rootfs.pivot_into`` (chdir, ``pivot_root(".", ".")``,
    unmount the old root stacked on top, chdir to ``/``).
    """
    from .. import rootfs
    from ..config import Rootfs

    private, bind = rootfs.plan(Rootfs(path=new_root))[:2]
    rootfs.apply([private, bind], sys)
    rootfs.pivot_into(sys, new_root)


# -- the checks ---------------------------------------------------------------------

#: The new root the 04 check hands to the learner's ``enter_root``. Nothing is made there:
#: the syscalls are recorded by a FakeSyscalls and the os calls by stand-ins.
PIVOT_NEW_ROOT = "/var/lib/minictr/containers/demo/rootfs"
_PIVOT_START_CWD = "/root"
_RECORDED_OS_CALLS = ("chdir", "mkdir", "makedirs", "rmdir", "chroot")


def trace_pivot(fn: Callable, new_root: str = PIVOT_NEW_ROOT, *, timeout: float = 10.0) -> list[tuple[str, tuple]]:
    """Call ``fn(fake_syscalls, new_root)`` in a forked child and return every call it made.

    Syscalls go to a ``FakeSyscalls``; ``os.chdir``, ``os.mkdir``,
    ``os.makedirs``, ``os.rmdir`` and ``os.chroot`` are replaced by recorders,
    so nothing changes on the machine. If we are root, the child first gets a
    private mount namespace of its own, so that even a real syscall made by
    mistake cannot touch the host's mounts.
    """
    def body():
        if has_root():
            private_mount_namespace()
        from ..syscalls import FakeSyscalls

        fake = FakeSyscalls()
        for name in _RECORDED_OS_CALLS:
            setattr(os, name, (lambda n: lambda *a, **k: fake.calls.append((n, a)))(name))
        fn(fake, new_root)
        return [[name, list(args)] for name, args in fake.calls]

    return [(name, tuple(args)) for name, args in in_child(body, timeout=timeout)]


def format_call(call: tuple[str, tuple]) -> str:
    """``mount(None, '/', None, MS_REC|MS_PRIVATE, None)``: a recorded call as the man page spells it."""
    from ..syscalls import UmountFlags, flag_names

    name, args = call
    parts = [repr(a) for a in args]
    if name == "mount" and len(args) >= 4:
        parts[3] = flag_names(int(args[3]))
    if name == "umount2" and len(args) >= 2:
        parts[1] = flag_names(int(args[1]), UmountFlags, "MNT_")
    return f"{name}({', '.join(parts)})"


@dataclass
class _PivotTrace:
    """What a recorded pivot sequence did, worked out by replaying the paths."""

    calls: list
    new_root: str
    private_first: bool = False
    bind_before_pivot: bool = False
    pivots: list = field(default_factory=list)       # (new_root resolved, put_old resolved)
    made_dirs: set = field(default_factory=set)
    old_location: str | None = None                  # where the old root sits after pivot_root
    old_unmounted: bool = False
    umount_without_detach: bool = False
    cwd: str = _PIVOT_START_CWD
    cwd_in_old_root: bool = False


def _analyse_pivot(calls: list, new_root: str) -> _PivotTrace:
    from ..syscalls import MountFlags, UmountFlags

    t = _PivotTrace(calls, os.path.normpath(new_root))
    mounts_seen = 0
    pivoted = False

    def resolve(p: str) -> str:
        return os.path.normpath(os.path.join(t.cwd, p))

    def under(p: str, top: str) -> bool:
        return p == top or p.startswith(top.rstrip("/") + "/")

    for name, args in calls:
        if name == "mount":
            source, target, _fstype, flags = args[0], args[1], args[2], int(args[3])
            if mounts_seen == 0 and resolve(target) == "/" and flags & MountFlags.REC and \
                    flags & (MountFlags.PRIVATE | MountFlags.SLAVE):
                t.private_first = True
            mounts_seen += 1
            if not pivoted and flags & MountFlags.BIND and source is not None and \
                    resolve(source) == t.new_root and resolve(target) == t.new_root:
                t.bind_before_pivot = True
        elif name in ("mkdir", "makedirs") and not pivoted:
            t.made_dirs.add(resolve(args[0]))
        elif name == "pivot_root":
            a, b = resolve(args[0]), resolve(args[1])
            t.pivots.append((a, b))
            if len(t.pivots) == 1 and a == t.new_root and under(b, a):
                pivoted = True
                t.old_location = "/" + os.path.relpath(b, a) if b != a else "/"
                t.old_location = os.path.normpath(t.old_location)
                if under(t.cwd, a):
                    t.cwd = os.path.normpath("/" + os.path.relpath(t.cwd, a))
                elif t.cwd == "/":
                    t.cwd = "/"  # pivot_root(2) moves a cwd that is the old root to the new root
                else:
                    t.cwd = os.path.normpath(os.path.join(t.old_location, t.cwd.lstrip("/")))
                    t.cwd_in_old_root = True
        elif name == "umount2" and pivoted:
            target, flags = resolve(args[0]), int(args[1]) if len(args) > 1 else 0
            if target == t.old_location:
                if flags & UmountFlags.DETACH:
                    t.old_unmounted = True
                else:
                    t.umount_without_detach = True
        elif name == "chdir":
            t.cwd = resolve(args[0])
            if pivoted:
                t.cwd_in_old_root = t.old_location != "/" and under(t.cwd, t.old_location)
        elif name == "chroot":
            pass
    return t


def _pivot_cases() -> list[Case]:
    cache: dict[int, _PivotTrace] = {}

    def trace(fn) -> _PivotTrace:
        if id(fn) not in cache:
            cache[id(fn)] = _analyse_pivot(trace_pivot(fn), PIVOT_NEW_ROOT)
        return cache[id(fn)]

    def listing(t: _PivotTrace) -> str:
        return "; ".join(format_call(c) for c in t.calls) or "no calls at all"

    def private(fn):
        t = trace(fn)
        if not t.private_first:
            raise CaseFailed("the first mount must make every mount private: mount(None, '/', None, "
                             "MS_REC|MS_PRIVATE); otherwise the mounts that follow propagate to the host, "
                             f"and pivot_root fails with EINVAL on a shared /. Your calls: {listing(t)}")

    def bind(fn):
        t = trace(fn)
        if not t.bind_before_pivot:
            raise CaseFailed("before pivot_root, bind-mount new_root onto itself: mount(new_root, new_root, "
                             "None, MS_BIND|MS_REC); pivot_root needs new_root to be a mount point")

    def pivot(fn):
        t = trace(fn)
        if len(t.pivots) != 1:
            raise CaseFailed(f"call pivot_root exactly once (you called it {len(t.pivots)} times)")
        a, b = t.pivots[0]
        if a != t.new_root:
            raise CaseFailed(f"pivot_root's first argument resolves to {a!r}, not to new_root {t.new_root!r}")
        if t.old_location is None:
            raise CaseFailed(f"put_old resolves to {b!r}, which is not new_root or a directory below it")
        if b != a and b not in t.made_dirs:
            raise CaseFailed(f"put_old {b!r} must exist: os.mkdir it first (or use pivot_root('.', '.') "
                             "after os.chdir(new_root))")

    def unmount(fn):
        t = trace(fn)
        if t.old_location is None:
            raise CaseFailed("there is no old root to unmount: pivot_root did not happen (see the case above)")
        if t.umount_without_detach:
            raise CaseFailed(f"umount2({t.old_location!r}) without MNT_DETACH fails with EBUSY while "
                             "anything uses the old root: pass MNT_DETACH")
        if not t.old_unmounted:
            raise CaseFailed(f"after pivot_root the old root is at {t.old_location!r} (seen from the new "
                             "root): unmount it with umount2(that path, MNT_DETACH), or the host stays visible")

    def cwd(fn):
        t = trace(fn)
        if t.old_location is None:
            raise CaseFailed("pivot_root did not happen (see the cases above)")
        if t.cwd_in_old_root:
            raise CaseFailed(f"the working directory ends in the old root ({t.cwd!r}), which is gone: "
                             "os.chdir('/') after pivot_root")

    return [
        Case("make / private (MS_REC|MS_PRIVATE) before any other mount", private),
        Case("bind-mount new_root onto itself before pivot_root", bind),
        Case("pivot_root into new_root, with put_old inside it", pivot),
        Case("unmount the old root with MNT_DETACH", unmount),
        Case("the working directory ends inside the new root", cwd),
    ]


register(Exercise(
    id="04.pivot_sequence", title="Write the pivot_root sequence",
    function="enter_root", signature="def enter_root(sys: Syscalls, new_root: str) -> None",
    cases=_pivot_cases,
    reference=lambda: enter_root,
))


# The lesson's quizzes, out of the notebook's sight (minictr.labs.quizzes reads this table as data;
# the notebook shows one with Quiz.lab(id), its options shuffled).
QUIZZES = {
    "04.make-private": {
        "question": "Why does a runtime make / recursively private before pivot_root?",
        "right": {
            "so that the container's mounts do not propagate to the host, and pivot_root is allowed":
                "On a systemd host / is shared: without MS_PRIVATE every mount made for the container would "
                "appear on the host, and pivot_root fails with EINVAL when the mounts involved are shared.",
        },
        "wrong": {
            "to make the root filesystem read-only":
                "Propagation is not permission: read-only is MS_RDONLY, a different flag.",
            "to hide /proc from the container": "The container mounts its own /proc later; privacy hides nothing.",
            "because pivot_root needs a tmpfs":
                "pivot_root needs a mount point as the new root (a bind mount of itself does), not a tmpfs.",
        },
    },
}
