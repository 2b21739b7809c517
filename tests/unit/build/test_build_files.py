"""files.py: what a COPY step writes into its upper dir, and the RUN step's mount points."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from minictr.build import files
from minictr.cli_build import _pairs, _timestamp
from minictr.errors import ConfigError

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: chown to other users")


@root_only
def test_new_dirs_keep_the_mode_and_owner_of_the_layers_below(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "home" / "learner").mkdir(parents=True)
    os.chmod(lower / "home" / "learner", 0o700)
    os.chown(lower / "home" / "learner", 1000, 1000)
    upper.mkdir()
    files.make_dirs(str(upper), "/home/learner/new/deeper", [str(lower)])
    st = os.stat(upper / "home" / "learner")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o700, 1000, 1000)
    st = os.stat(upper / "home" / "learner" / "new" / "deeper")
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o755, 0)


@root_only
def test_copy_owners_root_by_default_the_source_for_from_and_chown_over_both(tmp_path):
    src = tmp_path / "f"
    src.write_text("x")
    os.chown(src, 7, 8)
    os.chmod(src, 0o600)
    for owner, keep, mode, want in [(None, False, None, (0, 0, 0o600)), (None, True, None, (7, 8, 0o600)),
                                    ((5, 6), True, 0o640, (5, 6, 0o640))]:
        target = tmp_path / "out" / f"{owner}-{keep}"
        files.copy_one(str(src), str(target), owner, mode, keep)
        st = os.stat(target)
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == want
        assert target.read_text() == "x"
    link = tmp_path / "l"
    link.symlink_to("f")
    files.copy_one(str(link), str(tmp_path / "out" / "link"), None, None, False)
    assert os.readlink(tmp_path / "out" / "link") == "f"
    files.copy_one(str(link), str(tmp_path / "out" / "followed"), None, None, False, follow=True)
    assert not os.path.islink(tmp_path / "out" / "followed")


def test_only_empty_new_mount_points_are_dropped(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "sys").mkdir(parents=True)
    for d in ("proc", "dev", "sys"):
        (upper / d).mkdir(parents=True)
    (upper / "dev" / "kept").write_text("made by the step")
    files.drop_mount_points(str(upper), [str(lower)])
    assert sorted(os.listdir(upper)) == ["dev", "sys"]  # proc was only the mount point


def test_is_archive_sniffs_the_bytes(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.addfile(tarfile.TarInfo("empty"))
    (tmp_path / "named.txt").write_bytes(buf.getvalue())
    (tmp_path / "plain.tar.gz").write_text("not a tar")
    assert files.is_archive(str(tmp_path / "named.txt"))
    assert not files.is_archive(str(tmp_path / "plain.tar.gz"))
    assert not files.is_archive(str(tmp_path))


def test_build_flag_values(monkeypatch):
    assert _pairs(["A=1", "B=", "C=x=y"], "--build-arg") == {"A": "1", "B": "", "C": "x=y"}
    monkeypatch.setenv("FROM_HOST", "h")
    monkeypatch.delenv("NOT_SET", raising=False)
    assert _pairs(["FROM_HOST", "NOT_SET"], "--build-arg") == {"FROM_HOST": "h"}  # as docker
    with pytest.raises(ConfigError):
        _pairs(["=v"], "--label")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert _timestamp(None) == 1700000000 and _timestamp(5) == 5
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ConfigError):
        _timestamp(None)
