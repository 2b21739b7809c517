"""L1: the records of an image: ``Image`` (one manifest, its config, its names) and its views.

An OCI image is a **manifest** (the config's descriptor and the layers'
descriptors, bottom first) and a **config** (the platform, the history, the
layers' uncompressed digests ``rootfs.diff_ids``, and the ``config`` part that
a runtime uses: Entrypoint, Cmd, Env, WorkingDir, User, ...). ``Image`` holds
both documents as the store read them, and derives what the commands show:
the id (the config's digest, as docker shows it), the size, the creation
time, the platform; ``inspect_image`` gives ``docker image inspect``'s JSON.

Nothing here reads or writes the disk: store.py does.

Specs: the OCI image spec's manifest.md, config.md and descriptor.md; RFC 3339
(the ``created`` time, as Go writes it); docker-image-inspect(1).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (the run path skips it)
if TYPE_CHECKING:
    import datetime as _dt

from ..record import Factory, Record

#: The image ``minictr run`` uses when none is named, built offline (default.py).
DEFAULT_IMAGE = "busybox:latest"


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
    import re
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
