"""L4: docker's resource flags for ``run`` (and later ``create``), turned into ``Resources``.

The values are parsed here, not by argparse ``type=``, so that a bad value is
a ``ConfigError``: one clear line and exit 125, as docker does, rather than
argparse's usage message. The units themselves (``32m``, ``0-1``, ``0.5``)
are read by ``cgroups/units.py``, which knows nothing of argparse.

See docker-run(1), "Runtime constraints on resources".
"""

from __future__ import annotations

import os

from .config import Resources
from .errors import ConfigError


#: The flags, as data: ``(names, metavar, help)``, each taking one value. The
#: CLI builds argparse's --help from them, and reads common command lines
#: with them directly (see cli.py).
RESOURCE_FLAGS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("-m", "--memory"), "BYTES", "memory limit, e.g. 32m or 1g (b, k, m, g); the kernel OOM-kills above it"),
    (("--memory-swap",), "BYTES", "memory plus swap; -1 for unlimited swap (default: twice --memory)"),
    (("--pids-limit",), "N", "at most N processes and threads; -1 for unlimited"),
    (("--cpus",), "N", "CPU time, e.g. 0.5 for half a CPU"),
    (("-c", "--cpu-shares"), "N", "relative CPU weight when CPUs are busy (1024 = normal)"),
    (("--cpuset-cpus",), "LIST", "CPUs the container may use, e.g. 0 or 0-1 or 0,2"),
)


def flag_dest(names: tuple[str, ...]) -> str:
    """The attribute a flag's value goes to, as argparse names it: ``("-m", "--memory-swap")`` -> ``memory_swap``."""
    return names[-1].lstrip("-").replace("-", "_")


def add_resource_flags(parser) -> None:
    """Add --memory --memory-swap --pids-limit --cpus --cpu-shares --cpuset-cpus to ``parser``."""
    g = parser.add_argument_group("resource limits (cgroups)")
    for names, metavar, help in RESOURCE_FLAGS:
        g.add_argument(*names, metavar=metavar, help=help)


def resources_from_args(args, *, ncpu: int | None = None, available_cpus=None) -> Resources:
    """The ``Resources`` asked for by the flags. Raises ``ConfigError`` for a bad value.

    ``ncpu`` and ``available_cpus`` default to this machine's (tests pass their own).
    """
    def get(name):
        return getattr(args, name, None)

    if all(get(flag_dest(names)) is None for names, _m, _h in RESOURCE_FLAGS):
        return Resources()  # no limits asked for: nothing to parse
    from .cgroups import units

    memory = swap = None
    if get("memory") is not None:
        memory = units.parse_bytes(get("memory"), "--memory")
        if memory < units.MIN_MEMORY:
            raise ConfigError("--memory", get("memory"), "is below the 6MiB minimum",
                              hint="a container needs a few MiB just to start; try 32m")
    if get("memory_swap") is not None:
        raw = str(get("memory_swap")).strip()
        swap = -1 if raw == "-1" else units.parse_bytes(raw, "--memory-swap")
        if memory is None:
            raise ConfigError("--memory-swap", raw, "needs --memory as well",
                              hint="--memory-swap is memory plus swap; set --memory too")
        if swap != -1 and swap < memory:
            raise ConfigError("--memory-swap", raw, "must be at least --memory (it is memory plus swap)",
                              hint=f"use --memory-swap {get('memory')} for no swap, or -1 for unlimited")
    pids = units.parse_pids_limit(get("pids_limit")) if get("pids_limit") is not None else None
    if ncpu is None:
        ncpu = os.cpu_count() or 1
    cpus = units.parse_cpus(get("cpus"), ncpu) if get("cpus") is not None else None
    shares = units.parse_cpu_shares(get("cpu_shares")) if get("cpu_shares") is not None else None
    cpuset = None
    if get("cpuset_cpus") is not None:
        if available_cpus is None:
            available_cpus = os.sched_getaffinity(0)
        cpuset = units.parse_cpuset(get("cpuset_cpus"), available_cpus)
    return Resources(memory=memory, memory_swap=swap, pids_limit=pids, cpus=cpus,
                     cpu_shares=shares, cpuset_cpus=cpuset)
