"""A container's network set-up and teardown on recording fakes (nft runner, netlink): what is done, in what
order, what is undone."""

import os

import pytest

from minictr.network import attach, networks
from minictr.network.netlink import FakeRoute
from minictr.network.runner import FakeRunner

CID = "ab" * 32


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICTR_ROOT", str(tmp_path / "store"))
    monkeypatch.setenv("MINICTR_NETWORK_DIR", str(tmp_path / "hostwide"))
    monkeypatch.setenv("MINICTR_SUBNET", "10.123.0.0/16")
    sysctl = tmp_path / "sys"
    (sysctl / "net/ipv4/conf/mctestbr0").mkdir(parents=True)
    (sysctl / "net/ipv4/ip_forward").write_text("0\n")
    ctr = tmp_path / "ctr"
    ctr.mkdir()
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.53\n")
    return tmp_path, sysctl, ctr, resolv


def test_connect_then_detach_on_a_fake(dirs):
    tmp, sysctl, ctr, resolv = dirs
    net = networks.load("bridge")
    assert net["subnet"] == "10.123.0.0/16" and net["bridge"] == "minictr0"
    net["bridge"] = "mctestbr0"  # a name that does not exist on this host: the fake "makes" it
    networks._save(net)
    rec = attach.intent(CID, "bridge", [("", 18099, 80, "tcp")])
    attach.prepare(rec, CID, "web", "abcabc", str(ctr), host_resolv=str(resolv))
    assert rec["ip"].startswith("10.123.") and rec["gateway"] == "10.123.0.1"
    assert (ctr / "resolv.conf").read_text() == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    assert f"{rec['ip']}\tabcabc\n" in (ctr / "hosts").read_text()
    assert (ctr / "hostname").read_text() == "abcabc\n"

    fake, route = FakeRunner(), FakeRoute.factory()
    attach.connect(rec, 4242, fake, sysctl_dir=str(sysctl), route=route)
    bits = 16
    assert route.ran == [
        (None, "add_bridge", ("mctestbr0",)),  # the first container of the network makes its bridge
        (None, "add_address", ("mctestbr0", "10.123.0.1", bits)),
        (None, "set_up", ("mctestbr0",)),
        (None, "add_veth", (rec["veth"], "eth0", 4242, "mctestbr0")),  # up, on the bridge, eth0 inside
        (4242, "add_address", ("eth0", rec["ip"], bits)),  # in the container's network namespace
        (4242, "set_up", ("eth0",)),
        (4242, "add_default_route", ("10.123.0.1",)),
    ]
    (nft_cmd, nft_script, _where), = fake.ran  # nft only: links, addresses and routes go by netlink
    assert nft_cmd == ("nft", "-f", "-") and nft_script.startswith("table ip minictr {")
    assert f"add element ip minictr tcp_any {{ 18099 : {rec['ip']} . 80 }}" in nft_script
    assert 'add element ip minictr bridges { "mctestbr0" }' in nft_script
    assert (sysctl / "net/ipv4/conf/mctestbr0/route_localnet").read_text() == "1"
    assert (sysctl / "net/ipv4/ip_forward").read_text() == "1"
    assert (tmp / "hostwide" / "ip_forward.before").read_text() == "0"

    fake = FakeRunner(output="table ip minictr { set bridges { type ifname } }")
    route = FakeRoute.factory()
    assert attach.detach(rec, CID, fake, sysctl_dir=str(sysctl), route=route) is True
    assert route.ran == []  # its veth does not exist on this host (the fake made nothing): nothing to delete
    inputs = [i for _a, i, _n in fake.ran]
    assert inputs == [f"delete element ip minictr tcp_any {{ 18099 : {rec['ip']} . 80 }}\n"]  # the bridge is kept
    assert networks.pool(networks.load("bridge")).allocations() == {}
    assert rec["down"] is True
    assert attach.detach(rec, CID, FakeRunner(), route=route) is False  # twice is nothing

    attach.remove_network("bridge", fake, sysctl_dir=str(sysctl), route=route)  # `network rm bridge`: unused, so it all goes
    text = fake.commands()
    inputs = [i for _a, i, _n in fake.ran]
    assert any('delete element ip minictr bridges { "mctestbr0" }' in (i or "") for i in inputs)
    assert "nft list set ip minictr bridges" in text
    assert "delete table ip minictr\n" in inputs  # no bridge left in the set: the table goes
    assert (sysctl / "net/ipv4/ip_forward").read_text() == "0"  # written back


def test_user_networks_keep_every_members_hosts_in_step(dirs):
    tmp, _sysctl, _ctr, resolv = dirs
    networks.create("tn", "10.124.0.0/24")
    recs = []
    for i, name in enumerate(("a", "b", "c")):
        d = tmp / name
        d.mkdir()
        rec = attach.intent(f"{i}" * 64, "tn")
        attach.prepare(rec, f"{i}" * 64, name, name + "host", str(d), host_resolv=str(resolv))
        recs.append(rec)
    networks.refresh_hosts(networks.load("tn"))
    a_hosts = (tmp / "a" / "hosts").read_text()
    assert f"{recs[1]['ip']}\tb\n" in a_hosts and f"{recs[2]['ip']}\tc\n" in a_hosts
    assert f"{recs[0]['ip']}\tahost a\n" in a_hosts  # its own line, once
    networks.pool(networks.load("tn")).release("1" * 64)
    networks.refresh_hosts(networks.load("tn"))
    assert f"\tb\n" not in (tmp / "a" / "hosts").read_text()
    assert f"{recs[0]['ip']}\ta\n" in (tmp / "c" / "hosts").read_text()


@pytest.mark.parametrize("gone", [True, False])
def test_detach_lets_the_kernel_delete_the_veth_and_deletes_it_only_if_it_stays(dirs, gone):
    tmp, sysctl, ctr, resolv = dirs
    rec = attach.intent(CID, "bridge")
    attach.prepare(rec, CID, "web", "abcabc", str(ctr), host_resolv=str(resolv))
    rec["veth"] = "lo"  # a link this host surely has, so the teardown finds it there
    route = FakeRoute.factory(gone=gone)
    assert attach.detach(rec, CID, FakeRunner(), sysctl_dir=str(sysctl), route=route) is True
    waited = (None, "wait_gone", ("lo", attach.VETH_GONE_WAIT))
    assert route.ran == ([waited] if gone else [waited, (None, "delete", ("lo",))])
    assert networks.pool(networks.load("bridge")).allocations() == {}  # the address is free either way
