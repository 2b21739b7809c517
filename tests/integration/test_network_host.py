"""minictr.network on the real kernel: a veth pair into a network namespace this test creates.

Traffic only flows between the host and that namespace, on a random /30 of
10.201.0.0/16 (so concurrent test runs do not collide). Every link and child
is removed even when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import pytest

from minictr import network
from minictr.syscalls import CloneFlags, linux


def _free_subnet() -> tuple[str, str]:
    return network.free_subnet("10.201")


@contextlib.contextmanager
def sleeper_in_new_netns():
    """A sleeping child in a new network namespace; killed (and so its namespace freed) on exit."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            linux().unshare(CloneFlags.NEWNET)
            os.write(w, b"1")
            signal.pause()
        finally:
            os._exit(0)
    os.close(w)
    ok = os.read(r, 1)
    os.close(r)
    try:
        assert ok == b"1", "the child could not unshare its network namespace"
        yield pid
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


@pytest.fixture
def netns_child():
    with sleeper_in_new_netns() as pid:
        yield pid


@pytest.fixture
def links():
    made: list[network.Link] = []
    yield made
    for link in made:
        subprocess.run(["ip", "link", "del", link.host_ifname], capture_output=True)
        assert not link.exists()


def inside(pid: int, *cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(["nsenter", "-t", str(pid), "-n", *cmd], capture_output=True, text=True, timeout=20)


def test_connect_then_ping_both_ways_then_delete(netns_child, links):
    host_addr, container_addr = _free_subnet()
    link = network.connect(netns_child, host_addr, container_addr)
    links.append(link)
    assert "minictr" not in link.host_ifname and link.exists()

    host_side = subprocess.run(["ip", "-o", "addr", "show", "dev", link.host_ifname],
                               capture_output=True, text=True).stdout
    assert f"inet {host_addr}" in host_side
    in_ns = inside(netns_child, "ip", "-o", "link").stdout
    assert [line.split(":")[1].strip().split("@")[0] for line in in_ns.splitlines()] == ["lo", "eth0"]
    # "up" is the flag; the operational state follows from the kernel's link watch, up to a
    # second later on a slow machine (the VM of `make test-v2`): wait for it, briefly
    for _ in range(50):
        state = inside(netns_child, "ip", "-o", "link", "show", "eth0").stdout
        if "state UP" in state:
            break
        time.sleep(0.1)
    assert "state UP" in state
    assert f"inet {container_addr}" in inside(netns_child, "ip", "-o", "addr", "show", "eth0").stdout

    out = inside(netns_child, "ping", "-c", "1", "-W", "5", link.host_ip)
    assert out.returncode == 0, out.stdout + out.stderr
    out = subprocess.run(["ping", "-c", "1", "-W", "5", link.container_ip], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr

    link.delete()
    assert not link.exists()
    assert "eth0" not in inside(netns_child, "ip", "-o", "link").stdout   # one end gone, both gone
    link.delete()   # again: quiet


def test_two_connections_get_distinct_names(netns_child, links):
    a_host, a_cont = _free_subnet()
    link = network.connect(netns_child, a_host, a_cont)
    links.append(link)
    other = network.new_ifname()
    assert other != link.host_ifname


def test_the_pair_dies_with_the_namespace(links):
    with sleeper_in_new_netns() as pid:
        host_addr, container_addr = _free_subnet()
        link = network.connect(pid, host_addr, container_addr)
        links.append(link)
        assert link.exists()
    # The namespace is freed asynchronously by the kernel; the host end goes with it.
    import time
    deadline = time.monotonic() + 10
    while link.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not link.exists()


def test_connect_to_a_busy_name_fails_and_leaves_nothing(netns_child, links):
    host_addr, container_addr = _free_subnet()
    link = network.connect(netns_child, host_addr, container_addr)
    links.append(link)
    from minictr.errors import MinictrError
    with pytest.raises(MinictrError, match="ip link add"):
        network.connect(netns_child, "10.201.255.249/30", "10.201.255.250/30", host_ifname=link.host_ifname)
    assert link.exists()   # the first pair is untouched
