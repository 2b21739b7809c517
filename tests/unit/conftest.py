"""Fixtures shared by the unit tests."""

import os
import socket
import tempfile

import pytest


def _overlay_mounts() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if " - overlay " in line]


def _links(prefix: str) -> set[str]:
    return {n for n in os.listdir("/sys/class/net") if n.startswith(prefix)}


@pytest.fixture
def exercise_sandbox(tmp_path, monkeypatch):
    """For tests that run exercise checks: every temporary directory goes under tmp_path
    (the store and runtime dir are private for every test, see tests/conftest.py), and afterwards nothing is left behind: no
    temporary files, no renamed host, no network interface (the veth check's "vx..."
    ends), no overlay mount."""
    work = tmp_path / "tmp"
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(work))
    host, links, overlays = socket.gethostname(), _links("vx"), _overlay_mounts()
    yield work
    assert os.listdir(work) == [], "a check left temporary files behind"
    assert socket.gethostname() == host, "a check renamed this machine"
    assert _links("vx") <= links, "a check left a network interface behind"
    assert _overlay_mounts() == overlays, "a check left an overlay mount on the host"
