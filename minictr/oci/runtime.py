"""L4: the OCI runtime's operations, on minictr's one core: create, start, kill, delete, exec, pause.

``create`` builds the container with ``container.Container.create``, the same code
that ``minictr run`` uses (cgroup, namespaces, mounts, pivot_root, confinement);
only the wait at exec differs. ``run`` says "start" over the socket and stays; an
OCI ``create`` exits, and ``start`` is a later process. So the init waits on a FIFO
that outlives ``create``, as runc's ``exec.fifo``::

    create (exits)                         the init (PID 1 in its namespaces)    start (later)
    --------------                         ----------------------------------    -------------
    Container.create: fork, cgroup,  ───►  ... pivot_root, [pty]
    mounts; {"ready"} (+ pty master) ◄───
    mkfifo <root>/<id>/exec.fifo
    send {"detach"} + O_PATH fd of it ───► prctl(PR_SET_PDEATHSIG, 0)
                       {"detached"}  ◄───  open(/proc/self/fd/N, O_WRONLY) ...
    pty master -> --console-socket                        (blocks until a reader)
    --pid-file; state "created"; exit                                            open(exec.fifo, O_RDONLY)
                                           ... returns; user, confinement,  ◄───
                                           execve: O_CLOEXEC closes the fifo ───► end-of-file: "running"
                                           or its error, as JSON, into it    ───► the error, exit 1

The init's stdio are ``create``'s own (conmon passes pipes), or the pty's slave.
Who reaps the init: the nearest child subreaper (conmon) once ``create`` exits, or PID 1.

``<root>`` is ``state.runtime_dir()`` (the CLI points it at ``--root``): each container
is ``<root>/<id>/state.json`` (a ``state.State``, see ``oci.state`` for its OCI view).

Man pages: fifo(7), open(2), pidfd_open(2), poll(2), unix(7) (SCM_RIGHTS), kill(2).
OCI runtime spec: runtime.md ("Lifecycle", "Operations"), runtime-linux.md.
"""

from __future__ import annotations

import os
import time
from _signal import SIGKILL

from .. import state
from ..errors import AlreadyExists, ConfigError, ContainerSetupError, NotFound
from ..record import replace
from . import state as oci

if TYPE_CHECKING := False:  # start, state, kill and delete never need config.py's records (~1-2 ms)
    from ..config import ContainerConfig

#: The FIFO the created init waits on, in the container's state dir.
EXEC_FIFO = "exec.fifo"


def _dir(container_id: str) -> str:
    return os.path.join(state.runtime_dir(), container_id)


def load(container_id: str) -> tuple[state.State, str]:
    """The container's state and its status now. Raises ``NotFound``."""
    if not container_id or "/" in container_id or container_id.startswith("."):
        raise NotFound(f"container {container_id!r} does not exist")
    try:
        st = state.load_id(container_id)
    except NotFound:
        raise NotFound(f"container {container_id} does not exist",
                       hint="`minictr-runtime list` shows the containers under this --root") from None
    return st, oci.status(st)


