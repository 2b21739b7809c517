"""A tiny in-process OCI registry on 127.0.0.1 for the pull tests (http.server, one thread).

It serves what a Store holds, and can misbehave on purpose: require a bearer
token, redirect blobs to a "CDN" path that rejects an Authorization header,
corrupt a blob, lie in Docker-Content-Digest, or demand Basic auth.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from minictr.image import oci


class FakeRegistry:
    def __init__(self):
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[bytes, str]] = {}
        self.tags: dict[tuple[str, str], str] = {}
        self.token_required = False
        self.basic_auth = False
        self.redirect_blobs = False
        self.corrupt: set[str] = set()
        self.lie_about_digest = False
        self.log: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def push(self, store, img, repo: str, tag: str) -> None:
        """Copy an image from a Store (manifest, config, layers) and tag it."""
        body = store.read_blob(img.manifest_digest)
        self.manifests[img.manifest_digest] = (body, img.manifest.get("mediaType", oci.OCI_MANIFEST))
        for d in [img.manifest["config"]["digest"]] + [l["digest"] for l in img.layers]:
            self.blobs[d] = store.blob_path(d).read_bytes()
        self.tags[(repo, tag)] = img.manifest_digest

    def push_index(self, repo: str, tag: str, entries: list[tuple[str, dict]]) -> str:
        """An OCI index over manifests already pushed: [(manifest digest, platform)]."""
        idx = {"schemaVersion": 2, "mediaType": oci.OCI_INDEX,
               "manifests": [{"mediaType": oci.OCI_MANIFEST, "digest": d, "size": len(self.manifests[d][0]),
                              "platform": p} for d, p in entries]}
        body = oci.canonical_json(idx)
        digest = oci.sha256_digest(body)
        self.manifests[digest] = (body, oci.OCI_INDEX)
        self.tags[(repo, tag)] = digest
        return digest

    def _handler(self):
        reg = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def send(self, code, body=b"", headers=None):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def error(self, code, err):
                self.send(code, json.dumps({"errors": [{"code": err, "message": err.lower()}]}).encode(),
                          {"Content-Type": "application/json"})

            def do_GET(self):
                reg.log.append(f"{self.path} auth={self.headers.get('Authorization')}")
                host = f"http://{reg.host}"
                if self.path.startswith("/token?"):
                    return self.send(200, json.dumps({"token": "sekrit"}).encode())
                if self.path.startswith("/cdn/"):
                    if self.headers.get("Authorization"):
                        return self.send(400, b"do not send me your registry token")
                    return self.blob(self.path[len("/cdn/"):])
                if reg.basic_auth:
                    return self.send(401, b"", {"WWW-Authenticate": 'Basic realm="registry"'})
                if reg.token_required and self.headers.get("Authorization") != "Bearer sekrit":
                    return self.send(401, b"", {"WWW-Authenticate":
                                                f'Bearer realm="{host}/token",service="fake",scope="repository:x:pull"'})
                parts = self.path.split("/")
                if self.path == "/v2/":
                    return self.send(200, b"{}")
                if "manifests" in parts:
                    i = parts.index("manifests")
                    repo, ref = "/".join(parts[2:i]), parts[i + 1]
                    digest = ref if ref.startswith("sha256:") else reg.tags.get((repo, ref))
                    if digest not in reg.manifests:
                        return self.error(404, "MANIFEST_UNKNOWN")
                    body, mt = reg.manifests[digest]
                    if mt not in (self.headers.get("Accept") or ""):  # as distribution does for OCI types
                        return self.error(404, "MANIFEST_UNKNOWN")
                    hdr = oci.sha256_digest(b"lie") if reg.lie_about_digest else digest
                    return self.send(200, body, {"Content-Type": mt, "Docker-Content-Digest": hdr})
                if parts[-2:] == ["tags", "list"]:
                    repo = "/".join(parts[2:-2])
                    tags = sorted(t for r, t in reg.tags if r == repo)
                    if not tags:
                        return self.error(404, "NAME_UNKNOWN")
                    return self.send(200, json.dumps({"name": repo, "tags": tags}).encode())
                if "blobs" in parts:
                    digest = parts[-1]
                    if reg.redirect_blobs:
                        return self.send(307, b"", {"Location": f"{host}/cdn/{digest}"})
                    return self.blob(digest)
                return self.error(404, "NOT_FOUND")

            def blob(self, digest):
                if digest not in reg.blobs:
                    return self.error(404, "BLOB_UNKNOWN")
                data = reg.blobs[digest]
                if digest in reg.corrupt:
                    data = data[:-4] + b"evil"
                return self.send(200, data, {"Content-Type": "application/octet-stream"})

        return H
