"""Layers unpacked with whiteouts="overlay" really work as overlayfs lowerdirs.

The mount happens in a forked child that has its own mount namespace, so it
dies with the child: nothing to unmount, nothing leaks even if an assert fails.
"""

from __future__ import annotations

import io
import os

import pytest

from minictr import child, syscalls, tarball, tarcorpus
from minictr.labs.kit import private_mount_namespace

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: mknod of whiteouts, trusted.* xattrs, mount"),
]


def merged_listing(lowers: list[str], merged: str) -> dict:
    """Mount overlay(lowers) on merged in a child's own mount namespace; return its tree."""
    def body():
        private_mount_namespace()
        sc = syscalls.linux()
        sc.mount("overlay", merged, "overlay", 0, "lowerdir=" + ":".join(lowers))
        return {os.path.relpath(dirpath, merged): sorted(dirnames + filenames)
                for dirpath, dirnames, filenames in os.walk(merged)}
    return child.call(body)


def test_overlay_whiteouts_hide_lower_entries(tmp_path):
    lower = tarcorpus._tar([("file", "gone", b"x"), ("dir", "d/"), ("file", "d/old", b"o"),
                            ("dir", "gonedir/"), ("file", "gonedir/f", b"f"), ("file", "keep", b"k")])
    upper = tarcorpus._tar([("file", ".wh.gone", b""), ("file", ".wh.gonedir", b""), ("dir", "d/"),
                            ("file", "d/.wh..wh..opq", b""), ("file", "d/new", b"n")])
    l1, l2, merged = tmp_path / "l1", tmp_path / "l2", tmp_path / "merged"
    merged.mkdir()
    tarball.extract(io.BytesIO(lower), l1, whiteouts="overlay")
    tarball.extract(io.BytesIO(upper), l2, whiteouts="overlay")
    tree = merged_listing([str(l2), str(l1)], str(merged))
    assert tree["."] == ["d", "keep"]
    assert tree["d"] == ["new"]
