"""L1: the local image store, an OCI image layout on disk: the index, names, lookup, the lock.

Layout under ``store_root()`` (``$MINICTR_ROOT``, default ``/var/lib/minictr``)::

    oci-layout                {"imageLayoutVersion": "1.0.0"}
    index.json                one entry per image name, the name in the
                              org.opencontainers.image.ref.name annotation
    blobs/sha256/<hex>        manifests, configs and layers, named by their digest (blobs.py)
    layers/<diff id hex>/     each layer unpacked once, shared by every container (layers.py)
    tmp/                      files being written; renamed into place when complete (blobs.py)
    leases/                   what operations in progress hold (lease.py)
    .lock                     flock(2) taken while index.json or blobs/ change, and by gc

This is the directory layout of the OCI image-layout spec, so ``skopeo
inspect oci:$MINICTR_ROOT:busybox:latest`` and ``umoci`` can read it too.

Next door: ``model.py`` (the ``Image`` record), ``blobs.py`` (verified,
atomic blob I/O: ``Store`` is a ``Blobs``), ``gc.py`` (what is garbage, what
containers use), ``check.py`` (``minictr image check``, and the repair of a
store that lost a blob), ``default.py`` (building busybox). ``lookup`` only looks.

Consistency, across processes (see gc.py for why leases):

- every change of index.json and blobs/, and every gc, happens under the
  store's flock(2) (``lock``, re-entrant within a process);
- blobs come first, the index last: a blob is written to ``tmp/``, fsync'd
  and renamed into ``blobs/`` (blobs.py); ``add_image`` checks that the
  manifest, config and layers are all there *under the lock* and only then
  rewrites index.json (atomically), so the index never names a missing blob,
  whatever moment a process is killed;
- ``transaction()`` holds a lease (lease.py) on every blob the operation
  writes or ``claim``s, so gc keeps them until the image is named, and
  removes them again if the operation fails.

Spec: https://github.com/opencontainers/image-spec/blob/main/image-layout.md;
man pages flock(2), rename(2).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path
from collections.abc import Iterator

from ..errors import ImageError, ImageNotFound
from . import oci, refs
from .blobs import Blobs
# Re-exported: callers and notebooks imported these from here before the model had a module of its own.
from .model import DEFAULT_IMAGE, Image, inspect_image, parse_time
from .quick import DEFAULT_ROOT

_HEX_RE = re.compile(r"^(?:sha256:)?([a-f0-9]{1,64})$")
#: store root -> [flock'd fd, depth]: the locks this process holds (Store.lock is re-entrant)
_HELD: dict = {}


def store_root() -> Path:
    """``$MINICTR_ROOT``, /var/lib/minictr for root, the user's XDG data dir otherwise (see minictr.paths)."""
    from ..paths import store_root as _root
    return Path(_root())


