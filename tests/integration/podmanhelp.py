"""podman with a private store, and minictr-runtime as a command podman can call.

- ``Podman``: podman 4.3 with its storage, runroot and containers.conf under a temp dir, so a
  test never touches the user's podman store: ``default_ulimits`` (this host cannot raise
  rlimits, NOTES.md), the cgroupfs manager (PID 1 is not systemd), a file events log, and a
  default network of its own: a free subnet on a bridge named for this store
  (``bench.oci.podman_config``), not the host's shared ``podman0``.
  ``import_busybox`` gives it a ``localhost/busybox`` image made from the tests' busybox rootfs.
- ``runtime_command``: an executable podman can take for ``--runtime``. The venv's console
  script ``minictr-runtime`` when it exists, else ``python -m minictr.oci``; either way behind a
  two-line shell script that fixes ``PYTHONPATH`` (the checkout under test) and the runtime's
  ``--root`` (a private state dir: podman passes ``--runtime-flag`` flags to create and start
  but not to delete, so the flag must live in the command itself).
- ``leftovers``: what a podman container could leave on the host (cgroups named after its id,
  mounts), for the after-test checks.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import minictr
from bench.oci import podman_config

REPO = Path(minictr.__file__).resolve().parent.parent

IMAGE = "localhost/busybox:latest"


def runtime_argv() -> list[str]:
    """How a user starts minictr's OCI runtime from this venv. ``MINICTR_TEST_OCI_RUNTIME=/usr/bin/runc``
    runs the same tests against runc instead: a check of the tests themselves."""
    if os.environ.get("MINICTR_TEST_OCI_RUNTIME"):
        return [os.environ["MINICTR_TEST_OCI_RUNTIME"]]
    script = Path(sys.executable).parent / "minictr-runtime"
    return [str(script)] if script.exists() else [sys.executable, "-m", "minictr.oci"]


def runtime_command(where: Path, state_root: Path, name: str = "minictr-runtime") -> str:
    """An executable for ``podman --runtime``: minictr's runtime with a private ``--root``."""
    path = where / name
    argv = " ".join(f"'{a}'" for a in runtime_argv())
    path.write_text(f"#!/bin/sh\nexport PYTHONPATH='{REPO}'\nexec {argv} --root '{state_root}' \"$@\"\n")
    path.chmod(0o755)
    return str(path)


class Podman:
    """podman with private storage under ``root`` (and a short runroot: podman wants < 50 chars)."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        conf = podman_config(root, second=213)
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf), "TMPDIR": str(root)}
        self.runroot = tempfile.mkdtemp(prefix="mc-pr-")
        self.global_args = ["--root", str(root / "storage"), "--runroot", self.runroot, "--storage-driver", "vfs"]

    def argv(self, *args) -> list[str]:
        return ["podman", *self.global_args, *args]

    def __call__(self, *args, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True, timeout=timeout, **kw)

    def ok(self, *args, timeout: float = 120) -> str:
        r = self(*args, timeout=timeout)
        assert r.returncode == 0, f"podman {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        return r.stdout

    def import_busybox(self, rootfs_dir: str) -> None:
        tar = self.root / "busybox.tar"
        with tarfile.open(tar, "w") as tf:
            tf.add(rootfs_dir, arcname=".")
        self.ok("import", "-q", str(tar), IMAGE)
        tar.unlink()

    def container_ids(self) -> list[str]:
        return self.ok("ps", "-aq", "--no-trunc").split()

    def cleanup(self) -> None:
        subprocess.run(self.argv("rm", "-af", "-t", "0"), env=self.env, capture_output=True, timeout=120)
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.runroot, ignore_errors=True)


def cgroups_of(cid: str) -> list[str]:
    """Cgroup directories named after container ``cid`` under podman's cgroupfs parent (``libpod-ID``
    where podman's cgroupsPath puts it, or deeper, below conmon's own cgroup)."""
    return (glob.glob(f"/sys/fs/cgroup/*/libpod_parent/**/*{cid}*", recursive=True)
            + glob.glob(f"/sys/fs/cgroup/libpod_parent/**/*{cid}*", recursive=True))


def mounts_mentioning(text: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if text in line]


def status_of(pid: int) -> dict:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
