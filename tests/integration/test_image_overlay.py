"""Root: layers cached with overlay whiteouts, mounted as overlayfs in a private mount namespace."""

import os
import stat
import subprocess
from pathlib import Path

import pytest

from minictr.image import Store, layers, lookup_or_build, prepare_rootfs
from minictr.image.synthetic import add_image, tree

BOTTOM = {"a": None, "a/x": "x", "a/y": "y", "f": "gone soon", "d": None, "d/1": "1",
          "r": None, "r/old": "old", "keep": "kept", "link": "->a/x"}
TOP = {".wh.f": "", ".wh.d": "", "r": None, "r/.wh..wh..opq": "", "r/new": "new", "a/z": "z",
       "a/.wh.y": ""}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: overlayfs mounts and whiteout device nodes")


def in_overlay(rootfs, script: str) -> str:
    """Mount the overlay in a throw-away mount namespace (it dies with `unshare`) and run a script."""
    opts = f"lowerdir={':'.join(rootfs.lowers)},upperdir={rootfs.upper},workdir={rootfs.work}"
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-euc",
         f"mount -t overlay overlay -o {opts} {rootfs.path}; cd {rootfs.path}; {script}"],
        check=True, capture_output=True, text=True).stdout


def test_overlay_whiteouts_give_the_same_tree_as_the_copy(tmp_path):
    store = Store()
    img = add_image(store, [BOTTOM, TOP], name="wh:1")
    assert layers.overlay_available()
    rootfs = prepare_rootfs(store, img, tmp_path / "c1")
    assert rootfs.is_overlay and len(rootfs.lowers) == 2
    top, bottom = rootfs.lowers
    assert bottom.endswith(img.diff_ids[0][7:]) and top.endswith(img.diff_ids[1][7:])
    # the cached top layer holds overlayfs' own whiteouts: 0/0 char devices and an opaque xattr
    st = os.lstat(os.path.join(top, "f"))
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 0 and os.minor(st.st_rdev) == 0
    assert stat.S_ISCHR(os.lstat(os.path.join(top, "d")).st_mode)
    assert os.getxattr(os.path.join(top, "r"), "trusted.overlay.opaque") == b"y"
    listing = in_overlay(rootfs, "find . | sort")
    copy = prepare_rootfs(store, img, tmp_path / "c2", overlay=False)
    assert sorted("./" + p for p in tree(copy.path)) == sorted(l for l in listing.split() if l != ".")
    # nothing was mounted on the host: the namespace is gone
    assert os.listdir(rootfs.path) == []
    with open("/proc/self/mountinfo") as f:
        assert str(tmp_path) not in f.read()


def test_writes_land_in_the_container_upper_only(tmp_path):
    store = Store()
    img = lookup_or_build(store, "busybox")
    a = prepare_rootfs(store, img, tmp_path / "a")
    b = prepare_rootfs(store, img, tmp_path / "b")
    assert a.lowers == b.lowers
    out = in_overlay(a, "echo changed > etc/hostname; rm bin/ls; chroot . /bin/cat /etc/hostname")
    assert out == "changed\n"
    assert (tmp_path / "a" / "upper" / "etc" / "hostname").read_text() == "changed\n"
    assert stat.S_ISCHR(os.lstat(tmp_path / "a" / "upper" / "bin" / "ls").st_mode)  # a whiteout
    assert in_overlay(b, "cat etc/hostname; test -L bin/ls && echo has-ls") == "minictr\nhas-ls\n"
    assert (tmp_path / "store" / "layers" / img.diff_ids[0][7:] / "etc" / "hostname").read_text() == "minictr\n"


def test_a_cached_start_neither_unpacks_nor_copies_the_image(tmp_path):
    """Once its layers are cached, a container's root costs the same for any image size: nothing
    of the image is read, unpacked or copied; only three empty directories are made. (Shown by
    what it does, not by a stopwatch: the time, flat in the image's size, is bench's figure,
    bench/scaling.py's image_size rows; a time limit here failed under a slow emulated CPU.)"""
    store = Store()
    big = add_image(store, [{f"d{i}": None, **{f"d{i}/f{j}": "x" * 4096 for j in range(300)}} for i in range(5)],
                    name="big:1")
    warm = prepare_rootfs(store, big, tmp_path / "warm")           # fills the cache
    cached = {p: os.lstat(p).st_ino for p in warm.lowers}
    # the layer blobs go: a start that unpacked or read the image now fails
    for layer in big.layers:
        blob = store.blob_path(layer["digest"])
        assert blob.is_file()
        blob.unlink()
    for i in range(3):
        r = prepare_rootfs(store, big, tmp_path / f"c{i}")
        assert r.is_overlay and r.lowers == warm.lowers
        assert {p: os.lstat(p).st_ino for p in r.lowers} == cached   # the same cached dirs, not copies
        assert sorted(os.listdir(tmp_path / f"c{i}")) == ["rootfs", "upper", "work"]
        assert [os.listdir(tmp_path / f"c{i}" / d) for d in ("rootfs", "upper", "work")] == [[], [], []]
    assert sorted(p.name for p in store.layers_dir.iterdir() if not p.name.startswith(".")) == \
        sorted(d[7:] for d in big.diff_ids)
    assert list(store.tmp_dir.iterdir()) == []


def test_concurrent_first_runs_build_and_unpack_once(tmp_path):
    """Four processes ask for busybox in an empty store at once: one image, one layer dir, no debris."""
    import sys
    code = ("import sys; from minictr.image import Store, lookup_or_build, prepare_rootfs; s = Store(); "
            "r = prepare_rootfs(s, lookup_or_build(s, 'busybox'), sys.argv[1]); print(r.lowers[0])")
    env = {**os.environ, "PYTHONPATH": str(Path(layers.__file__).parents[2])}  # this checkout's minictr
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / f"c{i}")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [o[1] for o in outs]
    assert len({o[0] for o in outs}) == 1
    store = Store()
    assert [i.names for i in store.images()] == [["busybox:latest"]]
    assert [p.name for p in store.layers_dir.iterdir() if not p.name.startswith(".")] == \
        [store.lookup("busybox").diff_ids[0][7:]]
    assert list(store.tmp_dir.iterdir()) == []
