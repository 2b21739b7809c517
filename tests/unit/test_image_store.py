"""The OCI image store: verified blobs, atomic index, names, lookup, rmi and gc (no root)."""

import io
import json
import os

import pytest

from minictr.errors import ImageError, ImageNotFound, InvalidImage
from minictr.image import Store, lookup_or_build, oci, store_root

from minictr.image.synthetic import add_image


def test_store_root_follows_the_environment(tmp_path, monkeypatch):
    assert store_root() == tmp_path / "store"
    monkeypatch.delenv("MINICTR_ROOT")
    assert str(store_root()) == "/var/lib/minictr"
    assert Store().root == store_root()


def test_layout_is_an_oci_image_layout(store):
    add_image(store, [{"hello": "hi"}], name="demo:v1")
    assert json.loads((store.root / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(store.index_path.read_text())
    assert index["schemaVersion"] == 2 and index["mediaType"] == oci.OCI_INDEX
    [entry] = index["manifests"]
    assert entry["annotations"] == {oci.REF_NAME: "demo:v1"}
    assert entry["mediaType"] == oci.OCI_MANIFEST
    blob = store.blob_path(entry["digest"])
    assert entry["size"] == blob.stat().st_size
    assert oci.sha256_digest(blob.read_bytes()) == entry["digest"]


def test_put_blob_rejects_a_wrong_digest_and_leaves_nothing(store):
    store.ensure()
    wrong = oci.sha256_digest(b"something else")
    with pytest.raises(InvalidImage, match="digest mismatch"):
        store.put_blob(b"data", wrong)
    with pytest.raises(InvalidImage, match="digest mismatch"):
        store.put_blob_stream(io.BytesIO(b"data" * 100000), wrong)
    assert list(store.blobs_dir.iterdir()) == []
    assert list(store.tmp_dir.iterdir()) == []


def test_put_blob_stream_checks_size_and_reports_progress(store):
    data = b"x" * (3 << 20)
    seen = []
    digest, n = store.put_blob_stream(io.BytesIO(data), oci.sha256_digest(data), len(data), progress=seen.append)
    assert n == len(data) and seen[-1] == len(data) and len(seen) >= 3
    assert store.blob_path(digest).read_bytes() == data
    with pytest.raises(InvalidImage, match="larger than"):
        store.put_blob_stream(io.BytesIO(b"y" * 10), None, 5)
    with pytest.raises(InvalidImage, match="expected 50"):
        store.put_blob_stream(io.BytesIO(b"y" * 10), None, 50)
    assert sorted(p.name for p in store.blobs_dir.iterdir()) == [digest[7:]]
    assert list(store.tmp_dir.iterdir()) == []


def test_read_blob_detects_corruption(store):
    digest = store.put_blob(b'{"a": 1}')
    path = store.blob_path(digest)
    path.write_bytes(b'{"a": 2}')
    with pytest.raises(InvalidImage, match="corrupt"):
        store.read_json(digest)


def test_add_image_refuses_an_incomplete_image(store):
    img = add_image(store, [{"a": "1"}], name="x:1")
    store.blob_path(img.layers[0]["digest"]).unlink()
    with pytest.raises(InvalidImage, match="incomplete"):
        store.add_image(img.manifest_digest, ["y:1"])
    assert [i.names for i in store.images()] == [["x:1"]]


def test_lookup_by_every_form(store):
    img = add_image(store, [{"a": "1"}], name="busybox:latest")
    other = add_image(store, [{"b": "2"}], name="127.0.0.1:5000/demo/app:v1")
    assert store.lookup("busybox").id == img.id
    assert store.lookup("busybox:latest").ref == "busybox:latest"
    assert store.lookup("docker.io/library/busybox:latest").id == img.id
    assert store.lookup(f"busybox@{img.manifest_digest}").id == img.id
    assert store.lookup(img.id).id == img.id                         # full id
    assert store.lookup(img.short_id).id == img.id                   # short id
    assert store.lookup(img.id[7:13]).id == img.id                   # prefix
    assert store.lookup(img.manifest_digest).id == img.id            # sha256:manifest
    assert store.lookup("127.0.0.1:5000/demo/app:v1").id == other.id
    assert store.lookup("busybox").config == {"Cmd": ["sh"]}
    assert img.diff_ids and len(img.layers) == 1
    assert img.created.year == 2024 and img.created.microsecond == 123456


def test_lookup_misses_raise_image_not_found_with_a_hint(store):
    add_image(store, [{"a": "1"}], name="demo:v1")
    for ref in ["demo:v2", "nothere", "sha256:" + "0" * 64, "busybox"]:
        with pytest.raises(ImageNotFound) as e:
            store.lookup(ref)
        assert repr(ref) in str(e.value) and "minictr pull" in e.value.hint
        assert isinstance(e.value, FileNotFoundError)


def test_ambiguous_id_prefix(store):
    imgs = [add_image(store, [{f"f{i}": str(i)}], name=f"i{i}:latest") for i in range(40)]
    first = {i.id[7] for i in imgs}
    assert len(first) < 40  # 40 images over 16 hex digits: some share a first digit
    shared = next(c for c in first if sum(i.id[7] == c for i in imgs) > 1)
    with pytest.raises(ImageNotFound, match="ambiguous"):
        store.lookup(shared)


def test_names_move_and_unnamed_images_show(store):
    a = add_image(store, [{"a": "1"}], name="app:latest")
    b = add_image(store, [{"a": "2"}], name="app:latest")
    by_id = {i.id: i.names for i in store.images()}
    assert by_id == {a.id: [], b.id: ["app:latest"]}
    assert store.lookup(a.short_id).ref == a.short_id
    store.add_image(b.manifest_digest, ["app:v2"])
    assert sorted(store.lookup("app:v2").names) == ["app:latest", "app:v2"]


def test_rmi_untags_then_deletes_and_gcs_blobs(store):
    img = add_image(store, [{"a": "1"}], name="app:v1")
    store.add_image(img.manifest_digest, ["app:v2"])
    with pytest.raises(ImageError, match="has 2 names"):
        store.remove(img.short_id)
    assert store.remove("app:v1") == ["Untagged: app:v1"]
    assert all(store.has_blob(d["digest"]) for d in img.layers)
    assert store.remove("app:v2") == ["Untagged: app:v2", f"Deleted: {img.id}"]
    assert store.images() == []
    assert list(store.blobs_dir.iterdir()) == []


def test_rmi_force_by_id_removes_all_names_but_keeps_shared_blobs(store):
    a = add_image(store, [{"shared": "s"}], name="a:1")
    b = add_image(store, [{"shared": "s"}, {"top": "t"}], name="b:1")
    store.add_image(a.manifest_digest, ["a:2"])
    done = store.remove(a.id, force=True)
    assert done == ["Untagged: a:1", "Untagged: a:2", f"Deleted: {a.id}"]
    assert store.lookup("b:1").id == b.id
    assert store.has_blob(b.layers[0]["digest"])         # shared with b
    assert not store.has_blob(a.manifest_digest)
    with pytest.raises(ImageNotFound):
        store.remove("a:1")


def test_transaction_removes_new_blobs_when_the_import_fails(store):
    keep = add_image(store, [{"a": "1"}], name="keep:1")
    with pytest.raises(RuntimeError):
        with store.transaction():
            new = store.put_blob(b"half an import")
            store.put_blob(keep.manifest.get("config") and store.read_blob(keep.id))  # already referenced
            assert store.has_blob(new)
            raise RuntimeError("network went away")
    assert not store.has_blob(new)
    assert store.has_blob(keep.id) and store.lookup("keep:1").id == keep.id


def test_gc_removes_only_old_tmp_files(store):
    add_image(store, [{"a": "1"}], name="keep:1")
    old, young = store.tmp_dir / "w-old", store.tmp_dir / "w-young"
    old.write_bytes(b"x")
    young.write_bytes(b"y")
    os.utime(old, (1, 1))
    orphan = store.put_blob(b"nobody points here")
    removed = store.gc()
    assert removed["blobs"] == 1 and removed["tmp"] == 1
    assert not old.exists() and young.exists() and not store.has_blob(orphan)


def test_images_sorted_newest_first_with_size(store):
    add_image(store, [{"a": "1"}], name="old:1", created="2020-01-01T00:00:00Z")
    add_image(store, [{"a": "2"}], name="new:1", created="2025-01-01T00:00:00+02:00")
    imgs = store.images()
    assert [i.names for i in imgs] == [["new:1"], ["old:1"]]
    assert imgs[0].size == imgs[0].manifest["config"]["size"] + imgs[0].layers[0]["size"]
    assert imgs[0].platform == "linux/amd64"


def test_verify_finds_rotten_blobs_that_lookup_trusts(store):
    img = add_image(store, [{"a": "1"}], name="x:1")
    assert store.verify() == []
    layer = store.blob_path(img.layers[0]["digest"])
    layer.write_bytes(layer.read_bytes() + b"rot")
    assert store.verify() == [img.layers[0]["digest"]]
    assert store.lookup("x:1").id == img.id  # the run path does not re-hash


def test_an_unwritable_store_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    from minictr import cli
    (tmp_path / "afile").write_text("not a directory")
    monkeypatch.setenv("MINICTR_ROOT", str(tmp_path / "afile" / "store"))
    with pytest.raises(ImageError, match="cannot write the image store") as e:
        lookup_or_build(Store(), "busybox")
    assert "MINICTR_ROOT" in e.value.hint
    assert cli.main(["image", "build-default"]) == 1
    assert capsys.readouterr().err.startswith("minictr: cannot write the image store at ")
    assert cli.main(["images"]) == 0  # reading an absent store is fine: it is empty


def test_the_store_only_looks_and_never_imports_the_builder(tmp_path):
    """Building busybox on demand is default.lookup_or_build's job: store.py does not import default.py."""
    import ast
    import inspect

    from minictr.errors import ImageNotFound
    from minictr.image import store as store_mod

    imported = set()
    for node in ast.walk(ast.parse(inspect.getsource(store_mod))):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
            imported.update(f"{node.module or ''}.{a.name}".lstrip(".") for a in node.names)
    assert not any(m == "default" or m.endswith(".default") or m.startswith("default") for m in imported), imported
    with pytest.raises(ImageNotFound):
        Store(tmp_path / "s").lookup("busybox")
    assert not (tmp_path / "s" / "blobs").exists()
