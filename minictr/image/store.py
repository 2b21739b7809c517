"""L1: the local image store, an OCI image layout on disk.

Layout under ``store_root()`` (``$MINICTR_ROOT``, default ``/var/lib/minictr``)::

    oci-layout                {"imageLayoutVersion": "1.0.0"}
    index.json                one entry per image name, the name in the
                              org.opencontainers.image.ref.name annotation
    blobs/sha256/<hex>        manifests, configs and layers, named by their digest
    layers/<diff id hex>/     each layer unpacked once, shared by every container (layers.py)
    tmp/                      files being written; renamed into place when complete
    .lock                     flock(2) taken while index.json or the layer cache changes

This is the directory layout of the OCI image-layout spec, so ``skopeo
inspect oci:$MINICTR_ROOT:busybox:latest`` and ``umoci`` can read it too.

Two rules keep it consistent:

* **Content addressing, verified on the way in.** A blob is hashed while it is
  written and lands under its name only if the hash matches what the sender
  promised. A reader can trust ``blobs/sha256/X`` to hash to X.
* **Atomic writes.** Everything is written to ``tmp/`` first, then renamed
  (rename(2) is atomic within one file system). A crash or a failed pull
  leaves at worst an unnamed file in ``tmp/``, never a half blob or a
  half-written index. ``Store.transaction()`` also removes the complete but
  unreferenced blobs of an operation that failed.

Spec: https://github.com/opencontainers/image-spec/blob/main/image-layout.md
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path
from collections.abc import Callable, Iterator

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (the run path skips it)
if TYPE_CHECKING:
    import datetime as _dt
    from typing import BinaryIO

from ..errors import ImageError, ImageNotFound, InvalidImage
from ..record import Factory, Record
from . import oci, refs
from .quick import DEFAULT_ROOT

DEFAULT_IMAGE = "busybox:latest"
_HEX_RE = re.compile(r"^(?:sha256:)?([a-f0-9]{1,64})$")
_CHUNK = 1 << 20
STALE_TMP_SECONDS = 3600


def store_root() -> Path:
    """``$MINICTR_ROOT`` or /var/lib/minictr."""
    return Path(os.environ.get("MINICTR_ROOT") or DEFAULT_ROOT)


class Image(Record, frozen=False):
    """One image in the store (one manifest), with every name that points at it.

    ``id`` is the digest of the image's config, as docker shows it
    (``sha256:...``; ``short_id`` is its first 12 hex digits).
    ``config`` is the config's ``"config"`` part: Entrypoint, Cmd, Env,
    WorkingDir, User, ExposedPorts, Labels, ...
    """

    ref: str
    id: str
    manifest_digest: str
    manifest: dict
    oci_config: dict
    names: list[str] = Factory(list)

    @property
    def config(self) -> dict:
        return self.oci_config.get("config") or {}

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]

    @property
    def diff_ids(self) -> list[str]:
        return list((self.oci_config.get("rootfs") or {}).get("diff_ids") or [])

    @property
    def layers(self) -> list[dict]:
        """The layer descriptors, bottom layer first."""
        return list(self.manifest.get("layers") or [])

    @property
    def size(self) -> int:
        """Bytes the image takes in the store (config and layers, as stored)."""
        return int(self.manifest.get("config", {}).get("size", 0)) + sum(int(l.get("size", 0)) for l in self.layers)

    @property
    def created(self) -> "_dt.datetime | None":
        return parse_time(self.oci_config.get("created"))

    @property
    def platform(self) -> str:
        c = self.oci_config
        s = f"{c.get('os', '?')}/{c.get('architecture', '?')}"
        return s + (f"/{c['variant']}" if c.get("variant") else "")


def inspect_image(img: Image) -> dict:
    """``docker image inspect``'s JSON, plus the manifest it came from."""
    c = img.oci_config
    repo_digests = []
    for n in img.names:
        d = f"{n.rpartition(':')[0]}@{img.manifest_digest}"
        if d not in repo_digests:
            repo_digests.append(d)
    return {
        "Id": img.id,
        "RepoTags": list(img.names),
        "RepoDigests": repo_digests,
        "Created": c.get("created", ""),
        "Author": c.get("author", ""),
        "Comment": next((h.get("comment") for h in reversed(c.get("history") or []) if h.get("comment")), ""),
        "Config": img.config,
        "Architecture": c.get("architecture", ""),
        **({"Variant": c["variant"]} if c.get("variant") else {}),
        "Os": c.get("os", ""),
        "Size": img.size,
        "RootFS": {"Type": (c.get("rootfs") or {}).get("type", "layers"), "Layers": img.diff_ids},
        "History": c.get("history") or [],
        "Manifest": {"Digest": img.manifest_digest, "MediaType": img.manifest.get("mediaType", ""),
                     "Layers": img.layers},
    }


