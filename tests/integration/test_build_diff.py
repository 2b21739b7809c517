"""The layer diff of a real overlayfs upper dir: what a RUN step changes becomes a layer that,
applied on the lower tree, gives exactly the merged view the step saw.

The mount happens in a forked child with its own (private) mount namespace, on
directories under tmp_path: it dies with the child, so nothing leaks even if an
assert fails.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile

import pytest

from minictr import child, syscalls, tarball
from minictr.build import diff
from minictr.labs.kit import private_mount_namespace

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: mount, trusted.* xattrs"),
]


def in_overlay(lower: str, upper: str | None, work: str | None, merged: str, steps=None,
               userns: bool = False) -> dict:
    """Mount overlay(lower, upper) on merged in a child's own mount namespace, run
    ``steps(merged)`` there (the RUN step), and return ``diff.listing(merged)``.
    Without ``upper`` the mount is read-only (``lower`` may be "a:b", top first).
    ``userns``: mount from a new user namespace (root mapped to root), where
    overlayfs keeps its xattrs in ``user.overlay.*`` (the ``userxattr`` option)."""
    options = f"lowerdir={lower}"
    if upper is not None:
        options += f",upperdir={upper},workdir={work}"
        options += ",userxattr" if userns else ",redirect_dir=off,metacopy=off"
    def body():
        sc = syscalls.linux()
        if userns:
            sc.unshare(syscalls.CloneFlags.NEWUSER)
            for name, text in (("uid_map", "0 0 1"), ("setgroups", "deny"), ("gid_map", "0 0 1")):
                with open(f"/proc/self/{name}", "w") as f:
                    f.write(text)
        private_mount_namespace()
        sc.mount("overlay", merged, "overlay", 0, options)
        if steps is not None:
            steps(merged)
        return {k: list(v) for k, v in diff.listing(merged).items()}
    return {k: tuple(v) for k, v in child.call(body).items()}


def make_lower(root) -> None:
    for rel, text in {"etc/motd": "hello\n", "etc/hosts": "127.0.0.1 localhost\n",
                      "var/cache/apt/a.bin": "a", "var/cache/apt/b.bin": "b", "var/cache/keep": "k",
                      "usr/bin/tool": "#!/bin/sh\n", "srv/old/f": "f", "home/u/.profile": "p"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    os.symlink("tool", root / "usr/bin/alias")
    os.chown(root / "home/u/.profile", 1000, 1000)


def a_run_step(merged: str) -> None:
    """What a RUN step might do: delete, replace a dir, edit, add, chmod, chown, link, rename."""
    def j(*p):
        return os.path.join(merged, *p)
    os.unlink(j("etc/motd"))                                  # -> etc/.wh.motd
    shutil.rmtree(j("var/cache/apt"))                         # -> var/cache/apt/ opaque
    os.mkdir(j("var/cache/apt"))
    with open(j("var/cache/apt/new.bin"), "w") as f:
        f.write("new")
    shutil.rmtree(j("srv/old"))                               # -> srv/.wh.old
    with open(j("etc/hosts"), "a") as f:                      # copy-up of a changed file
        f.write("10.0.0.1 db\n")
    os.chmod(j("usr/bin/tool"), 0o755)                        # copy-up of metadata
    os.chown(j("home/u/.profile"), 1001, 1002)
    os.makedirs(j("opt/app"))
    with open(j("opt/app/run"), "w") as f:
        f.write("run")
    os.link(j("opt/app/run"), j("opt/app/run2"))
    os.symlink("/opt/app/run", j("usr/bin/run"))
    os.rename(j("etc/hosts"), j("etc/hosts.new"))             # -> etc/.wh.hosts + etc/hosts.new
    os.unlink(j("usr/bin/alias"))


def test_the_layer_of_a_real_overlay_upper_gives_the_merged_view(tmp_path):
    lower, upper, work, merged = (tmp_path / n for n in ("lower", "upper", "work", "merged"))
    for d in (upper, work, merged):
        d.mkdir()
    make_lower(lower)
    before = diff.listing(lower)
    merged_view = in_overlay(str(lower), str(upper), str(work), str(merged), a_run_step)
    assert diff.listing(lower) == before, "the lower layer must not change"
    assert os.listdir(merged) == [], "the mount must have died with the child"

    buf = io.BytesIO()
    layer = diff.write_layer(upper, buf, timestamp=0)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue()), mode="r:gz") as tf:
        names = tf.getnames()
    for name in ("etc/.wh.motd", "etc/.wh.hosts", "srv/.wh.old", "usr/bin/.wh.alias",
                 "var/cache/apt/.wh..wh..opq", "etc/hosts.new", "opt/app/run"):
        assert name in names
    assert names.index("var/cache/apt/.wh..wh..opq") == names.index("var/cache/apt") + 1
    assert "var/cache/keep" not in names and "usr/bin/tool" in names
    assert layer.whiteouts == 4 and layer.opaques == 1

    # The inverse check: the lower tree + the layer == what the RUN step saw.
    root = tmp_path / "applied"
    shutil.copytree(lower, root, symlinks=True)
    diff.apply_layer(io.BytesIO(buf.getvalue()), root)
    assert diff.listing(root) == merged_view
    assert merged_view["home/u/.profile"][2:4] == (1001, 1002)
    assert "var/cache/apt/a.bin" not in merged_view and "var/cache/keep" in merged_view

    # And as the image store uses layers: unpacked on its own (whiteouts="overlay"), it is a
    # lowerdir above the lower one, and the overlay of the two is the same view again.
    layer_dir = tmp_path / "layer"
    tarball.extract(io.BytesIO(buf.getvalue()), layer_dir, whiteouts="overlay")
    assert in_overlay(f"{layer_dir}:{lower}", None, None, str(merged)) == merged_view


def test_the_layer_is_the_same_bytes_twice(tmp_path):
    lower, upper, work, merged = (tmp_path / n for n in ("lower", "upper", "work", "merged"))
    for d in (upper, work, merged):
        d.mkdir()
    make_lower(lower)
    in_overlay(str(lower), str(upper), str(work), str(merged), a_run_step)
    a, b = io.BytesIO(), io.BytesIO()
    assert diff.write_layer(upper, a, timestamp=1) == diff.write_layer(upper, b, timestamp=1)
    assert a.getvalue() == b.getvalue()


def test_an_overlay_mounted_in_a_user_namespace(tmp_path):
    """There the opaque dir is marked with user.overlay.opaque, and the layer is the same."""
    lower, upper, work, merged = (tmp_path / n for n in ("lower", "upper", "work", "merged"))
    for d in (upper, work, merged):
        d.mkdir()
    make_lower(lower)
    os.chown(lower / "home/u/.profile", 0, 0)  # only root is mapped in that namespace

    def step(m: str) -> None:
        shutil.rmtree(os.path.join(m, "var/cache/apt"))
        os.mkdir(os.path.join(m, "var/cache/apt"))
        os.unlink(os.path.join(m, "etc/motd"))
    merged_view = in_overlay(str(lower), str(upper), str(work), str(merged), step, userns=True)
    assert "user.overlay.opaque" in os.listxattr(upper / "var/cache/apt")
    buf = io.BytesIO()
    layer = diff.write_layer(upper, buf)
    assert (layer.whiteouts, layer.opaques) == (1, 1)
    root = tmp_path / "applied"
    shutil.copytree(lower, root, symlinks=True)
    diff.apply_layer(io.BytesIO(buf.getvalue()), root)
    assert diff.listing(root) == merged_view
