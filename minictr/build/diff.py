"""L1: a RUN step's writable layer (an overlayfs upper dir) as an OCI layer tar (gzip).

The OCI image spec, layer.md, "Representing Changes", says a layer is the
*changeset* against the layers below: files added or changed are in the tar
as they are now; a deleted path is an empty file named ``.wh.NAME`` next to
where it was; a directory whose old contents are all gone (it was deleted
and made again) gets an entry ``DIR/.wh..wh..opq``, right after the directory
itself and before anything in it.

overlayfs has already done the work of finding the changeset
(https://docs.kernel.org/filesystems/overlayfs.html, "whiteouts and opaque
directories"): its upper dir holds exactly the changed paths, a deletion as a
**character device 0:0** (a "whiteout"), and a replaced directory with the
xattr ``trusted.overlay.opaque=y`` (``user.overlay.opaque`` when the overlay
was mounted with ``userxattr`` in a user namespace). So a layer diff is a walk
of the upper dir with two translations::

    upper dir                                  layer tar
    char device 0:0       etc/motd        ->   etc/.wh.motd           (empty file)
    dir, opaque=y         var/cache/      ->   var/cache/ + var/cache/.wh..wh..opq
    anything else                         ->   itself

The overlay must be mounted without ``redirect_dir`` and ``metacopy`` (the
kernel's defaults): a redirected dir or a metadata-only copy does not hold
what the tar needs, so we refuse them. (Kernel 6.7's "xwhiteouts" appear only
in lower layers, never in an upper dir; ``opaque=x`` is not "opaque".)

Deterministic output, so that a ``--timestamp`` build is bit-for-bit
reproducible: entries depth first in name order, PAX format with no
atime/ctime records, empty user and group names, uid/gid and mode from the
files, every mtime set to ``timestamp`` when one is given, hard links within
the layer kept as links to the first path, gzip with a zero header mtime and
no file name. Only the ``security.capability`` xattr goes into the tar (as a
``SCHILY.xattr`` PAX record), as docker does.

The layer's **diff ID** (the image config's ``rootfs.diff_ids``) is the
sha256 of the uncompressed tar; its **digest** and **size** (the manifest's
descriptor) are those of the gzip bytes. Both are computed while writing.

Man pages and specs: tar(5), mknod(2), xattr(7), overlayfs.rst, the OCI
image spec's layer.md.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile

from ..errors import BuildError
from ..record import Record
from ..tarball import OPAQUE_MARKER, WHITEOUT_PREFIX, extract

OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
REFUSED_XATTRS = ("trusted.overlay.redirect", "user.overlay.redirect",
                  "trusted.overlay.metacopy", "user.overlay.metacopy")
KEPT_XATTRS = ("security.capability",)
GZIP_LEVEL = 6  # zlib's default: a good size/time trade; part of the output, so fixed


class Layer(Record):
    """What writing a layer gives: the ids the manifest and config need, and counts."""
    diff_id: str       # "sha256:..." of the uncompressed tar
    digest: str        # "sha256:..." of the gzip bytes
    size: int          # gzip bytes
    entries: int       # tar members, whiteouts included
    whiteouts: int     # ".wh.NAME" members
    opaques: int       # ".wh..wh..opq" members


def is_whiteout(st: os.stat_result) -> bool:
    """overlayfs marks a deleted path with a character device numbered 0:0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def xattr_names(path: str) -> list[str]:
    try:
        return os.listxattr(path, follow_symlinks=False)
    except OSError:  # ENOTSUP: a filesystem without xattrs
        return []


def is_opaque(path: str, names: list[str] | None = None) -> bool:
    """A directory overlayfs made opaque: what lower layers had below it is hidden.
    (``trusted.*`` names are listed only to a process with CAP_SYS_ADMIN.)"""
    for name in OPAQUE_XATTRS:
        if name in (xattr_names(path) if names is None else names):
            try:
                if os.getxattr(path, name, follow_symlinks=False) == b"y":
                    return True
            except OSError:
                continue
    return False


def changes(upper: str) -> list[tuple[str, str, str]]:
    """The changeset of ``upper`` as (tar name, what, path on disk), in tar order.

    ``what`` is ``"whiteout"``, ``"opaque"`` (the ``.wh..wh..opq`` marker; its
    path is the directory), or ``"entry"`` (the file itself). This is lesson 13's
    exercise: the translation of an upper dir into OCI whiteouts."""
    out: list[tuple[str, str, str]] = []

    def walk(rel: str) -> None:
        absdir = os.path.join(upper, rel) if rel else upper
        for name in sorted(os.listdir(absdir)):
            path = os.path.join(absdir, name)
            member = f"{rel}/{name}" if rel else name
            st = os.lstat(path)
            names = xattr_names(path)
            for refused in REFUSED_XATTRS:
                if refused in names:
                    raise BuildError(upper, 0, f"{member} has the overlay xattr {refused}: the layer "
                                     "cannot be read from the upper dir alone",
                                     hint="mount the overlay with redirect_dir=off,metacopy=off")
            if is_whiteout(st):
                parent = f"{rel}/" if rel else ""
                out.append((parent + WHITEOUT_PREFIX + name, "whiteout", path))
            elif stat.S_ISDIR(st.st_mode):
                out.append((member, "entry", path))
                if is_opaque(path, names):
                    out.append((f"{member}/{OPAQUE_MARKER}", "opaque", path))
                walk(member)
            else:
                out.append((member, "entry", path))
    walk("")
    return out


