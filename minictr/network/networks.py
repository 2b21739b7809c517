"""The networks a container can join: ``bridge`` (the default) and user-defined ones.

A network is a small JSON file in the store, ``networks/NAME.json``:
``{"name", "id", "subnet", "gateway", "bridge", "created"}``, with its
addresses in ``networks/NAME.ipam.json`` (see ipam.py). ``bridge`` is made on
first use, on bridge ``minictr0`` and the first free subnet of
``ipam.CANDIDATES`` (10.80.0.0/16 unless the host routes it; never podman's 10.88), or
``$MINICTR_SUBNET``. ``network create NAME [--subnet S]`` makes another, on
bridge ``br-<first 12 of its id>``, as docker names them.

Containers on a *user-defined* network find each other by name: each one's
/etc/hosts lists the others, rewritten in place whenever one joins or leaves
(``refresh_hosts``). On ``bridge`` they do not, as on docker's default bridge.
``host`` and ``none`` are not networks here but modes (no file).

Man pages: ip-link(8), hosts(5).
"""

from __future__ import annotations

import os
import time

from .. import leanjson
from ..errors import AlreadyExists, ConfigError, InvalidTransition, NotFound
from . import ipam
from .runner import run as _run

DEFAULT = "bridge"
DEFAULT_BRIDGE = "minictr0"
MODES = ("none", "host")
PEERS_MARK = "# minictr: other containers of the network\n"


def networks_dir() -> str:
    from ..image.quick import store_root
    return os.path.join(store_root(), "networks")


def _path(name: str) -> str:
    return os.path.join(networks_dir(), name + ".json")


def host_dir() -> str:
    """Host-wide, not per store: bridges and the nft table are the host's, whatever MINICTR_ROOT says.

    ``$MINICTR_NETWORK_DIR`` or /run/minictr-network (the lock, ip_forward's old value).
    """
    return os.environ.get("MINICTR_NETWORK_DIR", "/run/minictr-network")


