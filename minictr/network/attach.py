"""A container's network: set it up between create and start, tear it down with the container.

The record (``State.network``, a dict) says what was made, and is saved
*before* each thing is made, so that whoever finds the container orphaned
(``ps``/``rm`` after a SIGKILLed CLI, see container.gc) can undo it::

    {"network": "bridge", "bridge": "minictr0", "subnet": "10.80.0.0/16",
     "gateway": "10.80.0.1", "ip": "10.80.0.2", "veth": "mc1f2e3d4c5b6a7",
     "ports": [["", 18081, 80, "tcp"]], "down": false}

``prepare`` (before the init forks): the address, from the network's IPAM,
and the container's hosts/hostname/resolv.conf files in its runtime dir
(bind-mounted over /etc/... by the mount plan). ``connect`` (the init waits
at exec, its network namespace exists): the bridge and nft table if this is
the first container, the veth pair (host end on the bridge, ``eth0``
inside with the address and the default route), the published ports.
``detach``: the reverse, quietly for whatever is already gone. Links,
addresses and routes are rtnetlink requests on a socket (``netlink.py``), not
``ip`` processes: a fork and an exec of ``ip`` from a Python process cost
several milliseconds each, and a plain ``run`` needed three of them (the veth,
the inside, the teardown). ``host_script`` and ``inside_script`` say the same
steps in ``ip -batch`` words (lesson 11 builds them by hand). The nft rules
stay one ``nft -f`` transaction, run only when the table or a port changes.

**What stays.** A user-defined network's bridge goes with its last container.
The default bridge ``minictr0`` and the ``ip minictr`` table are *kept* once
made, as docker keeps docker0 and its chains: making and deleting a bridge
and a table on every ``run --rm`` cost about 200 ms of a start on the test
machine. ``minictr network rm bridge`` removes them (and writes ip_forward's
old value back) when no container uses them; the tests do that at the end.

Man pages: rtnetlink(7), ip(8) (-batch), ip-link(8), ip-route(8), nft(8).
"""

from __future__ import annotations

import os

from . import bridge, networks, nft
from . import runner as _runner


#: How long ``detach`` waits for the kernel to delete a veth pair with its namespace (seconds).
VETH_GONE_WAIT = 0.25


def veth_name(container_id: str) -> str:
    """The host end's name, from the id (so it is known before it exists): 15 characters, IFNAMSIZ."""
    return "mc" + container_id[:13]


def intent(container_id: str, network: str, ports=()) -> dict:
    """The record, before anything is made: enough for ``detach`` to find and undo it all."""
    return {"network": network, "veth": veth_name(container_id), "ports": [list(p) for p in ports],
            "ip": "", "down": False}


def prepare(record: dict, container_id: str, name: str, hostname: str, dir: str,
            dns=(), add_hosts=(), host_resolv: str = "/etc/resolv.conf") -> dict:
    """Allocate the address and write hosts, hostname and resolv.conf into ``dir``. Returns the record."""
    from . import resolv
    net = networks.load(record["network"])
    record.update(bridge=net["bridge"], subnet=net["subnet"], gateway=net["gateway"])
    record["ip"] = networks.pool(net).allocate(container_id, name, hosts=os.path.join(dir, "hosts"))
    try:
        with open(host_resolv) as f:
            host_text = f.read()
    except FileNotFoundError:
        host_text = ""
    names = (name,) if net["name"] != networks.DEFAULT else ()
    files = {"hosts": resolv.hosts(hostname, record["ip"], names, add_hosts) + (networks.PEERS_MARK if names else ""),
             "hostname": hostname + "\n", "resolv.conf": resolv.resolv_conf(host_text, dns)}
    for fname, text in files.items():
        with open(os.path.join(dir, fname), "w") as f:
            f.write(text)
    return record


def host_script(record: dict, pid: int) -> str:
    """``connect``'s host side in ``ip -batch`` words (one netlink request does all three)."""
    v = record["veth"]
    return (f"link add {v} type veth peer name eth0 netns {pid}\n"
            f"link set {v} master {record['bridge']}\nlink set {v} up\n")


def inside_script(record: dict) -> str:
    """``connect``'s steps inside the container's network namespace, in ``ip -batch`` words."""
    bits = record["subnet"].split("/")[1]
    return (f"addr add {record['ip']}/{bits} dev eth0\nlink set eth0 up\n"
            f"route add default via {record['gateway']}\n")


