"""Lesson 11 (networks): plug a namespace into a bridge, in the right order.

The exercise, ``11.plug``::

    def plug_commands(ns: str, bridge: str, veth: str, address: str, gateway: str) -> list[str]

returns the ``ip`` commands, in order, that plug the network namespace ``ns``
(made with ``ip netns add``) into the bridge ``bridge`` (up, holding
``gateway``): a veth pair whose host end is ``veth``, on the bridge, and whose
other end is ``eth0`` inside ``ns`` with ``address`` (``10.211.0.3/24``), both
ends up, and a default route via ``gateway``. It is what
``network.attach.host_script`` and ``inside_script`` write for every
``minictr run``.

The checks first run the commands on ``IpModel`` (ipmodel.py), a small model of the kernel's
links, addresses and routes that refuses what the kernel refuses (a device
looked up in the wrong namespace, a gateway that is not reachable yet, a
second ``eth0`` on the host) and forgets what the kernel forgets (a link moved
to another namespace loses its addresses, its master and its up flag). So each
usual mistake gets its own diagnosis: the peer left down, the wrong end
moved, no default route, the address without its prefix, the steps out of
order, names hard-coded. Only then does the last case run the commands for
real, as root, on a namespace and a bridge of its own, and ping across. Only
``ip`` commands of the forms the model knows are ever run.

``undo_by_hand`` removes what the notebook builds by hand (namespaces and links
named ``lesson11-*``, the nft table ``ip lesson11``), also after a failed or
interrupted run; ``draw`` pictures a bridge and its ports.

The quizzes' answer keys live here (``QUIZZES``), not in the notebook.

Man pages: ip-link(8), ip-address(8), ip-route(8), ip-netns(8), veth(4), bridge(8), nft(8).
"""

from __future__ import annotations

import os
import shlex
import subprocess

from .ipmodel import IpModel
from .kit import Case, CaseFailed, Exercise, register
from .lesson import Lesson

__all__ = ["LESSON", "QUIZZES", "IpModel", "plug_commands", "undo_by_hand", "by_hand_leftovers", "draw",
           "live_ports"]

LESSON = Lesson("11", "Networks: a bridge, NAT and published ports", needs_root=True,
                tools=("ip", "nft", "ping"), namespaces=("mnt", "uts", "ipc", "net", "pid", "cgroup"),
                controllers=("memory", "pids"), filesystems=("overlay",))

#: What the notebook builds by hand is named so; nothing of a real network is.
PREFIX = "lesson11-"
NFT_TABLE = "lesson11"


# -- the reference -------------------------------------------------------------------------

def plug_commands(ns: str, bridge: str, veth: str, address: str, gateway: str) -> list[str]:
    """minictr's answer: the steps of ``network.attach`` (host side, then inside), as ``ip`` commands."""
    from ..network import attach

    ip, _, bits = address.partition("/")
    record = {"veth": veth, "bridge": bridge, "ip": ip, "subnet": f"0.0.0.0/{bits}", "gateway": gateway}
    host = attach.host_script(record, ns)          # "netns PID" takes a namespace's name as well
    inside = attach.inside_script(record)
    return ([f"ip {line}" for line in host.splitlines()]
            + [f"ip -n {ns} {line}" for line in inside.splitlines()])


# -- the checks ----------------------------------------------------------------------------

#: The names and addresses of the model cases: the notebook's, and others (nothing hard-coded).
NAMES = {
    "notebook": dict(ns="lesson11-b", bridge="lesson11-br", veth="lesson11-vb", address="10.211.0.3/24",
                     gateway="10.211.0.1"),
    "other": dict(ns="blue", bridge="br-test", veth="vblue0", address="172.31.40.7/16", gateway="172.31.0.1"),
}


def _commands(fn, names: dict) -> list[str]:
    got = fn(**names)
    if isinstance(got, str):
        raise CaseFailed("returned one str: return a list of commands, one str each, such as "
                         "['ip link add ...', 'ip link set ...']")
    if not isinstance(got, (list, tuple)) or not all(isinstance(c, str) for c in got):
        raise CaseFailed(f"returned {type(got).__name__}: return a list of str, one `ip` command each")
    if not got:
        raise CaseFailed("returned no command at all")
    return list(got)


