"""Hints name commands that exist: removing a running container hints `rm -f`, and any command a
hint names is one the CLI has."""

from __future__ import annotations

import subprocess

import pytest

from minictr import container, state
from minictr.cli import build_parser
from minictr.errors import MinictrError


def commands() -> set[str]:
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return set(sub.choices)


@pytest.fixture
def running(tmp_path, monkeypatch):
    """A state file for a "running" container whose PID is a sleep of ours (harmless if it were killed)."""
    monkeypatch.setenv("MINICTR_RUNTIME_DIR", str(tmp_path / "run"))
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        st = state.State(id="c0ffee" * 10 + "abcd", name="web", image="busybox", command=["sh"],
                         status="running", pid=sleeper.pid, pid_start=state.process_start(sleeper.pid))
        st.save(create=True)
        yield st
    finally:
        sleeper.kill()
        sleeper.wait()


def test_removing_a_running_container_hints_rm_f(running):
    with pytest.raises(MinictrError) as e:
        container.remove("web")
    assert "`minictr rm -f web`" in e.value.hint
    import re
    assert set(re.findall(r"`minictr (\w+)", e.value.hint)) <= commands()  # `stop` only now that it exists
    assert state.load("web").status == "running"  # nothing was removed, and no process was signalled