class Store(Blobs):
    """An OCI image layout used as minictr's image store."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else store_root()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # -- paths ---------------------------------------------------------
    @property
    def layers_dir(self) -> Path:
        return self.root / "layers"

    @property
    def index_path(self) -> Path:
        return self.root / "index.json"

    def ensure(self) -> "Store":
        """Create the layout if it is missing (idempotent)."""
        try:
            for d in (self.blobs_dir, self.layers_dir, self.tmp_dir):
                d.mkdir(parents=True, exist_ok=True)
            if not (self.root / "oci-layout").exists():
                self._atomic_write(self.root / "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            if not self.index_path.exists():
                self._atomic_write(self.index_path, oci.canonical_json(self._empty_index()))
        except OSError as e:
            raise self._unwritable(e) from None
        return self

    @staticmethod
    def _empty_index() -> dict:
        return {"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": []}

    @contextlib.contextmanager
    def _read_lock(self) -> Iterator[None]:
        """The lock, for a reader: none when there is no store yet or it cannot be locked (not ours)."""
        key = os.path.abspath(self.root)
        if key not in _HELD:
            try:
                fd = os.open(self.root / ".lock", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:  # no store (nothing to read), or a store we may not lock
                yield
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                _HELD[key] = [fd, 1]
                yield
            finally:
                _HELD.pop(key, None)
                os.close(fd)
            return
        with self.lock():
            yield

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive flock(2) on the store, for every change of index.json, blobs/ or layers/.

        Why flock: two ``minictr run busybox`` at once must not both rewrite
        index.json (one would lose the other's entry), and gc must not decide
        while a blob is being published. The lock goes away with the process,
        so a crash never leaves the store locked. It is re-entrant within one
        process (flock on a second descriptor of the same file would wait for
        ourselves).
        """
        key = os.path.abspath(self.root)
        held = _HELD.get(key)
        if held is not None:
            held[1] += 1
            try:
                yield
            finally:
                held[1] -= 1
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise self._unwritable(e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _HELD[key] = [fd, 1]
            yield
        finally:
            _HELD.pop(key, None)
            os.close(fd)

    # -- leases and transactions: nothing half-done, nothing collected too early --
    _new_blobs: list | None = None
    _lease: "Lease | None" = None

    @property
    def leases_dir(self) -> Path:
        return self.root / "leases"

    def _note_new(self, digest: str) -> None:
        if self._new_blobs is not None:
            self._new_blobs.append(digest)

    def _publish(self, tmp: Path, digest: str) -> None:
        # Under the lock, the lease first: gc (same lock) either ran before the
        # blob existed, or sees the lease and keeps it (lease.py).
        with self.lock():
            if self._lease is not None:
                self._lease.add(digest)
            super()._publish(tmp, digest)

    def claim(self, digest: str) -> bool:
        """Is ``digest`` in the store? If so, it stays until the current transaction ends.

        Use this, not ``has_blob``, to skip a blob an operation will need: a gc
        between "it is there" and "the image is named" would take it otherwise.
        """
        with self.lock():
            if not self.has_blob(digest):
                return False
            if self._lease is not None:
                self._lease.add(digest)
            return True

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Store"]:
        """Hold a lease on every blob the operation adds or claims; undo it if it fails.

        On failure the new blobs that neither index.json nor another live
        lease needs are removed; either way the lease is released.
        """
        if self._new_blobs is not None:  # nested: the outer one decides
            yield self
            return
        from .lease import Lease
        self._new_blobs, self._lease = [], Lease(self.leases_dir)
        try:
            yield self
        except BaseException:
            with contextlib.suppress(ImageError, OSError), self.lock():  # the first error is the one to report
                self._lease.release()
                from .gc import referenced_blobs
                from .lease import live_leases
                keep = referenced_blobs(self) | live_leases(self.leases_dir)
                for d in self._new_blobs:
                    if d not in keep:
                        self.blob_path(d).unlink(missing_ok=True)
            raise
        finally:
            self._lease.release()
            self._new_blobs, self._lease = None, None

    # -- the index -----------------------------------------------------
    def read_index(self) -> dict:
        try:
            data = self.index_path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):  # no store yet: no images
            return self._empty_index()
        except PermissionError as e:
            raise ImageError(f"cannot read the image store at {self.root}: {e.strerror}",
                             hint="run as root (sudo), or point MINICTR_ROOT at a directory you own") from None
        index = oci.parse_json(data, f"{self.index_path}")
        index.setdefault("manifests", [])
        return index

    def _write_index(self, index: dict) -> None:
        self._atomic_write(self.index_path, oci.canonical_json(index))

    def add_image(self, manifest_digest: str, names: list[str] | tuple[str, ...] = (),
                  media_type: str | None = None) -> "Image":
        """Name an image whose manifest, config and layers are all in the store.

        A name moves from the image that had it (that one may become dangling,
        shown as ``<none>``, as docker does).
        """
        names = [refs.parse(n).name for n in names]
        with self.lock():  # the check and the naming in one step: gc cannot come in between
            manifest = self.read_json(manifest_digest, "manifest")
            media_type = media_type or manifest.get("mediaType") or oci.OCI_MANIFEST
            from .check import check_complete
            check_complete(self, manifest, manifest_digest)
            size = self.blob_path(manifest_digest).stat().st_size
            self.ensure()
            index = self.read_index()
            entries = [e for e in index["manifests"]
                       if (e.get("annotations") or {}).get(oci.REF_NAME) not in names]
            for e in index["manifests"]:  # an image that lost its last name stays, unnamed ("dangling")
                if e not in entries and not any(x["digest"] == e["digest"] for x in entries):
                    entries.append({k: v for k, v in e.items() if k != "annotations"})
            base = {"mediaType": media_type, "digest": manifest_digest, "size": size}
            if names:
                for n in names:
                    entries.append({**base, "annotations": {oci.REF_NAME: n}})
            elif not any(e.get("digest") == manifest_digest for e in entries):
                entries.append(base)
            # an unnamed entry is dropped once the same image has a name
            named = {e["digest"] for e in entries if (e.get("annotations") or {}).get(oci.REF_NAME)}
            entries = [e for e in entries
                       if (e.get("annotations") or {}).get(oci.REF_NAME) or e["digest"] not in named]
            index["manifests"] = entries
            self._write_index(index)
        return self._image(manifest_digest, names[0] if names else None)

    # -- reading -------------------------------------------------------
    def _image(self, manifest_digest: str, ref: str | None, names: list[str] | None = None) -> Image:
        manifest = self.read_json(manifest_digest, "manifest", verify=False)
        cfg_digest = oci.check_digest((manifest.get("config") or {}).get("digest"))
        config = self.read_json(cfg_digest, "image config", verify=False)
        if names is None:
            names = [(e.get("annotations") or {}).get(oci.REF_NAME) for e in self.read_index()["manifests"]
                     if e.get("digest") == manifest_digest]
            names = [n for n in names if n]
        img = Image(ref=ref or "", id=cfg_digest, manifest_digest=manifest_digest, manifest=manifest,
                    oci_config=config, names=list(names))
        if not img.ref:
            img.ref = names[0] if names else img.short_id
        return img

    def images(self) -> list[Image]:
        """Every image in the store, one per manifest, newest first."""
        with self._read_lock():  # an rmi's gc must not take a manifest between index and read
            return self._images()

    def _images(self) -> list[Image]:
        by_digest: dict[str, list[str]] = {}
        for e in self.read_index()["manifests"]:
            names = by_digest.setdefault(e["digest"], [])
            n = (e.get("annotations") or {}).get(oci.REF_NAME)
            if n:
                names.append(n)
        import datetime as _dt
        out = [self._image(d, None, names) for d, names in by_digest.items()]
        epoch = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
        out.sort(key=lambda i: i.created or epoch, reverse=True)
        return out

    def find(self, ref: str) -> Image | None:
        """Look ``ref`` up without building anything; None if absent.

        ``ref`` is a name (``busybox``, ``busybox:1.36``, ``docker.io/library/busybox``),
        ``name@sha256:...`` (the manifest digest), or an image id or a unique
        prefix of it (``sha256:`` optional), as ``docker`` accepts.
        """
        with self._read_lock():  # the index and the blobs it names, read as one
            return self._find(ref)

    def _find(self, ref: str) -> Image | None:
        entries = self.read_index()["manifests"]
        m = _HEX_RE.match(ref)
        parsed = None
        if not ref.startswith("sha256:"):
            with contextlib.suppress(ImageError, ValueError):
                parsed = refs.parse(ref)
        if parsed is not None:
            if parsed.digest:
                for e in entries:
                    if e.get("digest") == parsed.digest:
                        return self._image(e["digest"], str(parsed))
            else:
                for e in entries:
                    if (e.get("annotations") or {}).get(oci.REF_NAME) == parsed.name:
                        return self._image(e["digest"], parsed.name)
        if m:  # an id (config digest) or manifest digest prefix
            prefix = m.group(1)
            for e in entries:  # a full manifest digest names exactly one manifest
                if len(prefix) == 64 and e["digest"] == "sha256:" + prefix:
                    return self._image(e["digest"], None)
            hits: dict[str, Image] = {}
            for e in entries:
                img = self._image(e["digest"], None)
                if img.id[7:].startswith(prefix) or (ref.startswith("sha256:") and e["digest"][7:].startswith(prefix)):
                    hits[img.manifest_digest] = img
            if len({i.id for i in hits.values()}) == 1 and len(hits) > 1:
                # one image id, several manifests (e.g. loaded from a docker and an OCI archive): prefer a named one
                return sorted(hits.values(), key=lambda i: not i.names)[0]
            if len(hits) > 1:
                raise ImageNotFound(f"image id prefix {ref!r} is ambiguous: it matches {len(hits)} images",
                                    hint="give more digits of the id (see `minictr images`)")
            if hits:
                return next(iter(hits.values()))
        return None

    def lookup(self, ref: str) -> Image:
        """Find ``ref`` or raise ImageNotFound (``default.lookup_or_build`` also builds busybox)."""
        img = self.find(ref)
        if img is not None:
            return img
        raise ImageNotFound(f"image {ref!r} not found in the store at {self.root}",
                            hint="see `minictr images`; get it with `minictr pull`, `minictr load -i FILE` "
                                 "or `minictr import ROOTFS.tar NAME` (busybox: `minictr image build-default`)")

    # -- removing ------------------------------------------------------
    def remove(self, ref: str, *, force: bool = False, keep_layers: "set[str] | frozenset[str]" = frozenset()) -> list[str]:
        """``docker rmi``: untag a name, or delete an image by id. Returns what was done, as lines.

        By id, an image with several names needs ``force``. The image's blobs
        and unpacked layers are removed once nothing refers to them;
        ``keep_layers`` (layer dir names) are kept anyway, because a
        container still has them as its lowerdirs.
        """
        with self.lock():  # find, untag and collect as one step
            return self._remove(ref, force, keep_layers)

    def _remove(self, ref: str, force: bool, keep_layers) -> list[str]:
        img = self.find(ref)
        if img is None:
            raise ImageNotFound(f"image {ref!r} not found in the store at {self.root}", hint="see `minictr images`")
        by_name = None
        with contextlib.suppress(ImageError, ValueError):
            p = refs.parse(ref)
            if not p.digest and p.name in img.names:
                by_name = p.name
        if by_name is None and len(img.names) > 1 and not force:
            raise ImageError(f"image {img.short_id} has {len(img.names)} names ({', '.join(img.names)})",
                             hint="remove it by name, or force with `minictr rmi -f`")
        done = []
        with self.lock():
            index = self.read_index()
            keep = []
            for e in index["manifests"]:
                name = (e.get("annotations") or {}).get(oci.REF_NAME)
                if e.get("digest") == img.manifest_digest and (by_name is None or name == by_name):
                    done.append(f"Untagged: {name}" if name else f"Deleted: {img.id}")
                    continue
                keep.append(e)
            if not any(e.get("digest") == img.manifest_digest for e in keep):
                if not any(d.startswith("Deleted") for d in done):
                    done.append(f"Deleted: {img.id}")
            index["manifests"] = keep
            self._write_index(index)
        self.gc(keep_layers=keep_layers)
        return done

    def gc(self, keep_layers: "set[str] | frozenset[str]" = frozenset()) -> dict:
        """Remove blobs and unpacked layers no image refers to, and stale temp files (see gc.py).

        ``keep_layers``: names of layer dirs still used by containers (``gc.layers_in_use``).
        """
        from .gc import collect
        return collect(self, keep_layers)
