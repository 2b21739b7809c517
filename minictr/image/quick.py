"""L1: find an image for ``minictr run`` quickly, or say "ask the store".

``minictr run busybox`` needs three small reads from the store (index.json,
the image's manifest, its config) and a look at the unpacked layer
directories. store.py and layers.py do that and everything else (references,
locks, pulls, gc), and importing them brings pathlib, re and json: about
10 ms, half of a whole container start on the machines in ``bench/``. This
module does only the common case, with ``os`` and ``leanjson``:

- the reference is a name as the store records it once ``:latest`` is added
  (``busybox``, ``busybox:1.36``, ``127.0.0.1:5000/demo:v1``);
- every layer is already unpacked in the store's layer cache;
- overlayfs can be used, and the lowerdir list fits in a mount(2) call.

For anything else ``find`` returns None and ``container.prepare`` asks the
full store, which also words the errors. tests/unit/test_image_quick.py checks
that both give the same image and the same root.

Layout: the store is an OCI image layout (image-spec's image-layout.md):
``index.json`` names manifests by digest; each blob lives at
``blobs/sha256/<hex>``; minictr keeps unpacked layers at ``layers/<hex of diff id>``.
"""

from __future__ import annotations

import os

from .. import leanjson
from ..config import Rootfs
from ..record import Record

DEFAULT_ROOT = "/var/lib/minictr"
REF_NAME = "org.opencontainers.image.ref.name"
#: mount(2) copies at most one page (4096 bytes, with its NUL) of filesystem options.
MOUNT_DATA_MAX = 4096
_HEX = frozenset("0123456789abcdef")


def store_root() -> str:
    """``$MINICTR_ROOT``, /var/lib/minictr for root, the user's XDG data dir otherwise (see minictr.paths)."""
    from ..paths import store_root as _root
    return _root()


def overlay_options(lowers, upper, work) -> str:
    """The option string an overlay mount of these dirs needs (lowers topmost first)."""
    return f"lowerdir={':'.join(str(l) for l in lowers)},upperdir={upper},workdir={work}"


class QuickImage(Record):
    """What ``run`` needs of an image: its config (Entrypoint, Cmd, Env, ...) and its layer dirs."""

    name: str                       # as the store records it: "busybox:latest"
    config: dict                    # the "config" part of the image config
    layer_dirs: tuple[str, ...]     # unpacked layers, bottom first
    id: str = ""                    # the image id: its config's digest


def find(ref: str, root: str | None = None, *, overlay: bool | None = None) -> QuickImage | None:
    """The image ``ref`` names, if this quick path can answer for sure; else None.

    The quick path serves overlay roots only. ``overlay`` says whether the
    caller will use overlayfs; None asks ``_overlay_usable()`` (root, no
    MINICTR_NO_OVERLAY, overlay in /proc/filesystems).
    """
    if not ref or "@" in ref or ref.startswith("sha256:") or ref != ref.strip():
        return None
    name = ref if ":" in ref.rsplit("/", 1)[-1] else ref + ":latest"
    root = root or store_root()
    try:
        index = _read_json(os.path.join(root, "index.json"))
        digest = next((e.get("digest") for e in index.get("manifests") or []
                       if (e.get("annotations") or {}).get(REF_NAME) == name), None)
        if not _is_digest(digest):
            return None
        manifest = _read_json(_blob(root, digest))
        config_digest = (manifest.get("config") or {}).get("digest")
        if not _is_digest(config_digest):
            return None
        config = _read_json(_blob(root, config_digest))
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        layers = manifest.get("layers") or []
    except (OSError, ValueError, AttributeError, TypeError):  # missing, unreadable or odd: the store will say
        return None
    if not diff_ids or len(layers) != len(diff_ids) or not all(_is_digest(d) for d in diff_ids):
        return None
    dirs = tuple(os.path.join(root, "layers", d[7:]) for d in diff_ids)
    if not all(os.path.isdir(d) for d in dirs):
        return None
    if not (_overlay_usable() if overlay is None else overlay):
        return None
    worst = overlay_options(dirs, os.path.join(root, "containers", "x" * 64, "upper"),
                            os.path.join(root, "containers", "x" * 64, "work"))
    if len(worst) >= MOUNT_DATA_MAX:
        return None
    return QuickImage(name=name, config=config.get("config") or {}, layer_dirs=dirs, id=config_digest)


def make_root(img: QuickImage, container_dir: str) -> Rootfs:
    """The directories of a container's overlay root, as ``layers.prepare_rootfs`` makes them."""
    for d in ("rootfs", "upper", "work"):
        os.mkdir(os.path.join(container_dir, d))
    os.chmod(os.path.join(container_dir, "upper"), 0o755)  # the upper dir's mode becomes the mode of "/"
    return Rootfs(path=os.path.join(container_dir, "rootfs"), lowers=tuple(reversed(img.layer_dirs)),
                  upper=os.path.join(container_dir, "upper"), work=os.path.join(container_dir, "work"),
                  userxattr=os.geteuid() != 0)


def _overlay_usable(euid: int | None = None, release: str | None = None) -> bool:
    """The quick half of ``layers.overlay_available``: root (or Linux 5.11+), no opt-out, overlay in /proc/filesystems.

    ``euid`` is the user who would mount (this process's effective uid when None);
    ``release`` the kernel's (``uname -r``) that an ordinary user's mount depends on.
    """
    if os.environ.get("MINICTR_NO_OVERLAY", "") not in ("", "0"):
        return False
    if (os.geteuid() if euid is None else euid) != 0 and not userns_overlay_supported(release):
        return False
    try:
        with open("/proc/filesystems") as f:
            return any(line.split()[-1:] == ["overlay"] for line in f)
    except OSError:
        return False


def userns_overlay_supported(release: str | None = None) -> bool:
    """Can an ordinary user mount overlayfs in a user namespace of their own? Linux 5.11 and later."""
    release = release or os.uname().release
    try:
        major, minor = (int("".join(ch for ch in part if ch.isdigit()) or 0) for part in release.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (5, 11)


def _is_digest(d) -> bool:
    return isinstance(d, str) and len(d) == 71 and d.startswith("sha256:") and _HEX.issuperset(d[7:])


def _blob(root: str, digest: str) -> str:
    return os.path.join(root, "blobs", "sha256", digest[7:])


def _read_json(path: str) -> dict:
    with open(path, "rb") as f:
        obj = leanjson.loads(f.read())
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a JSON object")
    return obj
