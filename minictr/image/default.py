"""L1: build the default ``busybox`` image offline, in seconds.

No machine in the lab has to reach Docker Hub. BusyBox is one static binary
that is every Unix tool at once (it looks at ``argv[0]``), so a working image
is that binary, one symlink per tool ("applet"), and a minimal ``/etc``.

Where the binary comes from:

1. the host's busybox, if it is *static*: an ELF file without a ``PT_INTERP``
   program header has no dynamic loader and no libraries to bring along
   (see elf(5); Debian's busybox-static package installs one at /bin/busybox);
2. otherwise Debian's ``busybox-static`` package, fetched with
   ``apt-get download`` and unpacked with ``dpkg-deb -x``: nothing is installed.

``lookup_or_build(store, ref)`` is how ``minictr run`` (and ``tag``, ``save``)
find an image: the store's own ``lookup`` only looks, and this module builds
busybox first when the default image is asked for and missing.

The layer is built deterministically (names sorted, owner root, one fixed
mtime, gzip with no timestamp), so the same busybox always gives the same
layer digest and the same image id, and rebuilding is a no-op.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import io
import os
import shutil
import struct
import subprocess
import tarfile
import tempfile
from pathlib import Path

from ..errors import ImageError
from . import oci, refs
from .model import DEFAULT_IMAGE, Image
from .store import Store

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox", "/usr/lib/busybox/busybox", "/sbin/busybox")

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
learner:x:1000:1000:a non-root user for USER tests:/home/learner:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """\
root:x:0:
wheel:x:10:learner
users:x:100:learner
learner:x:1000:
nogroup:x:65534:
"""
HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
HOSTNAME = "minictr\n"

PT_INTERP = 3
APT_CACHE = "/var/cache/apt/archives"


def is_static_elf(path: str | os.PathLike) -> bool:
    """True for an ELF executable with no PT_INTERP header (no dynamic loader needed)."""
    try:
        with open(path, "rb") as f:
            ident = f.read(16)
            if ident[:4] != b"\x7fELF":
                return False
            is64 = ident[4] == 2
            end = "<" if ident[5] == 1 else ">"
            f.seek(0)
            hdr = f.read(64 if is64 else 52)
            if is64:
                phoff, = struct.unpack_from(end + "Q", hdr, 0x20)
                phentsize, phnum = struct.unpack_from(end + "HH", hdr, 0x36)
            else:
                phoff, = struct.unpack_from(end + "I", hdr, 0x1C)
                phentsize, phnum = struct.unpack_from(end + "HH", hdr, 0x2A)
            for i in range(phnum):
                f.seek(phoff + i * phentsize)
                p_type, = struct.unpack(end + "I", f.read(4))
                if p_type == PT_INTERP:
                    return False
            return phnum > 0
    except (OSError, struct.error):
        return False


def find_host_busybox() -> Path | None:
    seen = []
    which = shutil.which("busybox")
    for c in HOST_CANDIDATES + ((which,) if which else ()):
        p = Path(c)
        if p.is_file() and os.access(p, os.X_OK) and p.resolve() not in seen:
            seen.append(p.resolve())
            if is_static_elf(p):
                return p
    return None


def fetch_debian_busybox(workdir: Path, apt_cache: str | os.PathLike = APT_CACHE) -> Path:
    """``apt-get download busybox-static`` + ``dpkg-deb -x``: the binary, without installing anything.

    A .deb already in apt's cache is used without asking the network.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    debs = sorted(Path(apt_cache).glob("busybox-static_*.deb"))
    try:
        if not debs:
            subprocess.run(["apt-get", "download", "-q", "busybox-static"], cwd=workdir, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            debs = sorted(workdir.glob("busybox-static_*.deb"))
        if not debs:
            raise ImageError("apt-get download busybox-static gave no .deb")
        out = workdir / "deb"
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(out)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError as e:
        raise ImageError(f"no static busybox on this host and no {e.filename} to fetch one",
                         hint="install busybox-static (apt-get install busybox-static)") from None
    except subprocess.CalledProcessError as e:
        raise ImageError(f"could not fetch Debian's busybox-static: {(e.stderr or '').strip()[:200]}",
                         hint="install it with `apt-get install busybox-static`, or check the apt sources") from None
    binary = out / "bin" / "busybox"
    if not is_static_elf(binary):
        raise ImageError(f"{binary} from the busybox-static package is not a static ELF")
    return binary


def applets(busybox: Path) -> list[str]:
    out = subprocess.run([str(busybox), "--list"], check=True, capture_output=True, text=True).stdout
    return sorted({a.strip() for a in out.split() if a.strip() and a.strip() != "busybox" and "/" not in a})


def busybox_version(busybox: Path) -> str:
    out = subprocess.run([str(busybox)], capture_output=True, text=True).stdout
    words = out.split()
    return words[1].lstrip("v") if len(words) > 1 and words[0] == "BusyBox" else "unknown"


def _rfc3339(ts: float) -> str:
    return _dt.datetime.fromtimestamp(int(ts), _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_layer(busybox: Path, applet_names: list[str], mtime: int) -> bytes:
    """The rootfs as an uncompressed tar, every entry in sorted order, owned by root."""
    entries: list[tarfile.TarInfo] = []
    data: dict[str, bytes] = {}

    def add(name: str, kind: bytes, mode: int, *, uid: int = 0, gid: int = 0,
            content: bytes = b"", link: str = "") -> None:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, uid, gid, mtime
        ti.uname = ti.gname = "root" if uid == 0 else ""
        ti.linkname = link
        if kind == tarfile.REGTYPE:
            ti.size = len(content)
            data[name] = content
        entries.append(ti)

    for d, mode in [("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("home", 0o755),
                    ("proc", 0o555), ("root", 0o700), ("sys", 0o555), ("tmp", 0o1777),
                    ("usr", 0o755), ("usr/bin", 0o755), ("usr/sbin", 0o755), ("sbin", 0o755),
                    ("var", 0o755), ("var/tmp", 0o1777)]:
        add(d, tarfile.DIRTYPE, mode)
    add("home/learner", tarfile.DIRTYPE, 0o755, uid=1000, gid=1000)
    add("bin/busybox", tarfile.REGTYPE, 0o755, content=busybox.read_bytes())
    for a in applet_names:
        add(f"bin/{a}", tarfile.SYMTYPE, 0o777, link="busybox")
    for name, text in [("passwd", PASSWD), ("group", GROUP), ("hosts", HOSTS), ("hostname", HOSTNAME)]:
        add(f"etc/{name}", tarfile.REGTYPE, 0o644, content=text.encode())
    entries.sort(key=lambda t: t.name)

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for ti in entries:
            tar.addfile(ti, io.BytesIO(data[ti.name]) if ti.name in data else None)
    return buf.getvalue()


def gzip_deterministic(data: bytes) -> bytes:
    """gzip with no file name and mtime 0 in its header, so equal input gives equal bytes."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return buf.getvalue()


def build_default(store: Store | None = None, name: str = "busybox", *,
                  busybox: str | os.PathLike | None = None) -> Image:
    """Build the busybox image into ``store`` as ``NAME:latest`` and return it."""
    store = store or Store()
    with tempfile.TemporaryDirectory(prefix="minictr-busybox-") as tmp:
        if busybox is not None:
            src = Path(busybox)
            if not is_static_elf(src):
                raise ImageError(f"{src} is not a static ELF executable",
                                 hint="give a statically linked busybox, e.g. from Debian's busybox-static")
            origin = str(src)
        else:
            src = find_host_busybox()
            origin = str(src) if src else ""
            if src is None:
                src = fetch_debian_busybox(Path(tmp))
                origin = "debian busybox-static package"
        mtime = int(src.stat().st_mtime)
        version = busybox_version(src)
        tar = build_layer(src, applets(src), mtime)
        layer = gzip_deterministic(tar)

    created = _rfc3339(mtime)
    diff_id = oci.sha256_digest(tar)
    config = {
        "created": created,
        "architecture": oci.host_platform()["architecture"],
        "os": "linux",
        "config": {
            "Env": [PATH_ENV],
            "Cmd": ["sh"],
            "Labels": {
                "org.opencontainers.image.title": name,
                "org.opencontainers.image.version": version,
                "org.opencontainers.image.description": f"minictr's default image: busybox {version} from {origin}",
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": f"minictr image build-default (busybox {version}, {origin})"}],
    }
    variant = oci.host_platform().get("variant")
    if variant:
        config["variant"] = variant
    config_bytes = oci.canonical_json(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": oci.OCI_MANIFEST,
        "config": oci.descriptor(oci.OCI_CONFIG, config_bytes),
        "layers": [oci.descriptor(oci.OCI_LAYER_GZIP, layer)],
        "annotations": {oci.CREATED: created},
    }
    manifest_bytes = oci.canonical_json(manifest)
    with store.transaction():
        store.put_blob(layer)
        store.put_blob(config_bytes)
        digest = store.put_blob(manifest_bytes)
        return store.add_image(digest, [f"{name}:latest"], oci.OCI_MANIFEST)


def is_default_ref(ref: str) -> bool:
    """Whether ``ref`` names the default image by name (``busybox``, ``docker.io/library/busybox:latest``)."""
    try:
        return refs.parse(ref).name == DEFAULT_IMAGE and refs.parse(ref).digest is None
    except ValueError:
        return False


def lookup_or_build(store: Store, ref: str) -> Image:
    """Find ``ref`` in ``store``; build busybox first when it is the default image and missing.

    Any other missing image is ``ImageNotFound``, with the store's hint (pull, load, import).
    """
    img = store.find(ref)
    if img is not None:
        return img
    if is_default_ref(ref):
        return build_default(store)
    return store.lookup(ref)
