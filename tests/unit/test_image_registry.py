"""Pull from an in-process fake registry on 127.0.0.1: the happy path and every failure."""

import io
import socket

import pytest

from minictr import cli
from minictr.cli_format import ProgressBars
from minictr.errors import ImageNotFound, InvalidImage
from minictr.image import Store, oci, registry
from minictr.image.synthetic import add_image

from fake_registry import FakeRegistry


@pytest.fixture
def source(tmp_path):
    src = Store(tmp_path / "src")
    img = add_image(src, [{"etc": None, "etc/motd": "one"}, {"etc/motd": "two", "big": "x" * 300_000}],
                    name="demo:v1", config={"Cmd": ["cat", "/etc/motd"]})
    return src, img


@pytest.fixture
def reg(source):
    with FakeRegistry() as r:
        r.push(*source, "demo/app", "v1")
        yield r


def assert_nothing_new(store: Store):
    assert store.images() == []
    assert not store.blobs_dir.exists() or list(store.blobs_dir.iterdir()) == []
    assert not store.tmp_dir.exists() or list(store.tmp_dir.iterdir()) == []


def test_pull_with_token_auth_and_cdn_redirects(reg, source):
    reg.token_required = True
    reg.redirect_blobs = True
    events = []
    store = Store()
    img = registry.pull(store, f"{reg.host}/demo/app:v1", progress=lambda *e: events.append(e))
    src_img = source[1]
    assert (img.id, img.manifest_digest, img.diff_ids) == (src_img.id, src_img.manifest_digest, src_img.diff_ids)
    assert img.names == [f"{reg.host}/demo/app:v1"] and img.config == {"Cmd": ["cat", "/etc/motd"]}
    assert store.lookup(f"{reg.host}/demo/app:v1").id == img.id
    # the token went to the registry, never to the CDN
    assert any("/v2/demo/app/manifests/v1 auth=Bearer sekrit" in l for l in reg.log)
    assert all(l.endswith("auth=None") for l in reg.log if l.startswith("/cdn/"))
    big = img.layers[1]
    statuses = [e[3] for e in events if e[0] == big["digest"]]
    assert statuses[0] == "waiting" and "downloading" in statuses and statuses[-1] == "complete"
    assert max(e[1] for e in events if e[0] == big["digest"]) == big["size"]


def test_second_pull_reuses_blobs(reg):
    store = Store()
    registry.pull(store, f"{reg.host}/demo/app:v1")
    events = []
    registry.pull(store, f"{reg.host}/demo/app:v1", progress=lambda *e: events.append(e))
    assert {e[3] for e in events} == {"waiting", "exists"}


def test_pull_by_digest_has_no_tag(reg, source):
    store = Store()
    ref = f"{reg.host}/demo/app@{source[1].manifest_digest}"
    img = registry.pull(store, ref)
    assert img.names == [] and store.lookup(ref).id == img.id


def test_index_picks_the_host_platform_or_the_one_asked(reg, source, tmp_path):
    src = source[0]
    other = add_image(src, [{"arm": "64"}], name="arm:1")
    reg.push(src, other, "demo/app", "arm-only")
    reg.push_index("demo/app", "multi", [(other.manifest_digest, {"os": "linux", "architecture": "arm64"}),
                                         (source[1].manifest_digest, oci.host_platform())])
    assert registry.pull(Store(), f"{reg.host}/demo/app:multi").manifest_digest == source[1].manifest_digest
    got = registry.pull(Store(tmp_path / "s2"), f"{reg.host}/demo/app:multi",
                        platform={"os": "linux", "architecture": "arm64"})
    assert got.manifest_digest == other.manifest_digest
    with pytest.raises(ImageNotFound, match="no image for linux/s390x"):
        registry.pull(Store(tmp_path / "s3"), f"{reg.host}/demo/app:multi",
                      platform={"os": "linux", "architecture": "s390x"})


@pytest.mark.parametrize("ref, match, hint", [
    ("nope/none:v1", "repository nope/none not found", "check the image name"),
    ("demo/app:v9", "tag v9 not found in demo/app", "it has the tags: v1"),
    ("demo/app@sha256:" + "0" * 64, "manifest sha256:0+ not found in demo/app", "v1")])
