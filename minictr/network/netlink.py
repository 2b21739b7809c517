"""Talk to the kernel's routing netlink directly: links, addresses and routes, without ``ip``.

``ip link add``, ``ip addr add`` and ``ip route add`` are thin clients of
one kernel interface, *rtnetlink*: a socket of family ``AF_NETLINK``,
protocol ``NETLINK_ROUTE``, on which a request is a message and the kernel
answers each one with an acknowledgement (or an errno). Sending the messages
ourselves saves a fork and an exec of ``ip`` per step (several ms each from
a Python process), which is most of what a bridge network cost a ``run``.

A message is a header and a body, every part padded to 4 bytes::

    struct nlmsghdr  { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }      16 bytes
    body: struct ifinfomsg (links) | ifaddrmsg (addresses) | rtmsg (routes)
    then attributes, each  struct rtattr { u16 len; u16 type; } + payload     (TLV)

The requests ``run`` needs, and the ``ip`` command each one stands for::

    ip link add V type veth peer name eth0 netns PID   RTM_NEWLINK  IFLA_IFNAME, IFLA_LINKINFO {kind "veth",
        + master BR up                                              data {VETH_INFO_PEER: ifinfomsg +
                                                                    IFLA_IFNAME eth0, IFLA_NET_NS_PID}},
                                                                    IFLA_MASTER, ifi_flags IFF_UP
    ip link add BR type bridge                         RTM_NEWLINK  IFLA_LINKINFO {kind "bridge"}
    ip link set NAME up                                RTM_NEWLINK  IFLA_IFNAME, ifi_flags/ifi_change IFF_UP
    ip addr add A/N dev NAME                           RTM_NEWADDR  ifaddrmsg(index), IFA_LOCAL, IFA_ADDRESS
    ip route add default via GW                        RTM_NEWROUTE rtmsg(main table, boot, unicast), RTA_GATEWAY
    ip link del NAME                                   RTM_DELLINK  IFLA_IFNAME

A socket talks to the network namespace it was *made* in, for good. So for
the container's side, ``Route(netns_pid=PID)`` makes its socket while the
calling thread has joined PID's network namespace (setns(2)), and joins its
own back at once; the messages then go to the container's namespace.

``FakeRoute`` records the same operations instead of sending them, so unit
tests see what would be done, without root and without patching.

Man pages: netlink(7), rtnetlink(7), netlink(3), setns(2); iproute2's ip-link(8),
ip-address(8), ip-route(8) for the same operations; <linux/rtnetlink.h>, <linux/if_link.h>,
<linux/veth.h>, <linux/netlink.h> for the numbers.
"""

from __future__ import annotations

import _socket  # the socket module without its enums (see process.py)
import os
from errno import ENODEV
import struct
import time

from ..errors import MinictrError

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK, NETLINK_EXT_ACK = 10, 11

# nlmsghdr flags and types (<linux/netlink.h>)
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLM_F_ACK_TLVS = 0x200  # on an NLMSG_ERROR: extended-ack attributes follow
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLMSGERR_ATTR_MSG = 1

# rtnetlink message types (<linux/rtnetlink.h>)
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 18, 20, 24

# link attributes (<linux/if_link.h>, <linux/veth.h>)
IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_PID = 3, 10, 18, 19
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFF_UP = 0x1
RTMGRP_LINK = 0x1  # the multicast group of link notifications (RTM_NEWLINK/RTM_DELLINK as they happen)

# address and route attributes and values (<linux/if_addr.h>, <linux/rtnetlink.h>)
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_GATEWAY = 5
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1
AF_UNSPEC, AF_INET = 0, 2

_IFINFOMSG = struct.Struct("=BxHiII")      # family, (pad), type, index, flags, change: 16 bytes
_IFADDRMSG = struct.Struct("=BBBBI")       # family, prefixlen, flags, scope, index: 8 bytes
_RTMSG = struct.Struct("=BBBBBBBBI")       # family, dst_len, src_len, tos, table, protocol, scope, type, flags
_NLMSGHDR = struct.Struct("=IHHII")        # len, type, flags, seq, pid: 16 bytes
_RTATTR = struct.Struct("=HH")             # len, type


