"""The quick image lookup of `minictr run` agrees with the full store, or steps aside."""

import os

import pytest

from minictr import image
from minictr.image import layers, quick


@pytest.fixture(autouse=True)
def busybox_in_store(store):
    """The shared private ``store`` (tests/conftest.py), with the default image unpacked under four names."""
    img = image.build_default(store)
    store.add_image(img.manifest_digest, ["busybox:1.36", "127.0.0.1:5000/demo:v1"])
    for d, blob in zip(img.diff_ids, img.layers):
        layers.ensure_layer(store, blob["digest"], d)


@pytest.mark.parametrize("ref", ["busybox", "busybox:latest", "busybox:1.36", "127.0.0.1:5000/demo:v1"])
def test_quick_finds_what_the_store_finds(store, ref, tmp_path):
    usable = quick._overlay_usable(euid=0)  # overlay needs root: as root, can this kernel mount it?
    found = quick.find(ref, str(store.root), overlay=usable)
    if not usable:  # a kernel without overlayfs: the quick path must step aside
        assert found is None
        return
    full = store.lookup(ref)
    assert found is not None and found.name == full.ref
    assert found.config == full.config
    assert found.layer_dirs == tuple(str(layers.layer_dir(store, d)) for d in full.diff_ids)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    mine, theirs = quick.make_root(found, str(a)), layers.prepare_rootfs(store, full, b, overlay=True)
    assert mine.lowers == theirs.lowers  # the same layers, topmost first
    for root, d in ((mine, a), (theirs, b)):
        assert (root.path, root.upper, root.work) == (str(d / "rootfs"), str(d / "upper"), str(d / "work"))
        assert sorted(os.listdir(d)) == ["rootfs", "upper", "work"]
        assert os.stat(d / "upper").st_mode & 0o777 == 0o755


@pytest.mark.parametrize("ref", [
    "library/busybox",                    # needs normalising: the full store does it
    "docker.io/library/busybox:latest",
    "busybox@sha256:" + "0" * 64,         # by digest
    "sha256:abc", "abc123",              # ids and prefixes
    "nosuch", "", " busybox",
])
def test_quick_steps_aside_for_anything_else(store, ref):
    assert quick.find(ref, str(store.root), overlay=True) is None


def test_quick_steps_aside_when_a_layer_is_not_unpacked(store):
    assert quick.find("busybox", str(store.root), overlay=True) is not None
    img = store.lookup("busybox")
    layers.remove_tree(layers.layer_dir(store, img.diff_ids[0]))
    assert quick.find("busybox", str(store.root), overlay=True) is None


def test_quick_steps_aside_without_overlay(store, monkeypatch):
    assert quick.find("busybox", str(store.root), overlay=True) is not None
    assert quick.find("busybox", str(store.root), overlay=False) is None   # the caller's choice
    monkeypatch.setenv("MINICTR_NO_OVERLAY", "1")
    assert quick.find("busybox", str(store.root)) is None                 # left to it: the opt-out
    assert quick._overlay_usable(euid=0) is False
    monkeypatch.delenv("MINICTR_NO_OVERLAY")
    assert quick._overlay_usable(euid=1000, release="5.10.0-28-amd64") is False  # not root, before 5.11
    assert quick._overlay_usable(euid=1000, release="5.11.0") is True       # in a user namespace, with userxattr
    assert quick._overlay_usable(euid=1000, release="6.18.44-fc-v1045") is True


def test_quick_steps_aside_for_a_broken_index(store):
    (store.root / "index.json").write_text("{not json")
    assert quick.find("busybox", str(store.root), overlay=True) is None


def test_store_root_is_the_same_for_both(monkeypatch, tmp_path):
    monkeypatch.setenv("MINICTR_ROOT", str(tmp_path) + "//x/")
    assert quick.store_root() == str(image.store_root())
