"""IP address management: who has which address of a network's subnet.

One JSON file per network, ``{"subnet": "10.80.0.0/16", "gateway": "10.80.0.1",
"allocations": {"10.80.0.2": {"id": ID, "name": NAME, ...}}}``, read and written
under an exclusive flock(2) on a lock file beside it, so that two ``minictr
run`` started together never get the same address. The gateway (the
bridge's own address, ``.1``) is never given out, nor are the network and
broadcast addresses. An address is released when its container's network
is torn down (``release``), and ``collect`` frees those of containers that
no longer exist (a killed CLI), as ``ps`` and ``rm`` do.

The subnet must not collide with a route of the host: ``free_subnet`` reads
the host's IPv4 routes (``/proc/net/route``) and picks the first candidate
that overlaps none of them, so a host on 10.80.0.0/16 itself still works.

Plain integer arithmetic on addresses (``ipaddress`` is not needed for a /16).

Man pages: flock(2), proc(5) (/proc/net/route), ip-route(8).
"""

from __future__ import annotations

import os

from .. import leanjson
from ..errors import ConfigError, MinictrError

#: Tried in order for the default network, and for ``network create`` without --subnet. Never
#: 10.88.0.0/16: podman's default network (netavark's ``podman0``, CNI's ``cni-podman0``) takes it
#: without looking at the host's routes, so a podman run after minictr0 exists would give the host
#: two bridges on one subnet, and one side's containers no route back. Nor docker's 172.17.0.0/16.
CANDIDATES = (tuple(f"10.{n}.0.0/16" for n in (*range(80, 88), *range(89, 100)))
              + tuple(f"172.{n}.0.0/16" for n in range(18, 32)))


def parse_ip(text: str) -> int:
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ConfigError("address", text, "is not an IPv4 address like 10.80.0.2")
    return (int(parts[0]) << 24) | (int(parts[1]) << 16) | (int(parts[2]) << 8) | int(parts[3])


def format_ip(value: int) -> str:
    return ".".join(str((value >> s) & 255) for s in (24, 16, 8, 0))


def parse_subnet(text: str) -> tuple[int, int]:
    """``"10.80.0.0/16"`` -> (network address as int, prefix length). Host bits must be zero."""
    addr, sep, prefix = text.partition("/")
    if not sep or not prefix.isdigit() or not 8 <= int(prefix) <= 30:
        raise ConfigError("subnet", text, "give an IPv4 subnet with a prefix from /8 to /30, like 10.80.0.0/16")
    base, bits = parse_ip(addr), int(prefix)
    if base & ((1 << (32 - bits)) - 1):
        raise ConfigError("subnet", text, "has host bits set", hint=f"use {format_ip(base & ~((1 << (32 - bits)) - 1) & 0xFFFFFFFF)}/{bits}")
    return base, bits


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    bits = min(a[1], b[1])
    mask = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF if bits else 0
    return (a[0] & mask) == (b[0] & mask)


def host_routes(text: str | None = None, skip_dev: str = "", only_dev: str = "") -> list[tuple[int, int]]:
    """The host's IPv4 routes as (network, prefix), from /proc/net/route (little-endian hex).

    ``skip_dev``: not the routes of that interface (minictr's own bridge, made by another store);
    ``only_dev``: only that interface's.
    """
    if text is None:
        with open("/proc/net/route") as f:
            text = f.read()
    out = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        dest = int.from_bytes(bytes.fromhex(fields[1]), "little")
        mask = int.from_bytes(bytes.fromhex(fields[7]), "little")
        if mask == 0 or fields[0] == skip_dev or (only_dev and fields[0] != only_dev):
            continue  # the default route collides with nothing
        out.append((dest, bin(mask).count("1")))
    return out


def device_subnet(dev: str, text: str | None = None) -> str | None:
    """The subnet routed to ``dev`` (the route the kernel made for its address), or None."""
    routes = host_routes(text, only_dev=dev)
    return f"{format_ip(routes[0][0])}/{routes[0][1]}" if routes else None


