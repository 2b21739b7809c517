"""L1: garbage collection of the image store, and what containers still use.

What is garbage is decided from **roots**:

- ``index.json``: every manifest it names, and that manifest's config, layers
  (and, for an index, its manifests) are kept (``referenced_blobs``); every
  named image's ``rootfs.diff_ids`` keeps its unpacked layer directory
  (``referenced_diff_ids``);
- ``keep_layers``: layer directory names the caller says are in use. Today
  these are the overlay lowerdirs of existing containers (``layers_in_use``,
  from their saved configs); the caller (the CLI, which may read container
  state) passes them in, because this layer does not import the state module.

Everything else under ``blobs/sha256/`` and ``layers/`` is removed, and files
in ``tmp/`` older than ``STALE_TMP_SECONDS`` (a younger one may belong to a
pull running right now). ``collect`` holds the store's flock(2) while it
decides and removes, so an import that names its image under the same lock
is never half collected.

**The seam for leases.** ``collect(store, keep_layers=...)`` is the one place
that turns roots into deletions. A later lease (a running pull or build that
holds blobs before ``index.json`` names them) adds its digests to the roots
here, next to ``keep_layers``, and nothing else has to change.

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

#: Files in tmp/ younger than this may belong to a pull that is running: keep them.
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
        keep = referenced_blobs(store)
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
        if store.tmp_dir.is_dir():
            # only old leftovers: a younger file may belong to a pull running right now
            import time
            for p in store.tmp_dir.iterdir():
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
    """Containers made from ``img``: its layers are their lowerdirs, or their image ref resolves to it."""
    mine = {d.split(":", 1)[1] for d in img.diff_ids}  # their layer dir names, as layers.layer_dir names them
    users = []
    for st in states:
        lowers = ((st.config or {}).get("rootfs") or {}).get("lowers") or ()
        if lowers:
            if (_lowers_in(store, st) - {"empty"}) == mine and mine:
                users.append(st)
        else:
            path = ((st.config or {}).get("rootfs") or {}).get("path") or ""
            if not os.path.realpath(path).startswith(os.path.realpath(store.root) + os.sep):
                continue  # not a copy made from this store (a tarball, a directory, another store)
            try:
                found = store.find(st.image)
            except Exception:  # a tarball path, or a ref that no longer parses
                found = None
            if found is not None and found.manifest_digest == img.manifest_digest:
                users.append(st)
    return users
