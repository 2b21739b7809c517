"""Lesson 05 (minictr/labs/l05.py): every check case passes the reference and fails some wrong
answer; the checks leave no hostname change, veth, process or temporary file behind.

These checks need root (namespaces, veth pairs): they skip only without it."""

from __future__ import annotations

import subprocess

import pytest
from lab_contract import LessonContract

from minictr.network import Link
from minictr.syscalls import CloneFlags

from minictr.labs import checks, l05
from minictr.labs.checks import run_checks



# private tmp, store, nothing left behind (conftest.py); alone: its veth pairs are host-wide, and the
# sandbox can tell a pair it left from another worker's only while nothing else runs
pytestmark = [pytest.mark.usefixtures("exercise_sandbox"), pytest.mark.alone]


@pytest.fixture(autouse=True)
def root_only():
    if not checks.has_root():
        pytest.skip("the checks of lesson 05 need root (namespaces, veth pairs); run the tests as root")


# -- wrong answers: every case fails at least one -------------------------------------------

def _rename_host(sys, name):
    sys.sethostname(name)              # forgot the unshare: would rename the host


def _unshare_only(sys, name):
    sys.unshare(CloneFlags.NEWUTS)     # forgot the name


def _fixed_name(sys, name):
    sys.unshare(CloneFlags.NEWUTS)
    sys.sethostname("box1")            # ignores its argument


def _ip(*args, pid=None):
    prefix = ["nsenter", "-t", str(pid), "-n"] if pid else []
    subprocess.run(prefix + ["ip", *args], check=True, capture_output=True)


def _veth_down(pid, host_addr, container_addr, host_ifname):
    _ip("link", "add", host_ifname, "type", "veth", "peer", "name", "eth0", "netns", str(pid))
    _ip("addr", "add", host_addr, "dev", host_ifname)
    _ip("addr", "add", container_addr, "dev", "eth0", pid=pid)
    return Link(pid, host_ifname, "eth0", host_addr, container_addr)


def _veth_no_inside_addr(pid, host_addr, container_addr, host_ifname):
    _ip("link", "add", host_ifname, "type", "veth", "peer", "name", "eth0", "netns", str(pid))
    _ip("addr", "add", host_addr, "dev", host_ifname)
    _ip("link", "set", host_ifname, "up")
    _ip("link", "set", "eth0", "up", pid=pid)
    return Link(pid, host_ifname, "eth0", host_addr, container_addr)


def _veth_no_return(pid, host_addr, container_addr, host_ifname):
    from minictr import network
    network.connect(pid, host_addr, container_addr, host_ifname)


def _veth_both_on_host(pid, host_addr, container_addr, host_ifname):
    peer = "vy" + host_ifname[2:]
    _ip("link", "add", host_ifname, "type", "veth", "peer", "name", peer)
    _ip("addr", "add", host_addr, "dev", host_ifname)
    _ip("link", "set", host_ifname, "up")
    _ip("link", "set", peer, "up")
    return Link(pid, host_ifname, "eth0", host_addr, container_addr)


WRONG = {
    "05.hostname": [_rename_host, _unshare_only, _fixed_name],
    "05.veth": [_veth_down, _veth_no_inside_addr, _veth_no_return, _veth_both_on_host],
}


class TestContract(LessonContract):
    lesson = "05"
    wrong = WRONG


def test_the_veth_clean_up_happens_even_if_the_answer_leaves_the_pair(monkeypatch):
    """An answer that never deletes: the check's own clean-up removes the pair (the fixture checks)."""
    def leaves_it(pid, host_addr, container_addr, host_ifname):
        from minictr import network
        link = network.connect(pid, host_addr, container_addr, host_ifname)
        return type("NoDelete", (), {"delete": lambda self: None, "link": link})()
    result = run_checks("05.veth", leaves_it)
    assert [o.case for o in result.failures] == ["the returned Link's delete() removes the pair"]


def test_the_lesson_record():
    assert l05.LESSON.number == "05" and l05.LESSON.needs_root


