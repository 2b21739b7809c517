"""Build small synthetic images in a Store for the image tests (no root needed)."""

from __future__ import annotations

import gzip
import io
import tarfile

from minictr.image import oci


def make_tar(files: dict[str, bytes | str | None]) -> bytes:
    """name -> bytes (a file), None (a dir), or "->target" (a symlink)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in files.items():
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_600_000_000
            if content is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(ti)
            elif isinstance(content, str) and content.startswith("->"):
                ti.type, ti.linkname = tarfile.SYMTYPE, content[2:]
                tar.addfile(ti)
            else:
                data = content.encode() if isinstance(content, str) else content
                ti.size, ti.mode = len(data), 0o644
                tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def add_image(store, layers: list[dict], *, name: str | None = "test:latest", config: dict | None = None,
              created: str = "2024-01-02T03:04:05.123456789Z", gz: bool = True):
    """Put layers (each a make_tar dict), a config and a manifest in ``store``; name it."""
    blobs, diff_ids = [], []
    for files in layers:
        tar = make_tar(files)
        diff_ids.append(oci.sha256_digest(tar))
        blob = gzip.compress(tar, mtime=0) if gz else tar
        store.put_blob(blob)
        blobs.append(oci.descriptor(oci.OCI_LAYER_GZIP if gz else oci.OCI_LAYER, blob))
    cfg = {"created": created, "architecture": "amd64", "os": "linux",
           "config": config if config is not None else {"Cmd": ["sh"]},
           "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cfg_bytes = oci.canonical_json(cfg)
    store.put_blob(cfg_bytes)
    manifest = {"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                "config": oci.descriptor(oci.OCI_CONFIG, cfg_bytes), "layers": blobs}
    digest = store.put_blob(oci.canonical_json(manifest))
    return store.add_image(digest, [name] if name else [])
