"""IPAM: addresses from a subnet in a locked JSON file; subnets that miss the host's routes."""

import json

import pytest

from minictr.errors import ConfigError, MinictrError
from minictr.network import ipam

ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth1\t0000500A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
minictr0\t0000510A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
"""


def test_host_routes_are_read_from_proc_net_route_without_the_default_route():
    routes = ipam.host_routes(ROUTES)
    assert (ipam.parse_ip("192.0.2.0"), 24) in routes
    assert (ipam.parse_ip("10.80.0.0"), 16) in routes
    assert all(bits > 0 for _net, bits in routes)
    assert (ipam.parse_ip("10.81.0.0"), 16) not in ipam.host_routes(ROUTES, skip_dev="minictr0")


def test_the_subnet_avoids_the_hosts_routes_and_other_networks():
    routes = ipam.host_routes(ROUTES, skip_dev="minictr0")
    assert ipam.free_subnet(routes) == "10.81.0.0/16"  # 10.80.0.0/16 is routed on eth1
    assert ipam.free_subnet(routes, taken=("10.81.0.0/16",)) == "10.82.0.0/16"
    assert ipam.free_subnet([], candidates=("10.88.0.0/16",)) == "10.88.0.0/16"
    with pytest.raises(MinictrError, match="no free subnet"):
        ipam.free_subnet([(ipam.parse_ip("10.0.0.0"), 8)], candidates=("10.88.0.0/16",))


def test_podmans_and_dockers_default_subnets_are_never_candidates():
    """podman's default network takes 10.88.0.0/16 (docker's, 172.17.0.0/16) whatever the host
    routes: a minictr0 there would share a subnet with their bridge as soon as they run."""
    assert ipam.CANDIDATES[0] == "10.80.0.0/16"
    for theirs in ("10.88.0.0/16", "172.17.0.0/16"):
        assert not any(ipam.overlaps(ipam.parse_subnet(c), ipam.parse_subnet(theirs)) for c in ipam.CANDIDATES)
    # after the 10.8x ones, 10.89 (before podman's /24s of `network create` reach it), then 172.18+
    assert ipam.free_subnet([(ipam.parse_ip("10.80.0.0"), 13)]) == "10.89.0.0/16"


@pytest.mark.parametrize("bad", ["10.88.0.0", "10.88.0.1/16", "10.88.0.0/31", "300.1.1.0/24", "x/24"])
def test_bad_subnets_are_one_clear_error(bad):
    with pytest.raises(ConfigError):
        ipam.parse_subnet(bad)


def test_allocate_release_and_collect(tmp_path):
    pool = ipam.Pool(str(tmp_path / "n.ipam.json"), "10.9.0.0/29", random=False)
    a = pool.allocate("id-a", "a")
    b = pool.allocate("id-b", "b", hosts="/x/hosts")
    assert (a, b) == ("10.9.0.2", "10.9.0.3")   # .0 is the network, .1 the gateway
    assert pool.allocate("id-a") == a            # the same container gets the same address
    data = json.loads((tmp_path / "n.ipam.json").read_text())
    assert data["allocations"][b] == {"id": "id-b", "name": "b", "hosts": "/x/hosts"}
    assert pool.release("id-a") == [a]
    assert pool.allocate("id-c") == a            # freed, so reused
    for n in "defg":
        if n == "g":
            with pytest.raises(MinictrError, match="no free address"):
                pool.allocate("id-" + n)         # .7 is the broadcast address
        else:
            pool.allocate("id-" + n)
    assert sorted(pool.collect({"id-b"})) == ["10.9.0.2", "10.9.0.4", "10.9.0.5", "10.9.0.6"]
    assert list(pool.allocations()) == [b]


def test_random_start_still_stays_inside_the_subnet(tmp_path):
    pool = ipam.Pool(str(tmp_path / "r.json"), "10.9.0.0/24")
    got = {pool.allocate(f"id{i}") for i in range(50)}
    assert len(got) == 50
    assert all(ipam.overlaps((ipam.parse_ip(ip), 32), (ipam.parse_ip("10.9.0.0"), 24)) for ip in got)
    assert not got & {"10.9.0.0", "10.9.0.1", "10.9.0.255"}


def test_the_default_bridge_s_subnet_is_read_from_its_route():
    """Another store made minictr0 already: a new store's default network joins its subnet."""
    assert ipam.device_subnet("minictr0", ROUTES) == "10.81.0.0/16"
    assert ipam.device_subnet("minictr9", ROUTES) is None
