"""The lesson author's kit: what a lesson module ``lNN.py`` builds its exercises from.

An exercise is data::

    register(Exercise(id="02.member_filter", title=..., function="member_filter",
                      signature="def member_filter(member, dest) -> bool",
                      cases=<function returning [Case, ...]>,
                      reference=<function returning the reference>))

Each ``Case.run(fn)`` returns when the learner's ``fn`` is right and raises
``CaseFailed(why)`` when it is not; any other exception escaping it is the
learner's function failing. ``register`` keeps the exercise for
``minictr.labs.checks``, which runs the cases and prints the verdict.

Cases that need the kernel (a chroot, namespaces, a pivot_root trace) run the
learner's function in a *forked child* (``in_child``, over ``minictr.child``),
never in the notebook's own kernel process: an ``unshare`` or a ``chroot`` there
would change the kernel for good.

This module imports nothing of the lessons, and ``checks`` imports the lessons
only through their file names, so the lessons and the framework form no cycle.

For lesson 15, ``become`` turns a forked child of root into an ordinary user,
and ``userns_pair`` forks a child into a new user namespace that waits while its
parent writes the maps.

Man pages: fork(2), capabilities(7), namespaces(7), mount_namespaces(7), user_namespaces(7),
setresuid(2), prctl(2) (PR_SET_DUMPABLE).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any, Callable

from .. import procfs
from ..errors import MinictrError

__all__ = [
    "Case", "CaseFailed", "Exercise", "register", "registered", "has_root", "in_child", "lazy",
    "exc_line", "private_mount_namespace", "ChildInNamespaces", "rmtree",
    "become", "userns_pair", "attempt", "reachable_mkdtemp",
]

CAP_SYS_ADMIN = 21  # capabilities(7)


class CaseFailed(Exception):
    """A check case found a wrong answer. ``str()`` says which and why, in one line."""


@dataclass(frozen=True)
class Case:
    """One check: ``run(fn)`` returns when ``fn`` is right, raises ``CaseFailed`` when not."""

    name: str
    run: Callable[[Callable], None]


@dataclass(frozen=True)
class Exercise:
    """An exercise: what the learner writes, how it is checked, and minictr's own answer."""

    id: str
    title: str
    function: str                             # the name the learner's function has
    signature: str                            # shown in messages
    cases: Callable[[], list[Case]]           # built lazily: cases may need a corpus or the kernel
    reference: Callable[[], Callable]         # imported lazily: the real minictr code
    needs_root: bool = False


