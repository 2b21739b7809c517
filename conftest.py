"""nbval hooks for the lesson notebooks (`pytest --nbval ... notebooks/`, see mk/notebooks.mk).

This file sits at the top of the checkout, out of the learner's folder
(notebooks/ holds the lessons and nothing else): pytest loads the rootdir's
conftest.py for every run, and these hooks act on notebook items only.

- stderr is not compared: warnings and progress go there and vary from run to run.
- A notebook needs root unless its lesson's ``LESSON`` record (minictr/labs/lNN.py) says
  ``privilege="either"`` or ``"rootless"`` (it then runs as an ordinary user too, in a user
  namespace), or its metadata says ``"minictr": {"needs_root": false}``; without root it is
  skipped, with the reason, as the probe cell would explain.
- The kernel nbval starts (``--nbval-current-env``) imports minictr from this checkout.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = str(Path(__file__).resolve().parent)
os.environ["PYTHONPATH"] = os.pathsep.join(
    [REPO] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != REPO])

ROOT_REASON = ("this notebook needs root and CAP_SYS_ADMIN (namespaces, mount, chroot); "
               "run `sudo make test` or see the probe cell at its top")


def _is_notebook(node) -> bool:
    return type(node).__name__ == "IPyNbFile"


def pytest_collectstart(collector):
    if _is_notebook(collector):
        collector.skip_compare += ("stderr",)


def _needs_root(path: Path) -> bool:
    meta = json.loads(path.read_text()).get("metadata", {}).get("minictr", {})
    if "needs_root" in meta:
        return bool(meta["needs_root"])
    from minictr import labs

    privilege = {lesson.number: lesson.privilege for lesson in labs.lessons()}.get(path.name[:2], "root")
    return privilege == "root"


def pytest_collection_modifyitems(config, items):
    notebook_items = [item for item in items if _is_notebook(item.parent)]
    if not notebook_items:
        return
    from minictr.exercises import has_root

    if has_root():
        return
    for item in notebook_items:
        if _needs_root(Path(str(item.parent.fspath))):
            item.add_marker(pytest.mark.skip(reason=ROOT_REASON))


# --- Running side by side (`make test` runs pytest with pytest-xdist: -n 2 --dist loadfile) ---
#
# loadfile keeps each file on one worker: a notebook's cells share one kernel, and a module's
# fixtures (the browser test's JupyterLab server) start once. What files on two workers may still
# share is the host, and two locks (flock, in a directory the controller makes) cover it:
#
# - ``lesson-NN``: a lesson notebook uses fixed host-wide names (lesson 11: the nft table and
#   namespaces "lesson11", port 18111, the network lesson11-net; lesson 15: the veth lesson15-a ...),
#   and three files run every lesson (strict nbval here, tests/browser/test_lab.py and
#   tests/integration/test_lessons_solved.py). A test that runs lesson NN holds ``lesson-NN`` (an
#   nbval notebook from its first cell to its last): the same lesson never runs twice at once,
#   different lessons do.
# - ``host``: every test holds it shared; a test marked ``alone`` (it compares host-wide state before
#   and after: the host's mount table, its interfaces, a sysctl) holds it exclusive, so it runs while
#   the other worker waits. ``gate`` (held only while taking ``host``) lets a waiting ``alone`` test
#   in before the other worker's next test.
#
# Order: a lesson lock first, then gate, then host; an ``alone`` test runs no lesson, and a worker
# holds at most one lesson lock, so no two workers wait on each other. Without xdist (one process)
# there is nothing to lock.

_LOCK_DIR_ENV = "MINICTR_TEST_LOCK_DIR"
_held: dict = {}   # in a worker: {"lesson": (number, fd)} across tests, {"host": fd} during one test


def _lesson_of(item) -> str | None:
    """The lesson number ("11") that ``item`` runs, or None: an nbval cell, or a test with a notebook parameter."""
    if _is_notebook(item.parent):
        name = Path(str(item.parent.fspath)).name
        return name[:2] if name[:2].isdigit() else None
    callspec = getattr(item, "callspec", None)
    for value in (callspec.params.values() if callspec else ()):
        if isinstance(value, Path) and value.suffix == ".ipynb" and value.name[:2].isdigit():
            return value.name[:2]
    return None


def _lock(lock_dir: str, name: str, how: int) -> int:
    import fcntl
    fd = os.open(os.path.join(lock_dir, name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, how)   # waits while the other worker holds it (exclusive, or shared against how=LOCK_EX)
    return fd


def pytest_configure(config):
    # The controller (not a worker) of an xdist run makes the lock dir; its workers inherit the variable.
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        import tempfile
        os.environ[_LOCK_DIR_ENV] = tempfile.mkdtemp(prefix="minictr-test-locks-")


def pytest_unconfigure(config):
    path = os.environ.get(_LOCK_DIR_ENV)
    if path and getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        import shutil
        shutil.rmtree(path, ignore_errors=True)
        del os.environ[_LOCK_DIR_ENV]


# The notebooks' kernels use the store and runtime dir of the environment: `make` exports
# MINICTR_ROOT=/var/lib/minictr, where `make image` built the default image. Two workers must not
# share them (a notebook lists the containers and images there, and compares the listing), so under
# xdist each worker's kernels get a store and runtime dir of its own, with the default image built
# into it first, as `make image` does. Its notebooks run in turn in it, as they do in one process.
_worker_dirs: list = []


def _private_notebook_dirs(worker: str) -> None:
    import subprocess
    import sys
    import tempfile

    tmp = tempfile.mkdtemp(prefix=f"minictr-nbval-{worker}-")
    os.environ.update(MINICTR_ROOT=os.path.join(tmp, "store"), MINICTR_RUNTIME_DIR=os.path.join(tmp, "run"))
    _worker_dirs.append(tmp)
    built = subprocess.run([sys.executable, "-m", "minictr", "image", "build-default"],
                           capture_output=True, text=True, timeout=300)
    if built.returncode != 0:
        raise RuntimeError(f"minictr image build-default failed in {tmp}:\n{built.stdout}{built.stderr}")


def pytest_sessionfinish(session):
    """A worker removes its notebooks' dirs: containers left first; kept (and named) if a mount remains."""
    import shutil
    import subprocess
    import sys

    for tmp in _worker_dirs:
        subprocess.run([sys.executable, "-c", "from minictr import container, state\n"
                        "for s in state.list_states():\n    container.remove(s.id, force=True)\n"],
                       capture_output=True, timeout=120, check=False)
        with open("/proc/self/mountinfo") as f:
            mounted = [line for line in f if tmp in line]
        if mounted:
            print(f"\nmounts left under {tmp} (not deleted):\n" + "".join(mounted))
        else:
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    lock_dir = os.environ.get(_LOCK_DIR_ENV)
    if not lock_dir or not hasattr(item.config, "workerinput"):
        return
    import fcntl
    if not _worker_dirs and _is_notebook(item.parent):
        _private_notebook_dirs(item.config.workerinput["workerid"])
    key = _lesson_of(item)
    if "lesson" in _held and _held["lesson"][0] != key:
        os.close(_held.pop("lesson")[1])   # closing the fd drops the flock
    if key is not None and "lesson" not in _held:
        _held["lesson"] = (key, _lock(lock_dir, f"lesson-{key}", fcntl.LOCK_EX))
    if "host" in _held:   # never two: a shared lock left open would keep an `alone` test out for good
        os.close(_held.pop("host"))
    gate = _lock(lock_dir, "gate", fcntl.LOCK_EX)
    try:
        alone = item.get_closest_marker("alone") is not None
        _held["host"] = _lock(lock_dir, "host", fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
    finally:
        os.close(gate)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    # Around the fixtures' teardown: a test's clean-up still counts as the test, and the locks go
    # even when that clean-up fails (a failing teardown raises; a lock kept would stop the other worker).
    try:
        return (yield)
    finally:
        if "host" in _held:
            os.close(_held.pop("host"))
        if "lesson" in _held and (nextitem is None or _lesson_of(nextitem) != _held["lesson"][0]):
            os.close(_held.pop("lesson")[1])
