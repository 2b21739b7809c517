"""Reference answers for the lesson exercises that are not a piece of the runtime.

Most exercises in the notebooks ask the learner to write a piece that minictr
already has (the pivot sequence is ``rootfs.pivot_into``), and the check falls
back to that real code. A few exercises are experiments rather than runtime
code (the chroot breakout is an *attack*; the runtime never does it), so their
reference answers live here, written the way a learner would write them.

``minictr.exercises`` picks, for each exercise, the runtime's own function
when there is one and the function here otherwise.

Man pages: wait(2), chroot(2), path_resolution(7), namespaces(7), tar(5).
"""

from __future__ import annotations

import os
import posixpath
import tarfile

from .errors import UnsafeLayerEntry
from .syscalls import MountFlags, Syscalls, UmountFlags


# -- 00: namespaces of two processes -------------------------------------------------

def ns_differences(pid_a, pid_b) -> set[str]:
    """The namespace kinds (names in /proc/PID/ns) in which two processes differ.

    Each link in /proc/PID/ns reads like ``uts:[4026531838]``: the kind and the
    inode number of the namespace. Same text, same namespace.
    """
    kinds = set(os.listdir(f"/proc/{pid_a}/ns")) & set(os.listdir(f"/proc/{pid_b}/ns"))
    return {k for k in kinds
            if os.readlink(f"/proc/{pid_a}/ns/{k}") != os.readlink(f"/proc/{pid_b}/ns/{k}")}


# -- 01: the wait status --------------------------------------------------------------

def decode_status(status: int) -> int:
    """A wait(2) status as a shell (and docker) reports it: the exit code, or 128+N for signal N.

    The status packs two cases into one int: if the low 7 bits are 0 the child
    exited and the code is in bits 8-15; otherwise the low 7 bits are the signal
    that killed it (bit 7 says whether it dumped core).
    """
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    raise ValueError(f"not the status of a finished process: {status:#06x}")


# -- 02: the tar member filter ---------------------------------------------------------

def _resolve_inside(dest: str, path: str, *, follow_last: bool, depth: int = 0) -> str:
    """Resolve ``path`` below ``dest`` as a process chrooted into ``dest`` would.

    An absolute symlink target starts again at ``dest``; ``..`` stops at ``dest``.
    The answer is always inside ``dest`` (this is what filepath-securejoin and
    openat2(RESOLVE_IN_ROOT) do).
    """
    if depth > 40:
        raise UnsafeLayerEntry(path, "too many levels of symbolic links (a loop?)")
    current = dest
    parts = [p for p in path.split("/") if p not in ("", ".")]
    for i, part in enumerate(parts):
        if part == "..":
            current = dest if current == dest else os.path.dirname(current)
            continue
        candidate = os.path.join(current, part)
        last = i == len(parts) - 1
        if os.path.islink(candidate) and (follow_last or not last):
            target = os.readlink(candidate)
            base = "/" if target.startswith("/") else "/" + os.path.relpath(current, dest)
            current = _resolve_inside(dest, posixpath.join(base, target), follow_last=True, depth=depth + 1)
        else:
            current = candidate
    return current


def member_filter(member: tarfile.TarInfo, dest: str) -> bool:
    """Decide about one tar member before it is extracted into ``dest``.

    ``True``: extract it. ``False``: skip it (device nodes: /dev is made fresh at
    run time). Raise ``UnsafeLayerEntry``: refuse the whole tarball.
    """
    dest = os.path.realpath(dest)
    if member.isdev():
        return False
    name = member.name
    if "\0" in name:
        raise UnsafeLayerEntry(name, "a NUL byte in the name")
    if ".." in name.split("/"):
        raise UnsafeLayerEntry(name, "'..' in the name: no honest image needs it")
    # An absolute name is made relative, as GNU tar does: it lands inside dest.
    _resolve_inside(dest, name.lstrip("/"), follow_last=False)  # raises on a symlink loop
    if member.islnk():
        link = member.linkname
        if link.startswith("/") or ".." in link.split("/"):
            raise UnsafeLayerEntry(name, f"a hard link to {link!r}, outside the root")
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

    The sequence from pivot_root(2), the one runc uses:
    1. make every mount private, so nothing below propagates to the host;
    2. bind-mount new_root onto itself: pivot_root needs a mount point;
    3. chdir into it and ``pivot_root(".", ".")``: the old root is stacked on top;
    4. unmount the old root lazily (``.`` resolves to it now), and chdir to ``/``.
    """
    sys.mount(None, "/", None, MountFlags.REC | MountFlags.PRIVATE)
    sys.mount(new_root, new_root, None, MountFlags.BIND | MountFlags.REC)
    os.chdir(new_root)
    sys.pivot_root(".", ".")
    sys.umount2(".", UmountFlags.DETACH)
    os.chdir("/")
