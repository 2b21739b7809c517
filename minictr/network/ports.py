"""Published ports: ``-p [IP:]HOST:CONTAINER[/tcp|/udp]``, ``-P``, the ps column, ports in use.

A published port is the tuple ``(host_ip, host_port, container_port, proto)``,
``host_ip`` "" for every address of the host. ``-p 80`` alone (no host port)
and ``-P`` (every port the image EXPOSEs) take a free port the kernel picks
(bind to port 0, read the number, close).

Why a check of our own: DNAT (nft.py) publishes a port without binding it,
so the kernel would not refuse a second container, or a host server, on the
same port; the first would silently win. ``in_use`` refuses a port that a
host socket holds (a test bind) or that another minictr container
publishes, before anything is made: one line, exit 125.

Man pages: bind(2), ip(7) (SO_REUSEADDR), nft(8) ("NAT STATEMENTS").
"""

from __future__ import annotations

from ..errors import ConfigError, MinictrError


class PortInUse(MinictrError):
    """The host port asked for is taken."""


def _port(text: str, spec: str, what: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigError("-p", spec, f"the {what} port must be a number from 1 to 65535",
                          hint="use -p 8081:80 or -p 127.0.0.1:8081:80/udp")
    return int(text)


def parse(spec: str) -> tuple[str, int, int, str]:
    """One ``-p`` value -> (host_ip, host_port, container_port, proto); host_port 0 means "pick one"."""
    body, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise ConfigError("-p", spec, f"unknown protocol {proto!r}: tcp or udp", hint="use -p 8081:80/udp")
    parts = body.split(":")
    if len(parts) == 1:
        return "", 0, _port(parts[0], spec, "container"), proto
    if len(parts) == 2:
        host_ip, host, ctr = "", parts[0], parts[1]
    elif len(parts) == 3:
        host_ip, host, ctr = parts
        if host_ip:
            from .ipam import parse_ip
            parse_ip(host_ip)
    else:
        raise ConfigError("-p", spec, "must look like [IP:]HOST:CONTAINER[/tcp|/udp]", hint="use -p 8081:80")
    if host_ip == "0.0.0.0":
        host_ip = ""
    return host_ip, (_port(host, spec, "host") if host else 0), _port(ctr, spec, "container"), proto


def exposed(image_config: dict) -> list[tuple[str, int, int, str]]:
    """``-P``: every ``ExposedPorts`` entry of the image ("80/tcp"), on a port to pick."""
    out = []
    for key in sorted((image_config or {}).get("ExposedPorts") or {}):
        port, _, proto = key.partition("/")
        if port.isdigit():
            out.append(("", 0, int(port), proto or "tcp"))
    return out


def show(port) -> str:
    """As docker's ps shows it: ``0.0.0.0:8081->80/tcp``."""
    host_ip, host_port, ctr_port, proto = port
    return f"{host_ip or '0.0.0.0'}:{host_port}->{ctr_port}/{proto}"


def _bind_fails(host_ip: str, port: int, proto: str) -> bool:
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    try:
        # Why SO_REUSEADDR: a port whose last connection is in TIME_WAIT is free
        # for a listener, and a DNAT rule does not care at all.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host_ip or "0.0.0.0", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def pick_free(proto: str = "tcp") -> int:
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    try:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def resolve(ports, published_elsewhere=(), bind_fails=_bind_fails, pick=pick_free) -> list[tuple]:
    """``ports`` with every host port chosen and checked. Raises ``PortInUse`` (one line) for a taken one.

    ``published_elsewhere``: the ports other minictr containers publish (same tuples).
    """
    taken = {(p[1], p[3]) for p in published_elsewhere}
    out, mine = [], set()
    for host_ip, host_port, ctr_port, proto in ports:
        if host_port == 0:
            host_port = pick(proto)
            while (host_port, proto) in taken | mine:
                host_port = pick(proto)
        elif (host_port, proto) in taken or (host_port, proto) in mine or bind_fails(host_ip, host_port, proto):
            raise PortInUse(f"host port {host_port}/{proto} is already in use",
                            hint="choose another host port (-p OTHER:" + str(ctr_port) + "), or stop what uses it "
                                 f"(`ss -lntup | grep :{host_port}`, `minictr ps`)")
        mine.add((host_port, proto))
        out.append((host_ip, host_port, ctr_port, proto))
    return out
