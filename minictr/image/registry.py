"""L1: pull images from a registry with the OCI distribution API (urllib only).

A pull is a handful of HTTP GETs (OCI distribution-spec, "Pulling")::

    GET /v2/<repo>/manifests/<tag|digest>   Accept: OCI + Docker v2 manifest and index types
        -> an index / manifest list?  pick this host's platform, GET that manifest by digest
    GET /v2/<repo>/blobs/<config digest>    the image config
    GET /v2/<repo>/blobs/<layer digest>     each layer (often a redirect to a CDN)

Every body is hashed and must match the digest it was asked by (and the
``Docker-Content-Digest`` header for a manifest fetched by tag).

Auth: a registry may answer ``401`` with ``WWW-Authenticate: Bearer
realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"``.
We then GET the realm with those parameters, anonymously, and retry with
``Authorization: Bearer <token>`` (the Docker "token authentication" spec).
The header is added as *unredirected*, so it is not sent on to the CDN a blob
redirects to.

Transport: https, except plain http for registries on 127.0.0.0/8,
``localhost`` or ``::1``, and https-then-http (no certificate check) with
``insecure=True``, as docker's ``insecure-registries`` does.

Everything lands in the store inside a transaction: a failed pull leaves no
new blobs and no name.

Specs: https://github.com/opencontainers/distribution-spec/blob/main/spec.md,
https://distribution.github.io/distribution/spec/auth/token/
"""

from __future__ import annotations

import ipaddress
import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Callable

from ..errors import ImageError, ImageNotFound, InvalidImage
from . import oci, refs
from .model import Image
from .store import Store

ACCEPT_MANIFESTS = ", ".join([oci.OCI_INDEX, oci.OCI_MANIFEST, oci.DOCKER_LIST, oci.DOCKER_MANIFEST])
DOCKER_HUB_API = "registry-1.docker.io"
TIMEOUT = 60
USER_AGENT = "minictr/0.1 (a teaching container runtime)"
MAX_MANIFEST = 4 << 20

#: progress(digest, done_bytes, total_bytes, status); status is
#: "waiting", "downloading", "exists" (already in the store) or "complete".
Progress = Callable[[str, int, int, str], None]


class RegistryError(ImageError):
    """The registry cannot be reached or refused the request."""


@dataclass
class _Challenge:
    scheme: str
    params: dict


