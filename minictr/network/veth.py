"""Connect a container's network namespace to the host with a veth pair.

A new network namespace holds only ``lo``, and it is down: nothing can reach
it and it reaches nothing. A *veth pair* is two virtual interfaces joined by
a cable: what goes in one end comes out of the other. Put one end in the
container's namespace (named ``eth0`` there), keep the other on the host,
give both an address in the same small subnet, bring both up, and the two
namespaces can talk::

      host network namespace              container network namespace (of PID)
    +---------------------------+        +------------------------------+
    |  vhXXXXXXXX 10.200.0.1/30 |========|  eth0 10.200.0.2/30          |
    |  (the host end)           |  veth  |  lo   127.0.0.1              |
    +---------------------------+        +------------------------------+

A /30 has exactly two usable addresses, one for each end: the traffic has
nowhere else to go. Deleting either end deletes both, and so does the end of
the container's network namespace (when its last process exits).

This module drives iproute2's ``ip`` command (nothing but the standard
library): ``ip link add ... type veth peer name eth0 netns PID`` creates the
pair with its second end already inside the namespace of process PID, so no
``eth0`` ever appears on the host. The commands for the inside end run in a
child that joined that namespace with setns(2), as ``nsenter --net`` would.

    link = connect(container.pid)           # 10.200.0.1/30 <-> 10.200.0.2/30
    ... ping 10.200.0.1 from inside ...
    link.delete()

Every ``ip`` command goes through a runner, ``run_ip`` unless the caller
passes another as ``ip=``: ``FakeIp`` records the commands instead of running
them, so a test sees what would run, without root and without patching.

Man pages: ip-link(8), ip-address(8), veth(4), network_namespaces(7), setns(2).
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass

from .. import child
from ..errors import ConfigError, MinictrError

__all__ = ["Link", "connect", "new_ifname", "free_subnet", "run_in_netns", "IP", "run_ip", "FakeIp"]

#: The ``ip`` binary (iproute2). Debian: apt-get install iproute2.
IP = "ip"
#: The name of the container's end, inside its namespace.
CONTAINER_IFNAME = "eth0"
_IFNAMSIZ = 15  # the kernel's limit on an interface name, without the NUL


@dataclass(frozen=True)
class Link:
    """A veth pair made by ``connect``: its host end, its container end, and their addresses."""

    pid: int                  # a process in the container's network namespace
    host_ifname: str          # e.g. "vh3fa29c01", in the host's namespace
    container_ifname: str     # "eth0", in the container's namespace
    host_addr: str            # "10.200.0.1/30"
    container_addr: str       # "10.200.0.2/30"

    @property
    def host_ip(self) -> str:
        """The host end's address without the prefix: what the container pings."""
        return self.host_addr.split("/")[0]

    @property
    def container_ip(self) -> str:
        return self.container_addr.split("/")[0]

    def exists(self) -> bool:
        """Whether the host end is still there."""
        return os.path.exists(f"/sys/class/net/{self.host_ifname}")

    def delete(self, *, ip=None) -> None:
        """Remove the pair (deleting one end removes both). Quiet if it is gone already.

        ``ip`` runs the ``ip`` command (``run_ip`` by default; see ``FakeIp``).
        """
        if not self.exists():
            return
        r = _ip("link", "del", self.host_ifname, check=False, ip=ip)
        if r.returncode != 0 and self.exists():
            raise MinictrError(f"ip link del {self.host_ifname}: {r.stderr.strip()}",
                               hint="delete it by hand: ip link del " + self.host_ifname)


def new_ifname(prefix: str = "vh") -> str:
    """A fresh interface name, unused on the host: ``prefix`` and 8 random hex digits."""
    for _ in range(100):
        name = f"{prefix}{os.urandom(4).hex()}"
        if not os.path.exists(f"/sys/class/net/{name}"):
            return name
    raise MinictrError("no free interface name found", hint="too many interfaces named " + prefix + "*?")


