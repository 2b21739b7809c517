"""L1: garbage collection of the image store, and what containers still use.

What is garbage is decided from **roots**:

- ``index.json``: every manifest it names, and that manifest's config, layers
  (and, for an index, its manifests) are kept (``referenced_blobs``); every
  named image's ``rootfs.diff_ids`` keeps its unpacked layer directory
  (``referenced_diff_ids``);
- ``keep_layers``: layer directory names the caller says are in use. Today
  these are the overlay lowerdirs of existing containers (``layers_in_use``,
  from their saved configs); the caller (the CLI, which may read container
  state) passes them in, because this layer does not import the state module;
- **leases** (lease.py): the digests that operations in progress (load,
  pull, import, build) hold before ``index.json`` names their image. A lease
  whose owner (PID and start time) died is removed, and its blobs become
  garbage like any other.

Everything else under ``blobs/sha256/`` and ``layers/`` is removed, and in
``tmp/`` every file or half-unpacked layer whose owner (tagged in its name:
``w-<pid>.<start>-...``, ``layer-<pid>.<start>-...``) is dead; an untagged
file only when older than ``STALE_TMP_SECONDS``. ``collect`` holds the
store's flock(2) while it decides and removes.

**Why leases** (and not one lock held across a whole load, or blobs staged
per operation): a load of a 400 MB archive takes seconds to minutes; holding
the store lock that long would stall every ``run`` of an uncached image,
``images``, ``rmi`` and ``prune`` behind it. Staging blobs per operation and
moving them at the end costs a second copy or a rename per blob, and still
needs the same "which blobs are in flight" answer at the moment of the move.
A lease costs one line per blob, written under the lock just before the
blob is published (``Store._publish``, ``Store.claim``); gc decides under the
same lock, so it either runs before the blob exists or sees the lease. The
lease lives only as long as its owner: a killed load holds nothing, and its
partial blobs (tagged temp files) go at the next prune or load.

``containers_using(store, img, states)`` answers ``rmi``'s question: which
containers were made from this image (its layers are their lowerdirs, or, for
a copied root, their image reference still resolves to it).

Specs and man pages: the OCI image spec's image-layout.md (what index.json
references), flock(2); docker-image-prune(1), docker-rmi(1).
"""

from __future__ import annotations

import contextlib
import os

from ..errors import ImageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from .model import Image
    from .store import Store

#: Untagged files in tmp/ (from before owners were recorded) younger than this are kept.
STALE_TMP_SECONDS = 3600


def referenced_blobs(store: "Store") -> set[str]:
    """Digests index.json reaches: its manifests and their configs, layers and sub-manifests."""
    refd: set[str] = set()
    for e in store.read_index()["manifests"]:
        refd.add(e["digest"])
        with contextlib.suppress(ImageError, OSError):
            m = store.read_json(e["digest"], "manifest")
            for d in [m.get("config") or {}] + list(m.get("layers") or []) + list(m.get("manifests") or []):
                if d.get("digest"):
                    refd.add(d["digest"])
    return refd


def referenced_diff_ids(store: "Store") -> set[str]:
    """The diff ids (uncompressed layer digests) of every image in the store."""
    out: set[str] = set()
    for img in store.images():
        out.update(img.diff_ids)
    return out


