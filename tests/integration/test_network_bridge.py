"""Bridge networking on real containers: published ports, user-defined networks, none, cleanup.

Traffic goes only to 127.0.0.1 and to containers in namespaces these tests
make. Every container is removed by the ``mc`` fixture (``rm -f``), which
tears its network down; each test checks that its veths, nft elements and
addresses are gone, and user-defined networks are removed in ``finally``.
"""

import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest

HTTPD = "mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www"


def fetch(url: str, timeout: float = 15) -> bytes:
    deadline = time.time() + timeout
    while True:
        try:
            return urllib.request.urlopen(url, timeout=2).read()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def state_of(mc, name) -> dict:
    """Its state once it runs with an address on its network."""
    return mc.running_state(name, where=lambda st: st.get("network", {}).get("ip"))


def nft_table() -> str:
    r = subprocess.run(["nft", "list", "table", "ip", "minictr"], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else ""


def assert_network_gone(mc, st: dict) -> None:
    rec = st["network"]
    assert not os.path.exists(f"/sys/class/net/{rec['veth']}"), "veth left behind"
    assert f"{rec['ip']} . " not in nft_table(), "nft port element left behind"
    with open(mc.tmp / "store" / "networks" / f"{rec['network']}.ipam.json") as f:
        allocs = json.load(f)["allocations"]
    assert rec["ip"] not in allocs, "address not released"


def test_published_port_answers_on_localhost_and_ps_shows_it(mc):
    p = mc.popen("run", "--rm", "--name", "web", "-p", "18081:80", "busybox", "sh", "-c", HTTPD.format(text="hi-18081"),
                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        st = state_of(mc, "web")
        assert fetch("http://127.0.0.1:18081/") == b"hi-18081\n"
        ps = mc("ps")
        assert "0.0.0.0:18081->80/tcp" in ps.stdout
        assert mc("port", "web").stdout == "80/tcp -> 0.0.0.0:18081\n"
        # A used host port: one line, 125, nothing started.
        before = mc.states()
        taken = mc("run", "--rm", "-p", "18081:80", "busybox", "true")
        assert taken.returncode == 125
        assert taken.stderr.count("\n") == 1 and "18081/tcp is already in use" in taken.stderr
        assert mc.states() == before
    finally:
        mc("rm", "-f", "web")
        p.wait(timeout=15)
    assert_network_gone(mc, st)


def test_two_containers_reach_each_other_by_name_on_a_user_network(mc):
    assert mc("network", "create", "itnet").returncode == 0
    try:
        p = mc.popen("run", "--rm", "--name", "srv", "--network", "itnet", "busybox", "sh", "-c",
                     HTTPD.format(text="from-srv"), stdout=subprocess.DEVNULL)
        st = state_of(mc, "srv")
        got = mc("run", "--rm", "--name", "cli", "--network", "itnet", "busybox", "sh", "-c",
                 "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://srv/ && exit 0; sleep 0.3; done; exit 1")
        assert got.returncode == 0, got.stderr
        assert got.stdout == "from-srv\n"
        inspected = json.loads(mc("network", "inspect", "itnet").stdout)[0]
        assert [c["Name"] for c in inspected["Containers"].values()] == ["srv"]
        assert mc("network", "rm", "itnet").returncode == 1  # in use
        mc("rm", "-f", "srv")
        p.wait(timeout=15)
        assert_network_gone(mc, st)
    finally:
        mc("rm", "-f", "srv")
        mc("network", "rm", "itnet")
    assert "itnet" not in mc("network", "ls").stdout


@pytest.mark.alone  # it compares the host's interfaces with what the container saw: nothing else may add a veth meanwhile
def test_network_none_has_only_lo_and_host_shares_the_hosts(mc):
    out = mc("run", "--rm", "--network", "none", "busybox", "sh", "-c", "ls /sys/class/net")
    assert out.stdout.split() == ["lo"]
    before = set(os.listdir("/sys/class/net"))
    host = mc("run", "--rm", "--network", "host", "busybox", "sh", "-c", "ls /sys/class/net")
    after = set(os.listdir("/sys/class/net"))
    assert before & after <= set(host.stdout.split()) <= before | after


def test_the_default_bridge_gives_eth0_a_route_and_files(mc):
    out = mc("run", "--rm", "--dns", "192.0.2.53", "--add-host", "db:192.0.2.7", "busybox", "sh", "-c",
             "ip -o -4 addr show eth0; ip route; cat /etc/resolv.conf /etc/hosts")
    assert out.returncode == 0, out.stderr
    assert " eth0 " in out.stdout and "default via " in out.stdout
    assert "nameserver 192.0.2.53\n" in out.stdout and "192.0.2.7\tdb\n" in out.stdout


def test_nothing_is_left_after_a_sigkilled_cli(mc):
    p = mc.popen("run", "--rm", "--name", "k", "-p", "18083:80", "busybox", "sh", "-c", HTTPD.format(text="k"),
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    st = state_of(mc, "k")
    assert f"18083 : {st['network']['ip']} . 80" in nft_table()
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=10)
    deadline = time.time() + 10
    while mc.states() and time.time() < deadline:
        mc("ps", "-a")  # collects what the killed CLI left
        time.sleep(0.1)
    assert mc.states() == []
    assert_network_gone(mc, st)


def test_bad_network_flags_are_one_line_and_125_with_nothing_made(mc):
    for argv, words in ((["--network", "nosuch"], "no such network: nosuch"),
                        (["--network", "none", "-p", "18084:80"], "cannot be published with --network none"),
                        (["-p", "18084:80/sctp"], "unknown protocol"),
                        (["-v", "/no/such/dir:/d"], "does not exist")):
        r = mc("run", "--rm", *argv, "busybox", "true")
        assert r.returncode == 125 and words in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert mc.states() == []


def test_an_exited_container_publishes_nothing(mc):
    assert mc("run", "--name", "gone", "-p", "18085:80", "busybox", "true").returncode == 0
    assert "18085" not in mc("ps", "-a").stdout
    assert mc("port", "gone").stdout == ""
    assert "18085" not in nft_table()
    # and the port is free again
    again = mc("run", "--rm", "-p", "18085:80", "busybox", "true")
    assert again.returncode == 0, again.stderr
