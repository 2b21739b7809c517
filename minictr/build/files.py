"""L1: the files of a COPY/ADD step and of a RUN step's upper dir.

A step's layer is an overlayfs upper dir (see diff.py): it holds only what the
step changed, and a directory in it *replaces the metadata* of the one below
(mode, owner). So a new directory on the way to a destination is made with
the mode and owner the lower layers give it (``make_dirs``), a copied file is
owned as COPY owns files (``copy_one``: ``--chown``, else the source's owner
for ``--from``, else root, as the Dockerfile reference says), and the empty
``/proc``, ``/dev``, ``/sys`` a RUN's container had to make as mount points
are taken out again (``drop_mount_points``), as buildah and docker do.

Man pages: overlayfs.rst, chown(2), mknod(2), tar(5) (``is_archive``).
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile

#: Mount points the container's init makes when the image lacks them: not part of a layer.
MOUNT_POINTS = ("proc", "dev", "sys")


def lower_isdir(lowers, path: str) -> bool:
    rel = path.lstrip("/")
    if not rel:
        return True
    for d in lowers:
        p = os.path.join(d, rel)
        if os.path.lexists(p):
            return os.path.isdir(p)
    return False


def make_dirs(upper: str, path: str, lowers) -> None:
    """``mkdir -p path`` in the upper dir, each new directory with the mode and owner it has
    below (or 0755 root), so that the layer does not change them."""
    rel = ""
    for part in [p for p in path.split("/") if p]:
        rel = f"{rel}/{part}" if rel else part
        target = os.path.join(upper, rel)
        if os.path.isdir(target):
            continue
        os.mkdir(target)
        below = next((os.path.join(d, rel) for d in lowers if os.path.isdir(os.path.join(d, rel))), None)
        if below is not None:
            st = os.stat(below)
            os.chmod(target, stat.S_IMODE(st.st_mode))
            os.chown(target, st.st_uid, st.st_gid)
        else:
            os.chmod(target, 0o755)


def drop_mount_points(upper: str, lowers) -> None:
    """Remove the empty /proc, /dev, /sys the container's init made because the image had none."""
    for name in MOUNT_POINTS:
        p = os.path.join(upper, name)
        if os.path.isdir(p) and not os.path.islink(p) and not os.listdir(p) \
                and not any(os.path.lexists(os.path.join(d, name)) for d in lowers):
            os.rmdir(p)


def copy_meta(src: str, target: str, owner, mode, keep_owner: bool) -> None:
    st = os.lstat(src)
    if not os.path.isdir(target):
        os.makedirs(target)
    uid, gid = owner or ((st.st_uid, st.st_gid) if keep_owner else (0, 0))
    os.chown(target, uid, gid)
    os.chmod(target, mode if mode is not None else stat.S_IMODE(st.st_mode))


def copy_one(src: str, target: str, owner, mode, keep_owner: bool, follow: bool = False) -> None:
    """One file, link or directory from a source to the upper dir, owned as COPY owns it:
    ``--chown``, else the source's owner for ``--from``, else root; ``--chmod`` for files and dirs."""
    st = os.stat(src) if follow else os.lstat(src)
    uid, gid = owner or ((st.st_uid, st.st_gid) if keep_owner else (0, 0))
    if os.path.lexists(target) and not os.path.isdir(target):
        os.unlink(target)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if stat.S_ISDIR(st.st_mode):
        copy_meta(src, target, owner, mode, keep_owner)
        return
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), target)
        os.lchown(target, uid, gid)
        return
    if stat.S_ISREG(st.st_mode):
        shutil.copyfile(src, target, follow_symlinks=True)
    else:
        os.mknod(target, st.st_mode, st.st_rdev)
    os.chown(target, uid, gid)
    os.chmod(target, mode if mode is not None else stat.S_IMODE(st.st_mode))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def is_archive(path: str) -> bool:
    """A local file ADD unpacks: a tar, maybe compressed (gzip, bzip2, xz), by its bytes."""
    if not os.path.isfile(path):
        return False
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False
