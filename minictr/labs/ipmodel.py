"""A small model of the kernel's network links, addresses and routes, as ``ip`` commands change them.

Lesson 11's check (``minictr/labs/l11.py``) runs a learner's ``ip`` commands on
it before running them for real, so that each mistake gets its own diagnosis
and only commands of known forms, touching only the exercise's own links,
ever reach the kernel. It follows the kernel's rules where the lesson needs
them, as ``cgroups/fake.py`` does for cgroupfs:

- a device is looked up in the namespace the command runs in (``ip -n NS``,
  ``ip netns exec NS ip ...``), else ``Cannot find device``;
- ``ip link add A type veth peer name B netns NS`` makes both ends at once, and
  a name taken in that namespace is ``File exists`` (the host has an ``eth0``);
- a link moved to another namespace goes down and loses its addresses and its
  bridge (``master``);
- an address without a prefix is a /32;
- ``route add default via GW`` needs GW inside the subnet of an address on a
  link that is up (``Nexthop has invalid gateway``); the host has a default
  route already (``File exists``);
- the host's own interfaces (``lo``, ``eth0``) are never to be changed.

Man pages: ip-link(8), ip-address(8), ip-route(8), ip-netns(8), veth(4).
"""

from __future__ import annotations

import shlex

__all__ = ["IpModel"]


def _ip_int(text: str) -> int:
    from ..network.ipam import parse_ip
    from ..errors import ConfigError
    try:
        return parse_ip(text)
    except ConfigError:
        raise ValueError(text) from None


def _same_subnet(a: int, b: int, bits: int) -> bool:
    mask = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
    return a & mask == b & mask


