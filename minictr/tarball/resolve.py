"""L1: the security core of unpacking: where a tar member lands, resolved inside ``dest``.

A tarball is a list of instructions ("make this file, this symlink, this
hardlink") written by someone else. A careless extractor follows them
anywhere: ``../../etc/cron.d/x``, ``/root/.ssh/authorized_keys``, or a symlink
``evil -> /etc`` followed by a member ``evil/passwd`` (the classic "zip slip" /
tar breakout, which has hit docker, podman and kubectl cp more than once).

How: every path is resolved *inside* ``dest`` with chroot semantics (the idea
of Go's filepath-securejoin, and of openat2(2)'s ``RESOLVE_IN_ROOT``): we walk
the path one component at a time; when a component is a symlink already on
disk we read it and continue from its target, where an absolute target starts
again at ``dest`` and ``..`` stops at ``dest``, exactly as the kernel would
resolve it once ``dest`` is the container's ``/``. The final component is never
followed: the extractor *replaces* what is there (unlinks it first), never
writes through it. The extractor is the only writer in ``dest`` while it
works, so a path resolved once stays valid.

What we do with each trick (the corpus in ``minictr/tarcorpus.py`` has one
tarball per row, and the tests run all of them):

==============================================  ========  =================================
member                                           decision  why
==============================================  ========  =================================
name with ``..`` that climbs above the root      refuse    no honest archive does it
name ``a/../b`` that stays inside                contain   normalised to ``b``
absolute name ``/etc/passwd``                    contain   leading ``/`` stripped, as GNU tar
write through a symlink (abs or ``..`` target)   contain   chroot resolution keeps it inside
symlink loop / more than 40 symlinks in a path   refuse    the kernel says ELOOP too
symlink member itself (any target)               contain   kept verbatim; only following it
                                                           could hurt, and we never follow
                                                           out of ``dest``
file or symlink over an existing symlink         contain   the symlink is replaced, not followed
directory over an existing symlink or file       contain   replaced by a real directory
non-directory over an existing directory         contain   the directory is removed (as an
                                                           overlay upper hides a lower dir)
hardlink whose target climbs above the root      refuse    would link a host file in
hardlink whose target goes through a symlink     refuse    on the host that path leaves ``dest``
that leaves ``dest`` (absolute or clamped)                 (a real archive names a member path)
hardlink to a missing target or a directory      refuse    broken or malicious archive
hardlink to itself                               refuse    nonsense
a non-directory named ``.`` (the root itself)    refuse    would replace ``dest``
char / block device (and hardlinks to one)      skip      counted in ``Stats.skipped``; /dev
                                                           is made fresh when a container runs
whiteout (``overlay``/``apply``) that climbs     refuse    it would delete or hide a host file
out, or goes through a symlink leaving ``dest``
whiteout ``.wh..`` / ``.wh...`` / ``.wh.``        refuse    names no entry
==============================================  ========  =================================

A ``..`` met while resolving goes back up the components already resolved
(so ``missing/../evil`` looks at ``evil`` on disk again, and follows it if it is
a symlink). Before ``link(2)`` and before a whiteout deletes anything, every
directory of the resolved path is checked once more with ``lstat`` to be a real
directory (belt and braces).

A ``..`` met while resolving goes back up the components already resolved
(so ``missing/../evil`` looks at ``evil`` on disk again, and follows it if it is
a symlink). Before ``link(2)`` and before a whiteout deletes anything, every
directory of the resolved path is checked once more with ``lstat`` to be a real
directory (belt and braces).

A refusal is ``errors.UnsafeLayerEntry`` (one line: the member and why), raised
before anything is touched for that member.

``member_filter(member, dest)`` is lesson 02's exercise answered with this
module: the verdict the extractor reaches for one member (keep, skip a device,
or refuse), without writing anything.

Man pages: tar(5), path_resolution(7), symlink(7), link(2), openat2(2)
(RESOLVE_IN_ROOT); the OCI image spec's layer.md (whiteouts, whose paths are
resolved here too).
"""

from __future__ import annotations

import os
import stat
import tarfile

from ..errors import UnsafeLayerEntry

#: Linux gives up after 40 symlinks in one path (path_resolution(7)); so do we.
MAX_SYMLINKS = 40


def _clean_name(member: str, name: str, what: str = "name") -> list[str]:
    """The components of an archive name, relative to the root, or refuse.

    A leading ``/`` is stripped (contain). ``..`` that stays inside is folded
    away; ``..`` that would climb above the root is refused.
    """
    if "\0" in name:  # no kernel path holds one; os.lstat would raise ValueError
        raise UnsafeLayerEntry(member, f"its {what} holds a NUL byte")
    parts: list[str] = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not parts:
                raise UnsafeLayerEntry(member, f"its {what} {name!r} climbs above the root with '..'")
            parts.pop()
            continue
        parts.append(comp)
    return parts