def write_layer(upper: str | os.PathLike, out, *, timestamp: int | None = None) -> Layer:
    """Write the layer tar (gzip) of the overlay upper dir ``upper`` to ``out`` (a path or
    a binary file); return its ``Layer`` (diff ID, digest, size). ``timestamp`` (seconds
    since the epoch) replaces every mtime, for reproducible builds."""
    upper = os.fspath(upper)
    own = open(out, "wb") if isinstance(out, (str, os.PathLike)) else None
    try:
        gz_sink = _Hashing(own or out)
        # filename="" and mtime=0: the gzip header would otherwise hold both.
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=gz_sink, mtime=0, compresslevel=GZIP_LEVEL)
        tar_sink = _Hashing(gz)
        counts = {"entry": 0, "whiteout": 0, "opaque": 0}
        links: dict[tuple[int, int], str] = {}
        with tarfile.open(fileobj=tar_sink, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for member, what, path in changes(upper):
                counts[what] += 1
                st = os.lstat(path)
                ti = tarfile.TarInfo(member)
                ti.uid, ti.gid, ti.uname, ti.gname = st.st_uid, st.st_gid, "", ""
                ti.mtime = int(st.st_mtime) if timestamp is None else int(timestamp)
                if what != "entry":  # an empty regular file that only carries a name
                    ti.mode = 0o644 if what == "opaque" else 0o600
                    tf.addfile(ti)
                    continue
                ti.mode = stat.S_IMODE(st.st_mode)
                ti.pax_headers = _xattr_records(path)
                mode = st.st_mode
                if stat.S_ISREG(mode) and st.st_nlink > 1 and (st.st_dev, st.st_ino) in links:
                    ti.type, ti.linkname = tarfile.LNKTYPE, links[(st.st_dev, st.st_ino)]
                    tf.addfile(ti)
                elif stat.S_ISREG(mode):
                    if st.st_nlink > 1:
                        links[(st.st_dev, st.st_ino)] = member
                    ti.size = st.st_size
                    with open(path, "rb") as f:
                        tf.addfile(ti, f)
                elif stat.S_ISDIR(mode):
                    ti.type, ti.name = tarfile.DIRTYPE, member + "/"
                    tf.addfile(ti)
                elif stat.S_ISLNK(mode):
                    ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(path)
                    tf.addfile(ti)
                elif stat.S_ISFIFO(mode):
                    ti.type = tarfile.FIFOTYPE
                    tf.addfile(ti)
                elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                    ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
                    ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                    tf.addfile(ti)
                else:  # a socket: not something a tar can hold (docker skips them too)
                    counts["entry"] -= 1
        gz.close()
        return Layer("sha256:" + tar_sink.sha.hexdigest(), "sha256:" + gz_sink.sha.hexdigest(),
                     gz_sink.size, sum(counts.values()), counts["whiteout"], counts["opaque"])
    finally:
        if own is not None:
            own.close()


def apply_layer(layer, root: str | os.PathLike) -> None:
    """Unpack ``layer`` (path or file) ON TOP of the tree ``root``, whiteouts applied.

    The inverse check: ``root`` = the lower layer's tree, then ``apply_layer`` of
    ``write_layer(upper)`` must give the same tree as the overlay mount of upper
    on lower. It is the safe extractor's "apply" mode."""
    extract(layer, root, whiteouts="apply")


def listing(root: str | os.PathLike) -> dict:
    """``{path: (type, mode, uid, gid, size, sha256 or link target)}`` of a tree, mtimes left out:
    what two trees must agree on to be "the same file tree"."""
    root = os.fspath(root)
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            kind = stat.S_IFMT(st.st_mode)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    what = hashlib.file_digest(f, "sha256").hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                what = os.readlink(path)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                what = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
            else:
                what = ""
            size = st.st_size if stat.S_ISREG(st.st_mode) else 0
            out[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, size, what)
    return out


class _Hashing:
    """A write-only file that hashes and counts what goes through it to ``sink``."""

    def __init__(self, sink):
        self.sink, self.sha, self.size = sink, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        self.sink.write(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        pass


def _xattr_records(path: str) -> dict:
    out = {}
    names = xattr_names(path)
    for name in KEPT_XATTRS:
        if name not in names:
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        # tarfile writes a str PAX value back as these exact bytes (hdrcharset=BINARY).
        out["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return out

