"""minictr.network without root: names, address checks, and the ip commands it would run."""

from __future__ import annotations

import os

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
def test_connect_refuses_bad_address_pairs_before_running_anything(host, inside):
    ip = network.FakeIp()
    with pytest.raises(ConfigError) as e:
        network.connect(1, host, inside, host_ifname="vhtest", ip=ip)
    assert "address" in str(e.value)
    assert ip.ran == []


@pytest.mark.parametrize("name", ["", "a" * 16, "a/b", "a b"])
def test_connect_refuses_bad_interface_names(name):
    ip = network.FakeIp()
    with pytest.raises(ConfigError, match="host_ifname"):
        network.connect(1, host_ifname=name, ip=ip)
    assert ip.ran == []


def test_connect_runs_these_ip_commands():
    ip = network.FakeIp()
    me = os.getpid()
    link = network.connect(me, "10.9.0.1/30", "10.9.0.2/30", host_ifname="vhtest", ip=ip)
    assert link == network.Link(me, "vhtest", "eth0", "10.9.0.1/30", "10.9.0.2/30")
    assert (link.host_ip, link.container_ip) == ("10.9.0.1", "10.9.0.2")
    assert ip.ran == [
        (None, ("link", "add", "vhtest", "type", "veth", "peer", "name", "eth0", "netns", str(me))),
        (None, ("addr", "add", "10.9.0.1/30", "dev", "vhtest")),
        (None, ("link", "set", "vhtest", "up")),
        (me, ("addr", "add", "10.9.0.2/30", "dev", "eth0")),
        (me, ("link", "set", "eth0", "up")),
        (me, ("link", "set", "lo", "up")),
    ]


def test_connect_deletes_the_pair_when_a_later_step_fails(monkeypatch):
    deleted = []
    ip = network.FakeIp(fail={("addr", "add", "10.9.0.2/30"): "RTNETLINK answers: File exists"})
    # The host end "vhtest" does not exist here (nothing ran), so delete() would be quiet: record the call.
    monkeypatch.setattr(network.Link, "delete", lambda self, ip=None: deleted.append((self.host_ifname, ip)))
    with pytest.raises(MinictrError, match=r"ip addr add 10.9.0.2/30 dev eth0 \(in the network namespace of PID "
                                           r"\d+\): RTNETLINK answers: File exists"):
        network.connect(os.getpid(), "10.9.0.1/30", "10.9.0.2/30", host_ifname="vhtest", ip=ip)
    assert deleted == [("vhtest", ip)]
    assert [args[:2] for _pid, args in ip.ran] == [("link", "add"), ("addr", "add"), ("link", "set"), ("addr", "add")]


def test_connect_needs_a_live_process():
    ip = network.FakeIp()
    with pytest.raises(ConfigError, match="pid"):
        network.connect(2**22 + 7, host_ifname="vhtest", ip=ip)   # above pid_max: never a process
    assert ip.ran == []


def test_delete_of_a_missing_link_is_quiet():
    ip = network.FakeIp(fail={("link", "del"): "Cannot find device"})
    network.Link(1, "vhnotthere0", "eth0", "10.9.0.1/30", "10.9.0.2/30").delete(ip=ip)
    assert ip.ran == []                              # gone already: ip is not even asked


def test_a_failed_delete_of_a_link_still_there_is_an_error():
    ip = network.FakeIp(fail={("link", "del"): "RTNETLINK answers: Operation not supported"})
    with pytest.raises(MinictrError, match="ip link del lo: RTNETLINK answers: Operation not supported"):
        network.Link(1, "lo", "eth0", "10.9.0.1/30", "10.9.0.2/30").delete(ip=ip)   # lo is always there
    assert ip.ran == [(None, ("link", "del", "lo"))]


def test_free_subnet_avoids_the_subnets_in_use():
    in_use = "".join(f"7: vh{i:08x}    inet 10.200.{i}.1/30 scope global vh{i:08x}\n" for i in range(256) if i != 77)
    ip = network.FakeIp(stdout=in_use)
    host, inside = network.free_subnet(ip=ip)
    assert host.startswith("10.200.77.") and host.endswith("/30")
    a, b = (int(x.split("/")[0].rsplit(".", 1)[1]) for x in (host, inside))
    assert a % 4 == 1 and b == a + 1
    assert network.free_subnet("10.9", ip=ip)[0].startswith("10.9.")
    assert ip.ran == [(None, ("-o", "-4", "addr"))] * 2


def test_the_default_runner_runs_ip_on_the_host():
    r = network.run_ip(("-o", "link", "show", "lo"))
    assert r.returncode == 0 and ": lo:" in r.stdout
