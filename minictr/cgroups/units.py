"""Units of the resource flags: docker's spellings in, the kernel's numbers out.

Every parser raises ``ConfigError`` with the flag's name, so a bad value is a
single clear line (and exit 125) before anything forks.

- sizes:   ``--memory 32m`` means 32 MiB (docker's RAMInBytes: b, k, m, g, t, p,
  binary multiples, an optional ``i``/``b`` suffix: ``32m``, ``32MiB``, ``1.5g``).
- CPUs:    ``--cpus 0.5`` is a CFS quota of 50 000 us per 100 000 us period.
- shares:  ``--cpu-shares`` (v1 ``cpu.shares``, 2..262144) maps to the v2
  ``cpu.weight`` (1..10000) by the formula runc, crun and systemd use:
  ``1 + ((shares - 2) * 9999) // 262142``.
- cpusets: ``0-2,4`` is the kernel's "cpu list" format (cpuset(7)).

See docker-run(1) "Runtime constraints on resources", the kernel's
Documentation/admin-guide/cgroup-v2.rst ("cpu", "memory") and
Documentation/scheduler/sched-bwc.rst (CFS bandwidth control).
"""

from __future__ import annotations

from ..errors import ConfigError

#: The CFS period we use, in microseconds (the kernel's default, 100 ms).
CPU_PERIOD_US = 100_000
#: docker refuses memory limits below this: a smaller container cannot even start.
MIN_MEMORY = 6 * 1024 * 1024
MIN_CPU_SHARES, MAX_CPU_SHARES = 2, 262_144
#: The largest size a cgroup limit file takes: the kernel parses them as a signed
#: 64-bit number of bytes (memory.limit_in_bytes, memory.max), docker's int64 too.
MAX_BYTES = (1 << 63) - 1

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
# Compiled on first use (re's own cache keeps them): a run without these flags
# does not pay for importing re.
_SIZE_RE = r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$"
_CPULIST_RE = r"^\d+(-\d+)?(,\d+(-\d+)?)*$"


def parse_bytes(value: str | int, field: str = "--memory") -> int:
    """``"32m"`` -> 33554432. Plain numbers are bytes. Raises ConfigError."""
    if isinstance(value, int):
        return value
    import re
    m = re.match(_SIZE_RE, str(value), re.IGNORECASE)
    if not m:
        raise ConfigError(field, value, "not a size",
                          hint="use a number with an optional unit b, k, m or g, e.g. 32m")
    number, unit = m.groups()
    whole, _, frac = number.partition(".")
    scale = _UNITS[unit.lower()]
    n = int(whole) * scale + (int(float("0." + frac) * scale) if frac else 0)  # exact for big whole numbers
    if n > MAX_BYTES:
        raise ConfigError(field, value, f"is more than the kernel's limits can hold ({MAX_BYTES} bytes, 8EiB)",
                          hint="give a size such as 512m or 4g")
    return n


def format_bytes(n: int | float | None) -> str:
    """``33554432`` -> ``"32MiB"``; ``1536`` -> ``"1.5KiB"``; None -> ``"unlimited"``.

    Binary units like docker's ``stats`` column; at most 3 significant digits.
    """
    if n is None:
        return "unlimited"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            break
        n /= 1024
    if unit == "B":
        return f"{int(n)}B"
    text = f"{n:.3g}" if abs(n) < 1000 else f"{n:.0f}"
    return f"{text}{unit}"


def parse_cpus(value: str | float, ncpu: int | None = None) -> float:
    """``"0.5"`` -> 0.5, checked against 0.01 (the kernel's 1 ms minimum quota) and ``ncpu``."""
    try:
        cpus = float(value)
    except (TypeError, ValueError):
        raise ConfigError("--cpus", value, "not a number", hint="for half a CPU use --cpus 0.5") from None
    if not cpus >= 0.01:  # also catches nan
        raise ConfigError("--cpus", value, "must be at least 0.01", hint="for half a CPU use --cpus 0.5")
    if ncpu is not None and cpus > ncpu:
        raise ConfigError("--cpus", value, f"this machine has only {ncpu} CPUs",
                          hint=f"use a value from 0.01 to {ncpu}")
    return cpus


def cpu_quota(cpus: float, period: int = CPU_PERIOD_US) -> int:
    """CFS quota in microseconds for ``cpus`` CPUs per ``period``: 0.5 -> 50000."""
    return max(1000, round(cpus * period))


def parse_cpu_shares(value: str | int) -> int:
    """A relative CPU weight, docker's ``-c``: 1024 is the default, 2..262144."""
    try:
        shares = int(value)
    except (TypeError, ValueError):
        raise ConfigError("--cpu-shares", value, "not a whole number", hint="1024 is the default weight") from None
    if not MIN_CPU_SHARES <= shares <= MAX_CPU_SHARES:
        raise ConfigError("--cpu-shares", value, f"must be from {MIN_CPU_SHARES} to {MAX_CPU_SHARES}",
                          hint="1024 is the default weight; 512 is half as much")
    return shares


def shares_to_weight(shares: int) -> int:
    """v1 ``cpu.shares`` -> v2 ``cpu.weight``: 2 -> 1, 1024 -> 39, 262144 -> 10000."""
    return 1 + ((shares - 2) * 9999) // 262142


def parse_pids_limit(value: str | int) -> int | None:
    """``--pids-limit``: a positive count; 0 or -1 mean unlimited (docker's rule) -> None."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ConfigError("--pids-limit", value, "not a whole number",
                          hint="for example --pids-limit 10; -1 means unlimited") from None
    return None if n <= 0 else n


def parse_cpuset(value: str, available: set[int] | frozenset[int] | None = None) -> str:
    """Check a cpu list like ``0-1,3``; every CPU must be in ``available`` when given.

    Returns the list normalised (no spaces), ready for ``cpuset.cpus``.
    """
    text = str(value).replace(" ", "")
    import re
    if not re.match(_CPULIST_RE, text):
        raise ConfigError("--cpuset-cpus", value, "not a cpu list",
                          hint="use numbers and ranges, e.g. 0 or 0-1 or 0,2")
    cpus = cpulist(text)
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        if hi and int(hi) < int(lo):
            raise ConfigError("--cpuset-cpus", value, f"range {part} goes backwards", hint=f"write {hi}-{lo}")
    if available is not None and not cpus <= set(available):
        missing = ",".join(str(c) for c in sorted(cpus - set(available)))
        have = ",".join(str(c) for c in sorted(available))
        raise ConfigError("--cpuset-cpus", value, f"cpu {missing} is not available (available: {have})",
                          hint="pick CPUs from the available list")
    return text


def cpulist(text: str) -> set[int]:
    """``"0-2,5"`` -> {0, 1, 2, 5}; the empty string -> set()."""
    out: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out
