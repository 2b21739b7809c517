"""Lesson 11 (minictr/labs/l11.py): the reference passes every case, every case fails some wrong
answer, each usual mistake gets its diagnosis, the model refuses what the kernel refuses, and
nothing is left behind (no namespace, link or nft table of the lesson)."""

from __future__ import annotations

import os

import pytest
from lab_contract import LessonContract, diagnosis, needs_root

from minictr.labs import checks, l11


pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


def steps(ns, bridge, veth, address, gateway):
    """The reference's steps by name, so each wrong answer below changes one thing."""
    return {
        "pair": f"ip link add {veth} type veth peer name eth0 netns {ns}",
        "master": f"ip link set {veth} master {bridge}",
        "host up": f"ip link set {veth} up",
        "addr": f"ip -n {ns} addr add {address} dev eth0",
        "peer up": f"ip -n {ns} link set eth0 up",
        "route": f"ip -n {ns} route add default via {gateway}",
    }


def without(*names):
    def fn(ns, bridge, veth, address, gateway):
        return [c for k, c in steps(ns, bridge, veth, address, gateway).items() if k not in names]
    fn.__name__ = "without_" + "_".join(n.replace(" ", "_") for n in names)
    return fn


def one_changed(ns, bridge, veth, address, gateway, **instead):
    """The reference's steps with those named in ``instead`` written that way."""
    s = steps(ns, bridge, veth, address, gateway)
    assert instead.keys() <= s.keys()
    s.update(instead)
    return list(s.values())


def peer_not_up(ns, bridge, veth, address, gateway):
    return without("peer up")(ns, bridge, veth, address, gateway)


def no_default_route(ns, bridge, veth, address, gateway):
    return without("route")(ns, bridge, veth, address, gateway)


def not_on_bridge(ns, bridge, veth, address, gateway):
    return without("master")(ns, bridge, veth, address, gateway)


def host_end_down(ns, bridge, veth, address, gateway):
    return without("host up")(ns, bridge, veth, address, gateway)


def route_first(ns, bridge, veth, address, gateway):
    s = steps(ns, bridge, veth, address, gateway)
    return [s["pair"], s["master"], s["host up"], s["route"], s["addr"], s["peer up"]]


def no_prefix(ns, bridge, veth, address, gateway):
    s = steps(ns, bridge, veth, address.split("/")[0], gateway)
    return list(s.values())


def wrong_end_moved(ns, bridge, veth, address, gateway):
    return [f"ip link add {veth} type veth peer name c0", f"ip link set {veth} netns {ns}",
            f"ip link set c0 master {bridge}", "ip link set c0 up",
            f"ip -n {ns} addr add {address} dev {veth}", f"ip -n {ns} link set {veth} up",
            f"ip -n {ns} route add default via {gateway}"]


def peer_made_on_the_host(ns, bridge, veth, address, gateway):
    return one_changed(ns, bridge, veth, address, gateway, pair=f"ip link add {veth} type veth peer name eth0")


def address_on_the_host_end(ns, bridge, veth, address, gateway):
    return one_changed(ns, bridge, veth, address, gateway, addr=f"ip addr add {address} dev {veth}")


def configured_before_moving(ns, bridge, veth, address, gateway):
    # made on the host under another name, addressed and up, then moved: the move forgets all that
    return [f"ip link add {veth} type veth peer name eth9", f"ip link set {veth} master {bridge}",
            f"ip link set {veth} up", f"ip addr add {address} dev eth9", "ip link set eth9 up",
            f"ip link set eth9 netns {ns}", f"ip -n {ns} route add default via {gateway}"]


def inside_without_n(ns, bridge, veth, address, gateway):
    return one_changed(ns, bridge, veth, address, gateway, addr=f"ip addr add {address} dev eth0")


def route_on_the_host(ns, bridge, veth, address, gateway):
    return one_changed(ns, bridge, veth, address, gateway, route=f"ip route add default via {gateway}")


def touches_the_hosts_eth0(ns, bridge, veth, address, gateway):
    return list(steps(ns, bridge, veth, address, gateway).values()) + ["ip link set eth0 down"]


def hard_coded(ns, bridge, veth, address, gateway):
    return l11.plug_commands(**l11.NAMES["notebook"])


def one_string(ns, bridge, veth, address, gateway):
    return "; ".join(steps(ns, bridge, veth, address, gateway).values())


WRONG = [peer_not_up, no_default_route, not_on_bridge, host_end_down, route_first, no_prefix, wrong_end_moved,
         peer_made_on_the_host, address_on_the_host_end, configured_before_moving, inside_without_n, route_on_the_host,
         touches_the_hosts_eth0, hard_coded, one_string]


class TestContract(LessonContract):
    lesson = "11"
    wrong = {'11.plug': WRONG}