def free_subnet(prefix: str = "10.200", *, ip=None) -> tuple[str, str]:
    """A /30 under ``prefix``.0.0/16 that no interface on the host uses: ``(host_addr, container_addr)``.

    For when several pairs may exist at once (tests running side by side):
    two host ends on the same subnet would make the routes ambiguous.
    """
    import random

    used = _ip("-o", "-4", "addr", ip=ip).stdout
    # Start at a random third octet (so parallel callers rarely pick the same one), then try
    # every one in turn: a free /24 is always found if there is one.
    start, fourth = random.randrange(256), random.randrange(0, 256, 4)
    for step in range(256):
        third = (start + step) % 256
        if f" {prefix}.{third}." not in used:
            return f"{prefix}.{third}.{fourth + 1}/30", f"{prefix}.{third}.{fourth + 2}/30"
    raise MinictrError(f"no free /30 under {prefix}.0.0/16", hint="delete unused veth pairs: ip -o link")


def _check_ifname(name: str) -> None:
    if not name or len(name) > _IFNAMSIZ or "/" in name or any(c.isspace() for c in name) or name in (".", ".."):
        raise ConfigError("host_ifname", name, f"an interface name has 1 to {_IFNAMSIZ} characters, "
                          "no '/' and no spaces")


def _check_pair(host_addr: str, container_addr: str) -> None:
    try:
        h, c = ipaddress.ip_interface(host_addr), ipaddress.ip_interface(container_addr)
    except ValueError as e:
        raise ConfigError("address", f"{host_addr} {container_addr}", f"give addresses like 10.200.0.1/30 ({e})")
    if "/" not in host_addr or "/" not in container_addr:
        raise ConfigError("address", f"{host_addr} {container_addr}", "give each address its prefix: 10.200.0.1/30")
    if h.network != c.network or h.ip == c.ip:
        raise ConfigError("address", f"{host_addr} {container_addr}",
                          "both ends need different addresses in the same subnet")


def run_in_netns(pid: int, argv: list[str], *, timeout: float | None = 60) -> subprocess.CompletedProcess:
    """Run a host command in the network namespace of process ``pid`` (like ``nsenter -t PID -n``).

    Only the network namespace is joined: the command is the host's binary and
    sees the host's files. Returns the finished process, output as text.
    """
    # Opened here, in the parent, so that a vanished process is a clean error.
    try:
        fds = child.open_namespaces(pid, ("net",))
    except FileNotFoundError:
        raise ConfigError("pid", pid, "no such process") from None

    def join():  # runs in the forked child, before exec
        # Why setns and not unshare: we want *that* namespace, the container's,
        # not a new one. Only this child moves; the caller stays on the host.
        child.enter_namespaces(fds)

    try:
        return subprocess.run(list(argv), capture_output=True, text=True, preexec_fn=join, timeout=timeout)
    finally:
        for fd in fds:
            os.close(fd)


def run_ip(args: tuple[str, ...], netns_pid: int | None = None) -> subprocess.CompletedProcess:
    """The ``ip`` runner: run ``ip ARGS`` on the host, or in the network namespace of ``netns_pid``."""
    if netns_pid is None:
        return subprocess.run([IP, *args], capture_output=True, text=True)
    return run_in_netns(netns_pid, [IP, *args])


class FakeIp:
    """A recording ``ip`` runner for tests: nothing runs, every command is kept.

    ``ran`` lists ``(netns_pid, args)`` in order. Each command prints
    ``stdout`` and succeeds, except one that starts with a prefix in ``fail``
    (a tuple of words), which fails with that prefix's text as its stderr::

        ip = FakeIp(fail={("addr", "add", "10.9.0.2/30"): "RTNETLINK answers: File exists"})
        connect(pid, "10.9.0.1/30", "10.9.0.2/30", ip=ip)    # raises MinictrError
    """

    def __init__(self, stdout: str = "", fail: dict[tuple[str, ...], str] | None = None) -> None:
        self.ran: list[tuple[int | None, tuple[str, ...]]] = []
        self.stdout = stdout
        self.fail = dict(fail or {})

    def __call__(self, args: tuple[str, ...], netns_pid: int | None = None) -> subprocess.CompletedProcess:
        args = tuple(args)
        self.ran.append((netns_pid, args))
        for prefix, stderr in self.fail.items():
            if args[:len(prefix)] == tuple(prefix):
                return subprocess.CompletedProcess([IP, *args], 2, "", stderr)
        return subprocess.CompletedProcess([IP, *args], 0, self.stdout, "")