_REGISTRY: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to the registry (a later one with the same id replaces it)."""
    _REGISTRY[exercise.id] = exercise
    return exercise


def registered() -> dict[str, Exercise]:
    """The exercises registered so far, by id (a copy: ``register`` is the only way in)."""
    return dict(_REGISTRY)


def has_root() -> bool:
    """Root with CAP_SYS_ADMIN: what namespaces, mount, chroot and pivot_root need."""
    return os.geteuid() == 0 and _cap_sys_admin()


def _cap_sys_admin(status_path: str = "/proc/self/status") -> bool:
    return procfs.has_cap(CAP_SYS_ADMIN, path=status_path)


def exc_line(e: BaseException) -> str:
    """``"ValueError: first line"``: an exception in one line, as the checks report it."""
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def lazy(module: str, name: str) -> Callable:
    """``module.name``, imported when called: a reference that is runtime code (``process.exit_status``)."""
    import importlib

    return getattr(importlib.import_module(module), name)


# -- running a function in a forked child ------------------------------------------------

def in_child(body: Callable[[], Any], *, timeout: float = 10.0, join: tuple | None = None) -> Any:
    """Run ``body()`` in a forked child (``minictr.child.call``) and return its JSON-able result.

    ``join=(pid, kinds)``: the child first joins those namespaces of ``pid`` (setns(2)).

    The child's exceptions come back as data: NotImplementedError is raised
    again here, anything else as CaseFailed naming the exception; so is a
    timeout (the child is killed) or a child that died without an answer.
    """
    from .. import child

    try:
        return child.call(body, timeout=timeout, join=join)
    except child.ChildTimeout:
        raise CaseFailed(f"your function did not finish within {timeout:g} seconds") from None
    except child.ChildFailed as e:
        if e.exc_type == "NotImplementedError":
            raise NotImplementedError from None
        if not e.exc_type:
            raise CaseFailed("the child running your function died without an answer") from None
        raise CaseFailed(f"your function raised {e.line}") from None


def private_mount_namespace() -> None:
    """In a forked child: a mount namespace of its own, with nothing propagating back to the host."""
    from ..syscalls import CloneFlags, MountFlags, linux

    sys_ = linux()
    sys_.unshare(CloneFlags.NEWNS)
    # Why: / is usually a shared mount; without MS_PRIVATE our mounts would show up on the host.
    sys_.mount(None, "/", None, MountFlags.REC | MountFlags.PRIVATE)


class ChildInNamespaces:
    """A forked child that unshares ``flags`` and waits; leaving the ``with`` lets it exit and reaps it.

    Unlike ``in_child``, the child stays alive while the ``with`` body runs, so
    the caller can look at its namespaces (``/proc/PID/ns``) from outside.

    After ``unshare(CLONE_NEWPID)`` the child's ``pid_for_children`` link can
    only be read once the new namespace has a process (its init), so with
    NEWPID in ``flags`` the child forks one that waits with it.
    """

    def __init__(self, flags: int):
        self.flags = flags
        self.pid = -1

    def __enter__(self) -> int:
        ready_r, ready_w = os.pipe()
        self._hold_r, self._hold_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(ready_r)
                os.close(self._hold_w)
                from ..syscalls import linux

                from ..syscalls import CloneFlags

                linux().unshare(self.flags)
                init = os.fork() if self.flags & CloneFlags.NEWPID else -1
                if init == 0:  # PID 1 of the new namespace: waits, as its parent does
                    os.close(ready_w)
                    os.read(self._hold_r, 1)
                    os._exit(0)
                os.write(ready_w, b"1")
                os.read(self._hold_r, 1)  # blocks until the parent closes its end
                if init > 0:
                    os.waitpid(init, 0)
            finally:
                os._exit(0)
        os.close(ready_w)
        os.close(self._hold_r)
        self.pid = pid
        ok = os.read(ready_r, 1)
        os.close(ready_r)
        if ok != b"1":
            self.__exit__()
            raise MinictrError("the helper child could not unshare its namespaces", hint="needs root")
        return pid

    def __exit__(self, *exc) -> None:
        os.close(self._hold_w)
        os.waitpid(self.pid, 0)


def rmtree(path: str) -> None:
    """``shutil.rmtree``, after making read-only directories writable (a 0555 dir from a tarball)."""
    import shutil

    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, 0o700)
    shutil.rmtree(path)


# -- an ordinary user, and a child in a user namespace (lesson 15) ----------------------------

def become(uid: int, gid: int) -> None:
    """In a forked child of root: become the ordinary user ``uid``/``gid``, for good."""
    from ..syscalls import PR_SET_DUMPABLE, linux

    os.setgroups([])                 # root's supplementary groups would stay otherwise
    os.setresgid(gid, gid, gid)      # gid first: after setresuid there is no CAP_SETGID left
    os.setresuid(uid, uid, uid)
    # Why: changing uid makes the process non-dumpable, and /proc/PID of a non-dumpable process
    # (and of the children it forks) is owned by root: the user could not write its child's
    # uid_map. A login shell of that user would be dumpable; this makes ours the same.
    linux().prctl(PR_SET_DUMPABLE, 1)


def userns_pair(outside, inside, *, flags: int = 0, timeout: float = 10.0):
    """Fork a child that unshares CLONE_NEWUSER (and ``flags``) and waits; meanwhile run
    ``outside(pid)`` here (write its maps); then ``inside()`` runs in the child.

    Returns ``(outside's result, inside's JSON-able result)``. An exception of
    ``outside`` is raised again here, after the child ran ``inside()`` and was
    reaped; one of ``inside`` comes back as ``{"error": "Type: message"}``.
    """
    import json
    import select
    import signal
    import time

    from ..syscalls import CloneFlags, linux

    kernel = linux()
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into the caller's code
        try:
            os.close(ready_r), os.close(go_w), os.close(out_r)
            try:
                kernel.unshare(CloneFlags.NEWUSER | flags)
            except OSError as e:
                os.write(ready_w, ("E" + exc_line(e)).encode())
                os._exit(1)
            os.write(ready_w, b"1")
            os.read(go_r, 1)  # until the parent has written the maps (or closed the pipe)
            try:
                payload = {"ok": inside()}
            except BaseException as e:
                payload = {"ok": {"error": exc_line(e)}}
            data = memoryview(json.dumps(payload).encode())
            while data:
                data = data[os.write(out_w, data):]
        finally:
            os._exit(0)
    for fd in (ready_w, go_r, out_w):
        os.close(fd)
    try:
        ready = os.read(ready_r, 200)
        if ready != b"1":
            raise OSError(errno.EPERM, f"the child could not unshare a user namespace: {ready[1:].decode()}")
        try:
            got_outside = outside(pid)
        finally:
            os.write(go_w, b"1")
            os.close(go_w)
            go_w = -1
        chunks, deadline = [], time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([out_r], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                raise TimeoutError(f"the child in the user namespace did not finish within {timeout:g} s")
            chunk = os.read(out_r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        got = json.loads(b"".join(chunks) or b'{"ok": {"error": "the child died without an answer"}}')
        return got_outside, got["ok"]
    finally:
        if go_w != -1:
            os.close(go_w)
        os.close(ready_r)
        os.close(out_r)
        os.waitpid(pid, 0)


def attempt(fn, *args) -> str:
    """``"ok"`` if ``fn(*args)`` works, else its errno's name (``"EPERM"``): what an experiment prints."""
    try:
        fn(*args)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def reachable_mkdtemp(prefix: str) -> str:
    """A temporary directory an ordinary user can reach: in tempfile's directory when every
    directory above it lets others through (o+x), else in /tmp (a test's tmp_path is 0700)."""
    import stat
    import tempfile

    where = tempfile.gettempdir()
    path = where
    while path != os.path.dirname(path):
        if not os.stat(path).st_mode & stat.S_IXOTH:
            where = "/tmp"
            break
        path = os.path.dirname(path)
    return tempfile.mkdtemp(prefix=prefix, dir=where)