def _simulate(fn, names: dict) -> IpModel:
    """Run the learner's commands on the model; the first one the kernel would refuse is the diagnosis."""
    cmds = _commands(fn, names)
    model = IpModel(names["ns"], names["bridge"], names["gateway"], int(names["address"].split("/")[1]))
    for i, cmd in enumerate(cmds, 1):
        try:
            model.run(cmd)
        except SyntaxError as e:
            raise CaseFailed(f"command {i}, {cmd!r}: {e}. Write `ip link add NAME type veth peer name PEER "
                             "[netns NS]`, `ip [-n NS] link set DEV up|master BR|netns NS`, `ip [-n NS] addr "
                             "add ADDR/PREFIX dev DEV`, `ip [-n NS] route add default via GW`") from None
        except ValueError as e:
            raise CaseFailed(f"command {i}, {cmd!r}, fails: {e}{_why(model, cmd, str(e), names)}") from None
    return model


def _why(model: IpModel, cmd: str, error: str, names: dict) -> str:
    """The reason behind a refused command, in the lesson's words."""
    ns = names["ns"]
    if "Nexthop has invalid gateway" in error:
        eth0 = model.links.get((ns, "eth0"))
        inside = [link for (n, _name), link in model.links.items() if n == ns and link["kind"] == "veth"]
        if eth0 is None:
            state = f"there is no eth0 in {ns} yet"
            if inside:
                state += f" (the end inside is called {inside[0]['name']}: call it eth0)"
        elif not eth0["addrs"]:
            host_end = model.links.get((IpModel.HOST, names["veth"]))
            state = "eth0 has no address yet"
            if eth0.get("moved"):
                state += " (a link moved into a namespace loses its addresses and goes down: configure it after the move)"
            if host_end and host_end["addrs"]:
                state += (f" (the address went on {names['veth']}, the host end: it belongs on eth0 inside; the "
                          "host end is a bridge port and needs none)")
        elif not eth0["up"]:
            state = (f"eth0 is down (forgetting to bring the peer up is the most common mistake: "
                     f"ip -n {ns} link set eth0 up)")
        elif all(b == 32 for _a, b in eth0["addrs"]):
            state = "eth0's address is a /32 (written without its prefix), so no subnet is reachable through it"
        else:
            state = "the gateway is not in eth0's subnet"
        return (f": the gateway is reached through eth0, and {state}. Address eth0 and bring it up, then add "
                f"the route")
    if "File exists" in error and "peer name eth0" in cmd and "netns" not in cmd:
        return (f": the host has an eth0 of its own. Create the peer directly inside: "
                f"`... peer name eth0 netns {ns}`")
    if "File exists" in error and " route " in f" {cmd} " and " -n " not in f" {cmd} " and "netns exec" not in cmd:
        return (f": without `-n {ns}` the command runs on the host, which has a default route of its own; the "
                f"container's route goes inside: ip -n {ns} route add default via ...")
    if "File exists" in error:
        return ": it was made already (a step twice?)"
    if "host's own interface" in error:
        return (f"; a command for the container's eth0 needs `ip -n {ns}` (without it, it runs on the host)"
                if "eth0" in cmd else "")
    if 'Invalid "netns" value' in error or "Cannot open network namespace" in error:
        return (f": in this case the namespace is called {ns}: use the `ns` argument (and the others), "
                "not names written into the function")
    if error.startswith("Cannot find device"):
        name = error.split('"')[1]
        elsewhere = [link["ns"] for link in model.find(name)]
        if name == names["veth"] and elsewhere == [ns]:
            return (f": you moved the wrong end. {name}, the host end, is inside {ns} now; it stays on the host "
                    f"and goes on the bridge, and its peer goes into {ns} as eth0")
        if elsewhere:
            where = "the host" if elsewhere[0] == IpModel.HOST else elsewhere[0]
            how = f"ip -n {ns} ..." if elsewhere[0] == ns else "ip ... (no -n)"
            return f": {name} is in {where}'s namespace, not where this command runs; write {how}"
        return f": no link is called {name} yet"
    if "too long" in error:
        return ""
    return ""