class NetlinkError(MinictrError):
    """The kernel refused a request: ``errno`` is its answer (EEXIST, ENODEV, EPERM ...)."""

    def __init__(self, what: str, err: int, detail: str = ""):
        why = os.strerror(err) + (f" ({detail})" if detail else "")
        super().__init__(f"netlink: {what}: {why}",
                         hint="needs root (CAP_NET_ADMIN); check that the names are free and the process is alive")
        self.errno = err


# ---------------------------------------------------------------- messages, as bytes

def _pad(n: int) -> int:
    return (n + 3) & ~3  # NLMSG_ALIGN / RTA_ALIGN: every part starts on a 4-byte boundary


def attr(kind: int, payload: bytes) -> bytes:
    """One attribute (struct rtattr + payload, padded). Nested attributes are attributes as payload."""
    size = _RTATTR.size + len(payload)
    return _RTATTR.pack(size, kind) + payload + bytes(_pad(size) - size)


def _name(name: str) -> bytes:
    return name.encode() + b"\0"  # interface names are C strings (IFNAMSIZ with the NUL)


def message(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    """A whole request: the header (its length counts itself) and the body."""
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, flags, seq, 0) + body


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFOMSG.pack(AF_UNSPEC, 0, index, flags, change)


def veth_body(name: str, peer: str, peer_netns_pid: int, master: int = 0) -> bytes:
    """RTM_NEWLINK's body for a veth pair whose peer is born in the netns of ``peer_netns_pid``.

    The host end is created up, and in ``master`` (a bridge's index) when given:
    the kernel configures the flags and then the master of a link it has just
    made, so one request does what ``ip`` does in three.
    """
    peer_info = ifinfo() + attr(IFLA_IFNAME, _name(peer)) + attr(IFLA_NET_NS_PID, struct.pack("=I", peer_netns_pid))
    info = attr(IFLA_INFO_KIND, b"veth") + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_info))
    body = ifinfo(flags=IFF_UP, change=IFF_UP) + attr(IFLA_IFNAME, _name(name)) + attr(IFLA_LINKINFO, info)
    if master:
        body += attr(IFLA_MASTER, struct.pack("=I", master))
    return body


def bridge_body(name: str) -> bytes:
    return ifinfo() + attr(IFLA_IFNAME, _name(name)) + attr(IFLA_LINKINFO, attr(IFLA_INFO_KIND, b"bridge"))


def up_body(name: str) -> bytes:
    # ifi_change says which flags to touch: only IFF_UP, the rest stay as they are.
    return ifinfo(flags=IFF_UP, change=IFF_UP) + attr(IFLA_IFNAME, _name(name))


def name_body(name: str) -> bytes:
    """The body of RTM_GETLINK and RTM_DELLINK: the link named by its name (index 0: look it up by name)."""
    return ifinfo() + attr(IFLA_IFNAME, _name(name))


def address_body(index: int, address: str, bits: int) -> bytes:
    """RTM_NEWADDR: ``address/bits`` on link ``index``, as ``ip addr add`` sends it.

    IFA_LOCAL is the interface's own address; on a point-to-point link
    IFA_ADDRESS would be the peer's, on any other it is the same address.
    """
    raw = _socket.inet_aton(address)
    return _IFADDRMSG.pack(AF_INET, bits, 0, RT_SCOPE_UNIVERSE, index) + attr(IFA_LOCAL, raw) + attr(IFA_ADDRESS, raw)