class _Resolver:
    """Resolves component lists inside ``root`` with chroot semantics."""

    def __init__(self, root: str):
        self.root = root
        #: paths (relative, "/"-joined) known to be real directories: saves an lstat
        #: per component per member. Whoever removes a directory must call forget().
        self.dirs: set[str] = set()

    def forget(self, rel: str) -> None:
        """``rel`` and everything below it may no longer be a directory."""
        self.dirs.discard(rel)
        prefix = rel + "/"
        self.dirs -= {d for d in self.dirs if d.startswith(prefix)}

    def abspath(self, parts: list[str]) -> str:
        return os.path.join(self.root, *parts) if parts else self.root

    def resolve(self, member: str, parts: list[str]) -> tuple[list[str], list[str]]:
        """Follow every symlink in ``parts`` (the last one too), staying in root.

        Returns the real components (no symlink among those that exist) and the
        names of symlinks that would leave ``root`` if the host kernel followed
        them (absolute targets, or ``..`` that had to be clamped at the root).
        """
        resolved: list[str] = []
        pending = list(reversed(parts))
        followed = 0
        escaping: list[str] = []
        missing_at: int | None = None  # depth of the first component that does not exist
        while pending:
            comp = pending.pop()
            if comp in ("", "."):
                continue
            if comp == "..":
                if resolved:
                    resolved.pop()
                # else: clamped at the root, like "/.." (only a symlink target gets here,
                # and _climbs_out already noted that symlink as escaping)
                if missing_at is not None and len(resolved) < missing_at:
                    missing_at = None  # back above the missing part: look at the disk again
                continue
            resolved.append(comp)
            if missing_at is not None:  # nothing exists below a missing directory
                continue
            key = "/".join(resolved)
            if key in self.dirs:
                continue
            full = self.abspath(resolved)
            try:
                st = os.lstat(full)
            except (FileNotFoundError, NotADirectoryError):
                missing_at = len(resolved)
                continue
            if stat.S_ISDIR(st.st_mode):
                self.dirs.add(key)
            if not stat.S_ISLNK(st.st_mode):
                continue
            followed += 1
            if followed > MAX_SYMLINKS:
                raise UnsafeLayerEntry(member, f"too many levels of symbolic links (a symlink loop?) at "
                                               f"{'/'.join(resolved)!r}")
            target = os.readlink(full)
            resolved.pop()
            if target.startswith("/"):
                # Inside the container "/" is dest: start again at the root.
                escaping.append("/".join(resolved + [comp]))
                resolved = []
            elif _climbs_out(resolved, target):
                escaping.append("/".join(resolved + [comp]))
            pending.extend(reversed(target.split("/")))
        return resolved, escaping

    def check_real(self, member: str, parts: list[str]) -> bool:
        """Belt and braces before link(2) or a delete: every component of a resolved
        path is a real directory (True), or one is missing (False). A symlink here
        would mean a bug in resolve(): refuse rather than let the kernel follow it."""
        for i in range(1, len(parts) + 1):
            key = "/".join(parts[:i])
            if key in self.dirs:
                continue
            try:
                st = os.lstat(self.abspath(parts[:i]))
            except (FileNotFoundError, NotADirectoryError):
                return False
            if stat.S_ISLNK(st.st_mode):
                raise UnsafeLayerEntry(member, f"its path still goes through symlink {key!r}")
            if not stat.S_ISDIR(st.st_mode):
                return False
            self.dirs.add(key)
        return True

    def parent(self, member: str, parts: list[str]) -> tuple[list[str], list[str]]:
        """Resolve all but the last component; the last is kept as it is (never followed)."""
        real, escaping = self.resolve(member, parts[:-1])
        return real + parts[-1:], escaping


def _climbs_out(base: list[str], target: str) -> bool:
    depth = len(base)
    for comp in target.split("/"):
        if comp == "..":
            depth -= 1
            if depth < 0:
                return True
        elif comp not in ("", "."):
            depth += 1
    return False


def check_hardlink(res: _Resolver, member: str, linkname: str, tparts: list[str], real: list[str]) -> str:
    """The absolute path a hardlink member may link to, or refuse.

    ``tparts`` is the cleaned target name, ``real`` the member's own resolved
    path. link(2) resolves the target on the *host*, where a symlink would
    leave ``dest``: so the target must be an earlier member reached through real
    directories only, and a non-directory other than the member itself.
    """
    if not tparts:
        raise UnsafeLayerEntry(member, "a hardlink to the root directory")
    treal, escaping = res.parent(member, tparts)
    if escaping:
        raise UnsafeLayerEntry(member, f"its hardlink target {linkname!r} goes through symlink "
                                       f"{escaping[0]!r}, which leaves the root")
    target = res.abspath(treal)
    if not res.check_real(member, treal[:-1]):
        raise UnsafeLayerEntry(member, f"its hardlink target {linkname!r} is not in the archive "
                                       f"(links may only point at earlier members)")
    if treal == real:
        raise UnsafeLayerEntry(member, "a hardlink to itself")
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        raise UnsafeLayerEntry(member, f"its hardlink target {linkname!r} is not in the archive "
                                       f"(links may only point at earlier members)") from None
    if stat.S_ISDIR(st.st_mode):
        raise UnsafeLayerEntry(member, f"its hardlink target {linkname!r} is a directory")
    return target


def member_filter(member: tarfile.TarInfo, dest: str) -> bool:
    """Lesson 02's exercise, answered by the runtime's own resolver.

    Called for each member before it is extracted into ``dest`` (which holds
    the members extracted so far). ``True``: extract it. ``False``: skip it
    (device nodes: /dev is made fresh at run time; and member types the
    extractor does not know). Raises ``UnsafeLayerEntry`` to refuse the whole
    tarball, for exactly the members ``extract()`` refuses in its ``keep``
    whiteout mode. Nothing is written.
    """
    if member.ischr() or member.isblk():  # not isdev(): that is true for a FIFO too
        return False
    if not (member.isdir() or member.isreg() or member.issym() or member.islnk() or member.isfifo()):
        return False
    parts = _clean_name(member.name, member.name)
    if not parts:
        if member.isdir():
            return True
        raise UnsafeLayerEntry(member.name, "a non-directory cannot replace the root itself")
    res = _Resolver(os.path.abspath(os.fspath(dest)))
    real, _ = res.parent(member.name, parts)  # a climb or a symlink loop is refused here
    if member.islnk():
        tparts = _clean_name(member.name, member.linkname, "hardlink target")
        check_hardlink(res, member.name, member.linkname, tparts, real)
    return True
