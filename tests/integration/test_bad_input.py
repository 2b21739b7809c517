"""Bad input to the CLI: one line on stderr, the right exit status, never "unexpected error".

`run`'s own failures exit 125; every other command's exit 1, as docker's CLI.
"""

import gzip
import io
import json
import tarfile

import pytest


def one_line(r, status):
    assert r.returncode == status, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("minictr: "), r.stderr
    assert "unexpected error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    return lines[-1]


def rootfs_tar(path):
    with tarfile.open(path, "w") as tar:
        ti = tarfile.TarInfo("hello")
        ti.size = 2
        tar.addfile(ti, io.BytesIO(b"hi"))
    return path


@pytest.mark.parametrize("content, words", [
    (b"", "the file is empty"),
    (bytes(range(256)) * 20, "neither a tar nor a gzip"),
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbagegarbage", "gzip-compressed, but corrupt"),
])
def test_load_of_what_is_not_an_archive(mc, tmp_path, content, words):
    (tmp_path / "bad").write_bytes(content)
    assert words in one_line(mc("load", "-i", str(tmp_path / "bad")), 1)


def test_load_of_a_layout_with_bad_json_shapes(mc, tmp_path):
    assert mc("run", "--rm", "busybox", "true").returncode == 0
    layout = tmp_path / "layout"
    assert mc("save", "-o", str(tmp_path / "bb.tar"), "busybox").returncode == 0
    with tarfile.open(tmp_path / "bb.tar") as tar:
        tar.extractall(layout)
    index = json.loads((layout / "index.json").read_text())
    (layout / "index.json").write_text(json.dumps({**index, "manifests": "nope"}))
    assert "'manifests' must be a list" in one_line(mc("load", "-i", str(layout)), 1)


def test_an_image_config_with_wrong_types_is_refused_at_load(mc, tmp_path):
    """A docker-archive whose config says Env is a string and Cmd a number."""
    layer = tmp_path / "layer.tar"
    rootfs_tar(layer)
    import hashlib
    diff_id = "sha256:" + hashlib.sha256(layer.read_bytes()).hexdigest()
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": "PATH=/bin", "Cmd": 7},
                      "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    with tarfile.open(tmp_path / "img.tar", "w") as tar:
        for name, data in [(cfg_name, cfg), ("l/layer.tar", layer.read_bytes()),
                           ("manifest.json", json.dumps([{"Config": cfg_name, "RepoTags": ["typo:1"],
                                                          "Layers": ["l/layer.tar"]}]).encode())]:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    line = one_line(mc("load", "-i", str(tmp_path / "img.tar")), 1)
    assert "Cmd must be a list of strings" in line and "Env must be a list of strings" in line
    assert "typo" not in mc("images").stdout


def test_a_corrupt_gzip_rootfs_for_run_is_125(mc, tmp_path):
    gz = bytearray(gzip.compress(rootfs_tar(tmp_path / "r.tar").read_bytes(), mtime=0))
    for i in range(12, len(gz) - 8):
        gz[i] ^= 0x5A
    (tmp_path / "r.tar.gz").write_bytes(bytes(gz))
    one_line(mc("run", "--rm", str(tmp_path / "r.tar.gz"), "true"), 125)


@pytest.mark.parametrize("args", [
    ["pull", "../x"],
    ["tag", "busybox", "../x"],
    ["tag", "busybox", "a" * 300],
    ["tag", "busybox", "UPPER/Case"],
    ["import", "ROOTFS", "../x"],
])
def test_bad_references_are_refused(mc, tmp_path, args):
    assert mc("run", "--rm", "busybox", "true").returncode == 0
    args = [str(rootfs_tar(tmp_path / "r.tar")) if a == "ROOTFS" else a for a in args]
    assert "invalid image reference" in one_line(mc(*args), 1)
    assert [line.split()[0] for line in mc("images").stdout.splitlines()[1:]] == ["busybox"]


def test_a_huge_memory_limit_is_refused(mc):
    assert "more than the kernel's limits can hold" in one_line(
        mc("run", "--rm", "--memory", "99999999999999999999g", "busybox", "true"), 125)


def test_rm_and_rmi_of_unknown_things_exit_1(mc):
    assert "no such container" in one_line(mc("rm", "nothere"), 1)
    assert "not found" in one_line(mc("rmi", "nothere"), 1)
