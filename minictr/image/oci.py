"""L1: the OCI image format as data: media types, descriptors, digests, platforms.

An image is three kinds of JSON document plus the layer tarballs, all stored
as *blobs* named by the sha256 of their bytes ("content addressing"):

    index.json ──> manifest ──> config      (Entrypoint, Cmd, Env, ... and the diff ids)
                           └──> layer, layer, ...  (tar or tar+gzip, bottom first)

A *descriptor* is how one document points at another: ``{"mediaType", "digest",
"size"}``. A layer's *digest* hashes the bytes as stored (often gzip); its
*diff id* (in the config) hashes the uncompressed tar.

Specs: https://github.com/opencontainers/image-spec (manifest.md, config.md,
image-layout.md, image-index.md, descriptor.md) and Docker's "Image Manifest
V2, Schema 2".
"""

from __future__ import annotations

import json
import os
import re

from ..errors import InvalidImage

# OCI media types
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"

# Docker "v2 schema 2" media types (what docker and most registries still serve)
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
LAYER_TYPES = (OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_LAYER_NONDIST_GZIP,
               DOCKER_LAYER_GZIP, DOCKER_FOREIGN_LAYER)

#: The annotation that names an image in an OCI layout's index.json.
REF_NAME = "org.opencontainers.image.ref.name"
CREATED = "org.opencontainers.image.created"

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")

# Go's GOARCH names, which OCI platforms use, from Python's machine names.
_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
           "armv7l": "arm", "armv6l": "arm", "i386": "386", "i686": "386",
           "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def sha256_digest(data: bytes) -> str:
    import hashlib  # lazy: loading OpenSSL costs milliseconds that `minictr run` does not need
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: object) -> str:
    """Return ``digest`` if it is a well-formed ``sha256:<64 hex>``; raise InvalidImage."""
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise InvalidImage(f"bad digest {digest!r}", hint="only sha256 digests are supported")
    return digest


def canonical_json(obj: object) -> bytes:
    """Stable bytes for a document we write, so its digest is stable too."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def descriptor(media_type: str, data: bytes, **extra) -> dict:
    d = {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data)}
    d.update(extra)
    return d


def host_platform() -> dict:
    """This machine as an OCI platform, e.g. ``{"os": "linux", "architecture": "amd64"}``."""
    machine = os.uname().machine
    p = {"os": "linux", "architecture": _GOARCH.get(machine, machine)}
    if machine.startswith("armv"):
        p["variant"] = "v" + machine[4]
    elif p["architecture"] == "arm64":
        p["variant"] = "v8"
    return p


def platform_matches(candidate: dict | None, want: dict | None = None) -> bool:
    """Does a manifest list entry's platform run here? (variant only checked when both give it)."""
    want = want or host_platform()
    if not candidate:
        return False
    if candidate.get("os") != want["os"] or candidate.get("architecture") != want["architecture"]:
        return False
    cv, wv = candidate.get("variant"), want.get("variant")
    return not (cv and wv and cv != wv)


def parse_json(data: bytes, what: str) -> dict:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidImage(f"{what} is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise InvalidImage(f"{what} is not a JSON object")
    return obj


def check_image_config(doc: dict, where: str) -> dict:
    """Refuse an image config whose fields have the wrong JSON types; return ``doc``.

    ``where`` names the image or file in the message. The ``config`` part's
    rules are ``config.image_config_problems``; here also ``rootfs.diff_ids``.
    """
    from ..config import image_config_problems

    problems = image_config_problems(doc.get("config"))
    rootfs = doc.get("rootfs")
    if rootfs is not None and not isinstance(rootfs, dict):
        problems.append("rootfs must be an object")
    elif rootfs is not None:
        ids = rootfs.get("diff_ids")
        if ids is not None and not (isinstance(ids, list) and all(isinstance(d, str) for d in ids)):
            problems.append("rootfs.diff_ids must be a list of digests")
    if problems:
        raise InvalidImage(f"{where}: bad image config: {'; '.join(problems)}",
                           hint="the image was built or edited wrongly; rebuild it, or fix its config JSON")
    return doc


def descriptors(doc: dict, key: str, where: str) -> list[dict]:
    """``doc[key]`` as a list of descriptors (objects); absent is empty. Raises InvalidImage."""
    items = doc.get(key)
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(d, dict) for d in items):
        raise InvalidImage(f"{where}: {key!r} must be a list of descriptors (JSON objects), "
                           f"not {json.dumps(items)[:60]}")
    return items