class IpModel:
    """The links of the host and of one namespace, as ``ip`` commands change them.

    A link is a dict: ``ns`` (``"host"`` or the namespace's name), ``kind``,
    ``peer`` (a veth's other end, as ``(ns, name)``), ``master``, ``up`` and
    ``addrs`` (``(address, prefix)`` pairs). ``routes[ns]`` holds the default
    gateway. ``run(cmd)`` applies one command or raises ``ValueError`` with
    what ``ip`` would print.
    """

    HOST = "host"

    def __init__(self, ns: str, bridge: str, gateway: str, bits: int = 24) -> None:
        self.ns = ns
        self.links: dict[tuple[str, str], dict] = {}
        for name, kind in (("lo", "loopback"), ("eth0", "ethernet")):
            self._new(self.HOST, name, kind, up=True, foreign=True)   # the host's own: never touched
        self._new(self.HOST, bridge, "bridge", up=True, addrs=[(gateway, bits)])
        self._new(ns, "lo", "loopback")
        self.routes: dict[str, str] = {self.HOST: "the host's own"}

    def _new(self, ns: str, name: str, kind: str, **more) -> dict:
        link = {"ns": ns, "name": name, "kind": kind, "peer": None, "master": None, "up": False, "addrs": []}
        link.update(more)
        self.links[(ns, name)] = link
        return link

    def find(self, name: str) -> list[dict]:
        """Every link called ``name``, in any namespace."""
        return [link for (_ns, n), link in self.links.items() if n == name]

    def _dev(self, where: str, name: str) -> dict:
        link = self.links.get((where, name))
        if link is None:
            raise ValueError(f'Cannot find device "{name}"')
        return link

    def run(self, cmd: str) -> None:
        try:
            argv = shlex.split(cmd)
        except ValueError as e:
            raise SyntaxError(f"cannot split {cmd!r} into words ({e})") from None
        where = self.HOST
        if argv[:3] == ["ip", "netns", "exec"] and len(argv) > 4:
            where, argv = argv[3], argv[4:]
        if argv[:1] != ["ip"]:
            raise SyntaxError("every command must be an `ip` command")
        argv = argv[1:]
        if len(argv) >= 2 and argv[0] in ("-n", "-netns", "--netns"):
            where, argv = argv[1], argv[2:]
        if where not in (self.HOST, self.ns):
            raise ValueError(f'Cannot open network namespace "{where}": No such file or directory')
        if argv[:1] in (["link"], ["l"]) and argv[1:2] == ["add"]:
            return self._link_add(where, argv[2:])
        if argv[:1] in (["link"], ["l"]) and argv[1:2] == ["set"]:
            return self._link_set(where, argv[2:])
        if argv[:1] in (["addr"], ["address"], ["a"]) and argv[1:2] == ["add"] and len(argv) == 5 and argv[3] == "dev":
            return self._addr_add(where, argv[2], argv[4])
        if argv[:1] in (["route"], ["r"]) and argv[1:4] == ["add", "default", "via"] and len(argv) in (5, 7):
            return self._route_add(where, argv[4], argv[6] if len(argv) == 7 else None)
        raise SyntaxError("not a form this check knows")

    def _link_add(self, where: str, args: list[str]) -> None:
        if args[:1] == ["name"]:
            args = args[1:]
        if len(args) < 6 or args[1:5] != ["type", "veth", "peer", "name"]:
            raise SyntaxError("not a form this check knows")
        name, peer, rest = args[0], args[5], args[6:]
        peer_ns = where
        if rest[:1] == ["netns"] and len(rest) == 2:
            peer_ns = rest[1]
        elif rest:
            raise SyntaxError("not a form this check knows")
        for n in (name, peer):
            if len(n) > 15:
                raise ValueError(f'"{n}" is too long: an interface name has at most 15 characters')
        if peer_ns not in (self.HOST, self.ns):
            raise ValueError(f'Invalid "netns" value "{peer_ns}"')
        if (where, name) in self.links or (peer_ns, peer) in self.links:
            raise ValueError("RTNETLINK answers: File exists")
        a = self._new(where, name, "veth", peer=(peer_ns, peer))
        b = self._new(peer_ns, peer, "veth", peer=(where, name))
        a["peer"], b["peer"] = (peer_ns, peer), (where, name)

    def _link_set(self, where: str, args: list[str]) -> None:
        if args[:1] == ["dev"]:
            args = args[1:]
        if len(args) not in (2, 3):
            raise SyntaxError("not a form this check knows")
        link = self._dev(where, args[0])
        self._not_foreign(link)
        if args[1:] in (["up"], ["down"]):
            link["up"] = args[1] == "up"
        elif args[1] == "master" and len(args) == 3:
            br = self._dev(where, args[2])
            if br["kind"] != "bridge":
                raise ValueError(f"Error: {args[2]} is not a bridge")
            link["master"] = args[2]
        elif args[1] == "netns" and len(args) == 3:
            target = args[2]
            if target not in (self.HOST, self.ns):
                raise ValueError(f'Invalid "netns" value "{target}"')
            if (target, link["name"]) in self.links:
                raise ValueError("RTNETLINK answers: File exists")
            del self.links[(where, link["name"])]
            # What the kernel does to a link that changes namespace: down, no address, off its bridge.
            link.update(ns=target, up=False, addrs=[], master=None, moved=True)
            self.links[(target, link["name"])] = link
            if link["peer"]:
                self.links[link["peer"]]["peer"] = (target, link["name"])
        else:
            raise SyntaxError("not a form this check knows")

    @staticmethod
    def _not_foreign(link: dict) -> None:
        if link.get("foreign"):
            raise ValueError(f"{link['name']} is the host's own interface, which this exercise must not change")

    def _addr_add(self, where: str, address: str, dev: str) -> None:
        ip, _, bits = address.partition("/")
        try:
            _ip_int(ip)
        except ValueError:
            raise ValueError(f'Error: any valid prefix is expected rather than "{address}".') from None
        prefix = int(bits) if bits.isdigit() and 0 <= int(bits) <= 32 else 32 if not bits else None
        if prefix is None:
            raise ValueError(f'Error: any valid prefix is expected rather than "{address}".')
        link = self._dev(where, dev)
        self._not_foreign(link)
        if (ip, prefix) in link["addrs"]:
            raise ValueError("RTNETLINK answers: File exists")
        link["addrs"].append((ip, prefix))

    def _route_add(self, where: str, gateway: str, dev: str | None) -> None:
        try:
            gw = _ip_int(gateway)
        except ValueError:
            raise ValueError(f'Error: inet address is expected rather than "{gateway}".') from None
        if where in self.routes:
            raise ValueError("RTNETLINK answers: File exists")
        for link in self.links.values():
            if link["ns"] != where or not link["up"] or (dev and link["name"] != dev):
                continue
            if any(_same_subnet(_ip_int(a), gw, b) for a, b in link["addrs"]):
                self.routes[where] = gateway
                return
        raise ValueError("Error: Nexthop has invalid gateway.")