def collect(store: "Store", keep_layers: "set[str] | frozenset[str]" = frozenset()) -> dict:
    """Remove blobs and unpacked layers no root refers to, and stale temp files.

    ``keep_layers``: names of layer dirs still used by containers (``layers_in_use``).
    Returns how many of each were removed: ``{"blobs": N, "layers": N, "tmp": N}``.
    """
    removed = {"blobs": 0, "layers": 0, "tmp": 0}
    if not store.root.is_dir():
        return removed
    with store.lock():
        from .lease import live_leases
        keep = referenced_blobs(store) | live_leases(store.root / "leases", remove_dead=True)
        if store.blobs_dir.is_dir():
            for p in store.blobs_dir.iterdir():
                if "sha256:" + p.name not in keep:
                    p.unlink(missing_ok=True)
                    removed["blobs"] += 1
        keep_layers = {d.split(":", 1)[1] for d in referenced_diff_ids(store)} | set(keep_layers)
        if store.layers_dir.is_dir():
            from ..fsutil import remove_tree
            for p in store.layers_dir.iterdir():
                if p.name in keep_layers or p.name.startswith(".") or p.name == "empty" or not p.is_dir():
                    continue
                remove_tree(p)
                removed["layers"] += 1
        removed["tmp"] = sweep_tmp(store)
    return removed


def sweep_tmp(store: "Store") -> int:
    """Remove the temp files and half-unpacked layers of dead owners (and old untagged ones).

    ``load`` and the unpacking of a layer call this too, so a killed process's
    leftovers go at the next load or first run, not only at ``image prune``.
    Returns how many entries were removed.
    """
    import time
    from ..fsutil import remove_tree
    from .lease import owner_alive, parse_tag
    n = 0
    try:
        entries = list(store.tmp_dir.iterdir())
    except OSError:
        return 0
    for p in entries:
        with contextlib.suppress(OSError):
            tag = parse_tag(p.name)
            if tag is not None:
                if owner_alive(tag):
                    continue
            elif time.time() - p.lstat().st_mtime < STALE_TMP_SECONDS:
                continue
            if p.is_dir() and not p.is_symlink():
                remove_tree(p)
            else:
                p.unlink()
            n += 1
    return n


# ---------------------------------------------------------------- in use by containers
def _lowers_in(store: "Store", st) -> set[str]:
    """The names of this store's layer dirs that a container has as lowerdirs (another store's do not count)."""
    base = os.path.realpath(store.layers_dir)
    out = set()
    for lower in ((st.config or {}).get("rootfs") or {}).get("lowers") or ():
        if os.path.dirname(os.path.realpath(lower)) == base:
            out.add(os.path.basename(lower))
    return out


def layers_in_use(store: "Store", states: list) -> set[str]:
    """Layer dir names that containers (their saved states) have as overlay lowerdirs: gc must keep them."""
    used: set[str] = set()
    for st in states:
        used |= _lowers_in(store, st)
    return used


def containers_using(store: "Store", img: "Image", states: list) -> list:
    """Containers made from ``img``, as docker decides: the image id recorded in their state.

    A container records the id (config digest) of the image it was made from
    (``State.image_id``). Images that merely share layers (busybox, and an
    image that only changes busybox's config) are not confused. A state from
    before image ids were recorded falls back to its image reference, if it
    still resolves in this store to the same manifest.

    One image id can have several manifests in the store (the same config
    loaded from a docker-archive and from an OCI archive); while another of
    them stays, the image the containers were made from stays too, so
    removing this one hurts no container.
    """
    if any(other.id == img.id and other.manifest_digest != img.manifest_digest for other in store.images()):
        return []
    users = []
    for st in states:
        image_id = getattr(st, "image_id", "") or ((st.config or {}).get("image_id") or "")
        if image_id:
            if image_id == img.id and _from_this_store(store, st):
                users.append(st)
            continue
        if not _from_this_store(store, st):
            continue
        try:
            found = store.find(st.image)
        except Exception:  # a tarball path, or a ref that no longer parses
            found = None
        if found is not None and found.manifest_digest == img.manifest_digest:
            users.append(st)
    return users


def _from_this_store(store: "Store", st) -> bool:
    """Was the container's root made from this store (its lowerdirs or its copied root live here)?"""
    rootfs = (st.config or {}).get("rootfs") or {}
    if rootfs.get("lowers"):
        return bool(_lowers_in(store, st))
    path = rootfs.get("path") or ""
    return not path or os.path.realpath(path).startswith(os.path.realpath(store.root) + os.sep)
