"""A container's /etc/resolv.conf and /etc/hosts, as text.

resolv.conf is the host's, as docker makes it: a ``nameserver`` on a loopback
address (127.0.0.53 of systemd-resolved, 127.0.0.1 of dnsmasq) means nothing
in the container's own network namespace, so such lines are dropped, and if
no nameserver is left, Google's public ones are put in (docker's fallback).
``--dns`` replaces the nameservers entirely. ``search`` and ``options`` lines
are kept. With ``--network host`` the host's file is used as it is.

/etc/hosts names the container (its hostname and name on its address), has
the ``--add-host`` lines, and on a user-defined network one line per other
container of that network, kept in step as they come and go (see
``networks.refresh_hosts``): this is how containers find each other by name.
We chose a hosts file over a small DNS server: it needs no process, every
libc and busybox reads it, and a write to a bind-mounted file is seen at once
(it is rewritten in place, never replaced, so the bind stays on the same inode).

Man pages: resolv.conf(5), hosts(5).
"""

from __future__ import annotations

#: docker's fallback when the host has only loopback resolvers.
FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")


def _loopback(address: str) -> bool:
    return address.startswith("127.") or address == "::1"


def resolv_conf(host_text: str, dns=(), dns_search=(), dns_options=()) -> str:
    """The container's resolv.conf from the host's text."""
    kept, servers = [], []
    for line in host_text.splitlines():
        words = line.split()
        if words[:1] == ["nameserver"] and len(words) > 1:
            if not _loopback(words[1]):
                servers.append(words[1])
            continue
        if dns_search and words[:1] in (["search"], ["domain"]):
            continue
        if dns_options and words[:1] == ["options"]:
            continue
        if words and not line.lstrip().startswith(("#", ";")):
            kept.append(line.strip())
    if dns:
        servers = list(dns)
    elif not servers:
        servers = list(FALLBACK_DNS)
    out = [f"nameserver {s}" for s in servers]
    if dns_search:
        out.append("search " + " ".join(dns_search))
    if dns_options:
        out.append("options " + " ".join(dns_options))
    return "\n".join(out + kept) + "\n"


def hosts(hostname: str, ip: str | None = None, names=(), extra=(), peers=()) -> str:
    """/etc/hosts: localhost, the container on ``ip`` (or 127.0.1.1), ``--add-host`` lines, then peers.

    ``extra`` and ``peers`` are ``(name, ip)`` pairs.
    """
    own = " ".join(dict.fromkeys([hostname, *names]))
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             f"{ip or '127.0.1.1'}\t{own}"]
    lines += [f"{addr}\t{name}" for name, addr in extra]
    lines += [f"{addr}\t{name}" for name, addr in peers]
    return "\n".join(lines) + "\n"


def parse_add_host(text: str) -> tuple[str, str]:
    """``--add-host NAME:IP`` (or NAME=IP) -> (name, ip)."""
    from ..errors import ConfigError
    for sep in ("=", ":"):
        name, found, addr = text.partition(sep)
        if found and name and addr:
            from .ipam import parse_ip
            try:
                parse_ip(addr)
            except ConfigError:
                if ":" not in addr:  # an IPv6 address is fine as it is
                    raise ConfigError("--add-host", text, "the address is not an IP address",
                                      hint="use --add-host NAME:1.2.3.4") from None
            return name, addr
    raise ConfigError("--add-host", text, "must look like NAME:IP", hint="use --add-host db:10.0.0.5")
