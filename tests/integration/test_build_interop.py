"""``minictr build`` against buildah and podman (one test: it is the slow one, about 15 s).

- The same multi-stage Containerfile built by ``minictr build`` and by
  ``buildah bud`` gives the same file tree: every path's type, mode, owner,
  size, content hash and link target agree (``diff.listing``; mtimes left out).
  Both images are unpacked by the same code (buildah's pushed to an
  oci-archive and loaded into a second minictr store), so the comparison
  sees the images, not two extractors.
- The minictr image, ``minictr save``d, loads into podman and runs there (runc:
  crun refuses this host's hybrid cgroups, see NOTES.md).

Everything the tools store goes under tmp_path (vfs storage, a private runroot).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile

import pytest

from tests.integration.test_image_interop import Tools

pytestmark = [pytest.mark.root, pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("buildah") or not shutil.which("podman"),
    reason="needs root, buildah and podman")]

CONTAINERFILE = """\
FROM busybox AS build
WORKDIR /src
COPY src/ ./
RUN echo built > out.txt && chmod 600 out.txt && ln -s out.txt link && rm -f /etc/group
FROM busybox
COPY --from=build /src /app
ADD files.tar.gz /unpacked/
COPY --chmod=0751 src/a.txt /bin/a-script
RUN mkdir -p /var/empty && rm -rf /home && echo done
ENV X=1
CMD ["cat", "/app/out.txt"]
"""

#: What buildah's RUN leaves in the image and a minictr build does not: the mount point
#: and the empty file its chroot isolation makes for the step (docker leaves neither).
BUILDAH_RUN_ARTEFACTS = {"run", "etc/resolv.conf"}


def test_same_tree_as_buildah_and_runs_in_podman(mc, tmp_path):
    from minictr.build.diff import listing
    from minictr.image import Store, archive
    from minictr.image.layers import prepare_rootfs

    ctx = tmp_path / "ctx"
    (ctx / "src" / "sub").mkdir(parents=True)
    (ctx / "src" / "a.txt").write_text("hello\n")
    (ctx / "src" / "sub" / "b.txt").write_text("sub\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        ti = tarfile.TarInfo("t.txt")
        ti.size, ti.uid, ti.mode = 2, 7, 0o600
        tf.addfile(ti, io.BytesIO(b"t\n"))
    (ctx / "files.tar.gz").write_bytes(buf.getvalue())
    (ctx / "Containerfile").write_text(CONTAINERFILE)

    r = mc("build", "-t", "app", str(ctx), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    tools = Tools(tmp_path / "tools")
    try:
        assert mc("save", "-o", str(tmp_path / "bb.tar"), "busybox").returncode == 0
        tools.podman("load", "-i", str(tmp_path / "bb.tar"))
        tools.buildah("bud", "--pull=never", "--isolation", "chroot", "--runtime", "/usr/bin/runc",
                      "-t", "bapp", str(ctx))
        tools.buildah("push", "bapp", f"oci-archive:{tmp_path / 'bapp.tar'}")
        mine = Store(mc.env["MINICTR_ROOT"]).lookup("app")
        theirs_store = Store(tmp_path / "theirs")
        [theirs] = archive.load(theirs_store, tmp_path / "bapp.tar")
        trees = {}
        for who, store, img in (("minictr", Store(mc.env["MINICTR_ROOT"]), mine), ("buildah", theirs_store, theirs)):
            trees[who] = listing(prepare_rootfs(store, img, tmp_path / who, overlay=False).path)
        extra = set(trees["buildah"]) - set(trees["minictr"])
        assert extra <= BUILDAH_RUN_ARTEFACTS, sorted(extra)
        for k in BUILDAH_RUN_ARTEFACTS:
            trees["buildah"].pop(k, None)
        diffs = {k: (trees["minictr"].get(k), trees["buildah"].get(k))
                 for k in set(trees["minictr"]) | set(trees["buildah"])
                 if trees["minictr"].get(k) != trees["buildah"].get(k)}
        assert diffs == {}
        assert "home" not in trees["minictr"] and "var/empty" in trees["minictr"]  # a whiteout, a new dir
        assert trees["minictr"]["app/out.txt"][1:4] == (0o600, 0, 0)
        assert trees["minictr"]["unpacked/t.txt"][1:4] == (0o600, 7, 0)
        assert len(mine.diff_ids) == 5  # busybox + one per COPY/ADD/RUN (buildah without --layers: 2)
        assert mine.config["Cmd"] == theirs.config["Cmd"] and mine.config["Env"] == theirs.config["Env"]

        # minictr save -> podman load -> podman run
        assert mc("save", "-o", str(tmp_path / "app.tar"), "app").returncode == 0
        assert "app:latest" in tools.podman("load", "-i", str(tmp_path / "app.tar"))
        out = tools.podman("run", "--rm", "--pull=never", "--runtime", "/usr/bin/runc", "--network", "none",
                           "docker.io/library/app:latest")
        assert out == "built"
        out = tools.podman("run", "--rm", "--pull=never", "--runtime", "/usr/bin/runc", "--network", "none",
                           "docker.io/library/app:latest", "sh", "-c", "ls -l /bin/a-script; readlink /app/link")
        assert out.split()[0] == "-rwxr-x--x" and out.split()[-1] == "out.txt"
    finally:
        subprocess.run(["podman", *tools.storage, "rm", "-af"], env=tools.env, capture_output=True)
        tools.cleanup()
