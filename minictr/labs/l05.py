"""Lesson 05 (UTS, IPC and network namespaces): exercises, and helpers for the notebook.

Exercises:

- ``05.hostname``: ``def set_hostname(sys, name)`` gives the calling process a
  hostname of its own without touching the host's. The check runs it in a
  forked child whose parent stands in for the host: that parent first moves
  into a throwaway UTS namespace named ``the-host``, so even a wrong answer
  (``sethostname`` without ``unshare``) renames only the stand-in, never this
  machine. Reference: ``minictr.namespaces.unshare_uts``.
- ``05.veth``: ``def connect(pid, host_addr, container_addr, host_ifname) -> Link``
  joins the network namespace of ``pid`` to the host's with a veth pair. The
  check gives it a forked child in a new network namespace, a random /30 in
  10.201.0.0/16 and a fresh interface name, then looks at both ends, pings
  the host from inside, and calls ``delete()``. The child is killed at the
  end, which removes the pair whatever the answer did. Reference:
  ``minictr.network.connect``.

Helpers: ``in_child(fn, flags)`` runs ``fn()`` in a forked child that first
unshares ``flags`` (the notebook's own process never changes namespace);
``in_namespaces_of(pid, kinds, fn)`` runs ``fn()`` in a forked child that
joined some namespaces of a running process (what ``nsenter`` and
``docker exec`` do). Both return ``fn``'s JSON-able result. ``run_in_container(pid, *argv)``
runs a command inside a running container (nsenter).

Man pages: uts_namespaces(7), ipc_namespaces(7), network_namespaces(7),
sethostname(2), setns(2), veth(4), ip-link(8), sysvipc(7), mq_overview(7).
"""

from __future__ import annotations

import os
import socket
import subprocess
from typing import Any, Callable

from ..network import free_subnet
from ..syscalls import CloneFlags
from .kit import Case, CaseFailed, ChildInNamespaces, Exercise, lazy, register
from .kit import in_child as _checked_child
from .lesson import Lesson

__all__ = ["LESSON", "in_child", "in_namespaces_of", "free_subnet", "run_in_container"]

LESSON = Lesson("05", "UTS, IPC and network namespaces", needs_root=True,
                tools=("ip", "ping", "ipcmk", "nsenter"), namespaces=("uts", "ipc", "net"), privilege="root")


def in_child(fn: Callable[[], Any], flags: int = 0, *, timeout: float = 20.0) -> Any:
    """``fn()`` in a forked child that first unshares ``flags``; its JSON-able result comes back."""
    def body():
        if flags:
            from ..syscalls import linux
            linux().unshare(flags)
        return fn()
    return _checked_child(body, timeout=timeout)


def in_namespaces_of(pid: int, kinds: tuple[str, ...], fn: Callable[[], Any], *, timeout: float = 20.0) -> Any:
    """``fn()`` in a forked child that joined the namespaces ``kinds`` ("ipc", "net", "mnt", ...) of ``pid``."""
    return _checked_child(fn, timeout=timeout, join=(pid, tuple(kinds)))


# -- 05.hostname ------------------------------------------------------------------------------

_STAND_IN = "the-host"


def _hostname_trial(fn: Callable, name: str) -> dict:
    """Run ``fn(sys, name)`` in a grandchild; report what it and the stand-in host see."""
    def stand_in_host():
        from ..syscalls import linux

        sys_ = linux()
        # Why: this child plays the host. Its own UTS namespace and name mean a
        # wrong answer renames only it, and the check can see that it did.
        sys_.unshare(CloneFlags.NEWUTS)
        sys_.sethostname(_STAND_IN)
        my_uts = os.readlink("/proc/self/ns/uts")

        def container():
            fn(linux(), name)
            return {"hostname": socket.gethostname(), "uts": os.readlink("/proc/self/ns/uts")}

        try:
            inner = _checked_child(container, timeout=10)
        except CaseFailed as e:
            return {"failed": str(e)}
        return {"container": inner, "host_hostname": socket.gethostname(), "host_uts": my_uts}

    seen = _checked_child(stand_in_host, timeout=15)
    if "failed" in seen:
        raise CaseFailed(seen["failed"])
    return seen


