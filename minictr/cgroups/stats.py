"""What a container uses: one ``Stats`` reading, and ``sample()`` for a live view.

A reading is taken from the group's files:

=============  ==================================  ===============================
field          cgroup v2                           cgroup v1
=============  ==================================  ===============================
cpu_usage_ns   cpu.stat ``usage_usec`` * 1000      cpuacct.usage
memory_usage   memory.current - inactive_file      memory.usage_in_bytes - total_inactive_file
memory_limit   memory.max (None for "max")         memory.limit_in_bytes (None if huge)
pids           pids.current                        pids.current
=============  ==================================  ===============================

CPU % needs two readings: CPU time used between them divided by the wall
time between them, so one busy CPU is 100 % and two are 200 %, as in
``docker stats``. Memory leaves out inactive page cache, as docker does.
"""

from __future__ import annotations

import time

from ..record import Record


class Stats(Record):
    """One reading: immutable (``record.replace(s, pids=3)`` makes a changed copy)."""

    cpu_usage_ns: int = 0
    memory_usage: int = 0
    memory_limit: int | None = None
    pids: int = 0
    #: time.monotonic() when the reading was taken
    time: float = 0.0


def cpu_percent(before: Stats, after: Stats) -> float:
    """CPU use between two readings, in percent of one CPU."""
    wall = after.time - before.time
    if wall <= 0:
        return 0.0
    return max(0.0, (after.cpu_usage_ns - before.cpu_usage_ns) / (wall * 1e9) * 100)


def memory_percent(s: Stats, total: int | None = None) -> float:
    """Usage in percent of the limit (or of ``total``, the host's memory, when unlimited)."""
    limit = s.memory_limit or total
    return 100.0 * s.memory_usage / limit if limit else 0.0


def host_memory(meminfo: str = "/proc/meminfo") -> int | None:
    """MemTotal in bytes: what ``docker stats`` shows as the limit of an unlimited container."""
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def sample(mgr, interval: float = 0.1, duration: float | None = None, *, sleep=time.sleep):
    """Yield ``mgr.stats()`` every ``interval`` seconds.

    Stops after ``duration`` seconds, or (with no duration) once the container
    has no processes left, after one last reading. The lesson draws a gauge
    and a plot of memory climbing to its limit from this::

        for s in cgroups.sample(mgr, 0.05, 3):
            gauge.value = s.memory_usage
    """
    start = None
    while True:
        s = mgr.stats()
        if start is None:
            start = s.time  # the duration runs from the first reading, so readings span it
        yield s
        if duration is not None and s.time - start >= duration:
            return
        if duration is None and not mgr.pids():
            return
        sleep(interval)
