"""The default busybox image: static ELF detection, a deterministic layer, auto-build on lookup."""

import gzip
import shutil
import stat
import tarfile

import pytest

from minictr.errors import ImageError
from minictr.image import Store, default, oci

HOST_BUSYBOX = "/bin/busybox"  # from busybox-static, which `make setup` installs


def test_static_elf_detection(tmp_path):
    assert default.is_static_elf(HOST_BUSYBOX)
    assert not default.is_static_elf(shutil.which("ls"))      # dynamically linked: has PT_INTERP
    assert not default.is_static_elf("/etc/hostname")
    (tmp_path / "short").write_bytes(b"\x7fELF\x02\x01")
    assert not default.is_static_elf(tmp_path / "short")
    assert not default.is_static_elf(tmp_path / "missing")


def test_build_default_is_a_real_oci_image(tmp_path):
    store = Store(tmp_path / "store")
    img = default.build_default(store)
    assert img.ref == "busybox:latest" and img.names == ["busybox:latest"]
    assert img.manifest["mediaType"] == oci.OCI_MANIFEST and img.manifest["schemaVersion"] == 2
    assert img.manifest["config"]["mediaType"] == oci.OCI_CONFIG
    assert [l["mediaType"] for l in img.layers] == [oci.OCI_LAYER_GZIP]
    assert img.config["Cmd"] == ["sh"]
    assert any(e.startswith("PATH=") and "/bin" in e for e in img.config["Env"])
    assert img.oci_config["os"] == "linux" and img.oci_config["architecture"] == oci.host_platform()["architecture"]
    layer = store.blob_path(img.layers[0]["digest"]).read_bytes()
    assert img.diff_ids == [oci.sha256_digest(gzip.decompress(layer))]


def test_layer_contents(tmp_path):
    img = default.build_default(Store(tmp_path / "store"))
    blob = Store(tmp_path / "store").blob_path(img.layers[0]["digest"])
    with tarfile.open(blob) as tar:
        members = {m.name: m for m in tar.getmembers()}
        passwd = tar.extractfile("etc/passwd").read().decode()
        group = tar.extractfile("etc/group").read().decode()
    names = [m for m in members]
    assert names == sorted(names)
    assert members["bin/busybox"].isfile() and members["bin/busybox"].mode == 0o755
    for applet in ("sh", "ls", "cat", "id", "hostname", "ps", "mount"):
        assert members[f"bin/{applet}"].issym() and members[f"bin/{applet}"].linkname == "busybox"
    assert "bin/busybox" in members and not any(m.linkname == "bin/busybox" for m in members.values())
    assert stat.S_IMODE(members["tmp"].mode) == 0o1777
    assert members["root"].mode == 0o700
    for d in ("proc", "sys", "dev", "etc"):
        assert members[d].isdir()
    for f in ("passwd", "group", "hosts", "hostname"):
        assert members[f"etc/{f}"].isfile()
    assert passwd.startswith("root:x:0:0:") and "\nlearner:x:1000:1000:" in passwd and "nobody:x:65534" in passwd
    assert "users:x:100:learner" in group
    assert members["home/learner"].uid == 1000
    assert {m.mtime for m in members.values()} == {int(__import__("os").stat(HOST_BUSYBOX).st_mtime)}
    assert {m.uid for m in members.values() if m.name != "home/learner"} == {0}


def test_build_is_deterministic_and_idempotent(tmp_path):
    a = default.build_default(Store(tmp_path / "a"))
    b = default.build_default(Store(tmp_path / "b"))
    assert (a.id, a.manifest_digest, a.layers) == (b.id, b.manifest_digest, b.layers)
    again = default.build_default(Store(tmp_path / "a"))
    assert again.manifest_digest == a.manifest_digest
    assert len(Store(tmp_path / "a").images()) == 1
    assert len(list(Store(tmp_path / "a").blobs_dir.iterdir())) == 3


def test_gzip_is_deterministic():
    assert default.gzip_deterministic(b"abc" * 1000) == default.gzip_deterministic(b"abc" * 1000)
    assert gzip.decompress(default.gzip_deterministic(b"abc")) == b"abc"


def test_lookup_builds_busybox_when_missing_but_nothing_else(tmp_path):
    store = Store(tmp_path / "store")
    for ref in ("busybox", "busybox:latest", "docker.io/library/busybox"):
        assert default.lookup_or_build(store, ref).names == ["busybox:latest"]
    assert len(store.images()) == 1
    from minictr.errors import ImageNotFound
    with pytest.raises(ImageNotFound):
        default.lookup_or_build(store, "busybox:1.36")
    with pytest.raises(ImageNotFound):
        Store(tmp_path / "other").lookup("busybox")  # the store itself only looks


def test_build_from_a_given_binary_and_refuse_a_dynamic_one(tmp_path):
    img = default.build_default(Store(tmp_path / "store"), "mybox", busybox=HOST_BUSYBOX)
    assert img.names == ["mybox:latest"]
    with pytest.raises(ImageError, match="not a static ELF"):
        default.build_default(Store(tmp_path / "store"), busybox=shutil.which("ls"))


def _fake_tools(tmp_path, monkeypatch):
    """Fake apt-get and dpkg-deb on PATH: no network, no package database touched."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "apt-get").write_text("#!/bin/sh\necho \"$@\" > apt-args; echo deb > busybox-static_9.9_amd64.deb\n")
    (bindir / "dpkg-deb").write_text(f"#!/bin/sh\nmkdir -p \"$3/bin\" && cp {HOST_BUSYBOX} \"$3/bin/busybox\"\n")
    for f in bindir.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")


def test_debian_package_fallback_downloads_without_installing(tmp_path, monkeypatch):
    _fake_tools(tmp_path, monkeypatch)
    work = tmp_path / "work"
    got = default.fetch_debian_busybox(work, apt_cache=tmp_path / "empty-cache")
    assert got == work / "deb" / "bin" / "busybox" and default.is_static_elf(got)
    assert (work / "apt-args").read_text().split() == ["download", "-q", "busybox-static"]


def test_debian_package_fallback_prefers_the_apt_cache(tmp_path, monkeypatch):
    _fake_tools(tmp_path, monkeypatch)
    cache = tmp_path / "archives"
    cache.mkdir()
    (cache / "busybox-static_1.35.0-4_amd64.deb").write_bytes(b"cached")
    got = default.fetch_debian_busybox(tmp_path / "work", apt_cache=cache)
    assert default.is_static_elf(got)
    assert not (tmp_path / "work" / "apt-args").exists()


def test_debian_package_fallback_errors_clearly(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "apt-get").write_text("#!/bin/sh\necho 'E: Unable to locate package busybox-static' >&2; exit 100\n")
    (bindir / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    with pytest.raises(ImageError, match="Unable to locate package") as e:
        default.fetch_debian_busybox(tmp_path / "work", apt_cache=tmp_path / "none")
    assert "apt-get install busybox-static" in e.value.hint
