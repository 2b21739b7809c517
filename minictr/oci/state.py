"""L2: a container's state as the OCI runtime spec shows it, and which operation each status allows.

minictr keeps one ``state.State`` per container (``<root>/<id>/state.json``, written
atomically by ``state.State.save``); this module *reads* it the spec's way. The status
stored there is only what the last command wrote. The truth is the process::

    stored      its process                         status shown
    ---------   ---------------------------------   ------------
    creating    `create` (the writer) still alive    creating
    creating    `create` gone (killed half-way)      stopped
    created     the init, alive (waits on exec.fifo) created
    running     the init, alive                      running
    paused      the init, alive (frozen)             paused
    any         dead, a zombie, or a recycled PID    stopped

A zombie is stopped: it has exited, only its parent's wait() is missing (on a host
whose PID 1 reaps late, an orphaned init stays a zombie for seconds). A PID is the
same process only while its start time (``/proc/PID/stat`` field 22) is the one
recorded at create.

The spec's rules (runtime.md, "Operations"), and runc's for pause and resume:

=========  =====================================
start      created
kill       created, running (and paused, as runc)
delete     stopped; any status with ``--force`` (it kills first)
exec, ps   created, running
pause      created, running
resume     paused
=========  =====================================

Man pages: proc(5). OCI runtime spec: runtime.md ("State", "Lifecycle", "Operations").
"""

from __future__ import annotations

from ..errors import InvalidTransition
from ..state import State, process_start

#: The runtime spec version this runtime speaks (config.json's ociVersion, state's ociVersion).
OCI_VERSION = "1.1.0"

STATUSES = ("creating", "created", "running", "paused", "stopped")

#: operation -> the statuses it is allowed in (see the table above).
ALLOWED = {
    "start": ("created",),
    "kill": ("created", "running", "paused"),
    "delete": ("stopped",),
    "exec": ("created", "running"),
    "ps": ("created", "running", "paused"),
    "pause": ("created", "running"),
    "resume": ("paused",),
}

_HINTS = {
    "start": "create it again: `start` runs a container once",
    "delete": "kill it first, or use `delete --force`",
    "resume": "only a paused container can be resumed",
}


def _same_process(pid: int, start: int) -> bool:
    return pid > 0 and process_start(pid) == start


def status(st: State, same_process=_same_process) -> str:
    """The spec's status of ``st``, from its process (see the table above).

    ``same_process(pid, start_time)`` says whether that PID is still the process that
    started then, alive and not a zombie (a fake in the tests).
    """
    if st.status == "creating":
        return "creating" if same_process(st.supervisor_pid, st.supervisor_start) else "stopped"
    if st.status in ("created", "running", "paused"):
        return st.status if same_process(st.pid, st.pid_start) else "stopped"
    return "stopped"


def check(operation: str, st: State, current: str) -> None:
    """Raise ``InvalidTransition`` unless ``operation`` is allowed in status ``current``."""
    if current not in ALLOWED[operation]:
        allowed = " or ".join(ALLOWED[operation])
        raise InvalidTransition(f"cannot {operation} container {st.id}: it is {current}, not {allowed}",
                                hint=_HINTS.get(operation))


def document(st: State, current: str) -> dict:
    """The state JSON the spec's ``state`` operation returns (with runc's extra ``rootfs``/``created``)."""
    rootfs = (st.config.get("rootfs") or {}).get("path", "") if st.config else ""
    return {
        "ociVersion": OCI_VERSION,
        "id": st.id,
        "pid": st.pid if current != "stopped" else 0,
        "status": current,
        "bundle": st.oci_bundle,
        "rootfs": rootfs,
        "created": rfc3339(st.created),
        "owner": "",
        "annotations": annotations(st),
    }


def annotations(st: State) -> dict[str, str]:
    """config.json's annotations, as the state keeps them (in its config: pairs, in JSON lists)."""
    pairs = (st.config or {}).get("annotations") or ()
    return {k: v for k, v in pairs} if pairs else dict(st.labels)


def rfc3339(t: float) -> str:
    """``2026-12-02T03:24:15.123456789Z``: a Unix time in UTC, as Go's time.RFC3339Nano prints it."""
    import time
    whole = int(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((t - whole) * 1e9):09d}Z"
