"""L1: who owns what in the image store while an operation runs: owners and leases.

An **owner** is a process, named by its PID *and* its start time (field 22 of
``/proc/PID/stat``, clock ticks since boot), so a recycled PID is never taken
for the process that wrote the name. ``owner_tag()`` is ``"<pid>.<start>"``;
it is written into the names of temp files (``tmp/w-<pid>.<start>-...``),
half-unpacked layers (``tmp/layer-<pid>.<start>-...``) and lease files, and
``owner_alive(tag)`` answers "may gc remove this now?": yes at once when the
owner is dead, never while it lives.

A **lease** is a file ``leases/<pid>.<start>-<n>`` listing, one per line, the
blob digests an operation in progress needs (a load, pull, import or build).
A digest is written to the lease *under the store lock, before* the blob is
renamed into ``blobs/`` (or found already there), and gc decides under the
same lock, so gc either ran before the blob existed or sees the lease. The
lease is removed when the operation ends (its image is then named in
index.json); a lease whose owner died is removed by the next gc, and what it
held becomes ordinary garbage.

Man pages: proc(5) (``/proc/PID/stat``), flock(2), rename(2).
"""

from __future__ import annotations

import os

from .. import procfs

_OWNER: str | None = None


def process_start(pid: int, proc: str = "/proc") -> int | None:
    """Start time of a live process (clock ticks since boot), or None if it is gone or a zombie."""
    return procfs.start_time(pid, proc)


def owner_tag() -> str:
    """This process as ``"<pid>.<start>"`` (recomputed after a fork)."""
    global _OWNER
    pid = os.getpid()
    if _OWNER is None or not _OWNER.startswith(f"{pid}."):
        _OWNER = f"{pid}.{process_start(pid) or 0}"
    return _OWNER


def parse_tag(name: str) -> str | None:
    """The owner tag inside a file name such as ``w-123.4567-abc`` or ``layer-123.4567-...``, or None."""
    for part in name.split("-"):
        pid, dot, start = part.partition(".")
        if dot and pid.isdigit() and start.isdigit():
            return part
    return None


def owner_alive(tag: str, proc: str = "/proc") -> bool:
    pid, _, start = tag.partition(".")
    if not (pid.isdigit() and start.isdigit()):
        return False
    return process_start(int(pid), proc) == int(start)


class Lease:
    """The blobs one operation needs until its image is named (see the module docstring)."""

    _count = 0

    def __init__(self, leases_dir):
        Lease._count += 1
        self.path = os.path.join(leases_dir, f"{owner_tag()}-{Lease._count}")
        self.digests: list[str] = []

    def add(self, digest: str) -> None:
        """Record ``digest`` (call it under the store lock, before the blob appears)."""
        if digest in self.digests:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, "a") as f:
            f.write(digest + "\n")
        self.digests.append(digest)

    def release(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:  # never written, or the store is gone
            pass


def live_leases(leases_dir, *, remove_dead: bool = False) -> set[str]:
    """The digests held by leases whose owners live; optionally remove the dead owners' leases."""
    held: set[str] = set()
    try:
        names = os.listdir(leases_dir)
    except (FileNotFoundError, NotADirectoryError):
        return held
    for name in names:
        path = os.path.join(leases_dir, name)
        tag = parse_tag(name)
        if tag is None or not owner_alive(tag):
            if remove_dead:
                try:
                    os.unlink(path)
                except OSError:
                    pass
            continue
        try:
            with open(path) as f:
                held.update(line.strip() for line in f if line.strip())
        except OSError:
            continue
    return held