def test_unknown_repo_or_tag(reg, ref, match, hint):
    store = Store()
    with pytest.raises(ImageNotFound, match=match) as e:
        registry.pull(store, f"{reg.host}/{ref}")
    assert hint in e.value.hint
    assert_nothing_new(store)


def test_corrupt_layer_fails_and_leaves_nothing(reg, source):
    reg.corrupt.add(source[1].layers[1]["digest"])
    store = Store()
    with pytest.raises(InvalidImage, match="digest mismatch"):
        registry.pull(store, f"{reg.host}/demo/app:v1")
    assert_nothing_new(store)


def test_lying_digest_header(reg):
    reg.lie_about_digest = True
    store = Store()
    with pytest.raises(InvalidImage, match="digest mismatch for manifest"):
        registry.pull(store, f"{reg.host}/demo/app:v1")
    assert_nothing_new(store)


def test_basic_auth_is_access_denied(reg):
    reg.basic_auth = True
    with pytest.raises(ImageNotFound, match="pull access denied for demo/app"):
        registry.pull(Store(), f"{reg.host}/demo/app:v1")


def test_unreachable_registry():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(registry.RegistryError, match=f"cannot reach registry 127.0.0.1:{port}") as e:
        registry.pull(Store(), f"127.0.0.1:{port}/x:1")
    assert "--insecure" in e.value.hint


def test_transport_choice():
    assert registry.Client("127.0.0.1:5000", "a").schemes == ["http"]
    assert registry.Client("127.9.9.9:5000", "a").schemes == ["http"]
    assert registry.Client("localhost:5000", "a").schemes == ["http"]
    assert registry.Client("[::1]:5000", "a").schemes == ["http"]
    assert registry.Client("registry.example.com", "a").schemes == ["https"]
    assert registry.Client("registry.example.com", "a", insecure=True).schemes == ["https", "http"]
    hub = registry.Client("docker.io", "library/busybox")
    assert hub.host == "registry-1.docker.io" and hub._url("https", "manifests/latest") == \
        "https://registry-1.docker.io/v2/library/busybox/manifests/latest"


def test_www_authenticate_parsing():
    ch = registry.parse_www_authenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')
    assert ch.scheme == "bearer"
    assert ch.params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                         "scope": "repository:library/busybox:pull"}
    assert registry.parse_www_authenticate('Basic realm="x"').scheme == "basic"


def test_cli_pull_prints_the_ref_and_progress(reg, capsys):
    assert cli.main(["pull", f"{reg.host}/demo/app:v1"]) == 0
    out, err = capsys.readouterr()
    assert out == f"{reg.host}/demo/app:v1\n"
    assert "Pulling from" in err and err.count("Pull complete") == 2 and "total: " in err and "Digest: sha256:" in err
    assert cli.main(["pull", f"{reg.host}/demo/app:nope"]) == 1
    assert "not found" in capsys.readouterr().err


def test_progress_bars_redraw_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    s = Tty()
    bars = ProgressBars(s)
    d = "sha256:" + "a" * 64
    bars(d, 0, 2_000_000, "waiting")
    bars(d, 2_000_000, 2_000_000, "complete")
    text = s.getvalue()
    assert "aaaaaaaaaaaa: Waiting" in text and "Pull complete" in text and "\x1b[1A" in text
    assert bars.total_line() == "total: 2MB/2MB"
    assert bars.line(d, 1_000_000, 2_000_000, "downloading") == \
        "aaaaaaaaaaaa: Downloading [===============>              ]      1MB/2MB"


def test_pull_of_a_bad_reference_or_host_is_one_line_exit_1(capsys):
    assert cli.main(["pull", "../x"]) == 1  # refused by the reference grammar, before any network
    err = capsys.readouterr().err
    assert err.startswith("minictr: invalid image reference '../x'") and err.count("\n") == 1
    # Grammatical, but idna cannot encode a 64-letter label: refused before any connection.
    assert cli.main(["pull", "a" * 64 + ".example/x"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("minictr: cannot reach registry") and "unexpected" not in err[-1]