def create(cfg: ContainerConfig, oci_bundle: str, *, pid_file: str | None = None,
           console_socket: str | None = None, preserve_fds: int = 0, kernel=None) -> state.State:
    """Build the container and leave its init waiting on exec.fifo; return its state ("created").

    ``cfg.name`` is the OCI id (``load_bundle`` puts it there); it becomes the state's and the
    cgroup's id too, so that the container is ``<root>/<id>``, as runc's (podman's ids are
    64 hex digits anyway, what minictr's own ids are).
    """
    cfg = replace(cfg, id=cfg.name)
    if cfg.tty and not console_socket:
        raise ConfigError("--console-socket", "", "process.terminal is true, so the pty's master needs "
                          "a console socket to go to", hint="pass --console-socket PATH, or set terminal false")
    if console_socket and not cfg.tty:
        raise ConfigError("--console-socket", console_socket, "process.terminal is false: there is no pty to send",
                          hint="drop --console-socket, or set process.terminal true")
    if preserve_fds < 0:
        raise ConfigError("--preserve-fds", preserve_fds, "must be 0 or more")
    if os.path.lexists(_dir(cfg.id)):
        raise AlreadyExists(f"container {cfg.id} already exists",
                            hint=f"`delete {cfg.id}` it first, or choose another id")
    os.makedirs(state.runtime_dir(), mode=0o700, exist_ok=True)
    from .. import container  # here: start, state, kill and delete need none of the init's code
    # The OCI process's stdin is the caller's as given (conmon's pipe or /dev/null): never replaced.
    cfg = replace(cfg, interactive=True)
    c = container.Container.create(cfg, kernel, save=False)  # the init waits at exec, for our word
    st = c.state
    master = c.pty_master
    try:
        st.oci_bundle = oci_bundle
        # Where its groups are: later calls come from other processes in other cgroups (podman's,
        # not conmon's), which would otherwise search the trees for them.
        st.cgroup_paths = sorted(set(c.cgroup.paths.values())) if c.cgroup is not None else []
        fifo = os.path.join(os.path.dirname(st.path()), EXEC_FIFO)
        os.mkfifo(fifo, 0o600)
        # The namespaces exist, the init waits past pivot_root: the create-time hooks, in the
        # runtime's namespaces (createContainer too: see the resolve note). A failure is create's.
        run_hooks(_stages(cfg.hooks, "prestart", "createRuntime", "createContainer"), oci.document(st, "creating"))
        path_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
        try:
            c.init.detach(path_fd, preserve_fds, start_hooks=_stages(cfg.hooks, "startContainer"),
                          state=oci.document(st, "created"))
        finally:
            os.close(path_fd)
        if master is not None:
            send_console(console_socket, master)
        if pid_file:
            write_pid_file(pid_file, st.pid)
        st.status = "created"
        st.save()
    except BaseException:
        c.delete(force=True)  # kill and reap the init, remove its cgroup and state: nothing is left
        raise
    finally:
        if master is not None:
            os.close(master)
    return st


def _stages(hooks, *stages) -> list[dict]:
    """config.json's hooks of those stages, in order, as plain dicts (``config.Hook`` records or
    the dicts a state file keeps)."""
    out = []
    for stage in stages:
        for h in hooks or ():
            d = h if isinstance(h, dict) else {f: getattr(h, f) for f in h._fields}
            if d.get("stage") == stage:
                out.append({"path": d["path"], "args": list(d.get("args") or ()), "env": list(d.get("env") or ()),
                            "timeout": d.get("timeout")})
    return out


def run_hooks(hooks: list[dict], doc: dict, warn=None) -> None:
    """Run each hook with the state ``doc`` on its stdin. A failure raises, or with ``warn``
    (poststart, poststop: the spec wants a warning and the life cycle goes on) is told to it."""
    if not hooks:
        return
    from ..errors import MinictrError
    from .hooks import run_hook
    for hook in hooks:
        try:
            run_hook(hook, doc)
        except MinictrError as e:
            if warn is None:
                raise
            warn(str(e))


def send_console(path: str, master: int) -> None:
    """Send the pty's master to the unix socket ``path`` with SCM_RIGHTS, as runc does (no reply)."""
    import socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
        except OSError as e:
            raise ConfigError("--console-socket", path, f"cannot connect: {e.strerror}",
                              hint="the caller must listen on it before create") from None
        socket.send_fds(s, [b"console"], [master])


