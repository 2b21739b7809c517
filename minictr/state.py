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
    """``$MINICTR_RUNTIME_DIR``, /run/minictr for root, the user's XDG runtime dir otherwise (see minictr.paths)."""
    from .paths import runtime_dir as _dir
    return _dir()


class State(Record, frozen=False):
    id: str
    name: str
    image: str
    command: list[str]
    image_id: str = ""  # the store image it was made from (rmi's in-use test, as docker's)
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
    restart_count: int = 0  # how often the monitor ran it again (run --restart)
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

    def save(self, create: bool = False) -> bool:
        """Write atomically: a reader never sees half a file, nor a state dir without state.json.

        ``create=True`` (the first save of a new container) makes the directory
        as ``.new-<id>-<owner>`` with its state.json inside, then renames it to
        ``<id>``: a kill at any moment leaves either nothing under ``<id>`` or a
        whole state, and a ``.new-`` dir whose owner (PID.start) is dead, which
        ``gc_leftovers`` removes. Any later save only replaces state.json in a
        directory that still exists: when ``rm -f`` removed the container in the
        meantime (it renames the dir away first), the save does nothing and
        returns False, rather than bring a removed container back.
        """
        path = self.path()
        d = os.path.dirname(path)
        # A shallow dict is enough for json (the fields are plain data);
        # asdict() would deep-copy the whole config on each of a run's saves.
        data = leanjson.dumps({f: getattr(self, f) for f in self._fields})
        if create and not os.path.isdir(d):
            owner = f"{self.supervisor_pid}.{self.supervisor_start}" if self.supervisor_pid else f"{os.getpid()}.0"
            top = runtime_dir()
            if not os.path.isdir(top):  # rootless, in a shared tmp dir: other users must not read it
                os.makedirs(top, mode=0o700 if os.geteuid() else 0o755, exist_ok=True)
            new = os.path.join(top, f".new-{self.id}-{owner}")
            os.makedirs(new, mode=0o700)
            with open(os.path.join(new, "state.json"), "w") as f:
                f.write(data)
            os.rename(new, d)
            return True
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w") as f:
                f.write(data)
            os.replace(tmp, path)
        except FileNotFoundError:  # the dir was removed (or renamed away) before or during the write
            return False
        return True

    def remove(self) -> None:
        """Rename the dir away first: a kill half-way never leaves ``<id>`` without its state.json."""
        from .fsutil import remove_tree
        d = os.path.dirname(self.path())
        gone = os.path.join(runtime_dir(), f".del-{self.id}-{os.getpid()}")
        try:
            os.rename(d, gone)
        except OSError:
            gone = d
        remove_tree(gone, ignore_errors=True)

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
    st.save()  # does nothing if `rm -f` from elsewhere removed the container meanwhile


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
        if cid.startswith("."):  # .new-* being made, .del-* being removed (gc_leftovers)
            continue
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


def is_id_like(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def leftover_dirs() -> list[tuple[str, str]]:
    """State dirs no container owns any more: ``(container id, path)`` pairs.

    A ``.new-<id>-<pid>.<start>`` dir whose creator is dead (killed during its
    first save), a ``.del-<id>-<pid>`` dir (a removal killed half-way), and an
    ``<id>`` dir without state.json (written by an older minictr).
    """
    try:
        names = os.listdir(runtime_dir())
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        path = os.path.join(runtime_dir(), n)
        if n.startswith(".new-"):
            cid, _, owner = n[5:].partition("-")
            pid, _, start = owner.partition(".")
            if pid.isdigit() and start.isdigit():
                now = process_start(int(pid))
                if now is not None and (now == int(start) or not int(start)):
                    continue  # its creator is still writing it
            out.append((cid, path))
        elif n.startswith(".del-"):
            out.append((n[5:].partition("-")[0], path))
        elif not n.startswith(".") and os.path.isdir(path) and not os.path.exists(os.path.join(path, "state.json")):
            out.append((n, path))
    return out


def check_name_free(name: str) -> None:
    for s in list_states():
        if s.name == name:
            raise AlreadyExists(f"the container name {name!r} is already in use by {s.short_id}",
                                hint=f"remove it with `minictr rm {name}` or choose another --name")
