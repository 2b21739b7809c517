"""load (docker-archive, oci-archive, OCI layout dir), import and save, built by hand (no root)."""

import gzip
import io
import json
import tarfile

import pytest

from minictr.errors import ImageNotFound, InvalidImage
from minictr.image import Store, archive, oci
from minictr.image.synthetic import add_image, make_tar


def write_tar(path, files: dict[str, bytes], symlinks: dict[str, str] = {}):
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
        for name, target in symlinks.items():
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = tarfile.SYMTYPE, target
            tar.addfile(ti)
    return path


def docker_archive(tmp_path, *, tags=("demo/app:v1",), layers=({"etc": None, "etc/motd": "hi"},),
                   tamper_config_name=False, wrong_diff_id=False, gz_layers=False):
    """What `docker save` writes: manifest.json, <config digest>.json, <id>/layer.tar (podman: a symlink)."""
    tars = [make_tar(l) for l in layers]
    diff_ids = [oci.sha256_digest(t) for t in tars]
    if wrong_diff_id:
        diff_ids[0] = "sha256:" + "0" * 64
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "created": "2024-05-06T07:08:09Z",
                      "config": {"Entrypoint": ["/bin/app"], "Cmd": ["--help"], "Env": ["A=1"],
                                 "WorkingDir": "/srv", "User": "learner", "ExposedPorts": {"80/tcp": {}},
                                 "Labels": {"k": "v"}},
                      "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    cfg_name = ("0" * 64 if tamper_config_name else oci.sha256_digest(cfg)[7:]) + ".json"
    files = {cfg_name: cfg}
    names = []
    symlinks = {}
    for i, t in enumerate(tars):
        h = oci.sha256_digest(t)[7:]
        files[f"{h}.tar"] = gzip.compress(t) if gz_layers else t
        symlinks[f"dir{i}/layer.tar"] = f"../{h}.tar"
        names.append(f"dir{i}/layer.tar")
    files["manifest.json"] = json.dumps([{"Config": cfg_name, "RepoTags": list(tags), "Layers": names}]).encode()
    return write_tar(tmp_path / "docker.tar", files, symlinks)


def test_load_docker_archive_keeps_names_config_and_layers(tmp_path):
    store = Store()
    [img] = archive.load(store, docker_archive(tmp_path, tags=("demo/app:v1", "docker.io/library/x:2")))
    assert archive.detect_format(tmp_path / "docker.tar") == "docker-archive"
    assert sorted(img.names) == ["demo/app:v1", "x:2"]
    assert img.config["Entrypoint"] == ["/bin/app"] and img.config["User"] == "learner"
    assert img.config["ExposedPorts"] == {"80/tcp": {}} and img.config["Labels"] == {"k": "v"}
    assert img.manifest["mediaType"] == oci.OCI_MANIFEST
    assert [l["digest"] for l in img.layers] == img.diff_ids  # plain tars: digest == diff id
    assert store.lookup("x:2").id == img.id


def test_load_docker_archive_with_gzip_layers(tmp_path):
    [img] = archive.load(Store(), docker_archive(tmp_path, gz_layers=True))
    assert img.layers[0]["mediaType"] == oci.OCI_LAYER_GZIP and img.layers[0]["digest"] != img.diff_ids[0]


@pytest.mark.parametrize("kw, match", [({"tamper_config_name": True}, "digest mismatch"),
                                       ({"wrong_diff_id": True}, "digest mismatch for layer")])
def test_tampered_docker_archives_are_refused_and_leave_nothing(tmp_path, kw, match):
    store = Store()
    keep = add_image(store, [{"a": "1"}], name="keep:1")
    before = sorted(p.name for p in store.blobs_dir.iterdir())
    with pytest.raises(InvalidImage, match=match):
        archive.load(store, docker_archive(tmp_path, **kw))
    assert sorted(p.name for p in store.blobs_dir.iterdir()) == before
    assert [i.names for i in store.images()] == [["keep:1"]] and store.lookup("keep:1").id == keep.id


