"""L1: image references, normalised the way docker does it.

``busybox``, ``busybox:latest``, ``library/busybox`` and
``docker.io/library/busybox:latest`` are one image. A reference is::

    [REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST]

The grammar is docker's (github.com/distribution/reference, reference.go;
the rules are restated here, not copied)::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [domain "/"] component ("/" component)*     at most 255 characters
    domain     := host [":" port]
    host       := label ("." label)*  |  "[" IPv6 "]"         label: [a-zA-Z0-9] or
                                                              [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
    component  := [a-z0-9]+ (separator [a-z0-9]+)*            separator: "." "_" "__" "-"+
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := "sha256:" 64 lower-case hex digits          (minictr reads only sha256)

The first path part is a domain only if it has a ``.`` or a ``:``, is
``localhost``, or has an upper-case letter; otherwise the registry is Docker
Hub, where one-part names live under ``library/``. The store keeps the short
("familiar") form, as ``docker images`` shows it: ``busybox:latest``,
``127.0.0.1:5000/demo:v1``. So ``../x``, ``a//b`` or a 300-character name
never become names in the store.
"""

from __future__ import annotations

import re

from ..errors import ConfigError
from ..record import Record

DOCKER_HUB = "docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
#: docker's limit on a whole name, domain included (NameTotalLengthMax).
NAME_MAX = 255
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"^(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$")


class Reference(Record):
    registry: str          # "docker.io", "127.0.0.1:5000"
    repository: str        # "library/busybox", "demo/app"
    tag: str | None = None
    digest: str | None = None

    @property
    def familiar_name(self) -> str:
        """``busybox`` for docker.io/library/busybox, else the full name."""
        if self.registry == DOCKER_HUB:
            repo = self.repository
            return repo[len("library/"):] if repo.startswith("library/") else repo
        return f"{self.registry}/{self.repository}"

    @property
    def name(self) -> str:
        """What the store records: ``familiar:tag`` (a digest-only ref has no name)."""
        return f"{self.familiar_name}:{self.tag or 'latest'}"

    def __str__(self) -> str:
        s = self.familiar_name
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s

    @property
    def reference(self) -> str:
        """What a registry's /manifests/<reference> wants: the digest, else the tag."""
        return self.digest or self.tag or "latest"


def parse(ref: str) -> Reference:
    """Parse and normalise ``ref``; raise ConfigError for a malformed one."""
    def bad(why: str) -> ConfigError:
        return ConfigError("image reference", ref, why,
                           hint="use NAME[:TAG][@sha256:DIGEST], e.g. busybox:latest")

    if not ref or ref != ref.strip():
        raise bad("must not be empty or have spaces")
    rest, digest = ref, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise bad("the digest must be sha256: and 64 lower-case hex digits")
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:  # a ':' after the last '/' starts the tag (before it, it is a port)
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG.match(tag):
            raise bad("a tag is letters, digits, '_', '.' and '-', at most 128, and does not start with '.' or '-'")
    parts = rest.split("/")
    registry = DOCKER_HUB
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        registry = parts.pop(0)
        if not _DOMAIN.match(registry):
            raise bad(f"bad registry host {registry!r}: a host name, an IP address or [IPv6], and an optional :port")
        if registry in _HUB_ALIASES:
            registry = DOCKER_HUB
    if not all(_COMPONENT.match(p) for p in parts):
        if all(_COMPONENT.match(p.lower()) for p in parts):
            raise bad("a repository name must be lower-case")
        raise bad("a repository name is lower-case letters and digits, separated by '.', '_', '__', "
                  "'-' or '/', and starts and ends with a letter or digit")
    repository = "/".join(parts)
    if registry == DOCKER_HUB and len(parts) == 1:
        repository = "library/" + repository
    if len(registry) + 1 + len(repository) > NAME_MAX:
        raise bad(f"a name is at most {NAME_MAX} characters, registry included")
    if tag is None and digest is None:
        tag = "latest"
    return Reference(registry, repository, tag, digest)


def is_reference(text: str) -> bool:
    try:
        parse(text)
    except ConfigError:
        return False
    return True