@pytest.mark.parametrize("wrong, says", [
    (peer_not_up, "forgetting to bring the peer up is the most common mistake"),
    (no_default_route, "no default route inside lesson11-b"),
    (not_on_bridge, "lesson11-vb is not on the bridge"),
    (host_end_down, "lesson11-vb, the host end, is down"),
    (route_first, "eth0 has no address yet"),
    (no_prefix, "written without its prefix"),
    (wrong_end_moved, "you moved the wrong end"),
    (peer_made_on_the_host, "the host has an eth0 of its own"),
    (address_on_the_host_end, "the address went on lesson11-vb, the host end"),
    (configured_before_moving, "the end inside is called eth9: call it eth0"),
    (inside_without_n, "needs `ip -n lesson11-b` (without it, it runs on the host)"),
    (route_on_the_host, "which has a default route of its own"),
    (touches_the_hosts_eth0, "eth0 is the host's own interface"),
    (hard_coded, "not names written into the function"),
    (one_string, "returned one str"),
])
def test_each_mistake_gets_its_diagnosis(capsys, wrong, says):
    assert says in diagnosis("11.plug", wrong, capsys)


def test_a_move_forgets_address_and_up_flag_as_the_kernel_does():
    model = l11.IpModel("ns1", "br0", "10.1.0.1")
    for cmd in ("ip link add v1 type veth peer name c1", "ip addr add 10.1.0.5/24 dev c1", "ip link set c1 up",
                "ip link set c1 netns ns1"):
        model.run(cmd)
    moved = model.links[("ns1", "c1")]
    assert moved["addrs"] == [] and moved["up"] is False and model.links[("host", "v1")]["peer"] == ("ns1", "c1")
    with pytest.raises(ValueError, match="Nexthop has invalid gateway"):
        model.run("ip -n ns1 route add default via 10.1.0.1")
    model.run("ip -n ns1 addr add 10.1.0.5/24 dev c1")
    model.run("ip netns exec ns1 ip link set c1 up")
    model.run("ip -n ns1 route add default via 10.1.0.1")
    assert model.routes["ns1"] == "10.1.0.1"


@pytest.mark.parametrize("cmd, error", [
    ("ip link set eth0 down; ip link del eth0", SyntaxError),       # only known forms, one per str
    ("ip link del br0", SyntaxError),
    ("rm -rf /", SyntaxError),
    ("ip -n other link set lo up", ValueError),                     # a namespace that is not the exercise's
    ("ip link add averyveryverylongname type veth peer name x", ValueError),
    ("ip link set lo master eth0", ValueError),                     # eth0 is no bridge
])
def test_the_model_refuses_what_it_does_not_know(cmd, error):
    with pytest.raises(error):
        l11.IpModel("ns1", "br0", "10.1.0.1").run(cmd)


def test_unknown_commands_are_never_run_for_real(capsys, tmp_path):
    needs_root("11.plug")
    marker = tmp_path / "ran"

    def sneaky(ns, bridge, veth, address, gateway):
        return l11.plug_commands(ns, bridge, veth, address, gateway) + [f"touch {marker}"]

    checks.check("11.plug", sneaky)
    assert "every command must be an `ip` command" in capsys.readouterr().out
    assert not marker.exists()


def _check_names_left():
    return [n for n in os.listdir("/sys/class/net") if n.startswith("l11c-")] + \
        [n for n in (os.listdir("/run/netns") if os.path.isdir("/run/netns") else []) if n.startswith("l11c-")]


def test_the_real_case_leaves_nothing(capsys):
    needs_root("11.plug")
    before = _check_names_left()
    checks.check("11.plug", l11.plug_commands)
    checks.check("11.plug", touches_the_hosts_eth0)
    assert _check_names_left() == before


# A prefix of the tests' own: a notebook running lesson 11 at the same time keeps its lesson11-* names.
UNIT = "l11u-"


def test_undo_by_hand_removes_what_the_notebook_makes():
    needs_root("11.plug")
    os.system(f"ip netns add {UNIT}ns && ip link add {UNIT}br type bridge && nft add table ip l11u")
    try:
        assert l11.by_hand_leftovers(UNIT, "l11u") == [f"netns {UNIT}ns", f"link {UNIT}br", "nft table ip l11u"]
    finally:
        l11.undo_by_hand(UNIT, "l11u")
    assert l11.by_hand_leftovers(UNIT, "l11u") == []


def test_live_ports_reads_a_real_bridge():
    needs_root("11.plug")
    cmds = [f"ip netns add {UNIT}ns", f"ip link add {UNIT}br type bridge",
            f"ip link add {UNIT}v type veth peer name eth0 netns {UNIT}ns",
            f"ip link set {UNIT}v master {UNIT}br", f"ip -n {UNIT}ns addr add 10.211.199.2/24 dev eth0"]
    try:
        for cmd in cmds:
            assert os.system(cmd) == 0, cmd
        assert l11.live_ports(f"{UNIT}br") == [(f"{UNIT}v", f"{UNIT}ns", "10.211.199.2/24")]
    finally:
        l11.undo_by_hand(UNIT, "l11u")
    assert l11.by_hand_leftovers(UNIT, "l11u") == [] and l11.live_ports(f"{UNIT}br") == []


def test_the_picture_names_every_port():
    text = l11.draw("lesson11-br", "10.211.0.1", [("lesson11-va", "lesson11-a", "10.211.0.2/24"),
                                                   ("lesson11-vb", "lesson11-b", "10.211.0.3/24")])
    assert "lesson11-br (10.211.0.1)" in text and text.count("====veth==== eth0") == 2
    assert all(len(line) <= 95 for line in text.splitlines())


def test_the_lesson_record():
    assert l11.LESSON.number == "11" and l11.LESSON.needs_root and l11.LESSON.tools == ("ip", "nft", "ping")