def connect(record: dict, pid: int, runner=None, sysctl_dir: str = "/proc/sys", route=None) -> None:
    """Plug the container (its init is ``pid``) into its network, and publish its ports.

    ``runner`` runs nft (``runner.run``; ``FakeRunner`` in tests), ``route(netns_pid=None)``
    makes a netlink socket (``netlink.Route``; ``netlink.FakeRoute.factory()`` in tests).
    """
    run = runner or _runner.run
    route = route or _route
    bits = int(record["subnet"].split("/")[1])
    fd = networks.lock()
    try:
        made = bridge.ensure(record["bridge"], record["gateway"], bits, route, sysctl_dir=sysctl_dir)
        script = nft.script_ensure() if made else ""
        if made:
            script += "\n".join(nft.network_elements("add", record["subnet"], record["bridge"])) + "\n"
        if record["ports"]:
            script += "\n".join(nft.port_elements("add", record["ports"], record["ip"])) + "\n"
        with route() as host:
            # The host end, up and on the bridge, and its peer born inside as eth0.
            host.add_veth(record["veth"], "eth0", pid, master=record["bridge"])
        if script:
            nft.apply(script, run)
    finally:
        os.close(fd)
    with route(pid) as inside:  # a socket of the container's network namespace
        inside.add_address("eth0", record["ip"], bits)
        inside.set_up("eth0")
        inside.add_default_route(record["gateway"])  # after the address: the gateway must be reachable
    networks.refresh_hosts(networks.load(record["network"]))


def _route(netns_pid=None):
    from .netlink import Route
    return Route(netns_pid)


def detach(record: dict, container_id: str, runner=None, sysctl_dir: str = "/proc/sys", route=None) -> bool:
    """Undo what ``connect`` and ``prepare`` made, quietly for what is gone. False if nothing was to do."""
    if not record or record.get("down") or record.get("network") in networks.MODES:
        return False
    run = runner or _runner.run
    try:
        net = networks.load(record["network"])
    except Exception:  # the network file is gone: nothing of it left to undo
        record["down"] = True
        return True
    fd = networks.lock()
    try:
        if record.get("ports") and record.get("ip"):
            lines = nft.port_elements("delete", record["ports"], record["ip"])
            if run(("nft", "-f", "-"), "\n".join(lines) + "\n").returncode != 0:
                nft.apply_quietly(lines, run)  # some were gone already: delete the rest one by one
        if bridge.exists(record["veth"]):
            with (route or _route)() as host:
                # The container's processes are gone, so its network namespace goes, and the
                # kernel deletes the pair with it within a few ms; deleting it ourselves would
                # wait for the kernel's RCU barrier (see netlink.Route.wait_gone). If something
                # still holds the namespace, we delete it after all: gone is certain either way.
                if not host.wait_gone(record["veth"], VETH_GONE_WAIT):
                    host.delete(record["veth"])
        networks.pool(net).release(container_id)
        if net["name"] != networks.DEFAULT and not bridge.ports(net["bridge"]):
            _last_one_out(net, run, sysctl_dir, route)
    finally:
        os.close(fd)
    networks.refresh_hosts(net)
    record["down"] = True
    return True


def _last_one_out(net: dict, run, sysctl_dir: str = "/proc/sys", route=None) -> None:
    """The network's last container has gone: its bridge goes; with the last bridge, the nft table."""
    bridge.remove(net["bridge"], route)
    nft.apply_quietly(nft.network_elements("delete", net["subnet"], net["bridge"]), run)
    listed = run(("nft", "list", "set", nft.FAMILY, nft.TABLE, "bridges"))
    if listed.returncode == 0 and "elements" not in listed.output:  # no bridge of any store is left
        nft.apply_quietly([nft.script_delete_table().strip()], run)
        bridge.forward_restore(sysctl_dir)


def remove_network(name: str, runner=None, sysctl_dir: str = "/proc/sys", route=None) -> None:
    """``network rm NAME``: refused while a container uses it; its bridge goes (and with the last, the table)."""
    net = networks.remove(name, runner, keep_default=True)
    fd = networks.lock()
    try:
        if not bridge.ports(net["bridge"]):
            _last_one_out(net, runner or _runner.run, sysctl_dir, route)
    finally:
        os.close(fd)


def collect(alive_ids, runner=None, route=None) -> None:
    """Free the addresses of containers that no longer exist, on every network (a killed CLI's)."""
    for net in networks.list_all():
        fd = networks.lock()
        try:
            if networks.pool(net).collect(set(alive_ids)) and net["name"] != networks.DEFAULT \
                    and bridge.exists(net["bridge"]) and not bridge.ports(net["bridge"]):
                _last_one_out(net, runner or _runner.run, route=route)
        finally:
            os.close(fd)
