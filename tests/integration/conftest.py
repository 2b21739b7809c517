"""Fixtures for tests on real containers: a private store and runtime dir, a busybox rootfs,
and a check after every test that nothing leaked (state, mounts, processes)."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from patience import HANG_S


def static_busybox() -> str:
    for path in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.exists(path):
            with open(path, "rb") as f:
                head = f.read(4096)
            if b"/lib64/ld-linux" not in head and b"/lib/ld-" not in head:  # no ELF interpreter
                return path
    raise RuntimeError("no static busybox on this machine: `make setup` installs busybox-static")


@pytest.fixture(scope="session")
def rootfs_dir(tmp_path_factory) -> str:
    """A busybox root filesystem as a plain directory (used in place, as runc uses a bundle)."""
    root = tmp_path_factory.mktemp("rootfs")
    root.chmod(0o755)  # pytest makes 0700 dirs; a real image root is 0755, or non-root users cannot enter it
    (root / "bin").mkdir()
    (root / "etc").mkdir()
    shutil.copy(static_busybox(), root / "bin" / "busybox")
    applets = subprocess.run([str(root / "bin" / "busybox"), "--list"], capture_output=True, text=True).stdout
    for applet in applets.split():
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nnobody:x:65534:\n")
    return str(root)


#: How the tests start minictr: the venv's ``minictr`` command, as a user types it. It
#: imports fewer modules up front than ``python -m`` (runpy brings warnings, contextlib,
#: ...), so a module that the container's init would import only after pivot_root,
#: when the host's files are out of reach, fails here as it would for the user.
_SCRIPT = Path(sys.executable).parent / "minictr"
MINICTR = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "minictr"]


class Minictr:
    """Runs the ``minictr`` command with a private store and runtime dir."""

    def __init__(self, tmp: Path):
        self.env = dict(os.environ, MINICTR_ROOT=str(tmp / "store"), MINICTR_RUNTIME_DIR=str(tmp / "run"))
        self.tmp = tmp

    def argv(self, *args) -> list[str]:
        return [*MINICTR, *args]

    def __call__(self, *args, timeout=60, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True,
                              timeout=timeout, **kw)

    def popen(self, *args, **kw) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args), env=self.env, **kw)

    def running_state(self, name: str, timeout: float = HANG_S, where=lambda st: True) -> dict:
        """The state file of the container called ``name`` once it runs (and ``where(state)`` holds)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for cid in self.states():
                try:
                    with open(self.tmp / "run" / cid / "state.json") as f:
                        st = json.load(f)
                except (OSError, ValueError):
                    continue  # being written or removed: the next round reads it whole
                if st["name"] == name and st["status"] == "running" and where(st):
                    return st
            time.sleep(0.02)
        raise AssertionError(f"{name} never started")

    def states(self) -> list[str]:
        run = self.tmp / "run"
        # .new-<id>-... and .del-<id>-... are a state dir appearing or going whole (state.py)
        return sorted(n for n in os.listdir(run) if not n.startswith(".")) if run.exists() else []


def _mounts_mentioning(text: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if text in line]


@pytest.fixture(scope="session", autouse=True)
def remove_the_default_bridge(tmp_path_factory):
    """At the end, ``network rm bridge``: minictr0 and the ``ip minictr`` table are kept between runs
    (as docker0 is), so the tests remove them. Refused, harmlessly, while another run uses them."""
    yield
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return   # one worker of several: the controller removes it once every worker is done (tests/conftest.py)
    m = Minictr(tmp_path_factory.mktemp("bridge-rm"))
    m("network", "rm", "bridge")


@pytest.fixture
def mc(tmp_path) -> Minictr:
    m = Minictr(tmp_path)
    yield m
    # Whatever the test did, remove its containers, then check nothing was left behind.
    leftover = m("ps", "-aq", "--no-trunc").stdout.split()
    if leftover:
        m("rm", "-f", *leftover)
    run = tmp_path / "run"
    assert (sorted(os.listdir(run)) if run.exists() else []) == [], "state left behind"
    assert _mounts_mentioning(str(tmp_path)) == [], "mounts left behind"