def lock():
    """An exclusive, host-wide lock on the bridges and the nft table: an open fd; close it to unlock."""
    import fcntl
    os.makedirs(host_dir(), mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(host_dir(), "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _taken_subnets(skip: str = "") -> tuple[str, ...]:
    return tuple(n["subnet"] for n in list_all() if n["name"] != skip)


def _save(net: dict) -> dict:
    os.makedirs(networks_dir(), mode=0o700, exist_ok=True)
    tmp = _path(net["name"]) + f".{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(leanjson.dumps(net))
    os.replace(tmp, _path(net["name"]))
    return net


def load(name: str) -> dict:
    """The network ``name``; ``bridge`` is made on first use."""
    try:
        with open(_path(name)) as f:
            return leanjson.loads(f.read())
    except FileNotFoundError:
        if name != DEFAULT:
            raise NotFound(f"no such network: {name}",
                           hint=f"`minictr network ls` lists them; `minictr network create {name}` makes it") from None
    # The default bridge is host-wide, every store's: if another store made it already, this
    # store's default network is on its subnet (a route added since may make another look free).
    subnet = (os.environ.get("MINICTR_SUBNET") or ipam.device_subnet(DEFAULT_BRIDGE)
              or ipam.free_subnet(ipam.host_routes(skip_dev=DEFAULT_BRIDGE), _taken_subnets(DEFAULT)))
    return _save(_new(DEFAULT, subnet, DEFAULT_BRIDGE))


def _new(name: str, subnet: str, bridge: str) -> dict:
    ipam.parse_subnet(subnet)
    return {"name": name, "id": os.urandom(32).hex(), "subnet": subnet, "gateway": ipam.gateway_of(subnet),
            "bridge": bridge, "created": time.time()}


def create(name: str, subnet: str | None = None) -> dict:
    from ..config import is_name
    if name in MODES or name == DEFAULT or not is_name(name):
        raise ConfigError("network name", name, "must be [a-zA-Z0-9][a-zA-Z0-9_.-]* and not bridge, host or none")
    if os.path.exists(_path(name)):
        raise AlreadyExists(f"network {name} already exists", hint="`minictr network ls` lists them")
    taken = _taken_subnets()
    if subnet is None:
        subnet = ipam.free_subnet(ipam.host_routes(), taken)
    else:
        net = ipam.parse_subnet(subnet)
        for other in list(taken):
            if ipam.overlaps(net, ipam.parse_subnet(other)):
                raise ConfigError("--subnet", subnet, f"overlaps {other} of another network")
        for route in ipam.host_routes():
            if ipam.overlaps(net, route):
                raise ConfigError("--subnet", subnet, "overlaps a route of the host", hint="`ip route` shows them")
    net = _new(name, subnet, "")
    net["bridge"] = "br-" + net["id"][:12]
    return _save(net)


def pool(net: dict) -> ipam.Pool:
    return ipam.Pool(os.path.join(networks_dir(), net["name"] + ".ipam.json"), net["subnet"], net["gateway"])


def list_all() -> list[dict]:
    try:
        names = sorted(n[:-5] for n in os.listdir(networks_dir()) if n.endswith(".json") and ".ipam" not in n)
    except FileNotFoundError:
        names = []
    out = []
    for name in names:
        try:
            with open(_path(name)) as f:
                out.append(leanjson.loads(f.read()))
        except (FileNotFoundError, ValueError):
            continue
    return out


def remove(name: str, runner=None, keep_default: bool = False) -> dict:
    """Remove network ``name`` (refused while in use) and its bridge; returns what it was.

    ``bridge`` itself is only emptied (its bridge removed) when ``keep_default``:
    it is made again on next use.
    """
    if name in MODES:
        raise ConfigError("network", name, "is a mode, not a network: it cannot be removed")
    net = load(name)  # NotFound for an unknown one
    if name == DEFAULT and not keep_default:
        raise InvalidTransition("the default network bridge cannot be removed here", hint="use `minictr network rm bridge`")
    fd = lock()
    try:
        users = pool(net).allocations()
        if users:
            names = ", ".join(sorted(u.get("name", "?") for u in users.values()))
            raise InvalidTransition(f"network {name} is in use by {names}", hint="remove those containers first")
        if os.path.exists(f"/sys/class/net/{net['bridge']}"):
            if os.listdir(f"/sys/class/net/{net['bridge']}/brif"):
                raise InvalidTransition(f"network {name}'s bridge {net['bridge']} is in use (by another store?)",
                                        hint=f"`ip link show master {net['bridge']}` shows what is plugged in")
            (runner or _run)(("ip", "link", "del", net["bridge"]))
        if name == DEFAULT:
            return net
        for p in (_path(name), os.path.join(networks_dir(), name + ".ipam.json"),
                  os.path.join(networks_dir(), name + ".ipam.json.lock")):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
    finally:
        os.close(fd)
    return net


def inspect(name: str) -> dict:
    net = load(name)
    return {"Name": net["name"], "Id": net["id"], "Driver": "bridge", "Bridge": net["bridge"],
            "IPAM": {"Config": [{"Subnet": net["subnet"], "Gateway": net["gateway"]}]},
            "Containers": {who.get("id", ""): {"Name": who.get("name", ""), "IPv4Address": ip}
                           for ip, who in pool(net).allocations().items()}}


def refresh_hosts(net: dict) -> None:
    """Rewrite the peers' part of the /etc/hosts of every container on a user-defined network."""
    if net["name"] == DEFAULT:
        return
    allocs = pool(net).allocations()
    for ip, who in allocs.items():
        path = who.get("hosts")  # the container's hosts file, recorded with its address
        if not path:
            continue
        peers = "".join(f"{other}\t{w.get('name', '')}\n" for other, w in sorted(allocs.items()) if w is not who)
        try:
            with open(path, "r+") as f:  # in place: the container's bind mount holds this inode
                text = f.read()
                own = text.split(PEERS_MARK, 1)[0]
                f.seek(0)
                f.write(own + PEERS_MARK + peers)
                f.truncate()
        except FileNotFoundError:
            continue
