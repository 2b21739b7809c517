"""L0: what /proc says about a process: status fields, capabilities, namespaces, start time.

One reader for each file, shared by doctor, the labs, state and the widgets:

- ``status(pid)``: the ``Key: value`` lines of ``/proc/PID/status`` as a dict
  (``{}`` when the process is gone);
- ``cap_mask(status, "CapEff")``: a capability set (CapInh, CapPrm, CapEff,
  CapBnd, CapAmb) as an int, bit N being capability N;
- ``ns_ids(pid)`` and ``ns_id(pid, kind)``: the ``kind:[inode]`` text of the
  links in ``/proc/PID/ns`` (same text, same namespace);
- ``start_time(pid)``: field 22 of ``/proc/PID/stat`` (clock ticks since boot),
  which tells a recycled PID apart; ``None`` for a zombie or a vanished process.

Every reader takes the /proc root as a parameter, so tests feed it fake files.
Cheap to import: the run path (``state.process_start``) uses it.

Man pages: proc(5) (/proc/PID/status, /proc/PID/stat, /proc/PID/ns), capabilities(7),
namespaces(7).
"""

from __future__ import annotations

import os

__all__ = ["status", "cap_mask", "has_cap", "ns_id", "ns_ids", "start_time", "stat_fields"]


def status(pid: int | str = "self", proc: str = "/proc", *, path: str | None = None) -> dict[str, str]:
    """``/proc/PID/status`` as ``{"Name": "bash", "PPid": "1", "CapEff": "000001ff...", ...}``.

    ``path`` reads another file of the same format (a test's fake). A process
    that is gone, or a file that cannot be read, gives ``{}``.
    """
    out = {}
    try:
        with open(path or f"{proc}/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                out[key.strip()] = value.strip()
    except OSError:
        pass
    return out


def cap_mask(fields: dict[str, str], name: str = "CapEff") -> int:
    """A capability set from ``status()``'s fields as an int (0 when missing or malformed).

    The kernel prints it as 16 hex digits: ``000001ffffffffff`` is every one of
    capabilities 0-40.
    """
    try:
        return int(fields.get(name, "0"), 16)
    except ValueError:
        return 0


def has_cap(bit: int, pid: int | str = "self", proc: str = "/proc", *, name: str = "CapEff",
            path: str | None = None) -> bool:
    """Whether capability number ``bit`` (CAP_SYS_ADMIN is 21) is in the set ``name``."""
    return bool(cap_mask(status(pid, proc, path=path), name) >> bit & 1)


def ns_id(pid: int | str, kind: str, proc: str = "/proc") -> str:
    """``'uts:[4026531838]'``: the namespace of that kind (a name in /proc/PID/ns). Raises OSError."""
    return os.readlink(f"{proc}/{pid}/ns/{kind}")


def ns_ids(pid: int | str = "self", proc: str = "/proc", missing: str | None = None) -> dict[str, str]:
    """Every link in /proc/PID/ns, ``{kind: 'kind:[inode]'}`` (``{}`` when the process is gone).

    This includes the ``*_for_children`` links (pid_for_children, time_for_children).
    A link that cannot be read (the process exited meanwhile, or ``pid_for_children``
    before the new namespace has a process) is left out, or given as ``missing``.
    """
    out = {}
    try:
        kinds = os.listdir(f"{proc}/{pid}/ns")
    except OSError:
        return out
    for kind in kinds:
        try:
            out[kind] = ns_id(pid, kind, proc)
        except OSError:  # it exited meanwhile
            if missing is not None:
                out[kind] = missing
    return out


def stat_fields(pid: int | str = "self", proc: str = "/proc") -> list[str] | None:
    """The fields of /proc/PID/stat from field 3 (state) on, or None when it is gone.

    Field 2, the command name in parentheses, may hold spaces and parentheses
    itself (a process may call itself ``a) b``), so the split starts after the
    *last* ``)``. Index 0 here is field 3; field N is ``[N - 3]``.
    """
    try:
        with open(f"{proc}/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    end = text.rfind(")")
    if end < 0:
        return None
    return text[end + 2:].split()


def start_time(pid: int | str, proc: str = "/proc") -> int | None:
    """Field 22 of /proc/PID/stat: when it started, in clock ticks since boot.

    None when the process is gone or a zombie (it has exited; only its parent's
    wait() is missing), so a PID whose start time still matches is the same process.
    """
    fields = stat_fields(pid, proc)
    if not fields or fields[0] in ("Z", "X"):
        return None
    try:
        return int(fields[22 - 3])
    except (IndexError, ValueError):
        return None


def alive(pid: int | str, proc: str = "/proc") -> bool:
    """Whether the process runs: it exists and is not a zombie (exited, only the wait() missing)."""
    return start_time(pid, proc) is not None


def rss_kib(pid: int | str = "self", proc: str = "/proc") -> int:
    """VmRSS of /proc/PID/status, in KiB: the memory the process holds now."""
    return int(status(pid, proc)["VmRSS"].split()[0])


def pids_of_user(uid: int, proc: str = "/proc") -> list[int]:
    """The processes whose /proc/PID directory belongs to ``uid`` (their real user, as ps shows it)."""
    pids = []
    for entry in os.listdir(proc):
        if entry.isdigit():
            try:
                if os.stat(f"{proc}/{entry}").st_uid == uid:
                    pids.append(int(entry))
            except FileNotFoundError:
                pass  # gone meanwhile
    return pids