def free_subnet(routes: list[tuple[int, int]], taken: tuple[str, ...] = (),
                candidates: tuple[str, ...] = CANDIDATES) -> str:
    """The first candidate subnet that overlaps no host route and no subnet in ``taken``."""
    busy = list(routes) + [parse_subnet(t) for t in taken]
    for cand in candidates:
        net = parse_subnet(cand)
        if not any(overlaps(net, r) for r in busy):
            return cand
    raise MinictrError("no free subnet for a container network: every candidate collides with a host route",
                       hint="give one: `minictr network create --subnet 192.168.99.0/24 NAME`")


def gateway_of(subnet: str) -> str:
    return format_ip(parse_subnet(subnet)[0] + 1)


class Pool:
    """The addresses of one network, kept in ``path`` (locked with ``path + ".lock"``)."""

    def __init__(self, path: str, subnet: str, gateway: str | None = None, random: bool = True) -> None:
        self.random = random
        self.path, self.subnet = path, subnet
        self.base, self.bits = parse_subnet(subnet)
        self.gateway = gateway or format_ip(self.base + 1)

    def _locked(self):
        import fcntl
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def _read(self) -> dict:
        try:
            with open(self.path) as f:
                data = leanjson.loads(f.read())
        except FileNotFoundError:
            data = {}
        data.setdefault("allocations", {})
        data["subnet"], data["gateway"] = self.subnet, self.gateway
        return data

    def _write(self, data: dict) -> None:
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(leanjson.dumps(data))
        os.replace(tmp, self.path)

    def update(self, change) -> object:
        """Call ``change(data)`` with the file locked, write the data back, return what it returned."""
        fd = self._locked()
        try:
            data = self._read()
            result = change(data)
            self._write(data)
            return result
        finally:
            os.close(fd)  # closing the last descriptor drops the flock

    def allocations(self) -> dict:
        return self._read()["allocations"]

    def allocate(self, owner: str, name: str = "", wanted: str | None = None, **more) -> str:
        """An address for container ``owner`` (the same one again if it has one)."""
        def pick(data):
            allocs = data["allocations"]
            for ip, who in allocs.items():
                if who.get("id") == owner:
                    return ip
            used = set(allocs) | {self.gateway}
            if wanted is not None:
                if wanted in used or not overlaps((parse_ip(wanted), 32), (self.base, self.bits)):
                    raise ConfigError("--ip", wanted, f"is taken or outside {self.subnet}")
                allocs[wanted] = {"id": owner, "name": name, **more}
                return wanted
            # From a random place in the subnet, then in order: two stores (tests run
            # side by side, each with its own MINICTR_ROOT) share the host's bridge,
            # and rarely pick the same address this way.
            size = (1 << (32 - self.bits)) - 3
            start = int.from_bytes(os.urandom(4), "little") % size if self.random else 0
            for k in range(size):
                ip = format_ip(self.base + 2 + (start + k) % size)
                if ip not in used:
                    allocs[ip] = {"id": owner, "name": name, **more}
                    return ip
            raise MinictrError(f"no free address left in {self.subnet}", hint="remove stopped containers: minictr rm")
        return self.update(pick)

    def release(self, owner: str) -> list[str]:
        """Free every address of ``owner``; returns them."""
        def drop(data):
            gone = [ip for ip, who in data["allocations"].items() if who.get("id") == owner]
            for ip in gone:
                del data["allocations"][ip]
            return gone
        return self.update(drop)

    def collect(self, alive) -> list[str]:
        """Free the addresses of containers not in ``alive`` (ids): what a killed CLI left."""
        def drop(data):
            gone = [ip for ip, who in data["allocations"].items() if who.get("id") not in alive]
            for ip in gone:
                del data["allocations"][ip]
            return gone
        return self.update(drop)