def _ip(*args: str, netns_pid: int | None = None, check: bool = True, ip=None) -> subprocess.CompletedProcess:
    """Run ``ip ARGS`` with the runner ``ip`` (``run_ip`` when None); a failure is one clear error."""
    try:
        r = (ip or run_ip)(args, netns_pid)
    except FileNotFoundError:
        raise MinictrError("the ip command is missing", hint="install iproute2: apt-get install iproute2") from None
    if check and r.returncode != 0:
        where = f" (in the network namespace of PID {netns_pid})" if netns_pid is not None else ""
        raise MinictrError(f"ip {' '.join(args)}{where}: {r.stderr.strip() or 'exit status ' + str(r.returncode)}",
                           hint="needs root (CAP_NET_ADMIN); check the process is alive and the names are free")
    return r


def container_ifname_for(pid: int, proc: str = "/proc") -> str:
    """``eth0``, or the first free ``ethN`` when the container already has an eth0.

    A container started by ``minictr run`` is on the default bridge network,
    with its own ``eth0``; a second pair made by hand (lesson 09) then ends in
    ``eth1``. /proc/PID/net/dev lists the interfaces of PID's network
    namespace. In our own namespace (a test with a fake runner) it stays eth0.
    """
    try:
        if os.stat(f"{proc}/{pid}/ns/net").st_ino == os.stat(f"{proc}/self/ns/net").st_ino:
            return CONTAINER_IFNAME
        with open(f"{proc}/{pid}/net/dev") as f:
            names = {line.split(":", 1)[0].strip() for line in f if ":" in line}
    except OSError:
        return CONTAINER_IFNAME
    n = 0
    while f"eth{n}" in names:
        n += 1
    return f"eth{n}"


def connect(pid: int, host_addr: str = "10.200.0.1/30", container_addr: str = "10.200.0.2/30",
            host_ifname: str | None = None, *, ip=None) -> Link:
    """Join the network namespace of process ``pid`` to the host's with a veth pair.

    The container's end is ``eth0`` inside (``eth1`` if it has an eth0 already:
    ``container_ifname_for``), with ``container_addr``; the host
    end is ``host_ifname`` (a fresh ``vh...`` name by default) with
    ``host_addr``. Both are up when this returns. On failure nothing is left.
    ``ip`` runs each ``ip`` command (``run_ip`` by default; see ``FakeIp``).
    """
    _check_pair(host_addr, container_addr)
    if host_ifname is None:
        host_ifname = new_ifname()
    _check_ifname(host_ifname)
    if not os.path.exists(f"/proc/{pid}/ns/net"):
        raise ConfigError("pid", pid, "no such process: start the container first")
    CONTAINER_IFNAME = container_ifname_for(pid)  # this pair's inside name: eth0, or eth1 next to run's eth0
    link = Link(pid, host_ifname, CONTAINER_IFNAME, host_addr, container_addr)
    # One call makes both ends, the second one directly in the container's
    # namespace (IFLA_NET_NS_PID): "eth0" never exists on the host.
    _ip("link", "add", host_ifname, "type", "veth", "peer", "name", CONTAINER_IFNAME, "netns", str(pid), ip=ip)
    try:
        _ip("addr", "add", host_addr, "dev", host_ifname, ip=ip)
        _ip("link", "set", host_ifname, "up", ip=ip)
        _ip("addr", "add", container_addr, "dev", CONTAINER_IFNAME, netns_pid=pid, ip=ip)
        _ip("link", "set", CONTAINER_IFNAME, "up", netns_pid=pid, ip=ip)
        _ip("link", "set", "lo", "up", netns_pid=pid, ip=ip)
    except BaseException:
        link.delete(ip=ip)
        raise
    return link


# Lesson 05's public home is ``minictr.network`` (the package re-exports these):
# the lesson's checks name the reference as ``minictr.network.connect``.
for _fn in (connect, new_ifname, free_subnet, run_in_netns, run_ip):
    _fn.__module__ = __name__.rpartition(".")[0]  # minictr.network
del _fn