def write_pid_file(path: str, pid: int) -> None:
    """Write ``pid`` to ``path`` atomically (a reader never sees an empty file): a temp file, then rename."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.replace(tmp, path)


def start(container_id: str, warn=None) -> state.State:
    """Let a created container's init exec its command; return once it has (or raise its error).

    Then the poststart hooks; ``warn`` is told their failures.
    """
    st, current = load(container_id)
    oci.check("start", st, current)
    fifo = os.path.join(_dir(container_id), EXEC_FIFO)
    try:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ContainerSetupError("start", f"container {container_id} was started already") from None
    try:
        report = _wait_for_exec(fd, st.pid)
    finally:
        os.close(fd)
        try:
            os.unlink(fifo)  # one start only
        except FileNotFoundError:
            pass
    if report is not None:
        raise ContainerSetupError(report.get("stage", "exec"), report.get("message", "the init failed"),
                                  errno=report.get("errno"), hint=report.get("hint"),
                                  exit_code=report.get("exit_code", 125))
    st.status, st.started = "running", time.time()
    st.save()
    run_hooks(_stages(st.config.get("hooks"), "poststart"), oci.document(st, "running"), warn or (lambda _m: None))
    return st


def _wait_for_exec(fd: int, pid: int) -> dict | None:
    """Read the fifo until the init's exec closes it: None, or the init's error report.

    The fifo was opened O_NONBLOCK (that open never waits); poll(2) wakes when the init
    writes (POLLIN), when its last writing end closes at exec (POLLHUP: the kernel reports
    it once a writer has been there, pipe_poll in fs/pipe.c), or when the init dies before
    it ever opened the fifo (its pidfd becomes readable).
    """
    import select
    from .. import leanjson

    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        pidfd = -1
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    if pidfd >= 0:
        poller.register(pidfd, select.POLLIN)
    data = b""
    try:
        while True:
            events = dict(poller.poll())
            if fd in events:
                chunk = os.read(fd, 65536) if events[fd] & select.POLLIN else b""
                if chunk:
                    data += chunk
                    continue
                if events[fd] & select.POLLHUP:
                    break
            if pidfd < 0 or pidfd in events:
                if not data:  # died before it opened the fifo: nothing was written, nothing will be
                    return {"stage": "start", "message": "the container's init exited before it could start"}
                break
    finally:
        if pidfd >= 0:
            os.close(pidfd)
    return leanjson.loads(data) if data else None


def kill(container_id: str, sig: int, all: bool = False) -> None:
    """Send ``sig`` to the init (or, with ``all``, to every process in the container's cgroup)."""
    st, current = load(container_id)
    oci.check("kill", st, current)
    pids = [st.pid]
    if all:
        mgr = _open_cgroup(st)
        pids = mgr.pids() if mgr is not None else pids
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def delete(container_id: str, force: bool = False, warn=None) -> None:
    """Remove a stopped container: cgroup, state dir (the init's mount namespace died with it).

    ``force`` kills a live one first (SIGKILL to the init and to its whole cgroup, thawed).
    A ``create`` killed before its state was whole leaves a dir without state.json, or
    ``.new-<id>-*``: removed too, and with ``force`` that is a success, as runc's.
    """
    try:
        st, current = load(container_id)
    except NotFound:
        _remove_partial(container_id)
        if force:
            return
        raise
    if current != "stopped":
        if not force:
            oci.check("delete", st, current)
        _kill_all(st)
    mgr = _open_cgroup(st)
    if mgr is not None:
        mgr.destroy()  # kills what is left, waits for it to drain, rmdir
    from ..reaper import remove_leftovers
    remove_leftovers(st, cgroup_gone=True)  # then the state dir (with exec.fifo); never the bundle
    run_hooks(_stages(st.config.get("hooks"), "poststop"), oci.document(st, "stopped"), warn or (lambda _m: None))


def _open_cgroup(st: state.State):
    """The container's CgroupManager (None if it has no groups), from the paths recorded at create."""
    from .. import cgroups
    return cgroups.open(st.id, known=st.cgroup_paths)


def _kill_all(st: state.State, timeout: float = 10.0) -> None:
    from ..errors import CgroupError
    if oci.status(st) != "stopped":  # not a recycled PID: the init itself
        try:
            os.kill(st.pid, SIGKILL)  # PID 1 of its namespace: the kernel kills the rest of it too
        except ProcessLookupError:
            pass
    mgr = _open_cgroup(st)
    if mgr is not None:
        mgr.kill()  # and whatever shares no PID namespace with it
        try:
            mgr.freeze(False)  # a frozen (paused) task dies only once thawed
        except CgroupError:
            pass  # no freezer: nothing was frozen
    _wait_gone(st.pid, st.pid_start, timeout)


def _wait_gone(pid: int, start: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while state.process_start(pid) == start and time.monotonic() < deadline:
        time.sleep(0.01)


def _remove_partial(container_id: str) -> bool:
    """What a killed ``create`` left without a state.json. True if there was any."""
    from ..fsutil import remove_tree
    from ..reaper import destroy_cgroup
    root = state.runtime_dir()
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return False
    found = [n for n in names if n == container_id or n.startswith(f".new-{container_id}-")]
    for n in found:
        remove_tree(os.path.join(root, n), ignore_errors=True)
    try:
        destroy_cgroup(container_id)
    except ConfigError:
        pass  # not a name a cgroup can have: there is none
    return bool(found)


def pause(container_id: str) -> None:
    st, current = load(container_id)
    oci.check("pause", st, current)
    _cgroup(st).freeze(True)
    st.status = "paused"
    st.save()


def resume(container_id: str) -> None:
    st, current = load(container_id)
    oci.check("resume", st, current)
    _cgroup(st).freeze(False)
    st.status = "running" if st.started else "created"
    st.save()


def _cgroup(st: state.State):
    from ..errors import CgroupError
    mgr = _open_cgroup(st)
    if mgr is None:
        raise CgroupError(f"container {st.id} has no cgroup", hint="it was created without one: it cannot be paused")
    return mgr


def processes(container_id: str) -> list[int]:
    """``ps``: the host PIDs of every process in the container's cgroup, sorted."""
    st, current = load(container_id)
    oci.check("ps", st, current)
    mgr = _open_cgroup(st)
    return sorted(mgr.pids()) if mgr is not None else [st.pid]


def containers() -> list[tuple[state.State, str]]:
    """``list``: every container under the root with its status, oldest first."""
    return [(st, oci.status(st)) for st in state.list_states()]


def exec_process(container_id: str, args: list[str], *, env=(), cwd: str | None = None, user: str | None = None,
                 tty: bool = False, detach: bool = False, pid_file: str | None = None,
                 console_socket: str | None = None, process: dict | None = None, warn=None) -> tuple[int, str]:
    """``exec``: a process joins the container (enter.py: setns, its cgroup, its confinement).

    ``process`` is a process.json (``--process``), read by ``spec.with_process`` on top of the
    container's config; the other arguments are the flags, applied after it.
    Returns ``(exit status, error line)``: with ``detach``, 0 once the command has exec'd.
    """
    from .. import enter
    st, current = load(container_id)
    oci.check("exec", st, current)
    if process is not None:
        from .spec import with_process

        def on_process(cfg):  # exec --process: process.json's fields on top of the container's config
            return with_process(cfg, process, warn)
        tty = tty or bool(process.get("terminal"))
    else:
        on_process = None
        if not args:
            raise ConfigError("process.args", [], "must name a command", hint="e.g. exec ID sh -c 'echo hi'")
    if tty and detach and not console_socket:
        raise ConfigError("--console-socket", "", "a detached exec with a terminal needs a console socket")
    on_pty = (lambda master: send_console(console_socket, master)) if tty and console_socket else None
    on_pid = (lambda pid: write_pid_file(pid_file, pid)) if pid_file else None
    return enter.exec_in(st.id, list(args), env=env, workdir=cwd, user=user, tty=tty, interactive=True,
                         detach=detach, orphan=detach, on_pid=on_pid, on_pty=on_pty, make_config=on_process)
