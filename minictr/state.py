"""L2: container state on disk, one JSON file per container.

``$MINICTR_RUNTIME_DIR/<id>/state.json`` (default ``/run/minictr``, a tmpfs
that a reboot empties, as runc's ``/run/runc``). The statuses are the OCI
runtime spec's: ``creating``, ``created``, ``running``, ``stopped``.

A state file can outlive the process that wrote it (the CLI was SIGKILLed,
the machine's PID 1 has not reaped the container yet). ``is_alive`` checks the
real process, and treats a zombie or a recycled PID as dead.

Man pages: proc(5) (/proc/PID/stat fields 3 and 22).
OCI runtime spec: runtime.md, "State".
"""

from __future__ import annotations

import os
import time

from . import leanjson, procfs
from .errors import AlreadyExists, NotFound
from .record import Factory, Record

STATUSES = ("creating", "created", "running", "stopped")


def runtime_dir() -> str:
    return os.environ.get("MINICTR_RUNTIME_DIR", "/run/minictr")


class State(Record, frozen=False):
    id: str
    name: str
    image: str
    command: list[str]
    status: str = "creating"
    pid: int = 0
    pid_start: int = 0  # /proc/PID/stat field 22: tells a recycled PID apart
    supervisor_pid: int = 0  # the process that waits for the container (the CLI, for `run`)
    supervisor_start: int = 0
    created: float = Factory(time.time)
    started: float = 0.0
    finished: float = 0.0
    exit_code: int | None = None
    oom_killed: bool = False
    auto_remove: bool = False
    bundle: str = ""  # the container's storage directory (rootfs, upper, work)
    ports: list[str] = Factory(list)  # as ps shows them: "0.0.0.0:8081->80/tcp"
    network: dict = Factory(dict)  # what network.attach made (see there), recorded before it made it
    labels: dict[str, str] = Factory(dict)
    config: dict = Factory(dict)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def path(self) -> str:
        return os.path.join(runtime_dir(), self.id, "state.json")

    def save(self) -> None:
        """Write atomically: a reader never sees half a file."""
        path = self.path()
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            # A shallow dict is enough for json (the fields are plain data);
            # asdict() would deep-copy the whole config on each of a run's saves.
            f.write(leanjson.dumps({f: getattr(self, f) for f in self._fields}))
        os.replace(tmp, path)

    def remove(self) -> None:
        from .fsutil import remove_tree
        remove_tree(os.path.dirname(self.path()), ignore_errors=True)

    def is_alive(self, proc: str = "/proc") -> bool:
        return self.pid > 0 and process_start(self.pid, proc) == self.pid_start


def record_exit(st: State, wait_status: int, cgroup=None) -> None:
    """Write how the container ended into its state: exit status, time, OOM; destroy its cgroup.

    ``wait_status`` is what waitpid(2) returned (the exit code, or 128+N for
    signal N, as a shell shows it). ``cgroup`` is its CgroupManager, or None.
    """
    # Imported here, not at the top: the supervisor (supervise.py) keeps its memory small while it
    # waits, and loads process (with ctypes) only now, after the wait.
    from .process import exit_status

    st.exit_code = exit_status(wait_status)
    st.finished = time.time()
    if cgroup is not None:
        st.oom_killed = bool(cgroup.oom_killed())
        cgroup.destroy()
    st.status = "stopped"
    if st.network and not st.network.get("down"):
        # The container's network goes when it stops (its address may be reused), as docker's does.
        from .network import attach
        attach.detach(st.network, st.id)
        st.ports = []  # as docker's ps -a: an exited container publishes nothing
    if st.auto_remove:
        return  # nobody reads it: the caller removes the state next (or gc does, if the caller dies)
    if os.path.isdir(os.path.dirname(st.path())):  # `rm -f` from elsewhere may have removed us
        st.save()


def process_start(pid: int, proc: str = "/proc") -> int | None:
    """Start time of a live process (clock ticks since boot), or None if it is gone or a zombie."""
    return procfs.start_time(pid, proc)


def load_id(container_id: str) -> State:
    path = os.path.join(runtime_dir(), container_id, "state.json")
    try:
        with open(path) as f:
            data = leanjson.loads(f.read())
    except FileNotFoundError:
        raise NotFound(f"no such container: {container_id}") from None
    except ValueError:
        raise NotFound(f"container {container_id} has a broken state file",
                       hint=f"remove {os.path.dirname(path)} by hand") from None
    return State(**data)


def list_states() -> list[State]:
    """Every container with a state file, oldest first."""
    try:
        ids = os.listdir(runtime_dir())
    except FileNotFoundError:
        return []
    out = []
    for cid in ids:
        try:
            out.append(load_id(cid))
        except NotFound:
            continue  # removed while we looked, or being created right now
    return sorted(out, key=lambda s: s.created)


def load(ref: str) -> State:
    """Find a container by full id, unique id prefix, or name (as docker does)."""
    states = list_states()
    for s in states:
        if ref in (s.id, s.name):
            return s
    matches = [s for s in states if len(ref) >= 3 and s.id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise NotFound(f"container id prefix {ref!r} is ambiguous", hint="give more characters of the id")
    raise NotFound(f"no such container: {ref}", hint="`minictr ps -a` lists the containers")


def check_name_free(name: str) -> None:
    for s in list_states():
        if s.name == name:
            raise AlreadyExists(f"the container name {name!r} is already in use by {s.short_id}",
                                hint=f"remove it with `minictr rm {name}` or choose another --name")
