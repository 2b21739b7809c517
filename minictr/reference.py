"""Reference answers for the lesson exercises that are not a piece of the runtime.

Most exercises in the notebooks ask the learner to write a piece that minictr
already has (the exit status rule is ``process.exit_status``), and the check
falls back to that real code. A few exercises are experiments rather than runtime
code (the chroot breakout is an *attack*; the runtime never does it), so their
reference answers live here, written the way a learner would write them.

``minictr.exercises`` picks, for each exercise, the runtime's own function
when there is one and the function here otherwise.

Man pages: wait(2), chroot(2), path_resolution(7), namespaces(7), tar(5), pid_namespaces(7).
"""

from __future__ import annotations

import os
import posixpath
import tarfile

from .errors import UnsafeLayerEntry
from .syscalls import Syscalls


# -- 00: namespaces of two processes -------------------------------------------------

def ns_differences(pid_a, pid_b) -> set[str]:
    """The namespace kinds (names in /proc/PID/ns) in which two processes differ.

    Each link in /proc/PID/ns reads like ``uts:[4026531838]``: the kind and the
    inode number of the namespace. Same text, same namespace.
    """
    kinds = set(os.listdir(f"/proc/{pid_a}/ns")) & set(os.listdir(f"/proc/{pid_b}/ns"))
    return {k for k in kinds
            if os.readlink(f"/proc/{pid_a}/ns/{k}") != os.readlink(f"/proc/{pid_b}/ns/{k}")}


# -- 02: the tar member filter ---------------------------------------------------------

def _parts(name: str, member: str) -> list[str]:
    """The components of a member path, with ``.`` dropped and ``..`` applied.

    A leading ``/`` is dropped too (GNU tar does the same: the path lands inside
    the root). A ``..`` that would climb above the root is refused.
    """
    parts: list[str] = []
    for p in name.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not parts:
                raise UnsafeLayerEntry(member, "its '..' climbs out of the root")
            parts.pop()
        else:
            parts.append(p)
    return parts


def _resolve_inside(dest: str, parts: list[str], member: str, depth: int = 0) -> str:
    """Resolve a path below ``dest`` the way a process chrooted into ``dest`` would.

    An absolute symlink target starts again at ``dest``, and ``..`` stops at
    ``dest`` (this is what filepath-securejoin and openat2(RESOLVE_IN_ROOT) do),
    so the answer is always inside ``dest``. Every component is followed.
    """
    current = dest
    for i, part in enumerate(parts):
        if part == "..":
            current = dest if current == dest else os.path.dirname(current)
            continue
        candidate = os.path.join(current, part)
        if os.path.islink(candidate):
            if depth >= 40:
                raise UnsafeLayerEntry(member, "too many levels of symbolic links (a loop?)")
            target = os.readlink(candidate)
            base = "" if target.startswith("/") else os.path.relpath(current, dest)
            inner = [p for p in posixpath.join(base, target).split("/") if p not in ("", ".")]
            current = _resolve_inside(dest, inner, member, depth + 1)
            depth += 1
        else:
            current = candidate
    return current


def member_filter(member: tarfile.TarInfo, dest: str) -> bool:
    """Decide about one tar member before it is extracted into ``dest``.

    ``True``: extract it. ``False``: skip it (device nodes: /dev is made fresh at
    run time). Raise ``UnsafeLayerEntry``: refuse the whole tarball. ``dest``
    holds the members extracted so far, so symlinks can be looked at.
    """
    dest = os.path.realpath(dest)
    name = member.name
    if member.ischr() or member.isblk():  # not isdev(): that is true for a FIFO too
        return False
    if "\0" in name:
        raise UnsafeLayerEntry(name, "a NUL byte in the name")
    parts = _parts(name, name)
    if not parts and not member.isdir():
        raise UnsafeLayerEntry(name, "a file cannot replace the root directory itself")
    # Where it will be written: the parents are followed inside dest (the last
    # component never is: the extractor replaces it). A symlink loop fails here.
    _resolve_inside(dest, parts[:-1], name)
    if member.islnk():
        # link(2) follows symlinks on the *host*, so the target must be a plain
        # path of real directories inside dest, ending at an existing non-directory.
        target = _parts(member.linkname, name)
        path = dest
        for i, p in enumerate(target):
            path = os.path.join(path, p)
            if os.path.islink(path) and i < len(target) - 1:
                raise UnsafeLayerEntry(name, f"its hard link target {member.linkname!r} goes through a symlink")
        if not target or not os.path.lexists(path) or os.path.isdir(path) and not os.path.islink(path):
            raise UnsafeLayerEntry(name, f"its hard link target {member.linkname!r} is not a file in the root")
    return True


# -- 03: the chroot breakout -------------------------------------------------------------

def breakout() -> list[str]:
    """Escape a chroot (as root) and list the real ``/``.

    chroot(2) changes the root directory but not the working directory. So:
    chroot into a subdirectory, and the working directory is now *outside* the
    root; ``..`` only stops at the root, so climbing from outside never meets it
    and ends at the real ``/``; chroot there.
    """
    os.makedirs("/.breakout", exist_ok=True)
    os.chroot("/.breakout")
    for _ in range(100):
        os.chdir("..")
    os.chroot(".")
    return sorted(os.listdir("/"))


# -- 04: the pivot_root sequence ---------------------------------------------------------

def enter_root(sys: Syscalls, new_root: str) -> None:
    """Make ``new_root`` the root of this mount namespace and drop the old root.

    This is minictr's own code, put together: the first two steps of
    ``rootfs.plan`` (make every mount private, so nothing propagates to the
    host; bind-mount new_root onto itself, because pivot_root needs a mount
    point), then ``rootfs.pivot_into`` (chdir, ``pivot_root(".", ".")``,
    unmount the old root stacked on top, chdir to ``/``).
    """
    from . import rootfs
    from .config import Rootfs

    private, bind = rootfs.plan(Rootfs(path=new_root))[:2]
    rootfs.apply([private, bind], sys)
    rootfs.pivot_into(sys, new_root)


# -- 06: a tiny init -----------------------------------------------------------------------

def tiny_init(argv: list[str]) -> int:
    """Be PID 1 for ``argv``: run it as a child, pass signals on, reap every zombie.

    The same as ``minictr run --init`` does (``process._init_and_exec``): fork
    and exec the command, then ``process.forward_and_reap``. Returns the
    command's exit code, or 128+N when a signal N killed it.
    """
    from . import process

    child = os.fork()
    if child == 0:
        try:
            os.execvp(argv[0], list(argv))
        finally:
            os._exit(127)  # exec failed: "command not found", as a shell says
    return process.forward_and_reap(child)
