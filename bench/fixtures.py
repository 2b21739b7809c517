"""What the benchmark runs on: one busybox rootfs for everybody, an OCI bundle, a 500 MB image.

Everything lives under one work directory (default /tmp/minictr-bench), with
its own minictr store and runtime dir, so the benchmark never touches
/var/lib/minictr or /run/minictr, nor the tests of anybody else.

* ``store/``    a minictr image store: ``busybox`` (the default image, built
                offline) and ``busybox-500m`` (busybox + one 500 MB layer).
* ``rootfs/``   a plain copy of the busybox image's layer, exported from the
                store: the same files for minictr, runc, crun, bwrap and unshare.
* ``bundle/``   an OCI runtime bundle: ``runc spec``'s config.json, edited to
                run /bin/true without a terminal, with ``root.path`` = rootfs/.
                runc's default spec already drops capabilities and sets runc's
                masked and read-only paths, but has no seccomp section.
* ``bundle-seccomp/``  the same, plus ``linux.seccomp``: docker's default
                profile as dockerd would write it for a default container
                (``oci_seccomp``, built from minictr's copy of the profile).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

#: The checkout the benchmark runs from (and times).
REPO = Path(__file__).resolve().parent.parent
BIG_IMAGE = "busybox-500m"


def env_for(work: Path, repo: Path) -> dict:
    """The environment every benchmarked command runs in."""
    env = dict(os.environ, MINICTR_ROOT=str(work / "store"), MINICTR_RUNTIME_DIR=str(work / "run"),
               PYTHONPATH=str(repo))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its .pyc files; so do we
    return env


def minictr_command(py: str) -> list[str]:
    """How the benchmark starts minictr: the venv's ``minictr`` command (its
    shebang is the venv's python), as a user types it; ``python -m minictr``
    where there is no such script next to ``py``. (``-m`` costs 3-4 ms more:
    the interpreter imports runpy and importlib.util first; the table has a
    row for it too.)"""
    script = Path(py).parent / "minictr"
    return [str(script)] if script.exists() else [py, "-m", "minictr"]


def with_env(work: Path):
    """Point minictr's store at the work dir for code running in this process."""
    os.environ["MINICTR_ROOT"] = str(work / "store")
    os.environ["MINICTR_RUNTIME_DIR"] = str(work / "run")


def busybox_layer(work: Path) -> tuple[Path, Path]:
    """(the unpacked layer dir in the store's cache, the compressed layer blob) of ``busybox``."""
    from minictr import image
    from minictr.image import layers

    with_env(work)
    store = image.Store()
    img = image.lookup_or_build(store, "busybox")  # builds the default image offline when missing
    (desc,), (diff_id,) = img.layers, img.diff_ids
    return layers.ensure_layer(store, desc["digest"], diff_id), store.blob_path(desc["digest"])


def export_rootfs(work: Path) -> Path:
    """A plain directory copy of the busybox image's files (made once)."""
    rootfs = work / "rootfs"
    if not (rootfs / "bin" / "true").exists():
        layer, _blob = busybox_layer(work)
        shutil.rmtree(rootfs, ignore_errors=True)
        subprocess.run(["cp", "-a", str(layer), str(rootfs)], check=True)
        for d in ("proc", "dev", "sys", "tmp"):
            (rootfs / d).mkdir(exist_ok=True)
    return rootfs


def make_bundle(work: Path, rootfs: Path, args=("/bin/true",), *, name: str = "bundle",
                seccomp: dict | None = None) -> Path:
    """An OCI bundle for runc and crun, from ``runc spec`` with a few edits (and ``linux.seccomp``)."""
    bundle = work / name
    bundle.mkdir(parents=True, exist_ok=True)
    cfg_path = bundle / "config.json"
    cfg_path.unlink(missing_ok=True)
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    cfg = json.loads(cfg_path.read_text())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = list(args)
    cfg["root"] = {"path": str(rootfs), "readonly": False}  # minictr's root is writable too
    if seccomp is not None:
        cfg["linux"]["seccomp"] = seccomp
    cfg_path.write_text(json.dumps(cfg, indent=2))
    return bundle


def oci_seccomp(arch: str | None = None) -> dict:
    """docker's default seccomp profile as the OCI ``linux.seccomp`` that dockerd gives runc.

    dockerd resolves the profile for one container: the rules whose ``includes``
    and ``excludes`` match its capabilities (docker's 14, as minictr's default),
    the architecture and the kernel; the native architecture and its
    sub-architectures (x86 and x32 on x86_64). runc then compiles it with
    libseccomp. Built from minictr's copy of the profile (security/seccomp_default.json)
    by ``minictr.oci.seccomp.profile_to_oci``, the resolver ``minictr-runtime`` uses.
    """
    from minictr.oci.seccomp import profile_to_oci
    from minictr.security import capabilities

    return profile_to_oci("default", capabilities.DEFAULT, arch)


def build_big_image(work: Path, size_mb: int = 500, name: str = BIG_IMAGE) -> tuple[str, Path]:
    """busybox plus one uncompressed layer of ``size_mb`` MB of random data, in minictr's store.

    Built with the store's own API (put_blob_stream, add_image). Returns
    (image name, the big layer's blob path). Done once: later calls find it.
    """
    from minictr import image
    from minictr.image import oci

    with_env(work)
    store = image.Store()
    found = store.find(name)
    if found is not None:
        return name, store.blob_path(found.layers[-1]["digest"])
    base = image.lookup_or_build(store, "busybox")
    tar_path = work / f"layer-{size_mb}m.tar"
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tf:
        d = tarfile.TarInfo("data")
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        tf.addfile(d)
        chunk_mb = 50
        for i in range(size_mb // chunk_mb):
            ti = tarfile.TarInfo(f"data/blob{i:02d}.bin")
            ti.size, ti.mode = chunk_mb << 20, 0o644
            with open("/dev/urandom", "rb") as rnd:
                tf.addfile(ti, _Limited(rnd, ti.size))
    with store.transaction():
        digest, size = store.put_blob_file(tar_path)
        layer_desc = {"mediaType": oci.OCI_LAYER, "digest": digest, "size": size}
        config = json.loads(json.dumps(base.oci_config))
        config["rootfs"]["diff_ids"] = list(base.diff_ids) + [digest]  # uncompressed: diff id == digest
        config.setdefault("history", []).append({"created_by": f"minictr bench: {size_mb} MB of random data"})
        config_bytes = oci.canonical_json(config)
        manifest = {"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                    "config": oci.descriptor(oci.OCI_CONFIG, config_bytes),
                    "layers": list(base.layers) + [layer_desc]}
        manifest_bytes = oci.canonical_json(manifest)
        store.put_blob(config_bytes)
        store.add_image(store.put_blob(manifest_bytes), [f"{name}:latest"], oci.OCI_MANIFEST)
    tar_path.unlink()
    return name, store.blob_path(digest)


def drop_layer_cache(work: Path, blob: Path) -> None:
    """Forget an unpacked layer (the next run unpacks it again): for a cold-start figure."""
    from minictr.image import layers
    layers.remove_tree(work / "store" / "layers" / blob.name)


class _Limited:
    """A file object that reads at most ``n`` bytes from another one."""

    def __init__(self, f, n: int):
        self.f, self.left = f, n

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self.left:
            size = self.left
        data = self.f.read(size)
        self.left -= len(data)
        return data
