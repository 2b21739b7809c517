"""``minictr run --dry-run --bundle DIR``: write the bundle a run would use, and start nothing.

A bundle is a directory with ``config.json`` and the root file system it names
(runtime spec, bundle.md). ``write_bundle`` writes both:

- ``DIR/config.json``: ``to_oci(cfg)`` with ``root.path`` = ``rootfs``;
- ``DIR/rootfs``: the image's root as one directory. An image's layers are
  copied bottom to top, and their overlay whiteouts applied (a 0:0 character
  device deletes the path below it; a directory marked opaque hides what the
  layers below had there), which is what the kernel's overlayfs shows.

So ``runc run -b DIR x`` (or ``minictr-runtime``) can run it, and ``diff``
against ``runc spec`` shows what docker's defaults add.

Man pages: overlayfs (Documentation/filesystems/overlayfs.rst, "whiteouts and opaque directories").
"""

from __future__ import annotations

import json
import os
import shutil
import stat

from ..errors import ConfigError
from .emit import to_oci


def write_bundle(cfg, directory: str) -> str:
    """Write ``directory/config.json`` and ``directory/rootfs`` for ``cfg``. Returns the config.json path.

    Refuses (ConfigError) when ``directory`` already has a config.json, as ``runc spec`` does.
    """
    path = os.path.join(directory, "config.json")
    if os.path.exists(path):
        raise ConfigError("--bundle", directory, "already has a config.json", hint="remove it first, or name "
                          "another directory")
    doc = to_oci(cfg)  # before the copy: it reads the image's /etc/passwd where the layers are
    os.makedirs(directory, exist_ok=True)
    root = os.path.join(directory, "rootfs")
    if not os.path.exists(root):
        os.mkdir(root, 0o755)
        layers = ([cfg.rootfs.upper] if cfg.rootfs.upper else []) + list(cfg.rootfs.lowers) \
            if cfg.rootfs.is_overlay else [cfg.rootfs.path]
        for layer in reversed(layers):  # the bottom layer first
            copy_layer(layer, root)
    doc["root"]["path"] = "rootfs"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return path


def copy_layer(src: str, dest: str) -> None:
    """Copy one layer onto ``dest``, applying its whiteouts and opaque directories (owners, modes, links kept)."""
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target_dir = dest if rel == "." else os.path.join(dest, rel)
        if rel != "." and _opaque(dirpath) and os.path.isdir(target_dir):
            shutil.rmtree(target_dir)
        if not os.path.isdir(target_dir):
            _remove(target_dir)
            os.mkdir(target_dir)
        _copy_meta(dirpath, target_dir)
        for name in list(dirnames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full):  # os.walk lists a symlink to a directory as a directory
                dirnames.remove(name)
                filenames.append(name)
        for name in filenames:
            _copy_entry(os.path.join(dirpath, name), os.path.join(target_dir, name))


def _copy_entry(src: str, dst: str) -> None:
    st = os.lstat(src)
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:  # a whiteout: the path is deleted in this layer
        _remove(dst)
        return
    _remove(dst)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISREG(st.st_mode):
        shutil.copyfile(src, dst, follow_symlinks=False)
    else:  # devices, FIFOs, sockets
        os.mknod(dst, st.st_mode, st.st_rdev)
    _copy_meta(src, dst, st)


def _copy_meta(src: str, dst: str, st=None) -> None:
    st = st or os.lstat(src)
    os.lchown(dst, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)