def _hostname_cases() -> list[Case]:
    cache: dict[tuple[int, str], dict] = {}

    def trial(fn, name):
        key = (id(fn), name)
        if key not in cache:
            cache[key] = _hostname_trial(fn, name)
        return cache[key]

    def has_name(name):
        def run(fn):
            got = trial(fn, name)["container"]["hostname"]
            if got != name:
                raise CaseFailed(f"set_hostname(sys, {name!r}): the container's hostname is {got!r}, "
                                 f"not {name!r}; call sys.sethostname(name)")
        return run

    def host_unchanged(fn):
        t = trial(fn, "box1")
        if t["host_hostname"] != _STAND_IN:
            raise CaseFailed(f"the host's hostname became {t['host_hostname']!r}: sethostname(2) renames the "
                             "caller's UTS namespace, so call sys.unshare(CloneFlags.NEWUTS) first "
                             "(the check's stand-in host took the hit, not this machine)")

    def own_namespace(fn):
        t = trial(fn, "box1")
        if t["container"]["uts"] == t["host_uts"]:
            raise CaseFailed("the container is still in the host's UTS namespace "
                             f"({t['host_uts']}): unshare(CLONE_NEWUTS) first")

    return [
        Case("the container's hostname is the new name", has_name("box1")),
        Case("the host's hostname is unchanged", host_unchanged),
        Case("the container has a UTS namespace of its own", own_namespace),
        Case("another name works too ('web-01')", has_name("web-01")),
    ]


# -- 05.veth -------------------------------------------------------------------------------------

def _flags_of(ip_o_link_line: str) -> set[str]:
    """``2: eth0@if9: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu ...`` -> {"BROADCAST", ..., "UP"}."""
    try:
        return set(ip_o_link_line.split("<", 1)[1].split(">", 1)[0].split(","))
    except IndexError:
        return set()


def _veth_trial(fn: Callable) -> dict:
    """Call the learner's connect() on a child in a new network namespace; observe; clean up."""
    from .. import network

    host_addr, container_addr = free_subnet("10.201")
    host_ifname = network.new_ifname("vx")
    seen: dict[str, Any] = {"host_addr": host_addr, "container_addr": container_addr, "host_ifname": host_ifname}
    with ChildInNamespaces(CloneFlags.NEWNET) as pid:
        try:
            link = fn(pid, host_addr, container_addr, host_ifname)

            def host(*args):
                return subprocess.run(["ip", "-o", *args], capture_output=True, text=True).stdout

            def inside(*argv):
                return network.run_in_netns(pid, list(argv), timeout=20)

            seen["host_link"] = host("link", "show", "dev", host_ifname) if os.path.exists(
                f"/sys/class/net/{host_ifname}") else ""
            seen["host_addrs"] = host("-4", "addr", "show", "dev", host_ifname) if seen["host_link"] else ""
            links = inside("ip", "-o", "link").stdout
            seen["inside_names"] = [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()]
            seen["eth0_link"] = next((line for line in links.splitlines()
                                      if line.split(":")[1].strip().split("@")[0] == "eth0"), "")
            seen["eth0_addrs"] = inside("ip", "-o", "-4", "addr", "show", "dev", "eth0").stdout \
                if seen["eth0_link"] else ""
            ping = inside("ping", "-c", "1", "-W", "3", host_addr.split("/")[0])
            seen["ping_ok"] = ping.returncode == 0
            seen["has_delete"] = callable(getattr(link, "delete", None))
            if seen["has_delete"]:
                link.delete()
                seen["gone_after_delete"] = not os.path.exists(f"/sys/class/net/{host_ifname}")
        finally:
            if os.path.exists(f"/sys/class/net/{host_ifname}"):
                subprocess.run(["ip", "link", "del", host_ifname], capture_output=True)
    return seen