def test_not_an_image_archive(tmp_path):
    with pytest.raises(InvalidImage, match="neither a docker-archive"):
        archive.load(Store(), write_tar(tmp_path / "x.tar", {"hello": b"x"}))
    (tmp_path / "junk").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(InvalidImage, match="not a readable tar"):
        archive.load(Store(), tmp_path / "junk")
    with pytest.raises(ImageNotFound):
        archive.load(Store(), tmp_path / "missing.tar")


def test_manifest_paths_cannot_climb_out(tmp_path):
    (tmp_path / "secret.json").write_text("{}")
    d = tmp_path / "layout"
    d.mkdir()
    (d / "manifest.json").write_text(json.dumps([{"Config": "../secret.json", "Layers": []}]))
    with pytest.raises(InvalidImage, match="refusing file name"):
        archive.load(Store(), d)


def oci_layout(tmp_path, store_src: Store, names: dict[str, str], *, multi_arch=False) -> "Path":
    """Export images from one store as an OCI layout dir via save(), then unpack it."""
    out = tmp_path / "oci.tar"
    archive.save(store_src, list(names), out)
    d = tmp_path / "oci-dir"
    with tarfile.open(out) as tar:
        tar.extractall(d)
    if multi_arch:  # wrap the manifest in an index with a foreign platform listed first
        index = json.loads((d / "index.json").read_text())
        m = index["manifests"][0]
        other = {**m, "platform": {"os": "linux", "architecture": "s390x"}}
        mine = {k: v for k, v in m.items() if k != "annotations"}
        mine["platform"] = oci.host_platform()
        inner = oci.canonical_json({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": [other, mine]})
        (d / "blobs" / "sha256" / oci.sha256_digest(inner)[7:]).write_bytes(inner)
        index["manifests"] = [{"mediaType": oci.OCI_INDEX, "digest": oci.sha256_digest(inner),
                               "size": len(inner), "annotations": m["annotations"]}]
        (d / "index.json").write_text(json.dumps(index))
    return d


def test_save_then_load_round_trips_as_archive_and_dir(tmp_path):
    src = Store(tmp_path / "src")
    img = add_image(src, [{"a": "1"}, {"b": "2"}], name="127.0.0.1:5000/demo:v1", config={"Cmd": ["x"]})
    out = tmp_path / "out.tar"
    archive.save(src, ["127.0.0.1:5000/demo:v1"], out)
    assert archive.detect_format(out) == "oci-archive"
    with tarfile.open(out) as tar:
        index = json.load(tar.extractfile("index.json"))
        names = tar.getnames()
    assert index["manifests"][0]["annotations"][oci.REF_NAME] == "127.0.0.1:5000/demo:v1"
    assert f"blobs/sha256/{img.manifest_digest[7:]}" in names and "oci-layout" in names
    [got] = archive.load(Store(), out)
    assert (got.names, got.id, got.manifest_digest, got.diff_ids) == (["127.0.0.1:5000/demo:v1"], img.id,
                                                                      img.manifest_digest, img.diff_ids)
    d = oci_layout(tmp_path, src, {"127.0.0.1:5000/demo:v1": ""})
    assert archive.detect_format(d) == "oci-dir"
    [again] = archive.load(Store(tmp_path / "third"), d)
    assert again.id == img.id
    assert not list(tmp_path.glob(".out.tar.*"))  # no temp file left beside the output


def test_save_writes_docker_hub_names_fully_qualified(tmp_path):
    src = Store(tmp_path / "src")
    add_image(src, [{"a": "1"}], name="busybox:latest")
    buf = io.BytesIO()
    archive.save(src, ["busybox"], buf)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        index = json.load(tar.extractfile("index.json"))
    assert index["manifests"][0]["annotations"][oci.REF_NAME] == "docker.io/library/busybox:latest"
    [got] = archive.load(Store(), _write(tmp_path / "b.tar", buf.getvalue()))
    assert got.names == ["busybox:latest"]


def _write(path, data):
    path.write_bytes(data)
    return path


def test_load_picks_this_platform_from_an_index(tmp_path):
    src = Store(tmp_path / "src")
    img = add_image(src, [{"a": "1"}], name="multi:1")
    d = oci_layout(tmp_path, src, {"multi:1": ""}, multi_arch=True)
    [got] = archive.load(Store(), d)
    assert got.manifest_digest == img.manifest_digest and got.names == ["multi:1"]


def test_bare_tag_ref_names_give_an_unnamed_image(tmp_path):
    src = Store(tmp_path / "src")
    add_image(src, [{"a": "1"}], name="x:1")
    d = oci_layout(tmp_path, src, {"x:1": ""})
    index = json.loads((d / "index.json").read_text())
    index["manifests"][0]["annotations"][oci.REF_NAME] = "latest"
    (d / "index.json").write_text(json.dumps(index))
    [got] = archive.load(Store(), d)
    assert got.names == [] and got.ref == got.short_id


def test_corrupt_blob_in_a_layout_is_refused(tmp_path):
    src = Store(tmp_path / "src")
    img = add_image(src, [{"a": "1"}], name="x:1")
    d = oci_layout(tmp_path, src, {"x:1": ""})
    layer = d / "blobs" / "sha256" / img.layers[0]["digest"][7:]
    layer.write_bytes(layer.read_bytes()[:-3] + b"xyz")
    store = Store()
    with pytest.raises(InvalidImage, match="digest mismatch"):
        archive.load(store, d)
    assert store.images() == [] and list(store.blobs_dir.iterdir()) == []


def test_import_plain_and_gzip_rootfs(tmp_path):
    tar = make_tar({"bin": None, "bin/hello": "echo hi"})
    (tmp_path / "r.tar").write_bytes(tar)
    (tmp_path / "r.tar.gz").write_bytes(gzip.compress(tar))
    store = Store()
    a = archive.import_rootfs(store, tmp_path / "r.tar", "plain:1", config={"Cmd": ["sh"]}, message="m")
    b = archive.import_rootfs(store, tmp_path / "r.tar.gz", "gz:1")
    assert a.diff_ids == b.diff_ids == [oci.sha256_digest(tar)]
    assert a.layers[0]["mediaType"] == oci.OCI_LAYER and b.layers[0]["mediaType"] == oci.OCI_LAYER_GZIP
    assert a.config == {"Cmd": ["sh"]} and b.config == {}
    assert a.oci_config["history"][0]["comment"] == "m"
    c = archive.import_rootfs(store, tmp_path / "r.tar")
    assert c.names == []


def test_import_refuses_what_is_not_a_tar(tmp_path):
    (tmp_path / "x").write_bytes(b"hello" * 1000)
    store = Store()
    with pytest.raises(InvalidImage, match="not a tar"):
        archive.import_rootfs(store, tmp_path / "x", "x:1")
    with pytest.raises(ImageNotFound):
        archive.import_rootfs(store, tmp_path / "nope.tar", "x:1")
    assert store.images() == []


def test_save_docker_archive_round_trips_several_images(tmp_path):
    src = Store(tmp_path / "src")
    a = add_image(src, [{"shared": "s"}, {"a": "1"}], name="a:1", config={"Cmd": ["a"]})
    b = add_image(src, [{"shared": "s"}], name="b:2")
    out = tmp_path / "d.tar"
    archive.save(src, ["a:1", "b:2"], out, format="docker-archive")
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        names = tar.getnames()
        first_layer = tar.extractfile(manifest[0]["Layers"][0]).read()
    assert [m["RepoTags"] for m in manifest] == [["a:1"], ["b:2"]]
    assert names.count(manifest[0]["Layers"][0]) == 1                    # a shared layer is written once
    assert oci.sha256_digest(first_layer) == a.diff_ids[0]               # plain tar: digest == diff id
    got = archive.load(Store(), out)
    assert [(i.names, i.id, i.diff_ids) for i in got] == [(["a:1"], a.id, a.diff_ids), (["b:2"], b.id, b.diff_ids)]
    with pytest.raises(ValueError):
        archive.save(src, ["a:1"], tmp_path / "x.tar", format="zip")


def test_save_into_a_missing_directory_is_a_clean_error(tmp_path):
    from minictr.errors import ImageError
    src = Store(tmp_path / "src")
    add_image(src, [{"a": "1"}], name="a:1")
    with pytest.raises(ImageError, match="cannot write .*nodir/x.tar"):
        archive.save(src, ["a:1"], tmp_path / "nodir" / "x.tar")


# --- bad input: one clean line (InvalidImage), never a traceback -----------------

def _corrupt_gzip(tar: bytes) -> bytes:
    """A gzip whose header is fine but whose deflate stream is not: zlib.error, not OSError."""
    import zlib
    gz = bytearray(gzip.compress(tar, mtime=0))
    for i in range(20, min(len(gz) - 8, 220)):
        gz[i] ^= 0x5A
    with pytest.raises(zlib.error):  # the case this test is about
        gzip.decompress(bytes(gz))
    return bytes(gz)


@pytest.mark.parametrize("content, why", [
    (b"", "the file is empty"),
    (bytes(range(256)) * 20, "neither a tar nor a gzip"),
    # tarfile reads a truncated gzip tar as a shorter archive: here one without manifest.json
    (gzip.compress(make_tar({"a": "x" * 50000}))[:300], "neither a docker-archive"),
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbagegarbage", "gzip-compressed, but corrupt or truncated"),
])
def test_unreadable_archives_are_one_line(tmp_path, content, why):
    (tmp_path / "bad").write_bytes(content)
    with pytest.raises(InvalidImage) as e:
        archive.load(Store(), tmp_path / "bad")
    assert why in str(e.value) and "\n" not in str(e.value)


def test_index_json_whose_manifests_is_not_a_list(tmp_path):
    src = Store(tmp_path / "src")
    add_image(src, [{"a": "1"}], name="x:1")
    d = oci_layout(tmp_path, src, {"x:1": ""})
    for bad in ("nope", ["nope"], {"a": 1}):
        (d / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": bad}))
        with pytest.raises(InvalidImage, match="'manifests' must be a list of descriptors") as e:
            archive.load(Store(), d)
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("config, field", [
    ({"Env": "PATH=/bin"}, "Env must be a list of strings, not a string"),
    ({"Cmd": 42}, "Cmd must be a list of strings, not a number (42)"),
    ({"Entrypoint": ["sh", 1]}, "Entrypoint must be a list of strings"),
    ({"WorkingDir": ["/srv"]}, "WorkingDir must be a string"),
    ({"Labels": {"a": 1}}, "Labels must be an object of strings"),
    ({"Env": ["NOEQUALS"]}, "Env entry 'NOEQUALS' is not KEY=VALUE"),
])
def test_an_image_config_with_wrong_types_is_refused_at_load(tmp_path, config, field):
    src = Store(tmp_path / "src")
    add_image(src, [{"a": "1"}], name="x:1", config=config)
    d = oci_layout(tmp_path, src, {"x:1": ""})
    store = Store()
    with pytest.raises(InvalidImage, match="bad image config") as e:
        archive.load(store, d)
    assert field in str(e.value) and "\n" not in str(e.value)
    assert store.images() == []
    with pytest.raises(InvalidImage, match="bad image config"):  # docker-archive too
        archive.load(Store(tmp_path / "other"), archive.save(src, ["x:1"], tmp_path / "d.tar",
                                                            format="docker-archive") and tmp_path / "d.tar")


def test_a_corrupt_gzip_layer_is_refused_at_load_and_at_unpack(tmp_path):
    from minictr.image import layers

    path = docker_archive(tmp_path, gz_layers=True)
    with tarfile.open(path) as tar:  # rewrite the archive with the gzip layer corrupted
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
        links = {m.name: m.linkname for m in tar.getmembers() if m.issym()}
    name = next(n for n, data in files.items() if data[:2] == b"\x1f\x8b")
    files[name] = _corrupt_gzip(gzip.decompress(files[name]))
    write_tar(path, files, links)
    with pytest.raises(InvalidImage, match="cannot decompress layer") as e:
        archive.load(Store(), path)
    assert "\n" not in str(e.value)
    # What run does with a layer already in the store: unpack it.
    store = Store()
    store.ensure()
    digest = store.put_blob(_corrupt_gzip(make_tar({"a": "x" * 50000})))
    with pytest.raises(InvalidImage, match="cannot decompress layer"):
        layers.extract_layer(store, digest, None, tmp_path / "dest", "apply")