def parse_www_authenticate(value: str) -> _Challenge:
    """``Bearer realm="x",service="y",scope="z"`` -> _Challenge("bearer", {...})."""
    scheme, _, rest = value.strip().partition(" ")
    params = dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', rest))
    for k, v in re.findall(r'(\w+)\s*=\s*([^",\s]+)', rest):
        params.setdefault(k, v)
    return _Challenge(scheme.lower(), params)


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Client:
    """One registry, one repository: GET manifests and blobs with auth handled."""

    def __init__(self, registry: str, repository: str, *, insecure: bool = False):
        self.registry = registry
        self.repository = repository
        self.host = DOCKER_HUB_API if registry == refs.DOCKER_HUB else registry
        self.insecure = insecure
        self.schemes = ["http"] if is_loopback(self.host) else (["https", "http"] if insecure else ["https"])
        ctx = ssl.create_default_context()
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx))
        self._token: str | None = None

    # -- HTTP ----------------------------------------------------------
    def _url(self, scheme: str, path: str) -> str:
        return f"{scheme}://{self.host}/v2/{self.repository}/{path}"

    def get(self, path: str, accept: str | None = None):
        """GET /v2/<repo>/<path>; returns the open response (2xx) or raises a clear error."""
        last: Exception | None = None
        for scheme in self.schemes:
            try:
                return self._get(self._url(scheme, path), accept)
            except _TransportError as e:  # https refused on an insecure registry: try http
                last = e.cause
        raise RegistryError(f"cannot reach registry {self.registry}: {_reason(last)}",
                            hint="check the registry name and your network; for a plain-http registry "
                                 "that is not on 127.0.0.1 use --insecure")

    def _get(self, url: str, accept: str | None, retried: bool = False):
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        if accept:
            req.add_header("Accept", accept)
        if self._token:
            req.add_unredirected_header("Authorization", f"Bearer {self._token}")
        try:
            return self._opener.open(req, timeout=TIMEOUT)
        except urllib.error.HTTPError as e:
            if e.code == 401 and not retried:
                challenge = e.headers.get("WWW-Authenticate", "")
                e.close()
                if self._authenticate(challenge):
                    return self._get(url, accept, retried=True)
                raise self._denied() from None
            if e.code == 401:
                e.close()
                raise self._denied() from None
            raise _HTTPError(e.code, _error_codes(e), url) from None
        except (urllib.error.URLError, OSError, UnicodeError) as e:  # UnicodeError: a host idna cannot encode
            reason = getattr(e, "reason", e)
            raise _TransportError(reason) from None

    def _denied(self) -> ImageNotFound:
        return ImageNotFound(f"pull access denied for {self.repository} on {self.registry}: "
                             f"the repository does not exist or needs a login",
                             hint="check the image name (minictr pulls anonymously)")

    def _authenticate(self, header: str) -> bool:
        """The anonymous bearer-token flow. Returns False for schemes we cannot answer (Basic)."""
        ch = parse_www_authenticate(header)
        if ch.scheme != "bearer" or "realm" not in ch.params:
            return False
        query = {k: v for k, v in ch.params.items() if k in ("service", "scope")}
        if "scope" not in query:
            query["scope"] = f"repository:{self.repository}:pull"
        url = ch.params["realm"] + ("&" if "?" in ch.params["realm"] else "?") + urllib.parse.urlencode(query)
        try:
            with self._opener.open(urllib.request.Request(url, headers={"User-Agent": USER_AGENT}),
                                   timeout=TIMEOUT) as r:
                data = json.loads(r.read(1 << 20))
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise RegistryError(f"cannot get a token for {self.repository} from {ch.params['realm']}: {_reason(e)}",
                                hint="the registry's auth server is down or unreachable") from None
        self._token = data.get("token") or data.get("access_token")
        return bool(self._token)

    # -- the API -------------------------------------------------------
    def manifest(self, reference: str) -> tuple[bytes, str, str]:
        """GET a manifest or index by tag or digest -> (body, media type, digest), verified."""
        try:
            with self.get(f"manifests/{reference}", ACCEPT_MANIFESTS) as r:
                body = r.read(MAX_MANIFEST + 1)
                media_type = (r.headers.get("Content-Type") or "").split(";")[0].strip()
                header_digest = r.headers.get("Docker-Content-Digest")
        except _HTTPError as e:
            if e.code == 404:
                raise self._not_found(reference, e.codes) from None
            raise RegistryError(f"registry {self.registry} answered {e.code} for {self.repository}:{reference}"
                                f"{' (' + ', '.join(e.codes) + ')' if e.codes else ''}") from None
        if len(body) > MAX_MANIFEST:
            raise InvalidImage(f"manifest {reference} of {self.repository} is larger than {MAX_MANIFEST} bytes")
        digest = oci.sha256_digest(body)
        expected = reference if reference.startswith("sha256:") else header_digest
        if expected and expected.startswith("sha256:") and expected != digest:
            raise InvalidImage(f"digest mismatch for manifest {self.repository}:{reference}: "
                               f"expected {expected}, got {digest}",
                               hint="the registry or something between sent different bytes; try again")
        doc = oci.parse_json(body, f"manifest {reference}")
        media_type = doc.get("mediaType") or media_type
        if media_type.startswith("application/vnd.docker.distribution.manifest.v1"):
            raise InvalidImage(f"{self.repository}:{reference} uses Docker schema 1, which minictr does not read",
                               hint="push the image again with a current tool (it will write schema 2 or OCI)")
        return body, media_type, digest

    def _not_found(self, reference: str, codes: list[str]) -> ImageNotFound:
        """Say whether the repository or only the tag is missing.

        distribution answers MANIFEST_UNKNOWN for both, so we ask for the tag list too.
        """
        tags = None
        if "NAME_UNKNOWN" not in codes:
            try:
                with self.get("tags/list") as r:
                    tags = json.loads(r.read(1 << 20)).get("tags") or []
            except (_HTTPError, ImageError, ValueError):
                tags = None
        if tags is None:
            return ImageNotFound(f"repository {self.repository} not found on registry {self.registry}",
                                 hint="check the image name")
        shown = ", ".join(sorted(tags)[:10]) + (" ..." if len(tags) > 10 else "")
        what = "manifest" if reference.startswith("sha256:") else "tag"
        return ImageNotFound(f"{what} {reference} not found in {self.repository} on registry {self.registry}",
                             hint=f"it has the tags: {shown}" if tags else "the repository has no tags")

    def blob(self, store: Store, desc: dict, progress: Progress | None = None) -> str:
        """Fetch a blob into the store unless it is there; verify digest and size."""
        digest = oci.check_digest(desc.get("digest"))
        size = int(desc.get("size") or 0) or None
        if store.claim(digest):  # there already: held until the image is named
            if progress:
                progress(digest, size or 0, size or 0, "exists")
            return digest
        try:
            with self.get(f"blobs/{digest}") as r:
                cb = (lambda n: progress(digest, n, size or 0, "downloading")) if progress else None
                store.put_blob_stream(r, digest, size, progress=cb)
        except _HTTPError as e:
            raise RegistryError(f"registry {self.registry} answered {e.code} for blob {digest} of {self.repository}",
                                hint="the image is incomplete on the registry") from None
        if progress:
            progress(digest, size or 0, size or 0, "complete")
        return digest


