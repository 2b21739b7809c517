"""The Linux bridge that a network's containers plug into (``minictr0`` for the default one).

A bridge is a virtual switch: each container's veth host end becomes one of
its ports (``ip link set VETH master BRIDGE``), and the bridge itself holds the
network's gateway address (``10.80.0.1/16``), the containers' default route.
It is made on demand by the first container of its network, with three
rtnetlink requests (``netlink.py``; ``script_create`` says the same in ``ip`` words). A user-defined
network's bridge is deleted with its last container; the default ``minictr0``
is kept, as docker keeps docker0, until ``minictr network rm bridge``
(see attach.py for why).

What minictr changes on the host, only while one of its bridges exists:

- ``net.ipv4.ip_forward=1``: without it the kernel does not route the
  containers' packets out. The value found before is saved
  (``/run/minictr-network/ip_forward.before``) and written back when the last
  bridge goes, unless something else changed it meanwhile.
- ``net.ipv4.conf.<bridge>.route_localnet=1`` on the bridge only: lets
  ``127.0.0.1:HOSTPORT`` reach a container (see nft.py).

Man pages: ip-link(8) ("type bridge", "master"), bridge(8), rtnetlink(7), ip-sysctl (ip_forward,
route_localnet).
"""

from __future__ import annotations

import os


IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"


def exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def script_create(name: str, gateway: str, bits: int) -> str:
    """What ``ensure`` does, in ``ip -batch`` words: the bridge, its address, up (for reading and lessons)."""
    return f"link add {name} type bridge\naddr add {gateway}/{bits} dev {name}\nlink set {name} up\n"


def ensure(name: str, gateway: str, bits: int, route=None, *, sysctl_dir: str = "/proc/sys") -> bool:
    """Make the bridge if it is missing (call with the network lock held). True if made now.

    ``route`` makes the netlink socket (``netlink.Route`` by default; ``netlink.FakeRoute.factory()`` in tests).
    """
    if exists(name):
        return False
    with (route or _route)() as r:
        r.add_bridge(name)
        try:
            r.add_address(name, gateway, bits)
            r.set_up(name)
        except BaseException:
            r.delete(name)  # nothing half-made stays
            raise
    _write(f"{sysctl_dir}/net/ipv4/conf/{name}/route_localnet", "1")
    forward_on(sysctl_dir)
    return True


def ports(name: str) -> list[str]:
    """The interfaces plugged into bridge ``name`` (/sys/class/net/NAME/brif): host-wide, every store's."""
    try:
        return os.listdir(f"/sys/class/net/{name}/brif")
    except FileNotFoundError:
        return []


def remove(name: str, route=None) -> None:
    """Delete the bridge if it is there (quietly if someone else just did)."""
    if exists(name):
        with (route or _route)() as r:
            r.delete(name)


def _route(netns_pid=None):
    from .netlink import Route
    return Route(netns_pid)


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _saved() -> str:
    from .networks import host_dir
    return os.path.join(host_dir(), "ip_forward.before")


def forward_on(sysctl_dir: str = "/proc/sys") -> None:
    """Set ip_forward to 1, remembering the value found (once)."""
    path = f"{sysctl_dir}/net/ipv4/ip_forward"
    with open(path) as f:
        before = f.read().strip()
    if before == "1":
        return
    saved = _saved()
    os.makedirs(os.path.dirname(saved), mode=0o700, exist_ok=True)
    if not os.path.exists(saved):
        _write(saved, before)
    _write(path, "1")


def forward_restore(sysctl_dir: str = "/proc/sys") -> None:
    """Write back the ip_forward value found before minictr set it (when it set it)."""
    saved = _saved()
    try:
        with open(saved) as f:
            before = f.read().strip()
    except FileNotFoundError:
        return
    path = f"{sysctl_dir}/net/ipv4/ip_forward"
    with open(path) as f:
        now = f.read().strip()
    if now == "1" and before in ("0", "1"):
        _write(path, before)
    os.unlink(saved)
