"""L4: ``minictr stats [CONTAINER...]``: live CPU, memory and pids of containers.

The columns are docker's (docker-stats(1)), without the network and block I/O
ones minictr does not measure yet::

    CONTAINER ID   NAME           CPU %    MEM USAGE / LIMIT   MEM %    PIDS
    3f2a9c1b7d4e   eager_tesla    49.87%   1.52MiB / 32MiB     4.74%    1

CPU % is the CPU time used between two readings over the wall time between
them (100 % = one whole CPU). An unlimited container shows the host's memory
as its limit, as docker does. The screen is redrawn every second until
Ctrl-C; ``--no-stream`` prints one table and exits.
"""

from __future__ import annotations

import sys
import time

#: Seconds between the two readings of --no-stream, and between redraws.
NO_STREAM_INTERVAL = 0.5
STREAM_INTERVAL = 1.0
#: ANSI: cursor home, then clear the screen, as `docker stats` redraws.
_CLEAR = "\033[H\033[2J"


def register(subparsers) -> None:
    p = subparsers.add_parser("stats", help="show containers' CPU, memory and pids usage",
                              description="Live resource usage of running containers (or of those named).")
    p.add_argument("-a", "--all", action="store_true", help="show all containers (default: running)")
    p.add_argument("--no-stream", action="store_true", help="print one reading and exit")
    p.add_argument("--no-trunc", action="store_true", help="do not truncate the container id")
    p.add_argument("containers", nargs="*", metavar="CONTAINER", help="id, id prefix or name")
    p.set_defaults(func=cmd_stats)


def row(st, before, after, host_total: int | None, no_trunc: bool = False) -> tuple[str, ...]:
    """One table row from a container's state and two ``Stats`` readings (None: no cgroup)."""
    from .cgroups import cpu_percent, format_bytes, memory_percent

    cid = st.id if no_trunc else st.short_id
    if after is None:  # stopped, or its cgroup is gone: docker shows zeros
        return (cid, st.name, "0.00%", "0B / 0B", "0.00%", "0")
    cpu = cpu_percent(before, after) if before is not None else 0.0
    limit = after.memory_limit or host_total
    usage = f"{format_bytes(after.memory_usage)} / {format_bytes(limit) if limit else '-'}"
    return (cid, st.name, f"{cpu:.2f}%", usage, f"{memory_percent(after, host_total):.2f}%", str(after.pids))


HEADER = ("CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS")


def _select(args):
    from . import container, state

    if args.containers:
        container.gc()
        return [state.load(ref) for ref in args.containers]  # NotFound: one line, exit 125
    return container.list_containers(all=args.all)


def _read(managers: dict, st):
    """A reading of ``st``'s cgroup, opening it on first use; None when it has none."""
    from . import cgroups

    mgr = managers.get(st.id)
    if mgr is None:
        mgr = managers[st.id] = cgroups.open(st.id)
        if mgr is None:
            managers.pop(st.id)
            return None
    if not any(mgr.fs.exists(g.path) for g in mgr.groups):  # the container ended meanwhile
        return None
    return mgr.stats()


def cmd_stats(args) -> int:
    from .cgroups.stats import host_memory
    from .cli import format_table

    host_total = host_memory()
    managers: dict = {}
    states = _select(args)
    previous = {st.id: _read(managers, st) for st in states}
    interval = NO_STREAM_INTERVAL if args.no_stream else STREAM_INTERVAL
    try:
        while True:
            time.sleep(interval)
            if not args.containers and not args.no_stream:
                states = _select(args)  # containers come and go while we watch
            rows = [HEADER]
            for st in states:
                now = _read(managers, st)
                rows.append(row(st, previous.get(st.id), now, host_total, args.no_trunc))
                previous[st.id] = now
            table = format_table(rows)
            if args.no_stream:
                print(table)
                return 0
            sys.stdout.write(_CLEAR + table + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