class _TransportError(Exception):
    def __init__(self, cause):
        self.cause = cause


class _HTTPError(Exception):
    def __init__(self, code: int, codes: list[str], url: str):
        self.code, self.codes, self.url = code, codes, url


def _error_codes(e: urllib.error.HTTPError) -> list[str]:
    """The registry's JSON error codes: {"errors": [{"code": "MANIFEST_UNKNOWN", ...}]}."""
    try:
        data = json.loads(e.read(1 << 16) or b"{}")
        return [str(x.get("code")) for x in data.get("errors") or [] if isinstance(x, dict)]
    except (ValueError, OSError, AttributeError):
        return []
    finally:
        e.close()


def _reason(e: object) -> str:
    r = getattr(e, "reason", None) or e
    return str(getattr(r, "strerror", None) or r)


def pull(store: Store, ref: str, *, insecure: bool = False, progress: Progress | None = None,
         platform: dict | None = None) -> Image:
    """``docker pull``: fetch ``ref`` into ``store`` and name it. Returns the image."""
    r = refs.parse(ref)
    client = Client(r.registry, r.repository, insecure=insecure)
    with store.transaction():
        body, media_type, digest = client.manifest(r.reference)
        doc = oci.parse_json(body, "manifest")
        if media_type in oci.INDEX_TYPES or "manifests" in doc:
            want = platform or oci.host_platform()
            choices = oci.descriptors(doc, "manifests", f"{r}: the index")
            hit = next((d for d in choices if oci.platform_matches(d.get("platform"), want)), None)
            if hit is None:
                plats = sorted({f"{(d.get('platform') or {}).get('os')}/{(d.get('platform') or {}).get('architecture')}"
                                for d in choices})
                raise ImageNotFound(f"{r} has no image for {want['os']}/{want['architecture']} "
                                    f"(it has {', '.join(plats) or 'none'})")
            body, media_type, digest = client.manifest(oci.check_digest(hit.get("digest")))
            doc = oci.parse_json(body, "manifest")
        if media_type not in oci.MANIFEST_TYPES and "layers" not in doc:
            raise InvalidImage(f"{r}: unexpected manifest media type {media_type!r}")
        layers = oci.descriptors(doc, "layers", f"{r}: the manifest")
        if progress:
            for l in layers:
                progress(l.get("digest", ""), 0, int(l.get("size") or 0), "waiting")
        client.blob(store, doc.get("config") or {})
        config = oci.check_image_config(store.read_json(doc["config"]["digest"], "image config"), str(r))
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        if len(diff_ids) != len(layers):
            raise InvalidImage(f"{r}: the manifest has {len(layers)} layers but the config lists {len(diff_ids)}")
        for l in layers:
            if l.get("mediaType") == oci.OCI_LAYER_ZSTD:
                raise InvalidImage(f"{r} has zstd layers, which minictr cannot unpack",
                                   hint="use an image with gzip layers")
            client.blob(store, l, progress)
        store.put_blob(body, digest)
        return store.add_image(digest, [r.name] if r.tag else [], media_type or oci.OCI_MANIFEST)
