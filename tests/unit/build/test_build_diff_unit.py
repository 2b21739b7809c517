"""The layer diff on upper dirs made by hand (no mount): whiteouts, opaque dirs, determinism, ids.

A whiteout is a character device 0:0; since Linux 5.8 anyone may mknod one
(no CAP_MKNOD), and ``user.overlay.opaque`` is an ordinary user xattr, so
these tests need no root. The real overlay mount is in
tests/integration/test_build_diff.py."""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import shutil
import tarfile

import pytest

from minictr.build import diff
from minictr.errors import BuildError


@pytest.fixture(autouse=True)
def umask022():
    """The expected modes below assume the usual umask."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def whiteout(path) -> None:
    try:
        os.mknod(path, 0o20600, os.makedev(0, 0))
    except PermissionError as e:  # pragma: no cover - kernels before 5.8
        pytest.skip(f"this kernel refuses an unprivileged whiteout mknod ({errno.errorcode[e.errno]}): "
                    "run as root or on Linux >= 5.8")


def make_upper(tmp_path):
    """An upper dir as overlayfs would leave it after: rm gone; rm -r d && mkdir d;
    echo > a/new.txt; ln -s; ln hard1 hard2; mkfifo."""
    up = tmp_path / "upper"
    (up / "a").mkdir(parents=True)
    (up / "a" / "new.txt").write_text("new\n")
    whiteout(up / "gone")
    whiteout(up / "a" / "gonedir")
    (up / "d").mkdir()
    os.setxattr(up / "d", "user.overlay.opaque", b"y")
    (up / "d" / "-first").write_text("sorts before .wh.")
    (up / "d" / "x").write_text("x")
    (up / "link").symlink_to("a/new.txt")
    (up / "hard1").write_text("same")
    os.link(up / "hard1", up / "hard2")
    os.mkfifo(up / "pipe")
    os.chmod(up / "a" / "new.txt", 0o750)
    return up


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        return tf.getmembers()


def test_changes_translate_whiteouts_and_opaque_dirs(tmp_path):
    up = make_upper(tmp_path)
    assert [(name, what) for name, what, _ in diff.changes(str(up))] == [
        ("a", "entry"), ("a/.wh.gonedir", "whiteout"), ("a/new.txt", "entry"),
        ("d", "entry"), ("d/.wh..wh..opq", "opaque"), ("d/-first", "entry"), ("d/x", "entry"),
        (".wh.gone", "whiteout"), ("hard1", "entry"), ("hard2", "entry"), ("link", "entry"),
        ("pipe", "entry")]


def test_layer_tar_members(tmp_path):
    up = make_upper(tmp_path)
    buf = io.BytesIO()
    layer = diff.write_layer(up, buf, timestamp=1700000000)
    ms = members(buf.getvalue())
    got = [(m.name, m.type, m.mode, m.size, m.linkname) for m in ms]
    assert got == [
        ("a", tarfile.DIRTYPE, 0o755, 0, ""), ("a/.wh.gonedir", tarfile.REGTYPE, 0o600, 0, ""),
        ("a/new.txt", tarfile.REGTYPE, 0o750, 4, ""), ("d", tarfile.DIRTYPE, 0o755, 0, ""),
        ("d/.wh..wh..opq", tarfile.REGTYPE, 0o644, 0, ""), ("d/-first", tarfile.REGTYPE, 0o644, 17, ""),
        ("d/x", tarfile.REGTYPE, 0o644, 1, ""), (".wh.gone", tarfile.REGTYPE, 0o600, 0, ""),
        ("hard1", tarfile.REGTYPE, 0o644, 4, ""), ("hard2", tarfile.LNKTYPE, 0o644, 0, "hard1"),
        ("link", tarfile.SYMTYPE, 0o777, 0, "a/new.txt"), ("pipe", tarfile.FIFOTYPE, 0o644, 0, "")]
    st = os.lstat(up / "a" / "new.txt")
    for m in ms:
        assert m.mtime == 1700000000
        assert (m.uid, m.gid, m.uname, m.gname) == (st.st_uid, st.st_gid, "", "")
        assert not {"atime", "ctime", "mtime"} & set(m.pax_headers)
    assert (layer.entries, layer.whiteouts, layer.opaques) == (12, 2, 1)


def test_ids_and_sizes(tmp_path):
    up = make_upper(tmp_path)
    buf = io.BytesIO()
    layer = diff.write_layer(up, buf)
    data = buf.getvalue()
    assert layer.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert layer.size == len(data)
    assert layer.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest()
    path = tmp_path / "layer.tar.gz"
    assert diff.write_layer(up, path) == layer and path.read_bytes() == data


def test_deterministic_with_a_timestamp(tmp_path):
    up = make_upper(tmp_path)
    a, b = io.BytesIO(), io.BytesIO()
    one = diff.write_layer(up, a, timestamp=0)
    for p in [up / "a" / "new.txt", up / "d", up / "hard1"]:
        os.utime(p, (12345, 67890), follow_symlinks=False)
    two = diff.write_layer(up, b, timestamp=0)
    assert a.getvalue() == b.getvalue() and one == two
    # without a timestamp the files' mtimes are kept, so the bytes differ
    c = io.BytesIO()
    three = diff.write_layer(up, c)
    assert three.diff_id != one.diff_id
    assert {m.name: m.mtime for m in members(c.getvalue())}["a/new.txt"] == 67890
    # a content change changes the ids
    (up / "d" / "x").write_text("y")
    assert diff.write_layer(up, io.BytesIO(), timestamp=0).diff_id != one.diff_id


def test_opaque_x_is_not_opaque(tmp_path):
    up = tmp_path / "upper"
    (up / "d").mkdir(parents=True)
    os.setxattr(up / "d", "user.overlay.opaque", b"x")  # "has xwhiteouts", not "opaque"
    assert [n for n, _, _ in diff.changes(str(up))] == ["d"]


def test_redirected_dirs_are_refused(tmp_path):
    up = tmp_path / "upper"
    (up / "moved").mkdir(parents=True)
    os.setxattr(up / "moved", "user.overlay.redirect", b"/old")
    with pytest.raises(BuildError) as e:
        diff.write_layer(up, io.BytesIO())
    assert str(e.value) == (f"{up}: moved has the overlay xattr user.overlay.redirect: the layer cannot be read "
                            "from the upper dir alone (hint: mount the overlay with redirect_dir=off,metacopy=off)")


def test_applying_the_layer_on_the_lower_tree(tmp_path):
    lower = tmp_path / "lower"
    for rel, text in {"gone": "g", "keep": "k", "a/gonedir/f": "f", "a/old": "o", "d/old1": "1",
                      "d/sub/old2": "2"}.items():
        (lower / rel).parent.mkdir(parents=True, exist_ok=True)
        (lower / rel).write_text(text)
    up = make_upper(tmp_path)
    os.unlink(up / "pipe")  # keep the tree simple to write down
    buf = io.BytesIO()
    diff.write_layer(up, buf)
    root = tmp_path / "root"
    shutil.copytree(lower, root, symlinks=True)
    diff.apply_layer(io.BytesIO(buf.getvalue()), root)
    assert sorted(diff.listing(root)) == ["a", "a/new.txt", "a/old", "d", "d/-first", "d/x", "hard1", "hard2",
                                          "keep", "link"]
    listing = diff.listing(root)
    assert listing["a/new.txt"][1] == 0o750 and listing["link"][5] == "a/new.txt"
    assert listing["d/x"][5] == hashlib.sha256(b"x").hexdigest()
    assert os.stat(root / "hard1").st_ino == os.stat(root / "hard2").st_ino
