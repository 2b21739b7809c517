"""minictr.tarball.extract against GNU tar, on archives GNU tar wrote from real trees.

Both extract the same archive; the two trees must be identical in every way we
keep: kind, mode (setuid...), owner, size, mtime, symlink target, content, and
which names share an inode (hardlinks). Device nodes are the one difference by
design: we skip them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess

import pytest

from minictr import tarball

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: owners and setuid bits are part of the check"),
]


def tree(top) -> dict:
    out, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in [""] + dirnames + filenames:
            p = os.path.join(dirpath, name) if name else dirpath
            if not name and dirpath != str(top):
                continue
            st = os.lstat(p)
            rel = os.path.relpath(p, top)
            extra = None
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    extra = hashlib.sha256(f.read()).hexdigest()
                inodes.setdefault(st.st_ino, []).append(rel)
            elif stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            mtime = None if stat.S_ISDIR(st.st_mode) and rel == "." else int(st.st_mtime)
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                        st.st_size if not stat.S_ISDIR(st.st_mode) else None, mtime, extra)
    links = sorted(sorted(v) for v in inodes.values() if len(v) > 1)
    return {"entries": out, "hardlinks": links}


def build_source(src):
    """A small tree with every kind of entry we keep, owned by various users."""
    os.makedirs(src / "bin")
    os.makedirs(src / "usr/bin")
    os.makedirs(src / "tmp")
    bb = "/bin/busybox" if os.path.exists("/bin/busybox") else shutil.which("busybox")
    shutil.copy2(bb, src / "bin/busybox")
    for n in ("sh", "ls", "cat"):
        os.link(src / "bin/busybox", src / "bin" / n)
    os.symlink("/bin/busybox", src / "usr/bin/env")
    os.symlink("../../bin/sh", src / "usr/bin/rel")
    (src / "usr/bin/su").write_bytes(b"#!/bin/sh\n")
    os.chmod(src / "usr/bin/su", 0o4755)
    os.chmod(src / "tmp", 0o1777)
    os.makedirs(src / "ro/inner")
    (src / "ro/inner/f").write_text("x")
    os.chown(src / "ro/inner/f", 1000, 1000)
    os.chmod(src / "ro/inner", 0o555)
    os.chmod(src / "ro", 0o500)
    os.mkfifo(src / "tmp/fifo")
    (src / ".wh.plain").write_text("a flat rootfs keeps this as a file")
    os.utime(src / "usr/bin/su", (1_600_000_000, 1_600_000_000))


@pytest.mark.parametrize("compress", ["", "z"])
def test_same_tree_as_gnu_tar(tmp_path, compress):
    src = tmp_path / "src"
    build_source(src)
    archive = tmp_path / ("a.tar.gz" if compress else "a.tar")
    subprocess.run(["tar", f"-c{compress}f", archive, "--numeric-owner", "-C", src, "."], check=True)
    gnu, ours = tmp_path / "gnu", tmp_path / "ours"
    gnu.mkdir()
    subprocess.run(["tar", "-xpf", archive, "--numeric-owner", "-C", gnu], check=True)
    stats = tarball.extract(archive, ours)
    assert tree(ours) == tree(gnu)
    assert stats.hardlinks == 3 and stats.fifos == 1


def test_same_tree_as_gnu_tar_on_python_stdlib(tmp_path):
    """A few thousand real files: the everyday case must match exactly too."""
    srcdir = "/usr/lib/python3.11/json" if not os.path.isdir("/usr/lib/python3.11/email") else \
        "/usr/lib/python3.11/email"
    archive = tmp_path / "py.tar"
    subprocess.run(["tar", "-cf", archive, "--numeric-owner", "-C", os.path.dirname(srcdir),
                    os.path.basename(srcdir)], check=True)
    gnu, ours = tmp_path / "gnu", tmp_path / "ours"
    gnu.mkdir()
    subprocess.run(["tar", "-xpf", archive, "--numeric-owner", "-C", gnu], check=True)
    tarball.extract(archive, ours)
    t = tree(ours)
    assert len(t["entries"]) > 20
    assert t == tree(gnu)