def _veth_cases() -> list[Case]:
    cache: dict[int, dict] = {}

    def trial(fn) -> dict:
        if id(fn) not in cache:
            cache[id(fn)] = _veth_trial(fn)
        return cache[id(fn)]

    def host_end(fn):
        t = trial(fn)
        if not t["host_link"]:
            raise CaseFailed("there is no interface named host_ifname on the host: "
                             "ip link add HOST_IFNAME type veth peer name eth0 netns PID")
        if "UP" not in _flags_of(t["host_link"]):
            raise CaseFailed("the host end is down: ip link set HOST_IFNAME up")
        if f"inet {t['host_addr']}" not in t["host_addrs"]:
            raise CaseFailed("the host end does not have host_addr: ip addr add HOST_ADDR dev HOST_IFNAME")

    def container_end(fn):
        t = trial(fn)
        if "eth0" not in t["inside_names"]:
            raise CaseFailed(f"inside, the interfaces are {t['inside_names']}, with no eth0: create the peer "
                             "in the namespace of pid (peer name eth0 netns PID)")
        if "UP" not in _flags_of(t["eth0_link"]):
            raise CaseFailed("eth0 is down inside: run `ip link set eth0 up` in the container's network "
                             "namespace (nsenter -t PID -n ...)")
        if f"inet {t['container_addr']}" not in t["eth0_addrs"]:
            raise CaseFailed("eth0 inside does not have container_addr: ip addr add CONTAINER_ADDR dev eth0, "
                             "run inside the container's network namespace")

    def ping(fn):
        t = trial(fn)
        if not t["ping_ok"]:
            raise CaseFailed("ping from inside the container to host_addr got no answer: both ends need "
                             "their address and must be up")

    def delete(fn):
        t = trial(fn)
        if not t["has_delete"]:
            raise CaseFailed("return the Link (minictr.network.Link(pid, host_ifname, 'eth0', host_addr, "
                             "container_addr)), so that the caller can delete() it")
        if not t["gone_after_delete"]:
            raise CaseFailed("after delete() the host end is still there")

    return [
        Case("the host end exists, is up and has host_addr", host_end),
        Case("the container end is eth0 inside, up, with container_addr", container_end),
        Case("a ping from inside reaches the host", ping),
        Case("the returned Link's delete() removes the pair", delete),
    ]


register(Exercise(
    id="05.hostname", title="Set a hostname inside without touching the host's",
    function="set_hostname", signature="def set_hostname(sys: Syscalls, name: str) -> None",
    cases=_hostname_cases,
    reference=lambda: lazy("minictr.namespaces", "unshare_uts"),
    needs_root=True,
))
register(Exercise(
    id="05.veth", title="Connect a container to the host with a veth pair",
    function="connect",
    signature="def connect(pid, host_addr='10.200.0.1/30', container_addr='10.200.0.2/30', host_ifname=None) -> Link",
    cases=_veth_cases,
    reference=lambda: lazy("minictr.network", "connect"),
    needs_root=True,
))


def run_in_container(pid: int, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run ``argv`` inside the container whose init is ``pid``: ``docker exec``, done with nsenter(1).

    nsenter joins the container's mount, UTS, IPC, network and PID namespaces
    with setns(2); joining the mount namespace also moves the root to the
    container's, so ``argv[0]`` is the *container's* program (busybox here).
    """
    return subprocess.run(["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", *argv],
                          capture_output=True, text=True, timeout=timeout)


# The lesson's quizzes, out of the notebook's sight (minictr.labs.quizzes reads this table as data;
# the notebook shows one with Quiz.lab(id), its options shuffled).
QUIZZES = {
    "05.new-netns": {
        "question": "A process has just called unshare(CLONE_NEWNET). What can it reach over the network?",
        "right": {
            "nothing at all, not even 127.0.0.1, until it brings lo up":
                "A new network namespace has a single interface, lo, and it is down. Runtimes bring lo up and "
                "connect the namespace with a veth pair (to a bridge, or straight to the host as here).",
        },
        "wrong": {
            "everything the host can reach: a namespace only renames the interfaces":
                "A network namespace has its own interfaces, routes and firewall: none of the host's are in it.",
            "only the host, through eth0": "There is no eth0 in it until a runtime moves one end of a veth pair in.",
            "127.0.0.1 only: lo comes up by itself": "lo exists, but it starts down: `ip link set lo up` is needed.",
        },
    },
    "05.ipc-keys": {
        "question": "Container A creates a System V shared memory segment with key 0x1234. "
                    "Container B asks for key 0x1234. What does B get?",
        "right": {
            "its own, different segment (or none): keys are per IPC namespace":
                "IPC objects are named inside an IPC namespace. B looks the key up in its own namespace, "
                "which does not hold A's segment.",
        },
        "wrong": {
            "the same segment: keys are global":
                "Without IPC namespaces they would be; that is what the IPC namespace changes.",
            "EPERM: only the creator's container may attach":
                "It is not a permission check: B's namespace simply has no segment with that key.",
        },
    },
}
