"""L1: unpack a tarball (a rootfs, or one image layer) into a directory, safely.

``extract()`` guarantees that **nothing lands outside** ``dest``, whatever the
archive says: every member's path is resolved inside ``dest`` by resolve.py
(the security core, with the table of every trick and what we do with it),
the source is read by source.py, and whiteouts are handled by whiteouts.py.
This module makes the files, directories, links and fifos, and their metadata.

The final component of a path is never followed: an existing file, symlink or
empty spot there is *replaced* (unlinked first, then created with
``O_EXCL|O_NOFOLLOW``), never written through. A directory over a file or
symlink replaces it; a non-directory over a directory removes the directory
(as an overlay upper hides a lower dir). Char and block devices are skipped
(counted in ``Stats.skipped``; /dev is made fresh when a container runs), and
so are hardlinks to them.

On a refusal ``errors.UnsafeLayerEntry`` is raised before anything is touched
for that member. Members before it are already extracted *inside* ``dest``;
the caller removes ``dest`` (the image store extracts into a temporary
directory and renames it only on success). Other failures: an archive that
cannot be read (truncated, not tar, zstd) is ``errors.InvalidImage``; an
``OSError`` while writing (disk full, name too long) is one
``errors.SyscallError`` line that names the member.

Metadata: modes (setuid, setgid, sticky included), owners (``lchown``, when we
run as root), mtimes, ``SCHILY.xattr.*`` pax records (file capabilities, when
allowed) and symlink targets are kept as they are. Directories are created
``0700`` and get their own mode, owner and mtime at the end, so a ``0555``
directory does not stop its own files from being written.

Man pages and specs: tar(5), open(2) (O_EXCL, O_NOFOLLOW), link(2), symlink(7),
mkfifo(3), chown(2), utimensat(2), xattr(7); the OCI image spec's layer.md.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from dataclasses import dataclass, field

from ..errors import InvalidImage, SyscallError, UnsafeLayerEntry
from . import source as source_mod
from .resolve import _clean_name, _Resolver, check_hardlink
from .source import Copier, Progress, Source
from .whiteouts import WHITEOUT_MODES, is_marker, whiteout


@dataclass
class Stats:
    """What ``extract()`` did. ``bytes`` counts file contents written."""

    members: int = 0
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    fifos: int = 0
    whiteouts: int = 0
    skipped: int = 0
    bytes: int = 0
    skipped_names: list[str] = field(default_factory=list)


def extract(source: Source, dest: str | os.PathLike, *,
            whiteouts: str = "keep", progress: Progress | None = None,
            same_owner: bool | None = None) -> Stats:
    """Unpack the tarball ``source`` into the directory ``dest`` (created if missing).

    ``source`` is a path to a ``.tar``, ``.tar.gz``/``.tgz`` (also bzip2, xz:
    the compression is sniffed, not guessed from the name) or a binary file
    object, read once from start to end (a pipe or an HTTP body works).
    ``whiteouts`` is ``"keep"``, ``"overlay"`` or ``"apply"`` (see the module
    docstring). ``progress(bytes_done, bytes_total_or_None)`` is called as the
    source is read. ``same_owner`` (default: when running as root) keeps the
    archive's uid/gid. Raises ``UnsafeLayerEntry`` for a member that would
    escape, ``InvalidImage`` for an archive that cannot be read.
    """
    if whiteouts not in WHITEOUT_MODES:
        raise ValueError(f"whiteouts must be one of {WHITEOUT_MODES}, not {whiteouts!r}")
    if same_owner is None:
        same_owner = os.geteuid() == 0
    dest = os.path.abspath(os.fspath(dest))
    os.makedirs(dest, exist_ok=True)

    ex = _Extractor(dest, whiteouts, same_owner)
    source_mod.walk(source, ex.visit, progress)
    ex.finish()
    return ex.stats


class _Extractor:
    def __init__(self, dest: str, whiteouts: str, same_owner: bool):
        self.dest = dest
        self.res = _Resolver(dest)
        self.whiteouts = whiteouts
        self.same_owner = same_owner
        self.stats = Stats()
        #: names of members we skipped (devices), so hardlinks to them are skipped too
        self.skipped_paths: set[str] = set()
        self.copy: Copier = source_mod._stream_copy
        #: directory metadata, applied at the end: abs path -> TarInfo
        self.dir_meta: dict[str, tarfile.TarInfo] = {}
        #: what this layer created (relative paths), for opaque dirs in "apply" mode
        self.mine: set[str] = set()

    # -- one member ----------------------------------------------------------

    def visit(self, tf: tarfile.TarFile, m: tarfile.TarInfo, copy: Copier) -> None:
        """``source.walk``'s callback: ``copy`` writes a member's bytes (by offset or streamed)."""
        self.copy = copy
        self.member(tf, m)

    def member(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        self.stats.members += 1
        try:
            self._member(tf, m)
        except OSError as e:
            if isinstance(e, SyscallError):
                raise
            # A full disk, a name too long...: one line that names the member.
            where = f" ({e.filename})" if e.filename else ""
            raise SyscallError("extract", e.errno or errno.EIO, f"tar member {m.name!r}{where}") from None

    def _skip(self, m: tarfile.TarInfo) -> None:
        self.stats.skipped += 1
        self.stats.skipped_names.append(m.name)
        self.skipped_paths.add("/".join(_clean_name(m.name, m.name)))

    def _member(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = _clean_name(m.name, m.name)
        base = parts[-1] if parts else ""

        if is_marker(self.whiteouts, base, m):
            whiteout(self, m, parts)
            return
        if m.ischr() or m.isblk():
            self._skip(m)
            return
        if not parts:
            if m.isdir():
                self.dir_meta[self.dest] = m
                return
            raise UnsafeLayerEntry(m.name, "a non-directory cannot replace the root itself")

        real, _ = self.res.parent(m.name, parts)
        self._mkparents(m.name, real[:-1])
        path = self.res.abspath(real)
        if self.whiteouts == "apply":
            # Remember this layer's entries and their parents: an opaque marker must spare them.
            for i in range(1, len(real) + 1):
                self.mine.add("/".join(real[:i]))

        if m.isdir():
            self._dir(path, m)
        elif m.isreg():
            self._file(tf, path, m)
        elif m.issym():
            self._clear(path)
            os.symlink(m.linkname, path)
            self.stats.symlinks += 1
            self._meta(path, m, symlink=True)
        elif m.islnk():
            self._hardlink(path, real, m)
        elif m.isfifo():
            self._clear(path)
            os.mkfifo(path, 0o600)
            self.stats.fifos += 1
            self._meta(path, m)
        else:  # unknown type (e.g. a vendor extension): skip, say so
            self._skip(m)

    # -- kinds ---------------------------------------------------------------

    def _dir(self, path: str, m: tarfile.TarInfo) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISDIR(st.st_mode):
            self._clear(path)  # a symlink (or file) there is replaced, never followed
            st = None
        if st is None:
            # Writable for us until finish() gives it its real mode.
            os.mkdir(path, 0o700)
        self.res.dirs.add(os.path.relpath(path, self.dest))
        self.stats.dirs += 1
        self.dir_meta[path] = m

    def _file(self, tf: tarfile.TarFile, path: str, m: tarfile.TarInfo) -> None:
        self._clear(path)
        # O_EXCL|O_NOFOLLOW: we just cleared the spot; never write through a link.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            self.stats.bytes += self.copy(tf, m, fd)
            self.stats.files += 1
            self._meta(path, m, fd=fd)
        finally:
            os.close(fd)

    def _hardlink(self, path: str, real: list[str], m: tarfile.TarInfo) -> None:
        tparts = _clean_name(m.name, m.linkname, "hardlink target")
        if tparts and "/".join(tparts) in self.skipped_paths:  # a second name for a device we skipped
            self._skip(m)
            return
        target = check_hardlink(self.res, m.name, m.linkname, tparts, real)
        self._clear(path)
        # link(2) without AT_SYMLINK_FOLLOW: if the target is a symlink, we link the symlink itself.
        os.link(target, path, follow_symlinks=False)
        self.stats.hardlinks += 1

    # -- helpers -------------------------------------------------------------

    def _mkparents(self, member: str, real: list[str]) -> None:
        """Make the missing directories of an already resolved (symlink-free) path."""
        for i in range(1, len(real) + 1):
            key = "/".join(real[:i])
            if key in self.res.dirs:
                continue
            p = self.res.abspath(real[:i])
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                os.mkdir(p, 0o755)
                self.res.dirs.add(key)
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise InvalidImage(f"tar member {member!r}: {key!r} is not a directory",
                                   hint="the archive is broken")
            self.res.dirs.add(key)

    def _clear(self, path: str) -> None:
        """Make room at ``path``: unlink what is there (a directory goes with its contents)."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            import shutil
            # rmtree never follows symlinks out of the tree it removes.
            _make_writable(path)
            shutil.rmtree(path)
            self.res.forget(os.path.relpath(path, self.dest))
            for d in [d for d in self.dir_meta if d == path or d.startswith(path + "/")]:
                del self.dir_meta[d]
        else:
            os.unlink(path)

    def _meta(self, path: str, m: tarfile.TarInfo, *, fd: int | None = None, symlink: bool = False) -> None:
        """Owner, then mode (chown clears setuid), then xattrs, then mtime."""
        if self.same_owner:
            if fd is not None:
                os.fchown(fd, m.uid, m.gid)
            else:
                os.lchown(path, m.uid, m.gid)
        if not symlink:  # Linux symlinks have no mode of their own
            mode = stat.S_IMODE(m.mode)
            os.fchmod(fd, mode) if fd is not None else os.chmod(path, mode)
        self._xattrs(path, m, fd)
        if fd is not None:
            os.utime(fd, (m.mtime, m.mtime))
        else:
            os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)

    def _xattrs(self, path: str, m: tarfile.TarInfo, fd: int | None) -> None:
        for key, value in m.pax_headers.items():
            if not key.startswith("SCHILY.xattr."):
                continue
            name = key[len("SCHILY.xattr."):]
            raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
            try:
                if fd is not None:
                    os.setxattr(fd, name, raw)
                else:
                    os.setxattr(path, name, raw, follow_symlinks=False)
            except OSError:
                # Best effort: not root, or the filesystem has no xattrs. Count nothing: the file is there.
                pass

    def finish(self) -> None:
        """Give directories their real owner, mode and mtime: deepest first."""
        for path in sorted(self.dir_meta, key=lambda p: p.count("/"), reverse=True):
            m = self.dir_meta[path]
            if not stat.S_ISDIR(os.lstat(path).st_mode):  # cannot happen: _clear forgets; be sure
                continue
            if self.same_owner:
                os.lchown(path, m.uid, m.gid)
            os.chmod(path, stat.S_IMODE(m.mode))
            self._xattrs(path, m, None)
            os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)


def _make_writable(top: str) -> None:
    """Before removing a tree: a 0555 directory inside would stop rmtree (as non-root)."""
    if os.geteuid() == 0:
        return
    for dirpath, dirnames, _ in os.walk(top):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, 0o700)
    os.chmod(top, 0o700)
