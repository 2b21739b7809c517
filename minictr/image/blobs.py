"""L1: content-addressed blobs on disk: verified on the way in, written atomically.

The ``blobs/sha256/<hex>`` half of an OCI image layout, and its ``tmp/``::

    blobs/sha256/<hex>        manifests, configs and layers, named by their digest
    tmp/                      files being written; renamed into place when complete

Two rules:

* **Content addressing, verified on the way in.** A blob is hashed while it is
  written and lands under its name only if the hash matches what the sender
  promised (and its size, when one was promised). A reader can trust
  ``blobs/sha256/X`` to hash to X; ``verify()`` rechecks that on demand
  (disk rot, tampering).
* **Atomic writes.** Everything is written to ``tmp/`` first, fsync(2)ed, then
  renamed (rename(2) is atomic within one file system). A crash or a failed
  pull leaves at worst an unnamed file in ``tmp/``, never a half blob.

``Blobs`` is the base of ``store.Store``, which adds the index (the names) and
calls ``_note_new`` for the transaction that undoes a failed import.

Specs and man pages: the OCI image spec's image-layout.md and descriptor.md
(digests), rename(2), fsync(2), mkstemp(3).
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (the run path skips it)
if TYPE_CHECKING:
    from typing import BinaryIO

from ..errors import ImageError, InvalidImage
from . import oci

_CHUNK = 1 << 20


class Blobs:
    """The blobs of an OCI image layout rooted at ``self.root``."""

    root: Path

    @property
    def blobs_dir(self) -> Path:
        return self.root / "blobs" / "sha256"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def blob_path(self, digest: str) -> Path:
        return self.blobs_dir / oci.check_digest(digest).split(":", 1)[1]

    def ensure(self) -> "Blobs":
        """Create the directories blobs need (the store adds its own)."""
        try:
            for d in (self.blobs_dir, self.tmp_dir):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise self._unwritable(e) from None
        return self

    def _unwritable(self, e: OSError) -> ImageError:
        return ImageError(f"cannot write the image store at {self.root}: {e.strerror or e}",
                          hint="run as root (sudo), or point MINICTR_ROOT at a directory you own")

    def _note_new(self, digest: str) -> None:
        """A blob was just added (the store's transaction overrides this)."""

    def _publish(self, tmp: Path, digest: str) -> None:
        """Move a complete, verified temp file to its blob name (or drop it: the blob is there).

        The store overrides this to do it under its lock, after writing the
        digest into the operation's lease (lease.py), so gc never takes it.
        """
        if self.has_blob(digest):
            tmp.unlink(missing_ok=True)
        else:
            os.replace(tmp, self.blob_path(digest))
            self._note_new(digest)

    # -- writing -------------------------------------------------------
    def _tmpfile(self) -> tuple[int, Path]:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        import tempfile
        from .lease import owner_tag
        # the owner in the name: gc removes a dead writer's leftovers at once (lease.py)
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix=f"w-{owner_tag()}-")
        return fd, Path(name)

    def _write_temp(self, data: bytes) -> Path:
        """``data`` in a new temp file of the store's, on disk (fsync) and readable by all.

        The caller renames it into place, or unlinks it on failure."""
        fd, tmp = self._tmpfile()
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    def _atomic_write(self, path: Path, data: bytes) -> None:
        """Write ``data`` to a temp file, fsync it, then rename it over ``path``."""
        tmp = self._write_temp(data)
        try:
            os.replace(tmp, path)  # atomic: readers see the old file or the new one
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def put_blob(self, data: bytes, digest: str | None = None) -> str:
        """Store bytes; if ``digest`` is given they must hash to it. Returns the digest."""
        actual = oci.sha256_digest(data)
        if digest is not None and actual != oci.check_digest(digest):
            raise InvalidImage(f"digest mismatch: expected {digest}, got {actual}",
                               hint="the data was corrupted or tampered with; fetch it again")
        self.ensure()
        tmp = self._write_temp(data)
        try:
            self._publish(tmp, actual)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return actual

    def put_blob_stream(self, src: BinaryIO, digest: str | None = None, size: int | None = None,
                        progress: Callable[[int], None] | None = None) -> tuple[str, int]:
        """Copy a stream into the store, hashing as it goes; verify ``digest`` and ``size``.

        ``progress(n)`` is called with the bytes copied so far. Returns (digest, size).
        """
        import hashlib
        self.ensure()
        fd, tmp = self._tmpfile()
        h = hashlib.sha256()
        n = 0
        try:
            with os.fdopen(fd, "wb") as f:
                while True:
                    chunk = src.read(_CHUNK)
                    if not chunk:
                        break
                    h.update(chunk)
                    f.write(chunk)
                    n += len(chunk)
                    if progress:
                        progress(n)
                    if size is not None and n > size:
                        raise InvalidImage(f"blob {digest} is larger than the {size} bytes promised")
                f.flush()
                os.fsync(f.fileno())
            actual = "sha256:" + h.hexdigest()
            if digest is not None and actual != oci.check_digest(digest):
                raise InvalidImage(f"digest mismatch: expected {digest}, got {actual}",
                                   hint="the data was corrupted or tampered with; fetch it again")
            if size is not None and n != size:
                raise InvalidImage(f"blob {actual} has {n} bytes, expected {size}")
            os.chmod(tmp, 0o644)
            self._publish(tmp, actual)
            return actual, n
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def put_blob_file(self, path: str | os.PathLike, digest: str | None = None) -> tuple[str, int]:
        with open(path, "rb") as f:
            return self.put_blob_stream(f, digest)

    # -- reading -------------------------------------------------------
    def read_blob(self, digest: str, *, verify: bool = True) -> bytes:
        """The bytes of a (small) blob, re-hashed against its name unless ``verify=False``.

        Lookups on the ``minictr run`` path pass ``verify=False``: every blob was
        verified when it came in and was renamed into place whole, and hashing
        costs start-up time. ``verify()`` rechecks everything on demand.
        """
        try:
            data = self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise InvalidImage(f"blob {digest} is missing from the store at {self.root}",
                               hint="`minictr image check` lists what is missing; `minictr image prune` "
                                    "drops the images that lost blobs; then load or pull them again") from None
        if verify and oci.sha256_digest(data) != digest:
            raise InvalidImage(f"blob {digest} in {self.root} is corrupt (its content does not match its digest)",
                               hint="remove the image with `minictr rmi` and load or pull it again")
        return data

    def read_json(self, digest: str, what: str = "document", *, verify: bool = True) -> dict:
        return oci.parse_json(self.read_blob(digest, verify=verify), f"{what} {digest}")

    def verify(self) -> list[str]:
        """Re-hash every blob; return the digests whose content no longer matches (disk rot, tampering)."""
        import hashlib
        bad = []
        if self.blobs_dir.is_dir():
            for p in sorted(self.blobs_dir.iterdir()):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(_CHUNK), b""):
                        h.update(chunk)
                if h.hexdigest() != p.name:
                    bad.append("sha256:" + p.name)
        return bad