def _pair(model: IpModel, names: dict) -> tuple[dict, dict]:
    """The veth pair, checked: the host end on the host, eth0 inside. Returns (host end, eth0)."""
    ns, veth = names["ns"], names["veth"]
    found = model.find(veth)
    if not found:
        raise CaseFailed(f"no link called {veth}: name the host end {veth} (the `veth` argument), as minictr "
                         "names it after the container, so it can be found and deleted later")
    host_end = found[0]
    if host_end["ns"] == ns:
        raise CaseFailed(f"you moved the wrong end: {veth}, the host end, is inside {ns}. It stays on the host and "
                         f"goes on the bridge; its peer goes into the namespace as eth0")
    if host_end["kind"] != "veth" or not host_end["peer"]:
        raise CaseFailed(f"{veth} is not a veth: `ip link add {veth} type veth peer name eth0 netns {ns}`")
    peer = model.links[host_end["peer"]]
    if peer["ns"] != ns:
        raise CaseFailed(f"the other end, {peer['name']}, is still on the host: it must be inside {ns} "
                         f"(`peer name eth0 netns {ns}`, or `ip link set {peer['name']} netns {ns}`)")
    if peer["name"] != "eth0":
        raise CaseFailed(f"the end inside is called {peer['name']}: call it eth0, the name every container sees")
    return host_end, peer


def _check_pair(model: IpModel, names: dict) -> None:
    host_end, peer = _pair(model, names)
    ns, veth, bridge = names["ns"], names["veth"], names["bridge"]
    if host_end["master"] != bridge:
        raise CaseFailed(f"{veth} is not on the bridge: `ip link set {veth} master {bridge}`, or the bridge "
                         f"never sees the container (a link moved to another namespace leaves its bridge, too)")
    if not host_end["up"]:
        raise CaseFailed(f"{veth}, the host end, is down: `ip link set {veth} up` (a bridge port that is down "
                         "forwards nothing)")
    if not peer["up"]:
        raise CaseFailed(f"eth0 inside {ns} is down: the most common mistake. A new link is down, and a link moved "
                         f"into a namespace goes down: `ip -n {ns} link set eth0 up`")


def _check_addresses(model: IpModel, names: dict) -> None:
    host_end, peer = _pair(model, names)
    ns, address, gateway = names["ns"], names["address"], names["gateway"]
    ip, bits = address.split("/")
    if host_end["addrs"]:
        a, b = host_end["addrs"][0]
        raise CaseFailed(f"{host_end['name']} (the host end) has {a}/{b}: a bridge port needs no address; the "
                         f"bridge holds the gateway, and {address} goes on eth0 inside {ns}")
    if not peer["addrs"]:
        raise CaseFailed(f"eth0 inside {ns} has no address: `ip -n {ns} addr add {address} dev eth0`")
    if (ip, int(bits)) not in peer["addrs"]:
        a, b = peer["addrs"][0]
        if a == ip and b == 32:
            raise CaseFailed(f"eth0 has {ip}/32: without its prefix an address is a /32, with no route to the rest "
                             f"of the subnet (the gateway is unreachable); write {address}")
        raise CaseFailed(f"eth0 has {a}/{b}, not {address}: use the address you were given, with its prefix")
    if ns not in model.routes:
        raise CaseFailed(f"no default route inside {ns}: the container reaches its neighbours on the bridge, but "
                         f"nothing beyond it (the host's other networks, NAT): `ip -n {ns} route add default via "
                         f"{gateway}`")
    if model.routes[ns] != gateway:
        raise CaseFailed(f"the default route goes via {model.routes[ns]}: the gateway is the bridge's address, "
                         f"{gateway}")


def _real_names() -> dict:
    """Names and a /24 of the real case's own, free on this host."""
    from ..network import ipam

    busy = ipam.host_routes()
    tag = os.urandom(2).hex()
    for third in range(200, 256):
        if not any(ipam.overlaps((ipam.parse_ip(f"10.211.{third}.0"), 24), r) for r in busy):
            return dict(ns=f"l11c-{tag}", bridge=f"l11c-b{tag}", veth=f"l11c-v{tag}",
                        address=f"10.211.{third}.7/24", gateway=f"10.211.{third}.1")
    raise CaseFailed("no free /24 in 10.211.200.0-10.211.255.0 on this host for the real test")


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


