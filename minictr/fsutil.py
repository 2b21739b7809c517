"""``rm -rf`` for the run path: remove a directory tree without importing shutil.

``shutil`` imports compression modules (zlib, bz2, lzma) for its archive
functions, a couple of milliseconds that ``minictr run --rm`` would pay just
to delete a container's directory. This is the part we need: depth first,
never following a symbolic link out of the tree, and coping with read-only
directories (an image may ship 0555 dirs; a non-root user cannot delete
inside one until it is made writable again).

Man pages: unlink(2), rmdir(2), lstat(2), chmod(2).
"""

from __future__ import annotations

import os
from stat import S_ISDIR, S_IRWXU


def remove_tree(path: str | os.PathLike, ignore_errors: bool = False) -> None:
    """Remove ``path`` and everything below it. A missing ``path`` is not an error."""
    try:
        _remove(os.fspath(path))
    except OSError:
        if not ignore_errors:
            raise


def _remove(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not S_ISDIR(st.st_mode):  # a file, a symlink (never followed), a device node, ...
        _retry_writable(os.unlink, path)
        return
    try:
        entries = list(os.scandir(path))
    except PermissionError:  # a directory we may not read: make it ours to read
        os.chmod(path, st.st_mode | S_IRWXU)
        entries = list(os.scandir(path))
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            _remove(entry.path)
        else:
            _retry_writable(os.unlink, entry.path)
    _retry_writable(os.rmdir, path)


def _retry_writable(remove, path: str) -> None:
    """``remove(path)``; if the parent directory is read-only, make it writable and try once more."""
    try:
        remove(path)
    except FileNotFoundError:
        pass
    except PermissionError:
        parent = os.path.dirname(path) or "."
        os.chmod(parent, os.stat(parent).st_mode | S_IRWXU)
        try:
            remove(path)
        except FileNotFoundError:
            pass
