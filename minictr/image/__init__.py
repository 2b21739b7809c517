"""L1: container images: the local OCI store, the default busybox, layers and rootfs.

The pieces, each in its own module::

    oci.py       media types, descriptors, digests, the host platform
    refs.py      "busybox" == "docker.io/library/busybox:latest" (docker's normalisation)
    model.py     the records: Image (manifest, config, names) and its views (inspect)
    blobs.py     verified, atomic blob I/O (blobs/sha256/, tmp/)
    store.py     the OCI image layout on disk: index.json, names, lookup, rmi, the lock
    gc.py        what is garbage, and which layers containers still use
    default.py   build the default busybox image offline; lookup_or_build
    changes.py   Dockerfile instructions for ``import --change``
    layers.py    the layer cache and a container's rootfs (overlay, or a copy)
    quick.py     the lean lookup of ``minictr run``'s common case

Typical use (what ``minictr run`` does)::

    store = image.Store()                            # $MINICTR_ROOT or /var/lib/minictr
    img = image.lookup_or_build(store, "busybox")    # builds busybox if it is missing
    rootfs = image.prepare_rootfs(store, img, container_dir)

``store.lookup(ref)`` only looks: it never builds.

Spec: https://github.com/opencontainers/image-spec
"""

from __future__ import annotations

__all__ = ["DEFAULT_IMAGE", "Image", "Store", "store_root", "build_default", "lookup_or_build", "prepare_rootfs",
           "overlay_available"]


def __getattr__(name: str):
    """``image.Store`` and friends, imported on first use (PEP 562).

    Importing store.py brings pathlib, re and json; ``minictr run`` usually
    needs only quick.py, and a package's ``__init__`` runs on every import of
    one of its modules.
    """
    if name in ("DEFAULT_IMAGE", "Image"):
        from . import model
        return getattr(model, name)
    if name in ("Store", "store_root"):
        from . import store
        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_default(store: "Store | None" = None, name: str = "busybox", **kw) -> "Image":
    """Build the default busybox image into ``store`` (see default.py)."""
    from .default import build_default as _build
    return _build(store, name, **kw)


def lookup_or_build(store: "Store", ref: str) -> "Image":
    """``store.find(ref)``, or else ``default.lookup_or_build``: busybox is built when missing.

    The find comes first so that finding an image does not import default.py's
    build tools (gzip, tarfile, subprocess).
    """
    img = store.find(ref)
    if img is not None:
        return img
    from .default import lookup_or_build as _lookup_or_build
    return _lookup_or_build(store, ref)


def prepare_rootfs(store: "Store", img: "Image", container_dir, *, overlay: bool | None = None):
    """Directories for a container's ``/``; returns a ``config.Rootfs`` (see layers.py)."""
    from .layers import prepare_rootfs as _prepare
    return _prepare(store, img, container_dir, overlay=overlay)


def overlay_available(euid: int | None = None) -> bool:
    from .layers import overlay_available as _ov
    return _ov(euid)
