"""L4: ``port``, ``network create|ls|rm|inspect`` and ``volume create|ls|rm|inspect|prune``.

The work is done by ``minictr.network.networks`` and ``minictr.volumes``;
this module parses and prints, as docker's CLI does.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("port", help="list a container's published ports")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=cmd_port)

    net = sub.add_parser("network", help="manage networks").add_subparsers(dest="network_command", metavar="COMMAND",
                                                                             required=True)
    c = net.add_parser("create", help="create a bridge network on which containers resolve each other by name")
    c.add_argument("--subnet", help="its IPv4 subnet, e.g. 10.90.0.0/24 (default: a free one)")
    c.add_argument("name", metavar="NAME")
    c.set_defaults(func=cmd_network_create)
    ls = net.add_parser("ls", help="list networks")
    ls.set_defaults(func=cmd_network_ls)
    rm = net.add_parser("rm", help="remove networks")
    rm.add_argument("names", nargs="+", metavar="NAME")
    rm.set_defaults(func=cmd_network_rm)
    ins = net.add_parser("inspect", help="show a network as JSON")
    ins.add_argument("names", nargs="+", metavar="NAME")
    ins.set_defaults(func=cmd_network_inspect)

    vol = sub.add_parser("volume", help="manage named volumes").add_subparsers(dest="volume_command",
                                                                               metavar="COMMAND", required=True)
    c = vol.add_parser("create", help="create a named volume")
    c.add_argument("name", metavar="NAME")
    c.set_defaults(func=cmd_volume_create)
    ls = vol.add_parser("ls", help="list volumes")
    ls.add_argument("-q", "--quiet", action="store_true", help="only names")
    ls.set_defaults(func=cmd_volume_ls)
    rm = vol.add_parser("rm", help="remove volumes")
    rm.add_argument("-f", "--force", action="store_true", help="even if a container mounts it")
    rm.add_argument("names", nargs="+", metavar="NAME")
    rm.set_defaults(func=cmd_volume_rm)
    ins = vol.add_parser("inspect", help="show a volume as JSON")
    ins.add_argument("names", nargs="+", metavar="NAME")
    ins.set_defaults(func=cmd_volume_inspect)
    pr = vol.add_parser("prune", help="remove every volume no container mounts")
    pr.add_argument("-f", "--force", action="store_true", help="do not ask (minictr never asks)")
    pr.set_defaults(func=cmd_volume_prune)


def cmd_port(args) -> int:
    from . import container, state
    container.gc()
    st = state.load(args.container)
    if (st.network or {}).get("down"):
        return 0  # stopped: nothing is published
    for host_ip, host_port, ctr_port, proto in (st.network or {}).get("ports", ()):
        print(f"{ctr_port}/{proto} -> {host_ip or '0.0.0.0'}:{host_port}")
    return 0


def cmd_network_create(args) -> int:
    from .network import networks
    print(networks.create(args.name, args.subnet)["id"])
    return 0


def cmd_network_ls(args) -> int:
    from .cli_format import format_table
    from .network import networks
    networks.load(networks.DEFAULT)  # listed before its first use too, as docker lists "bridge"
    rows = [("NETWORK ID", "NAME", "DRIVER", "SUBNET")]
    rows += [(n["id"][:12], n["name"], "bridge", n["subnet"]) for n in networks.list_all()]
    rows += [("-", mode, mode, "") for mode in networks.MODES]
    print(format_table(rows))
    return 0


def _each(names, do) -> int:
    from .errors import MinictrError
    failed = 0
    for name in names:
        try:
            do(name)
        except MinictrError as e:
            print(f"minictr: {e}", file=sys.stderr)
            failed = 1
    return failed


def cmd_network_rm(args) -> int:
    from . import container
    from .network import attach
    container.gc()
    return _each(args.names, lambda n: (attach.remove_network(n), print(n)))


def cmd_network_inspect(args) -> int:
    from .network import networks
    out = []
    code = _each(args.names, lambda n: out.append(networks.inspect(n)))
    print(json.dumps(out, indent=2))
    return code


def cmd_volume_create(args) -> int:
    from . import volumes
    volumes.create(args.name)
    print(args.name)
    return 0


def cmd_volume_ls(args) -> int:
    from . import volumes
    from .cli_format import format_table
    names = volumes.list_names()
    if args.quiet:
        for n in names:
            print(n)
        return 0
    print(format_table([("DRIVER", "VOLUME NAME")] + [("local", n) for n in names]))
    return 0


def cmd_volume_rm(args) -> int:
    from . import state, volumes
    states = state.list_states()
    return _each(args.names, lambda n: (volumes.remove(n, states, force=args.force), print(n)))


def cmd_volume_inspect(args) -> int:
    from . import volumes
    out = []
    code = _each(args.names, lambda n: out.append(volumes.inspect(n)))
    print(json.dumps(out, indent=2))
    return code


def cmd_volume_prune(args) -> int:
    from . import state, volumes
    states = state.list_states()
    for name in volumes.list_names():
        if not volumes.users(name, states):
            volumes.remove(name, states)
            print(name)
    return 0
