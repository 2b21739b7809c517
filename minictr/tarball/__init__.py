"""L1: unpack a tarball (a rootfs, or one image layer) into a directory, safely.

An image is just a tarball, and a tarball is just a list of instructions
("make this file, this symlink, this hardlink") written by someone else.
``extract()`` guarantees that **nothing lands outside** ``dest``, whatever the
archive says. One module per job::

    source.py     reading the source: a path or a file object; plain tar by offset
                  (copy_file_range(2)), gzip/bzip2/xz/pipes in one streamed pass
    resolve.py    the security core: a member's path resolved inside dest the way
                  chroot would; the table of every trick and what we do with it;
                  ``member_filter``, lesson 02's exercise answered with it
    extractor.py  the extractor: files, dirs, links, fifos, metadata; ``Stats``
    whiteouts.py  overlay whiteouts and opaque directories ("keep", "overlay", "apply")

The extractor is ``extractor.py``, not ``extract.py``: a submodule named
``extract`` would shadow the function ``tarball.extract`` (``import
minictr.tarball.extract as m`` would then give the function, not the module).

Typical use::

    from minictr import tarball
    stats = tarball.extract("rootfs.tar.gz", "/tmp/rootfs")
    stats = tarball.extract(layer_file, layer_dir, whiteouts="overlay")

Man pages and specs: tar(5), path_resolution(7), symlink(7), link(2),
copy_file_range(2), mknod(2), xattr(7); the OCI image spec's layer.md;
https://docs.kernel.org/filesystems/overlayfs.html.
"""

from __future__ import annotations

from .extractor import Stats, extract
from .resolve import MAX_SYMLINKS, _Resolver, check_hardlink, member_filter
from .source import BUFSIZE, STREAM_BUFSIZE, Progress
from .whiteouts import OPAQUE_MARKER, WHITEOUT_MODES, WHITEOUT_PREFIX

__all__ = ["extract", "Stats", "Progress", "member_filter", "check_hardlink", "MAX_SYMLINKS",
           "BUFSIZE", "STREAM_BUFSIZE", "WHITEOUT_MODES", "WHITEOUT_PREFIX", "OPAQUE_MARKER"]
