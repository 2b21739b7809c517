"""minictr's own nftables table, ``ip minictr``: outbound masquerade and published ports, as data.

Nothing here touches another table: the host's own rules, docker's, a
firewall's, stay as they are. The table's *rules* never change once made;
what changes as containers come and go are the *elements* of its sets and
maps, so a container's start or removal is one ``nft -f -`` transaction of
``add element`` or ``delete element`` lines, atomic, with no rule handles
to remember::

    table ip minictr
      set subnets     the container subnets          (masquerade their traffic out)
      set bridges     the bridges, minictr0, br-...  (accept forwarding to and from them)
      map tcp_any     host port -> container ip . port   (-p 8081:80)
      map tcp_addr    host ip . port -> ip . port         (-p 127.0.0.1:8081:80)
      map udp_any, udp_addr                               (the same for /udp)
      chain prerouting  nat, dstnat:  to a local address -> jump ports
      chain output      nat, -100:    the host's own connections -> jump ports
      chain ports       dnat through the four maps
      chain postrouting nat, srcnat:  subnets leaving by another interface -> masquerade;
                                      127.0.0.0/8 going into a bridge -> masquerade
      chain forward     filter: accept to and from the bridges

**127.0.0.1:HOSTPORT from the host itself.** A connection from the host to its
own 127.0.0.1 never passes prerouting; the ``output`` chain DNATs it. Its
source is still 127.0.0.1, and the kernel refuses to route a loopback source
out of a real interface unless ``route_localnet`` is set on it: ``bridge.py``
sets ``net.ipv4.conf.<bridge>.route_localnet=1`` on minictr's bridges only
(never ``all``). The last rule masquerades such packets to the bridge's
address so the container can answer. docker does the same with
``--userland-proxy=false``. We chose this over a userland proxy (docker-proxy)
because a foreground ``run`` has no long-lived process of its own to host a
proxy (its CLI becomes a few-MB supervisor), and the kernel path costs no
process and no copy per connection. The price: a port published by DNAT is
not *bound*, so ``ports.in_use`` checks both the host's sockets and the
ports other minictr containers publish.

``script_*`` return text; ``apply(text, runner)`` runs ``nft -f -``. Tests
compare the text.

Man pages: nft(8) (sets, maps, "NAT STATEMENTS", "FIB EXPRESSIONS"),
ip-sysctl (route_localnet).
"""

from __future__ import annotations

from . import runner as _runner

TABLE = "minictr"
FAMILY = "ip"

_DEFINITION = """table ip minictr {
  set subnets { type ipv4_addr; flags interval; }
  set bridges { type ifname; }
  map tcp_any { type inet_service : ipv4_addr . inet_service; }
  map udp_any { type inet_service : ipv4_addr . inet_service; }
  map tcp_addr { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
  map udp_addr { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
  chain ports { }
  chain prerouting { type nat hook prerouting priority dstnat; policy accept; }
  chain output { type nat hook output priority -100; policy accept; }
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; }
  chain forward { type filter hook forward priority filter; policy accept; }
}
"""

#: The rules, re-made (flush + add) in the same transaction that makes sure the table exists.
RULES = (
    ("prerouting", "fib daddr type local jump ports"),
    ("output", "fib daddr type local jump ports"),
    ("ports", "meta l4proto tcp dnat ip to ip daddr . tcp dport map @tcp_addr"),
    ("ports", "meta l4proto tcp dnat ip to tcp dport map @tcp_any"),
    ("ports", "meta l4proto udp dnat ip to ip daddr . udp dport map @udp_addr"),
    ("ports", "meta l4proto udp dnat ip to udp dport map @udp_any"),
    ("postrouting", "ip saddr @subnets oifname != @bridges masquerade"),
    ("postrouting", "ip saddr 127.0.0.0/8 oifname @bridges masquerade"),
    ("forward", "iifname @bridges accept"),
    ("forward", "oifname @bridges accept"),
)

_CHAINS = ("ports", "prerouting", "output", "postrouting", "forward")


def script_ensure() -> str:
    """Make the table if missing, and (re)make its rules; the sets' and maps' elements are kept."""
    lines = [_DEFINITION]
    lines += [f"flush chain {FAMILY} {TABLE} {c}" for c in _CHAINS]
    lines += [f"add rule {FAMILY} {TABLE} {chain} {rule}" for chain, rule in RULES]
    return "\n".join(lines) + "\n"


def _element(verb: str, name: str, value: str) -> str:
    return f"{verb} element {FAMILY} {TABLE} {name} {{ {value} }}"


def port_elements(verb: str, ports, container_ip: str) -> list[str]:
    """``add``/``delete`` lines for published ports ``(host_ip, host_port, ctr_port, proto)``."""
    out = []
    for host_ip, host_port, ctr_port, proto in ports:
        if host_ip in ("", "0.0.0.0"):
            out.append(_element(verb, f"{proto}_any", f"{host_port} : {container_ip} . {ctr_port}"))
        else:
            out.append(_element(verb, f"{proto}_addr", f"{host_ip} . {host_port} : {container_ip} . {ctr_port}"))
    return out


def network_elements(verb: str, subnet: str, bridge: str) -> list[str]:
    return [_element(verb, "subnets", subnet), _element(verb, "bridges", f'"{bridge}"')]


def script_delete_table() -> str:
    return f"delete table {FAMILY} {TABLE}\n"


def apply(text: str, runner=None) -> _runner.Result:
    """``nft -f -`` with ``text``; one clear error if nft refuses it."""
    return _runner.check((runner or _runner.run)(("nft", "-f", "-"), text),
                         hint="is nftables installed and the nf_tables module loadable? `minictr doctor`")


def apply_quietly(lines, runner=None) -> bool:
    """Each line on its own (a ``delete element`` of one already gone must not stop the others)."""
    run = runner or _runner.run
    ok = True
    for line in lines:
        ok = run(("nft", "-f", "-"), line + "\n").returncode == 0 and ok
    return ok
