"""L1: overlay whiteouts and opaque directories in an image layer.

A layer records a deletion with a marker file (OCI image spec, layer.md,
"Whiteouts"): ``.wh.NAME`` says "NAME from the layers below is gone", and
``.wh..wh..opq`` in a directory says "nothing from the layers below shows in
this directory". ``extract(whiteouts=...)`` treats them in one of three ways:

- ``keep``: ``.wh.*`` are plain files (a flat rootfs tarball).
- ``overlay``: the layer is unpacked on its own, to be an overlayfs lowerdir:
  ``.wh.NAME`` becomes a character device 0:0 at ``NAME`` (overlayfs's own
  whiteout) and ``.wh..wh..opq`` sets the xattr ``trusted.overlay.opaque=y`` on
  its directory (root), or ``user.overlay.opaque=y`` for an ordinary user, whose
  overlay is mounted with "userxattr" in a user namespace. A 0:0 whiteout device
  needs no privilege since Linux 5.8; ``trusted.*`` needs CAP_SYS_ADMIN.
- ``apply``: the layer is unpacked ON TOP of the tree of the layers below it
  (the copy fallback when there is no overlayfs): ``.wh.NAME`` deletes ``NAME``;
  ``.wh..wh..opq`` deletes what the lower layers put in that directory, but
  not what this same layer put there.

Other ``.wh..wh.*`` names are aufs bookkeeping (``.wh..wh.plnk``): skipped.
A whiteout's directory is resolved inside the root like any other path
(resolve.py): one that climbs out or goes through a symlink leaving the root is
refused, and ``.wh.``, ``.wh..`` and ``.wh...`` name no entry and are refused.

The functions here act through the extractor (``extractor._Extractor``), which
owns the resolver, the stats and the helpers that make room or parents.

Man pages and specs: mknod(2), xattr(7); the OCI image spec's layer.md;
https://docs.kernel.org/filesystems/overlayfs.html (whiteouts and opaque dirs).
"""

from __future__ import annotations

import os
import stat
import tarfile

from ..errors import SyscallError, UnsafeLayerEntry

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
WHITEOUT_MODES = ("keep", "overlay", "apply")


def is_marker(mode: str, base: str, m: tarfile.TarInfo) -> bool:
    """Whether a member named ``base`` (its last component) is a whiteout to act on in ``mode``."""
    return mode != "keep" and base.startswith(WHITEOUT_PREFIX) and not m.isdir()


def whiteout(ex, m: tarfile.TarInfo, parts: list[str]) -> None:
    """Act on the whiteout member ``m`` (its cleaned components ``parts``) as ``ex.whiteouts`` says."""
    base = parts[-1]
    real_dir, escaping = ex.res.resolve(m.name, parts[:-1])
    if escaping:
        raise UnsafeLayerEntry(m.name, f"whiteout goes through symlink {escaping[0]!r}, "
                                       f"which leaves the root")
    ex.stats.whiteouts += 1
    if base == OPAQUE_MARKER:
        ex._mkparents(m.name, real_dir)
        d = ex.res.abspath(real_dir)
        if ex.whiteouts == "overlay":
            # overlayfs: an opaque upper dir hides everything below it in lower layers.
            # Root's overlay reads trusted.overlay.opaque (trusted.* needs CAP_SYS_ADMIN);
            # an overlay mounted in a user namespace with "userxattr" (rootless, Linux
            # 5.11+) reads user.overlay.opaque, which the layer's owner may set.
            name = "trusted.overlay.opaque" if os.geteuid() == 0 else "user.overlay.opaque"
            try:
                os.setxattr(d, name, b"y", follow_symlinks=False)
            except OSError as e:
                raise SyscallError("setxattr", e.errno, f"{name} on {d}") from None
        else:
            opaque(ex, real_dir)
        return
    if base.startswith(WHITEOUT_PREFIX * 2):
        # Other ".wh..wh.*" names are aufs bookkeeping (.wh..wh.plnk ...): meaningless here.
        ex.stats.whiteouts -= 1
        ex.stats.skipped += 1
        ex.stats.skipped_names.append(m.name)
        return
    name = base[len(WHITEOUT_PREFIX):]
    if name in ("", ".", "..") or "/" in name:
        raise UnsafeLayerEntry(m.name, f"whiteout names no entry ({name!r})")
    victim = ex.res.abspath(real_dir + [name])
    if ex.whiteouts == "apply" and not ex.res.check_real(m.name, real_dir):
        return  # its directory does not exist: nothing to delete
    if ex.whiteouts == "overlay":
        ex._mkparents(m.name, real_dir)
        ex._clear(victim)
        # overlayfs's whiteout is a character device with number 0:0.
        try:
            os.mknod(victim, stat.S_IFCHR | 0o600, os.makedev(0, 0))
        except OSError as e:  # mknod of a device needs CAP_MKNOD
            raise SyscallError("mknod", e.errno, f"whiteout {victim} (char 0:0)") from None
    else:
        ex._clear(victim)


def opaque(ex, real_dir: list[str]) -> None:
    """Apply mode: delete what lower layers put under this directory, keep this layer's (``ex.mine``)."""
    prefix = "/".join(real_dir)

    def sweep(rel: str) -> None:
        absdir = os.path.join(ex.dest, rel) if rel else ex.dest
        try:
            entries = list(os.scandir(absdir))
        except (FileNotFoundError, NotADirectoryError):
            return
        for e in entries:
            erel = f"{rel}/{e.name}" if rel else e.name
            if erel not in ex.mine:
                ex._clear(e.path)
            elif e.is_dir(follow_symlinks=False):
                sweep(erel)

    sweep(prefix)
