"""minictr.labs.leftovers: a lesson's first and last cell remove what an interrupted run left,
and spare what another running notebook is using."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from minictr import procfs, state
from minictr.labs import leftovers


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICTR_RUNTIME_DIR", str(tmp_path / "run"))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(leftovers.tempfile, "tempdir", str(tmp))
    sleepers = []

    def sleeper():
        p = subprocess.Popen(["sleep", "60"])
        sleepers.append(p)
        return p

    yield tmp, sleeper
    for p in sleepers:
        p.kill()
        p.wait()


def _state(name, pid=0, supervisor=0):
    st = state.State(id=(name.encode().hex() + "0" * 64)[:64], name=name, image="busybox", command=["sh"],
                     status="running" if pid else "stopped", pid=pid,
                     pid_start=procfs.start_time(pid) if pid else 0,
                     supervisor_pid=supervisor, supervisor_start=procfs.start_time(supervisor) if supervisor else 0)
    st.save(create=True)
    return st


def test_a_clean_machine_says_so(sandbox):
    assert leftovers.clean("07") == "lesson 07: nothing left over from an earlier run"


def test_containers_and_dirs_of_an_interrupted_run_go(sandbox):
    tmp, sleeper = sandbox
    running = sleeper()
    _state("lesson07-memory", pid=running.pid)          # its supervisor (the old kernel) is gone
    _state("lesson07")
    _state("lesson08-keep")
    _state("lesson070")                                  # not lesson 07's: lessonNN or lessonNN-*
    old = tmp / "lesson07-abc"
    (old / "ro").mkdir(parents=True)
    (old / "ro").chmod(0o555)
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    mine = leftovers.temp_dir("07")
    assert leftovers.clean("07") == "lesson 07: removed 2 containers and 2 temporary directories"
    assert sorted(s.name for s in state.list_states()) == ["lesson070", "lesson08-keep"]
    assert not old.exists() and not os.path.exists(mine)
    assert running.wait(timeout=5) == -9                 # killed, as `minictr rm -f` does


def test_what_another_running_notebook_uses_is_left_alone(sandbox):
    tmp, sleeper = sandbox
    other = 1  # alive, not this process and not its child: stands for another notebook kernel
    box = sleeper()
    _state("lesson07-cpu", pid=box.pid, supervisor=other)
    fresh = tmp / "lesson07-fresh"                      # no owner file, changed just now
    fresh.mkdir()
    owned = tmp / "lesson07-owned"
    owned.mkdir()
    (owned / ".owner").write_text(f"{other} {procfs.start_time(other)}\n")
    assert leftovers.clean("07") == ("lesson 07: nothing left over from an earlier run "
                                     "(3 in use by another running notebook, left alone)")
    assert fresh.exists() and owned.exists() and [s.name for s in state.list_states()] == ["lesson07-cpu"]
    assert box.poll() is None
    # once the owner is gone (pid 1 never started at tick 0), they are leftovers;
    # the fresh directory without an owner still waits STALE_AFTER seconds
    (owned / ".owner").write_text(f"{other} 0\n")
    _state("lesson07-cpu", pid=box.pid)                   # its supervisor gone
    assert leftovers.clean("07") == ("lesson 07: removed 1 container and 1 temporary directory "
                                     "(1 in use by another running notebook, left alone)")
    assert fresh.exists() and not owned.exists() and box.wait(timeout=5) == -9


def test_a_directory_with_a_mount_below_is_never_emptied(sandbox, tmp_path):
    tmp, _ = sandbox
    d = tmp / "lesson04-x"
    (d / "rootfs").mkdir(parents=True)
    (d / "rootfs" / "file").write_text("what is mounted")
    (d / ".owner").write_text("1 0\n")                   # owner gone (pid 1 never started at tick 0)
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"36 35 0:5 / {d}/rootfs rw - tmpfs tmpfs rw\n")
    line = leftovers.clean("04", mountinfo=str(mountinfo))
    assert "something is still mounted below it" in line and (d / "rootfs" / "file").exists()


def test_the_lesson_is_two_digits():
    with pytest.raises(ValueError):
        leftovers.clean("7")