def parse_time(text: object) -> "_dt.datetime | None":
    """RFC 3339 as Go writes it (nanoseconds, ``Z``) -> an aware datetime, or None."""
    import datetime as _dt
    if not isinstance(text, str) or not text:
        return None
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", text.strip())
    if not m:
        return None
    frac = (m.group(2) or "")[:7]  # datetime takes at most microseconds
    tz = m.group(3) or "Z"
    try:
        return _dt.datetime.fromisoformat(m.group(1) + frac + ("+00:00" if tz == "Z" else tz))
    except ValueError:
        return None


class Store:
    """An OCI image layout used as minictr's image store."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else store_root()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # -- paths ---------------------------------------------------------
    @property
    def blobs_dir(self) -> Path:
        return self.root / "blobs" / "sha256"

    @property
    def layers_dir(self) -> Path:
        return self.root / "layers"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def index_path(self) -> Path:
        return self.root / "index.json"

    def blob_path(self, digest: str) -> Path:
        return self.blobs_dir / oci.check_digest(digest).split(":", 1)[1]

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

    def _unwritable(self, e: OSError) -> ImageError:
        return ImageError(f"cannot write the image store at {self.root}: {e.strerror or e}",
                          hint="run as root (sudo), or point MINICTR_ROOT at a directory you own")

    @staticmethod
    def _empty_index() -> dict:
        return {"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": []}

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive flock(2) on the store, for read-modify-write of index.json.

        Why flock: two ``minictr run busybox`` at once must not both rewrite
        index.json (one would lose the other's entry). The lock goes away
        with the process, so a crash never leaves the store locked.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise self._unwritable(e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- writing -------------------------------------------------------
    def _tmpfile(self) -> tuple[int, Path]:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        import tempfile
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="w-")
        return fd, Path(name)

    def _atomic_write(self, path: Path, data: bytes) -> None:
        """Write ``data`` to a temp file, fsync it, then rename it over ``path``."""
        fd, tmp = self._tmpfile()
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
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
        if not self.has_blob(actual):
            self.ensure()
            self._atomic_write(self.blob_path(actual), data)
            self._note_new(actual)
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
            if self.has_blob(actual):
                tmp.unlink()
            else:
                os.replace(tmp, self.blob_path(actual))
                self._note_new(actual)
            return actual, n
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def put_blob_file(self, path: str | os.PathLike, digest: str | None = None) -> tuple[str, int]:
        with open(path, "rb") as f:
            return self.put_blob_stream(f, digest)

    def read_blob(self, digest: str, *, verify: bool = True) -> bytes:
        """The bytes of a (small) blob, re-hashed against its name unless ``verify=False``.

        Lookups on the ``minictr run`` path pass ``verify=False``: every blob was
        verified when it came in and was renamed into place whole, and hashing
        costs start-up time. ``Store.verify()`` rechecks everything on demand.
        """
        try:
            data = self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise InvalidImage(f"blob {digest} is missing from the store at {self.root}",
                               hint="remove the image with `minictr rmi` and load or pull it again") from None
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

    # -- transactions: nothing half-done --------------------------------
    _new_blobs: list | None = None

    def _note_new(self, digest: str) -> None:
        if self._new_blobs is not None:
            self._new_blobs.append(digest)

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Store"]:
        """Undo an import that fails: new blobs not referenced by index.json are removed."""
        outer = self._new_blobs
        self._new_blobs = [] if outer is None else outer
        try:
            yield self
        except BaseException:
            if outer is None:
                keep = self._referenced_blobs()
                for d in self._new_blobs:
                    if d not in keep:
                        self.blob_path(d).unlink(missing_ok=True)
            raise
        finally:
            if outer is None:
                self._new_blobs = None

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
        manifest = self.read_json(manifest_digest, "manifest")
        media_type = media_type or manifest.get("mediaType") or oci.OCI_MANIFEST
        self._check_complete(manifest, manifest_digest)
        names = [refs.parse(n).name for n in names]
        size = self.blob_path(manifest_digest).stat().st_size
        with self.lock():
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

    def _check_complete(self, manifest: dict, digest: str) -> None:
        if manifest.get("mediaType") in oci.INDEX_TYPES or "manifests" in manifest:
            raise InvalidImage(f"{digest} is an image index, not an image manifest",
                               hint="pick one platform's manifest from it")
        cfg = manifest.get("config") or {}
        wanted = [cfg] + list(manifest.get("layers") or [])
        for d in wanted:
            if not self.has_blob(oci.check_digest(d.get("digest"))):
                raise InvalidImage(f"image {digest} is incomplete: blob {d.get('digest')} is missing")
        config = self.read_json(cfg["digest"], "image config")
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        if len(diff_ids) != len(manifest.get("layers") or []):
            raise InvalidImage(f"image {digest} has {len(manifest.get('layers') or [])} layers "
                               f"but its config lists {len(diff_ids)} diff ids")

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

    def lookup(self, ref: str, *, build_default: bool = True) -> Image:
        """Find ``ref`` or raise ImageNotFound; builds the default busybox when it is asked for and missing."""
        img = self.find(ref)
        if img is not None:
            return img
        if build_default and is_default_ref(ref):
            from .default import build_default as _build
            return _build(self)
        raise ImageNotFound(f"image {ref!r} not found in the store at {self.root}",
                            hint="see `minictr images`; get it with `minictr pull`, `minictr load -i FILE` "
                                 "or `minictr import ROOTFS.tar NAME`")

    # -- removing ------------------------------------------------------
    def remove(self, ref: str, *, force: bool = False, keep_layers: "set[str] | frozenset[str]" = frozenset()) -> list[str]:
        """``docker rmi``: untag a name, or delete an image by id. Returns what was done, as lines.

        By id, an image with several names needs ``force``. The image's blobs
        and unpacked layers are removed once nothing refers to them;
        ``keep_layers`` (layer dir names) are kept anyway, because a
        container still has them as its lowerdirs.
        """
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

    def _referenced_blobs(self) -> set[str]:
        refd: set[str] = set()
        for e in self.read_index()["manifests"]:
            refd.add(e["digest"])
            with contextlib.suppress(ImageError, OSError):
                m = self.read_json(e["digest"], "manifest")
                for d in [m.get("config") or {}] + list(m.get("layers") or []) + list(m.get("manifests") or []):
                    if d.get("digest"):
                        refd.add(d["digest"])
        return refd

    def referenced_diff_ids(self) -> set[str]:
        out: set[str] = set()
        for img in self.images():
            out.update(img.diff_ids)
        return out

    def gc(self, keep_layers: "set[str] | frozenset[str]" = frozenset()) -> dict:
        """Remove blobs and unpacked layers no image refers to, and stale temp files.

        ``keep_layers``: names of layer dirs still used by containers (see ``cli_images``).
        """
        removed = {"blobs": 0, "layers": 0, "tmp": 0}
        if not self.root.is_dir():
            return removed
        with self.lock():
            keep = self._referenced_blobs()
            if self.blobs_dir.is_dir():
                for p in self.blobs_dir.iterdir():
                    if "sha256:" + p.name not in keep:
                        p.unlink(missing_ok=True)
                        removed["blobs"] += 1
            keep_layers = {d.split(":", 1)[1] for d in self.referenced_diff_ids()} | set(keep_layers)
            if self.layers_dir.is_dir():
                from ..fsutil import remove_tree
                for p in self.layers_dir.iterdir():
                    if p.name in keep_layers or p.name.startswith(".") or p.name == "empty" or not p.is_dir():
                        continue
                    remove_tree(p)
                    removed["layers"] += 1
            if self.tmp_dir.is_dir():
                # only old leftovers: a younger file may belong to a pull running right now
                import time
                for p in self.tmp_dir.iterdir():
                    with contextlib.suppress(OSError):
                        if time.time() - p.lstat().st_mtime < STALE_TMP_SECONDS:
                            continue
                        if p.is_dir() and not p.is_symlink():
                            from ..fsutil import remove_tree
                            remove_tree(p)
                        else:
                            p.unlink()
                        removed["tmp"] += 1
        return removed


def is_default_ref(ref: str) -> bool:
    try:
        return refs.parse(ref).name == DEFAULT_IMAGE and refs.parse(ref).digest is None
    except ValueError:
        return False