def default_route_body(gateway: str) -> bytes:
    """RTM_NEWROUTE: 0.0.0.0/0 via ``gateway`` in the main table, as ``ip route add default via GW`` sends it."""
    rt = _RTMSG.pack(AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
    return rt + attr(RTA_GATEWAY, _socket.inet_aton(gateway))


def parse(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """The messages in one datagram: ``(type, flags, seq, body)`` each."""
    out = []
    at = 0
    while at + _NLMSGHDR.size <= len(data):
        size, kind, flags, seq, _pid = _NLMSGHDR.unpack_from(data, at)
        if size < _NLMSGHDR.size:
            break
        out.append((kind, flags, seq, data[at + _NLMSGHDR.size:at + size]))
        at += _pad(size)
    return out


def attributes(data: bytes) -> dict[int, bytes]:
    """The attributes in ``data`` (after a fixed header), by type (the last one of a type wins)."""
    out = {}
    at = 0
    while at + _RTATTR.size <= len(data):
        size, kind = _RTATTR.unpack_from(data, at)
        if size < _RTATTR.size:
            break
        out[kind & 0x3FFF] = data[at + _RTATTR.size:at + size]  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER
        at += _pad(size)
    return out


def error_of(flags: int, body: bytes) -> tuple[int, str]:
    """An NLMSG_ERROR's ``(errno, the kernel's own words)``; errno 0 is the acknowledgement."""
    (code,) = struct.unpack_from("=i", body)
    detail = ""
    if code and flags & NLM_F_ACK_TLVS:
        # With NETLINK_CAP_ACK the request is not echoed: after the errno comes our header
        # (16 bytes) and then the extended-ack attributes, one of them the message.
        text = attributes(body[4 + _NLMSGHDR.size:]).get(NLMSGERR_ATTR_MSG, b"")
        detail = text.rstrip(b"\0").decode(errors="replace")
    return -code, detail


# ---------------------------------------------------------------- the socket

def _open_socket(groups: int = 0):
    sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    try:
        # Ask for short acks (the request is not echoed back) with the kernel's
        # error text ("Device does not exist"), as ip shows it. Both are
        # optional: an older kernel just says the errno.
        for opt in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):
            try:
                sock.setsockopt(SOL_NETLINK, opt, 1)
            except OSError:
                pass
        sock.bind((0, groups))  # port id 0: the kernel picks one; groups: the notifications to receive
    except BaseException:
        sock.close()
        raise
    return sock


def _socket_in_netns(pid: int, kernel):
    """A netlink socket of the network namespace of process ``pid`` (this thread stays where it is)."""
    from ..syscalls import CloneFlags, linux
    kernel = kernel or linux()
    # The calling *thread's* namespace (in a notebook kernel other threads run too; setns
    # moves only the caller). Both opened first, so a vanished process is a clean error.
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise MinictrError(f"netlink: process {pid} is gone",
                               hint="the container exited before its network was set up") from None
        try:
            kernel.setns(target, CloneFlags.NEWNET)
            try:
                return _open_socket()
            finally:
                # Back home at once, whatever happened: a failure here would leave this
                # thread in the container's network, so it is not caught.
                kernel.setns(own, CloneFlags.NEWNET)
        finally:
            os.close(target)
    finally:
        os.close(own)


def _link_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")  # sysfs shows the links of the host's namespace


class Route:
    """One NETLINK_ROUTE socket: on the host, or in the network namespace of ``netns_pid``.

    Each method is one request, answered before it returns; a refusal raises
    ``NetlinkError`` naming the operation in ``ip``'s words. Use as a context
    manager, or call ``close()``.
    """

    def __init__(self, netns_pid: int | None = None, kernel=None):
        self.netns_pid = netns_pid
        self.sock = _open_socket() if netns_pid is None else _socket_in_netns(netns_pid, kernel)
        self.seq = 0

    def __enter__(self) -> "Route":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def request(self, kind: int, flags: int, body: bytes, what: str) -> list[bytes]:
        """Send one request and wait for its ack; the bodies of any replies that came before it."""
        self.seq += 1
        self.sock.send(message(kind, flags | NLM_F_REQUEST | NLM_F_ACK, self.seq, body))
        replies = []
        while True:
            for rkind, rflags, seq, rbody in parse(self.sock.recv(65536)):
                if seq != self.seq:
                    continue  # an answer to an earlier request of another user of this socket: not ours
                if rkind == NLMSG_ERROR:
                    err, detail = error_of(rflags, rbody)
                    if err:
                        raise NetlinkError(what, err, detail)
                    return replies
                if rkind == NLMSG_DONE:
                    return replies
                replies.append(rbody)

    # -- the operations (named as the ip command that does the same) ------------

    def index(self, name: str) -> int:
        """``ip link show NAME``: the link's index."""
        for body in self.request(RTM_GETLINK, 0, name_body(name), f"ip link show {name}"):
            return _IFINFOMSG.unpack_from(body)[2]
        raise NetlinkError(f"ip link show {name}", ENODEV)

    def add_bridge(self, name: str) -> None:
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, bridge_body(name), f"ip link add {name} type bridge")

    def add_veth(self, name: str, peer: str, peer_netns_pid: int, master: str | None = None) -> None:
        """``ip link add NAME type veth peer name PEER netns PID`` + ``master MASTER`` + ``up``, in one request."""
        index = self.index(master) if master else 0
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, veth_body(name, peer, peer_netns_pid, index),
                     f"ip link add {name} type veth peer name {peer} netns {peer_netns_pid}")

    def set_up(self, name: str) -> None:
        self.request(RTM_NEWLINK, 0, up_body(name), f"ip link set {name} up")

    def add_address(self, name: str, address: str, bits: int) -> None:
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, address_body(self.index(name), address, bits),
                     f"ip addr add {address}/{bits} dev {name}")

    def add_default_route(self, gateway: str) -> None:
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, default_route_body(gateway),
                     f"ip route add default via {gateway}")

    def wait_gone(self, name: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for link ``name`` to vanish; True once it has.

        Why wait rather than delete: a veth pair goes with the network
        namespace of either end. When a container's last process has exited,
        the kernel unregisters its pair by itself, about a millisecond later
        (cleanup_net), and frees it after an RCU grace period in the
        background. RTM_DELLINK from us does the same work, but in our own
        context, so the request returns only after that grace period and a
        barrier: 15-20 ms on this kind of machine, most of a bridge ``run``'s
        teardown. So we listen for the kernel's RTM_DELLINK notification
        (joining RTMGRP_LINK before we look, so that none is missed) instead.
        """
        listen = _open_socket(RTMGRP_LINK)
        try:
            if not _link_exists(name):
                return True
            want = _name(name)
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return not _link_exists(name)
                listen.settimeout(left)
                try:
                    data = listen.recv(65536)
                except (TimeoutError, OSError):  # the timeout; or ENOBUFS: notifications were lost, so look
                    return not _link_exists(name)
                for kind, _flags, _seq, body in parse(data):
                    if kind == RTM_DELLINK and attributes(body[_IFINFOMSG.size:]).get(IFLA_IFNAME) == want:
                        return True
        finally:
            listen.close()

    def delete(self, name: str) -> bool:
        """``ip link del NAME``; False if there was no such link (someone else deleted it first)."""
        try:
            self.request(RTM_DELLINK, 0, name_body(name), f"ip link del {name}")
        except NetlinkError as e:
            if e.errno == ENODEV:  # gone already, which is what we wanted
                return False
            raise
        return True


class FakeRoute:
    """A recording ``Route`` for tests: nothing is sent. ``ran`` holds ``(netns_pid, op, args)`` in order.

    ``FakeRoute.factory(fail, gone)`` makes the ``route`` callable that the
    network functions take: every Route it makes records into its ``.ran``. An
    operation named in ``fail`` raises NetlinkError with that errno; ``gone``
    is what ``wait_gone`` answers (False: the kernel kept the link).
    """

    def __init__(self, netns_pid=None, ran=None, fail=None, gone: bool = True):
        self.netns_pid, self.ran, self.fail, self.gone = netns_pid, [] if ran is None else ran, dict(fail or {}), gone

    @classmethod
    def factory(cls, fail: dict | None = None, gone: bool = True):
        ran: list = []

        def route(netns_pid=None, kernel=None):
            return cls(netns_pid, ran, fail, gone)

        route.ran = ran
        return route

    def _do(self, op: str, *args):
        self.ran.append((self.netns_pid, op, args))
        if op in self.fail:
            raise NetlinkError(op, self.fail[op])
        return self.gone if op == "wait_gone" else True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def close(self) -> None:
        pass

    def add_bridge(self, name): self._do("add_bridge", name)
    def add_veth(self, name, peer, peer_netns_pid, master=None): self._do("add_veth", name, peer, peer_netns_pid, master)
    def set_up(self, name): self._do("set_up", name)
    def add_address(self, name, address, bits): self._do("add_address", name, address, bits)
    def add_default_route(self, gateway): self._do("add_default_route", gateway)
    def delete(self, name) -> bool: return self._do("delete", name)
    def wait_gone(self, name, timeout) -> bool: return self._do("wait_gone", name, timeout)
