"""L1: verify the image store (``minictr image check``) and repair one that lost a blob.

``check`` walks what index.json promises, as an fsck would::

    index.json -> manifest blob -> config blob
                                -> layer blobs

and says, one line per problem, what is missing or does not hash to its
digest, which blobs are corrupt, and what dead processes left behind
(leases, temp files, half-unpacked layers). An empty list is a clean store.

minictr itself never leaves the index naming a missing blob (store.py: blobs
first, the index last, under the lock). A blob can still vanish behind its
back (a hand-run ``rm``, a disk error). ``repair`` drops the index entries
whose manifest, config or layers are gone, so that ``images``, ``rmi`` and
``prune`` work again; ``image prune`` and ``rmi -f`` call it and print its
lines. The images must then be loaded or pulled again.

Specs and man pages: the OCI image spec's image-layout.md, manifest.md;
fsck(8) for the idea; proc(5) for the owners of leftovers (lease.py).
"""

from __future__ import annotations

import contextlib
import os

from ..errors import ImageError, InvalidImage
from . import oci

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .store import Store


def check_complete(store: "Store", manifest: dict, digest: str) -> None:
    """Raise InvalidImage unless the manifest's config and layers are all in the store (add_image, under its lock)."""
    if manifest.get("mediaType") in oci.INDEX_TYPES or "manifests" in manifest:
        raise InvalidImage(f"{digest} is an image index, not an image manifest",
                           hint="pick one platform's manifest from it")
    cfg = manifest.get("config") or {}
    wanted = [cfg] + list(manifest.get("layers") or [])
    for d in wanted:
        if not store.has_blob(oci.check_digest(d.get("digest"))):
            raise InvalidImage(f"image {digest} is incomplete: blob {d.get('digest')} is missing")
    config = store.read_json(cfg["digest"], "image config")
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    if len(diff_ids) != len(manifest.get("layers") or []):
        raise InvalidImage(f"image {digest} has {len(manifest.get('layers') or [])} layers "
                           f"but its config lists {len(diff_ids)} diff ids")


def _name(entry: dict) -> str:
    return (entry.get("annotations") or {}).get(oci.REF_NAME) or "<none>"


def _digest(descriptor: dict) -> str | None:
    """A descriptor's digest, or None when it is not a sha256 digest."""
    try:
        return oci.check_digest(descriptor.get("digest"))
    except ImageError:
        return None


def _missing(store: "Store", entry: dict) -> str | None:
    """Why this index entry's image is not whole (a blob is missing or unreadable), or None."""
    digest = _digest(entry)
    if digest is None:
        return f"its digest {entry.get('digest')!r} is not a sha256 digest"
    if not store.has_blob(digest):
        return f"its manifest blob {digest} is missing"
    try:
        manifest = store.read_json(digest, "manifest", verify=False)
    except ImageError as e:
        return str(e)
    descs = [manifest.get("config") or {}] + list(manifest.get("layers") or []) + list(manifest.get("manifests") or [])
    for d in descs:
        dd = _digest(d)
        if dd is None:
            return f"its manifest names a bad digest {d.get('digest')!r}"
        if not store.has_blob(dd):
            return f"blob {dd} is missing"
    return None


def check(store: "Store", *, hashes: bool = True) -> list[str]:
    """Every problem of the store, one line each; [] when it is clean.

    ``hashes``: also re-hash every blob (slow for big stores, but what fsck is for).
    """
    problems: list[str] = []
    if not store.root.is_dir():
        return problems
    with store.lock():
        try:
            entries = store.read_index()["manifests"]
        except ImageError as e:
            return [f"index.json: {e}"]
        if not isinstance(entries, list):
            return ["index.json: \"manifests\" is not a list"]
        for e in entries:
            if not isinstance(e, dict):
                problems.append(f"index.json: an entry is not an object: {e!r}")
                continue
            why = _missing(store, e)
            if why:
                problems.append(f"image {_name(e)} ({e.get('digest')}): {why}")
        if hashes:
            problems += [f"blob {d} is corrupt: its content does not hash to its name" for d in store.verify()]
        problems += leftovers(store)
    return problems


def leftovers(store: "Store") -> list[str]:
    """What dead processes left: leases, temp files and half-unpacked layers (prune removes them)."""
    import time
    from .gc import STALE_TMP_SECONDS
    from .lease import owner_alive, parse_tag
    out = []
    for d, what in ((store.root / "leases", "lease"), (store.tmp_dir, "temp file")):
        with contextlib.suppress(OSError):
            for name in sorted(os.listdir(d)):
                tag = parse_tag(name)
                if tag is None and time.time() - os.lstat(d / name).st_mtime < STALE_TMP_SECONDS:
                    continue  # an older minictr's file, maybe still being written
                if tag is None or not owner_alive(tag):
                    kind = "half-unpacked layer" if name.startswith("layer-") else what
                    out.append(f"{d.name}/{name}: a {kind} left by a dead process (`minictr image prune` removes it)")
    return out


def repair(store: "Store") -> list[str]:
    """Drop index entries whose blobs are gone; return one line per entry dropped."""
    lines: list[str] = []
    if not store.root.is_dir():
        return lines
    with store.lock():
        try:
            index = store.read_index()
        except ImageError:
            return lines
        keep = []
        for e in index["manifests"] if isinstance(index["manifests"], list) else []:
            why = _missing(store, e) if isinstance(e, dict) else "it is not an object"
            if why:
                lines.append(f"Dropped from the index: {_name(e) if isinstance(e, dict) else repr(e)}: {why}")
            else:
                keep.append(e)
        if lines:
            index["manifests"] = keep
            store._write_index(index)
    return lines
