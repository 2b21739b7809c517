"""Layer cache and the copy fallback of prepare_rootfs (no root: whiteouts applied, not overlaid)."""

import gzip

import pytest

from minictr.errors import InvalidImage
from minictr.image import Store, layers, oci

from minictr.image.synthetic import add_image, make_tar, tree

BOTTOM = {"a": None, "a/x": "x", "a/y": "y", "f": "gone soon", "d": None, "d/1": "1",
          "r": None, "r/old": "old", "keep": "kept", "link": "->a/x"}
TOP = {".wh.f": "", ".wh.d": "", "r": None, "r/.wh..wh..opq": "", "r/new": "new", "a/z": "z",
       "a/.wh.y": ""}


def test_copy_fallback_applies_whiteouts_in_layer_order(tmp_path):
    store = Store()
    img = add_image(store, [BOTTOM, TOP], name="wh:1")
    rootfs = layers.prepare_rootfs(store, img, tmp_path / "c1", overlay=False)
    assert not rootfs.is_overlay and rootfs.path == str(tmp_path / "c1" / "rootfs")
    assert tree(rootfs.path) == {"a": "dir", "a/x": "x", "a/z": "z", "r": "dir", "r/new": "new",
                                 "keep": "kept", "link": "->a/x"}
    assert list(store.layers_dir.iterdir()) == []  # the fallback does not fill the overlay cache


def test_no_overlay_env_forces_the_fallback(monkeypatch):
    monkeypatch.setenv("MINICTR_NO_OVERLAY", "1")
    assert layers.overlay_available() is False
    assert layers.overlay_available(euid=0) is False
    monkeypatch.delenv("MINICTR_NO_OVERLAY")
    assert layers.overlay_available(euid=1000, release="5.10.0") is False  # not root, before 5.11: no overlay
    assert layers.overlay_available(euid=1000, release="5.11.2") is True   # rootless, in its user namespace


def test_layer_cache_unpacks_once(tmp_path, monkeypatch):
    store = Store()
    img = add_image(store, [BOTTOM], name="one:1")
    calls = []
    real = layers.extract_layer
    monkeypatch.setattr(layers, "extract_layer", lambda *a: (calls.append(a[1]), real(*a)))
    d1 = layers.ensure_layer(store, img.layers[0]["digest"], img.diff_ids[0], whiteouts="keep")
    d2 = layers.ensure_layer(store, img.layers[0]["digest"], img.diff_ids[0], whiteouts="keep")
    assert d1 == d2 == store.layers_dir / img.diff_ids[0][7:]
    assert calls == [img.layers[0]["digest"]]
    assert tree(d1)["a/x"] == "x"
    assert list(store.tmp_dir.iterdir()) == []


def test_a_layer_that_does_not_match_its_diff_id_never_reaches_the_cache(tmp_path):
    store = Store()
    img = add_image(store, [BOTTOM], name="one:1")
    wrong = "sha256:" + "1" * 64
    with pytest.raises(InvalidImage, match="image config says"):
        layers.ensure_layer(store, img.layers[0]["digest"], wrong, whiteouts="keep")
    assert [p.name for p in store.layers_dir.iterdir()] == [".locks"]
    assert list(store.tmp_dir.iterdir()) == []
    with pytest.raises(InvalidImage, match="image config says"):
        layers.extract_layer(store, img.layers[0]["digest"], wrong, tmp_path / "x", "apply")


def test_uncompressed_layers_and_zstd_refusal(tmp_path):
    store = Store()
    img = add_image(store, [BOTTOM], name="plain:1", gz=False)
    rootfs = layers.prepare_rootfs(store, img, tmp_path / "c", overlay=False)
    assert tree(rootfs.path)["keep"] == "kept"
    zstd = store.put_blob(b"\x28\xb5\x2f\xfd" + b"\0" * 20)
    with pytest.raises(InvalidImage, match="zstd"):
        layers.extract_layer(store, zstd, None, tmp_path / "z", "apply")
    bad = store.put_blob(b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(InvalidImage, match="cannot"):
        layers.extract_layer(store, bad, None, tmp_path / "g", "apply")


def test_diff_id_reader_hashes_the_uncompressed_tar(tmp_path):
    tar = make_tar({"a": "1"})
    p = tmp_path / "l.gz"
    p.write_bytes(gzip.compress(tar))
    with layers.DiffIdReader(p) as r:
        assert r.finish() == oci.sha256_digest(tar) and r.size == len(tar)


def test_remove_tree_copes_with_read_only_dirs(tmp_path):
    d = tmp_path / "t" / "ro"
    d.mkdir(parents=True)
    (d / "f").write_text("x")
    d.chmod(0o555)
    layers.remove_tree(tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_too_many_layers_for_one_mount_page_fall_back_to_a_copy(tmp_path):
    deep = tmp_path / ("d" * 100) / ("e" * 100)
    store = Store(deep)
    img = add_image(store, [{f"f{i}": str(i)} for i in range(40)], name="tall:1")
    rootfs = layers.prepare_rootfs(store, img, tmp_path / "c", overlay=True)
    assert not rootfs.is_overlay
    assert len(tree(rootfs.path)) == 40
    assert len(layers.overlay_options([layers.layer_dir(store, d) for d in img.diff_ids], "u", "w")) \
        >= layers.MOUNT_DATA_MAX
