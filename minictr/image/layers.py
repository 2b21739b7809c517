"""L1: image layers on disk, and the root file system of a new container.

Each layer is unpacked **once**, into ``layers/<diff id hex>/`` under the
store root, and shared read-only by every container made from any image that
has it. A container's ``/`` is then an overlayfs (see
Documentation/filesystems/overlayfs.rst in the kernel tree)::

    rootfs/   the merged view, mounted by the container's init
      upper/  the container's own changes (per container)
      work/   overlayfs' scratch dir (per container, same fs as upper)
      lowerdir = layers/<top> : ... : layers/<bottom>   (read-only, shared)

so starting a container costs the same for a 2 MB image and a 2 GB one once
its layers are cached.

Whiteouts. A layer deletes a file of a lower layer with an empty
``.wh.NAME`` entry, and marks a directory as replacing (not merging with) the
one below with ``.wh..wh..opq`` (OCI image-spec, layer.md). overlayfs has its
own forms: a 0/0 character device named NAME, and the xattr
``trusted.overlay.opaque=y`` on the directory. The layer cache is unpacked
with ``whiteouts="overlay"`` so the kernel reads them directly. Making device
nodes and trusted.* xattrs needs root.

Without overlay (no root, no overlay module, or ``MINICTR_NO_OVERLAY=1``) the
fallback unpacks every layer in order into one private copy, applying the
whiteouts as it goes (``whiteouts="apply"``). It is slower and uses more disk,
but gives the same files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from pathlib import Path
from collections.abc import Iterator

from ..config import Rootfs
from ..errors import InvalidImage
from .model import Image
from .store import Store
from .quick import MOUNT_DATA_MAX, overlay_options
from ..fsutil import remove_tree


def overlay_available(euid: int | None = None, release: str | None = None) -> bool:
    """Can this process use overlayfs for container roots?

    ``MINICTR_NO_OVERLAY=1`` forces the copy fallback. Otherwise we need
    root (mounting, trusted.* xattrs), or for an ordinary user Linux 5.11+
    (the overlay is mounted in the container's user namespace with "userxattr"),
    and a kernel with overlay, built in or as a module the kernel can load on first mount.
    ``euid`` is the user who would mount (this process's effective uid when None);
    ``release`` is the kernel's (``uname -r``), which an ordinary user's mount depends on.
    """
    if os.environ.get("MINICTR_NO_OVERLAY", "") not in ("", "0"):
        return False
    if (os.geteuid() if euid is None else euid) != 0:
        # An ordinary user mounts it in a user namespace of their own: Linux 5.11+.
        from .quick import userns_overlay_supported
        if not userns_overlay_supported(release):
            return False
    try:
        with open("/proc/filesystems") as f:
            if any(line.split()[-1:] == ["overlay"] for line in f):
                return True
    except OSError:
        return False
    release = os.uname().release
    moddir = Path("/lib/modules") / release / "kernel" / "fs" / "overlayfs"
    return moddir.is_dir() and any(moddir.glob("overlay.ko*"))


@contextlib.contextmanager
def _layer_lock(store: Store, key: str) -> Iterator[None]:
    """One process unpacks a given layer; the others wait and then reuse its result."""
    locks = store.layers_dir / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    fd = os.open(locks / key, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class DiffIdReader:
    """Read a layer blob as an *uncompressed* tar, hashing what comes out.

    The sha256 of the uncompressed tar is the layer's diff id, which the
    image config lists. Checking it as we unpack means a layer that does not
    match its config never reaches the cache. The compression is sniffed
    from the magic bytes (gzip, or plain tar; zstd needs a module Python
    lacks). Close it when done.
    """

    def __init__(self, path: str | os.PathLike):
        import hashlib
        self._raw = open(path, "rb")
        magic = self._raw.read(4)
        self._raw.seek(0)
        self._errors: tuple = (OSError, EOFError)
        if magic[:2] == b"\x1f\x8b":
            import gzip
            import zlib
            self._src = gzip.GzipFile(fileobj=self._raw, mode="rb")
            # A corrupt deflate stream raises zlib.error, which is not an OSError.
            self._errors = (OSError, EOFError, zlib.error)
        elif magic == b"\x28\xb5\x2f\xfd":
            self._raw.close()
            raise InvalidImage(f"layer {os.fspath(path)} is zstd-compressed, which minictr cannot read",
                               hint="pull or save the image with gzip layers (e.g. skopeo copy --dest-compress-format gzip)")
        else:
            self._src = self._raw
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        try:
            data = self._src.read(n)
        except self._errors as e:  # gzip.BadGzipFile is an OSError
            raise InvalidImage(f"cannot decompress layer: {e}", hint="the blob is corrupt; remove the image and get it again") from None
        self._hash.update(data)
        self.size += len(data)
        return data

    def readable(self) -> bool:
        return True

    def finish(self) -> str:
        """Read what is left (tar end padding) and return ``sha256:<hex>`` of everything."""
        while self.read(1 << 20):
            pass
        return "sha256:" + self._hash.hexdigest()

    def close(self) -> None:
        if self._src is not self._raw:
            self._src.close()
        self._raw.close()

    def __enter__(self) -> "DiffIdReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def extract_layer(store: Store, blob_digest: str, diff_id: str | None, dest: str | os.PathLike,
                  whiteouts: str) -> None:
    """Unpack one layer blob into ``dest``, checking its diff id when one is given."""
    from .. import tarball  # lazy: a cached layer never needs tarfile/gzip

    with DiffIdReader(store.blob_path(blob_digest)) as r:
        tarball.extract(r, dest, whiteouts=whiteouts)
        got = r.finish()
    if diff_id is not None and got != diff_id:
        raise InvalidImage(f"layer {blob_digest} unpacks to {got}, but the image config says {diff_id}",
                           hint="the image is corrupt or was tampered with; remove it and get it again")


def layer_dir(store: Store, diff_id: str) -> Path:
    return store.layers_dir / diff_id.split(":", 1)[1]


def ensure_layer(store: Store, blob_digest: str, diff_id: str, *, whiteouts: str = "overlay") -> Path:
    """Unpack one layer into the cache if it is not there yet; return its directory.

    The tar is unpacked into ``tmp/`` and renamed into ``layers/`` only when
    complete, so the cache never holds a half-unpacked layer.
    """
    final = layer_dir(store, diff_id)
    if final.is_dir():
        return final
    import tempfile
    store.ensure()
    with _layer_lock(store, final.name):
        if final.is_dir():  # another process unpacked it while we waited
            return final
        from .gc import sweep_tmp
        from .lease import owner_tag
        sweep_tmp(store)  # a killed run's half-unpacked layers go now
        # the owner in the name: gc removes it at once if this process dies (lease.py)
        tmp = Path(tempfile.mkdtemp(dir=store.tmp_dir, prefix=f"layer-{owner_tag()}-{final.name[:12]}-"))
        try:
            os.chmod(tmp, 0o755)
            extract_layer(store, blob_digest, diff_id, tmp, whiteouts)
            os.rename(tmp, final)
        except BaseException:
            remove_tree(tmp)
            raise
    return final


def _empty_layer(store: Store) -> Path:
    """overlayfs needs at least one lowerdir; an image with no layers gets this empty one."""
    p = store.layers_dir / "empty"
    p.mkdir(parents=True, exist_ok=True)
    return p


def prepare_rootfs(store: Store, img: Image, container_dir: str | os.PathLike, *,
                   overlay: bool | None = None) -> Rootfs:
    """Make the directories for a container's ``/`` and return the ``Rootfs`` to mount.

    overlay: ``Rootfs(path=container_dir/rootfs, lowers=(top ... bottom),
    upper=container_dir/upper, work=container_dir/work)``; nothing is mounted
    here: the container's init mounts it inside its own mount namespace, so
    the mount dies with the container.

    copy fallback: ``Rootfs(path=container_dir/rootfs)``, all layers unpacked into it.
    """
    if overlay is None:
        overlay = overlay_available()
    cdir = Path(container_dir)
    layers, diff_ids = img.layers, img.diff_ids
    if len(layers) != len(diff_ids):
        raise InvalidImage(f"image {img.ref} has {len(layers)} layers but {len(diff_ids)} diff ids")
    rootfs = cdir / "rootfs"
    rootfs.mkdir(parents=True, exist_ok=True)
    if overlay:
        # mount(2) takes at most one page of options: with many layers in a deep store
        # path, "lowerdir=a:b:...,upperdir=..,workdir=.." would not fit; copy instead.
        planned = [str(layer_dir(store, d)) for d in diff_ids]
        if len(overlay_options(planned, cdir / "upper", cdir / "work")) >= MOUNT_DATA_MAX:
            overlay = False
    if overlay:
        lowers = [str(ensure_layer(store, l["digest"], d)) for l, d in zip(layers, diff_ids)]
        if not lowers:
            lowers = [str(_empty_layer(store))]
        for d in ("upper", "work"):
            (cdir / d).mkdir(exist_ok=True)
        os.chmod(cdir / "upper", 0o755)  # the upper dir's mode becomes the mode of "/"
        return Rootfs(path=str(rootfs), lowers=tuple(reversed(lowers)),
                      upper=str(cdir / "upper"), work=str(cdir / "work"), userxattr=os.geteuid() != 0)
    os.chmod(rootfs, 0o755)
    for l, d in zip(layers, diff_ids):
        extract_layer(store, l["digest"], d, rootfs, "apply")
    return Rootfs(path=str(rootfs))
