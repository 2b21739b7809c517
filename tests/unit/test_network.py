"""minictr.network without root: names, address checks, and the ip commands it would run."""

from __future__ import annotations

import os
import subprocess

import pytest

from minictr import network
from minictr.errors import ConfigError, MinictrError


def test_new_ifname_is_short_unique_and_not_named_after_minictr():
    names = {network.new_ifname() for _ in range(200)}
    assert len(names) == 200
    for n in names:
        assert n.startswith("vh") and len(n) <= 15 and "minictr" not in n


@pytest.mark.parametrize("host,inside", [
    ("10.200.0.1", "10.200.0.2/30"),          # no prefix
    ("10.200.0.1/30", "10.200.0.5/30"),       # another subnet
    ("10.200.0.1/30", "10.200.0.1/30"),       # the same address
    ("10.200.0.300/30", "10.200.0.2/30"),     # not an address
])
def test_connect_refuses_bad_address_pairs_before_running_anything(host, inside, monkeypatch):
    ran = []
    monkeypatch.setattr(network, "_ip", lambda *a, **k: ran.append(a))
    with pytest.raises(ConfigError) as e:
        network.connect(1, host, inside, host_ifname="vhtest")
    assert "address" in str(e.value)
    assert ran == []


@pytest.mark.parametrize("name", ["", "a" * 16, "a/b", "a b"])
def test_connect_refuses_bad_interface_names(name, monkeypatch):
    monkeypatch.setattr(network, "_ip", lambda *a, **k: pytest.fail("ran ip"))
    with pytest.raises(ConfigError, match="host_ifname"):
        network.connect(1, host_ifname=name)


def test_connect_runs_these_ip_commands(monkeypatch):
    ran = []

    def fake_ip(*args, netns_pid=None, check=True):
        ran.append((netns_pid, args))
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(network, "_ip", fake_ip)
    me = os.getpid()
    link = network.connect(me, "10.9.0.1/30", "10.9.0.2/30", host_ifname="vhtest")
    assert link == network.Link(me, "vhtest", "eth0", "10.9.0.1/30", "10.9.0.2/30")
    assert (link.host_ip, link.container_ip) == ("10.9.0.1", "10.9.0.2")
    assert ran == [
        (None, ("link", "add", "vhtest", "type", "veth", "peer", "name", "eth0", "netns", str(me))),
        (None, ("addr", "add", "10.9.0.1/30", "dev", "vhtest")),
        (None, ("link", "set", "vhtest", "up")),
        (me, ("addr", "add", "10.9.0.2/30", "dev", "eth0")),
        (me, ("link", "set", "eth0", "up")),
        (me, ("link", "set", "lo", "up")),
    ]


def test_connect_deletes_the_pair_when_a_later_step_fails(monkeypatch):
    deleted = []

    def fake_ip(*args, netns_pid=None, check=True):
        if args[:2] == ("addr", "add") and netns_pid is not None:
            raise MinictrError("ip addr add: boom")
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(network, "_ip", fake_ip)
    monkeypatch.setattr(network.Link, "delete", lambda self: deleted.append(self.host_ifname))
    with pytest.raises(MinictrError, match="boom"):
        network.connect(os.getpid(), host_ifname="vhtest")
    assert deleted == ["vhtest"]


def test_connect_needs_a_live_process():
    with pytest.raises(ConfigError, match="pid"):
        network.connect(2**22 + 7, host_ifname="vhtest")   # above pid_max: never a process


def test_delete_of_a_missing_link_is_quiet(monkeypatch):
    monkeypatch.setattr(network, "_ip", lambda *a, **k: pytest.fail("ran ip for a missing link"))
    network.Link(1, "vhnotthere0", "eth0", "10.9.0.1/30", "10.9.0.2/30").delete()