def _for_real(fn) -> None:
    names = _real_names()
    model = _simulate(fn, names)                    # only commands the model accepts ever run
    _check_addresses(model, names)
    extra = sorted(n for (where, n) in model.links if where == IpModel.HOST
                   and n not in ("lo", "eth0", names["bridge"], names["veth"]))
    if extra:
        raise CaseFailed(f"makes links on the host besides the host end: {', '.join(extra)}; make only the pair")
    cmds = _commands(fn, names)
    ns, bridge = names["ns"], names["bridge"]
    try:
        for args in (("netns", "add", ns), ("link", "add", bridge, "type", "bridge"),
                     ("addr", "add", names["gateway"] + "/24", "dev", bridge), ("link", "set", bridge, "up")):
            r = _ip(*args)
            if r.returncode:
                raise CaseFailed(f"the check could not set up its own namespace and bridge: {r.stderr.strip()}")
        for i, cmd in enumerate(cmds, 1):
            argv = shlex.split(cmd)
            r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            if r.returncode:
                raise CaseFailed(f"for real, command {i}, {cmd!r}, failed: {r.stderr.strip()}")
        gw = subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "1", "-i", "0.2", "-w", "5", names["gateway"]],
                            capture_output=True, text=True, timeout=30)
        if gw.returncode:
            raise CaseFailed(f"for real, a ping from inside {ns} to the gateway got no answer")
    finally:
        _ip("link", "del", names["veth"])
        _ip("netns", "del", ns)
        _ip("link", "del", bridge)


def _cases() -> list[Case]:
    def order(fn):
        for names in NAMES.values():
            _simulate(fn, names)

    def pair(fn):
        names = NAMES["notebook"]
        _check_pair(_simulate(fn, names), names)

    def addresses(fn):
        names = NAMES["notebook"]
        _check_addresses(_simulate(fn, names), names)

    def other_names(fn):
        names = NAMES["other"]
        model = _simulate(fn, names)
        try:
            _check_pair(model, names)
            _check_addresses(model, names)
        except CaseFailed as e:
            raise CaseFailed(f"with ns='blue', bridge='br-test', veth='vblue0', 172.31.40.7/16: {e} "
                             "(use the arguments, not the notebook's names)") from None

    return [
        Case("on a model of the kernel, every command runs, in this order", order),
        Case("the pair: the host end up on the bridge, eth0 up inside", pair),
        Case("eth0's address with its prefix; a default route via the gateway", addresses),
        Case("other names and another subnet (nothing hard-coded)", other_names),
        Case("for real: a namespace and a bridge of the check's own; eth0 pings the gateway", _for_real),
    ]


register(Exercise(
    id="11.plug", title="Plug a namespace into a bridge",
    function="plug_commands",
    signature="def plug_commands(ns: str, bridge: str, veth: str, address: str, gateway: str) -> list[str]",
    cases=_cases,
    reference=lambda: plug_commands,
    needs_root=True,
))


# -- what the notebook builds by hand, and its picture ------------------------------------

def by_hand_leftovers(prefix: str = PREFIX, table: str = NFT_TABLE) -> list[str]:
    """The network namespaces and links whose names start with ``prefix``, and the nft table ``ip table``.

    Only the notebook's own names: the check's (``l11c-*``) are its own to remove, and another
    process may be using them right now.
    """
    found = []
    try:
        found += [f"netns {n}" for n in sorted(os.listdir("/run/netns")) if n.startswith(prefix)]
    except FileNotFoundError:
        pass
    found += [f"link {n}" for n in sorted(os.listdir("/sys/class/net")) if n.startswith(prefix)]
    r = subprocess.run(["nft", "list", "table", "ip", table], capture_output=True, text=True)
    if r.returncode == 0:
        found.append(f"nft table ip {table}")
    return found


def undo_by_hand(prefix: str = PREFIX, table: str = NFT_TABLE) -> list[str]:
    """Remove them: first the processes left in those namespaces (by their pids), then the rest."""
    import signal

    gone = by_hand_leftovers(prefix, table)
    for what in gone:
        kind, name = what.split(" ", 1)
        if kind == "netns":
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("netns", "del", name)
    for what in gone:
        kind, name = what.split(" ", 1)
        if kind == "link" and os.path.exists(f"/sys/class/net/{name}"):
            _ip("link", "del", name)
        elif kind == "nft":
            subprocess.run(["nft", "delete", "table", "ip", table], capture_output=True, text=True)
    return gone


def live_ports(bridge: str) -> list[tuple[str, str, str]]:
    """The ports of ``bridge`` as they are now: ``(host end, peer's namespace, peer's address)``.

    /sys/class/net/BRIDGE/brif lists the ports; ``ip -o link show PORT`` names the peer's
    namespace (``link-netns NAME``, for one made with ``ip netns add``), and ``ip -n NAME``
    reads the address of the peer (``eth0``) there.
    """
    out = []
    try:
        names = sorted(os.listdir(f"/sys/class/net/{bridge}/brif"))
    except FileNotFoundError:
        return out
    for port in names:
        words = _ip("-o", "link", "show", port).stdout.split()
        ns = words[words.index("link-netns") + 1] if "link-netns" in words else "?"
        addr = "?"
        if ns != "?":
            fields = _ip("-n", ns, "-4", "-o", "addr", "show", "dev", "eth0").stdout.split()
            addr = fields[fields.index("inet") + 1] if "inet" in fields else "(no address)"
        out.append((port, ns, addr))
    return out


