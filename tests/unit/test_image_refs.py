"""Image references are normalised as docker does it."""

import pytest

from minictr.errors import ConfigError
from minictr.image import refs

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text, registry, repo, tag, digest, name", [
    ("busybox", "docker.io", "library/busybox", "latest", None, "busybox:latest"),
    ("busybox:latest", "docker.io", "library/busybox", "latest", None, "busybox:latest"),
    ("library/busybox:1.36", "docker.io", "library/busybox", "1.36", None, "busybox:1.36"),
    ("docker.io/library/busybox", "docker.io", "library/busybox", "latest", None, "busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io", "library/busybox", "latest", None, "busybox:latest"),
    ("user/app:v1", "docker.io", "user/app", "v1", None, "user/app:v1"),
    ("127.0.0.1:5000/demo/app:v2", "127.0.0.1:5000", "demo/app", "v2", None, "127.0.0.1:5000/demo/app:v2"),
    ("localhost/app", "localhost", "app", "latest", None, "localhost/app:latest"),
    ("quay.io/podman/hello", "quay.io", "podman/hello", "latest", None, "quay.io/podman/hello:latest"),
    (f"busybox@{D}", "docker.io", "library/busybox", None, D, "busybox:latest"),
    (f"busybox:1@{D}", "docker.io", "library/busybox", "1", D, "busybox:1"),
    ("my-app_x.y__z:TAG_1.0-rc", "docker.io", "library/my-app_x.y__z", "TAG_1.0-rc", None, "my-app_x.y__z:TAG_1.0-rc"),
])
def test_parse_normalises(text, registry, repo, tag, digest, name):
    r = refs.parse(text)
    assert (r.registry, r.repository, r.tag, r.digest) == (registry, repo, tag, digest)
    assert r.name == name
    assert r.reference == (digest or tag)


def test_str_round_trips_the_familiar_form():
    assert str(refs.parse("docker.io/library/busybox")) == "busybox:latest"
    assert str(refs.parse(f"127.0.0.1:5000/a@{D}")) == f"127.0.0.1:5000/a@{D}"


@pytest.mark.parametrize("bad", ["", " busybox", "BusyBox", "busy box", "busybox:", "busybox:-x",
                                 "busybox@sha256:123", "a//b", "-a", "a/", "busybox:" + "x" * 129,
                                 "bad_host:99999x/a"])
def test_malformed_references_are_config_errors(bad):
    with pytest.raises(ConfigError) as e:
        refs.parse(bad)
    assert "image reference" in str(e.value)
    assert e.value.hint
    assert not refs.is_reference(bad)


# docker's reference grammar (distribution/reference): what it accepts and what it refuses.
VALID = [
    ("a", "docker.io", "library/a"),
    ("a-b--c/d__e.f_g", "docker.io", "a-b--c/d__e.f_g"),
    ("registry.example.com/team/app", "registry.example.com", "team/app"),
    ("my-registry:5000/x", "my-registry:5000", "x"),
    ("10.1.2.3:5000/x", "10.1.2.3:5000", "x"),
    ("[::1]:5000/x", "[::1]:5000", "x"),
    ("localhost:5000/a/b/c", "localhost:5000", "a/b/c"),
    ("Example.COM/x", "Example.COM", "x"),                 # a domain may have capitals
    ("Foo/bar", "Foo", "bar"),                             # a capital makes the first part a domain
    ("x" * 200, "docker.io", "library/" + "x" * 200),
    ("a/" + "b" * 243, "docker.io", "a/" + "b" * 243),     # docker.io/a/bbb...: 255 exactly
]


@pytest.mark.parametrize("text, registry, repo", VALID)
def test_docker_grammar_accepts(text, registry, repo):
    r = refs.parse(text)
    assert (r.registry, r.repository) == (registry, repo)


INVALID = [
    ("../x", "bad registry host '..'"),
    ("./x", "bad registry host '.'"),
    ("a..b/x", "bad registry host"),
    ("-a.com/x", "bad registry host"),
    ("a-.com/x", "bad registry host"),
    ("a.com:x/y", "bad registry host"),            # the port is digits
    ("a.com/../x", "lower-case letters and digits"),
    ("a/.b", "lower-case letters and digits"),
    ("a_", "lower-case letters and digits"),
    ("a___b", "lower-case letters and digits"),    # '_' or '__', not three
    ("a..b", "lower-case letters and digits"),
    ("busybox/UPPER", "must be lower-case"),
    ("x:.tag", "a tag is"),
    ("x:" + "t" * 129, "a tag is"),
    ("x:t\u00e9", "a tag is"),                     # ASCII only, as Go's \w
    ("x" * 300, "at most 255"),
    ("a/" + "b" * 244, "at most 255"),             # docker.io/ counts, as in docker: 256
    ("x@sha256:" + "A" * 64, "lower-case hex"),
    ("x@md5:" + "a" * 32, "sha256"),
]


@pytest.mark.parametrize("text, why", INVALID)
def test_docker_grammar_refuses(text, why):
    with pytest.raises(ConfigError) as e:
        refs.parse(text)
    assert why in str(e.value) and "\n" not in str(e.value)
