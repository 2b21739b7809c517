"""Fixtures shared by the unit tests."""

import os
import socket
import tempfile

import pytest


def _overlay_mounts(*under: str) -> set[str]:
    """The overlay mount points below any of ``under``: the places a check of ours may mount on
    (other processes on this machine mount and unmount their own overlays meanwhile)."""
    with open("/proc/self/mountinfo") as f:
        points = {line.split()[4] for line in f if " - overlay " in line}
    return {p for p in points if any(p == d or p.startswith(d.rstrip("/") + "/") for d in under if d)}


def _links(prefix: str) -> set[str]:
    return {n for n in os.listdir("/sys/class/net") if n.startswith(prefix)}


@pytest.fixture
def exercise_sandbox(tmp_path, monkeypatch, request):
    """For tests that run exercise checks: every temporary directory goes under tmp_path
    (the store and runtime dir are private for every test, see tests/conftest.py), and afterwards nothing is left behind: no
    temporary files, no renamed host, no network interface (the veth check's "vx..."
    ends), no overlay mount."""
    work = tmp_path / "tmp"
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(work))
    ours = (str(tmp_path), os.environ.get("MINICTR_ROOT", ""), os.environ.get("MINICTR_RUNTIME_DIR", ""))
    host, links, overlays = socket.gethostname(), _links("vx"), _overlay_mounts(*ours)
    # The interfaces are host-wide: under pytest-xdist the other worker may be running lesson 05's
    # veth check (a notebook) right now, so only a test that runs alone (marked ``alone``: the
    # other worker waits, conftest.py) can compare them exactly. test_l05 is marked so.
    exact_links = not hasattr(request.config, "workerinput") or request.node.get_closest_marker("alone")
    yield work
    assert os.listdir(work) == [], "a check left temporary files behind"
    assert socket.gethostname() == host, "a check renamed this machine"
    if exact_links:
        assert _links("vx") <= links, "a check left a network interface behind"
    assert _overlay_mounts(*ours) <= overlays, "a check left an overlay mount on the host"