def draw(bridge: str, gateway: str, ports: list[tuple[str, str, str]],
         uplink: str = "(the host's uplink)") -> str:
    """An ASCII picture: the host with ``bridge`` (``gateway``), each port ``(host end, namespace, address)``
    joined by its veth to ``eth0`` in that namespace."""
    width = max([len(p[0]) for p in ports] + [len(bridge) + len(gateway) + 3, len(uplink)])
    lines = ["  host network namespace",
             f"  +{'-' * (width + 6)}+",
             f"  |  {uplink:<{width}}    |----- the world beyond the host",
             f"  |  {bridge + ' (' + gateway + ')':<{width}}    |"]
    for host_end, _ns, _addr in ports:
        lines.append(f"  |   +-- {host_end:<{width - 4}}   |")
    lines.append(f"  +{'-' * (width + 6)}+")
    for host_end, ns, addr in ports:
        lines.append(f"     {host_end} ====veth==== eth0 {addr}   in namespace {ns}")
    return "\n".join(lines)


# -- the quizzes: answer keys kept out of the notebook --------------------------------------

QUIZZES = {
    "11.hairpin": {
        "question": "A DNAT rule in the output chain sends 127.0.0.1:18112 to the container, and yet "
                    "`curl 127.0.0.1:18112` on the host hangs. What is missing? (tick all that apply)",
        "right": {
            "route_localnet=1 on the bridge":
                "The packet keeps its source 127.0.0.1 after DNAT, and the kernel refuses to route a loopback "
                "source out of a real interface unless route_localnet is set on it.",
            "a masquerade of 127.0.0.0/8 going into the bridge":
                "Without it the container would answer 127.0.0.1, which in its own namespace is its own lo: "
                "the reply never leaves. Masquerade rewrites the source to the bridge's address.",
        },
        "wrong": {
            "a rule in the prerouting chain":
                "A connection from the host itself never passes prerouting; the output chain is the right one.",
            "ip_forward=1":
                "The packet is made on the host and leaves through the bridge: it is sent, not forwarded.",
        },
        "multiple": True,
        "hint": "what source address does the packet carry, and where would the answer go?",
    },
    "11.masquerade": {
        "question": "The container pings a machine beyond the host; ip_forward is 1 but there is no masquerade. "
                    "What happens?",
        "right": {
            "the request leaves, but no answer comes back":
                "The request goes out with the container's private source address; the far side has no route "
                "back to 10.211.0.0/24, so its reply goes to its default gateway and is lost. Masquerade "
                "rewrites the source to the host's address, which the far side can answer.",
        },
        "wrong": {
            "ping says Network is unreachable":
                "That is the missing default route inside the container: the kernel there has nowhere to send it.",
            "the host drops the request at once":
                "With ip_forward=1 and an accepting forward chain, the host forwards it.",
            "it works: NAT is only for published ports":
                "Published ports are destination NAT; the way out needs source NAT (masquerade).",
        },
        "hint": "which address does the far side see as the sender, and can it reach that address?",
    },
    "11.names": {
        "question": "Two containers on a user-defined minictr network reach each other by name. How does "
                    "`ping lesson11-db` find the address?",
        "right": {
            "from /etc/hosts, which minictr rewrites in every container of the network as they come and go":
                "minictr bind-mounts a hosts file per container and rewrites it in place; libc and busybox read "
                "it before asking DNS. podman runs aardvark-dns and docker an embedded DNS server at 127.0.0.11 "
                "instead.",
        },
        "wrong": {
            "the bridge answers ARP requests for names":
                "ARP maps an IP address to a MAC address; it knows nothing of names.",
            "from the host's /etc/resolv.conf nameserver":
                "The host's DNS server has never heard of your containers.",
            "from a DNS server minictr runs at 127.0.0.11":
                "That is docker's embedded DNS; minictr keeps no server process, only a file.",
        },
        "hint": "look at the container's /etc/hosts",
    },
}
