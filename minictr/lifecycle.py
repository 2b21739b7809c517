"""L3: containers that live on: ``run -d``, ``start``, ``stop``, ``kill``, ``restart``, ``wait``.

``run -d`` must return at once, and the container must outlive the CLI. So
the CLI double-forks (the first child calls setsid(2) and exits, so the
second is nobody's terminal job and is reparented to PID 1 or the nearest
subreaper) and the grandchild ``launch``es the container: it creates and
starts it (it becomes the init's parent), reports "started" or the error
to the CLI over a pipe, and replaces itself with the small monitor
(monitor.py), same PID::

    CLI ──fork──► child: setsid, fork, exit ──► grandchild: launch()
     │                                            create + start (the init is its child)
     │ ◄──── {"id"} or {"error", hint, exit_code} over a pipe
     print the id, exit 0                         execve monitor.py (≤ 10 MB)
                                                  poll: logs, attach, pidfd … waitpid
                                                  record the end; --restart: launch again

``start`` does the same for a stopped container, with the config saved in
its state and its own writable layer (the overlay's upper dir is kept until
``rm``), as docker does; ``created`` and ``restart_count`` carry over.

``stop`` sends the image's StopSignal (SIGTERM by default), waits the grace
period, then sends SIGKILL. ``stop``, ``kill`` and ``rm -f`` leave a mark for
the monitor, so the restart policy does not start the container again.

Man pages: fork(2), setsid(2), execve(2), kill(2), signal(7), pidfd_open(2).
"""

from __future__ import annotations

import _signal
import os
import time

from . import container, state
from .config import ContainerConfig, Network, Resources, Rootfs, Security, VolumeMount
from .errors import ContainerStateError, InvalidTransition, MinictrError
from .monitor import clear_stop_mark, handoff, mark_stopped_by_user


#: The monitor's stderr, in the container's state dir.
MONITOR_LOG = "monitor.log"


class NotRunning(ContainerStateError):
    """exec, attach, kill on a container that is not running."""


def config_from_saved(saved: dict) -> ContainerConfig:
    """The ``ContainerConfig`` a state file keeps (``state.config``), ready to start again.

    The seccomp program is compiled again (the state keeps only its size; the
    cache makes this cheap).
    """
    def tuples(d: dict) -> dict:
        return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}

    d = tuples(saved)  # JSON gave lists where the config has tuples (args, env, entrypoint ...)
    d["rootfs"] = Rootfs(**tuples(d["rootfs"]))
    d["resources"] = Resources(**d.get("resources") or {})
    sec = tuples({k: v for k, v in (d.get("security") or {}).items() if k in Security._fields})
    sec["seccomp_filter"] = b""
    d["security"] = container.with_seccomp_filter(Security(**sec))
    d["namespaces"] = frozenset(d["namespaces"])
    d["labels"] = tuple(tuple(kv) for kv in d.get("labels") or ())
    net = d.get("network") or {}
    d["network"] = Network(mode=net.get("mode", "none"), ports=tuple(tuple(p) for p in net.get("ports") or ()),
                           dns=tuple(net.get("dns") or ()), add_hosts=tuple(tuple(h) for h in net.get("add_hosts") or ()))
    d["mounts"] = tuple(VolumeMount(**m) for m in d.get("mounts") or ())
    for key in ("uid_map", "gid_map"):
        d[key] = tuple(tuple(e) for e in d.get(key) or ())
    return ContainerConfig(**{k: v for k, v in d.items() if k in ContainerConfig._fields})


# ---------------------------------------------------------------- starting
def launch(cfg: ContainerConfig, report: int = -1, previous: state.State | None = None) -> None:
    """In the process that becomes the monitor: create and start the container, then hand off.

    ``report`` is a pipe to the CLI: one JSON line, ``{"id": ...}`` or the
    error. ``previous`` is the state of a stopped container started again.
    Returns only if the start failed (the error is reported and raised).
    """
    from . import logs

    devnull = os.open(os.devnull, os.O_RDWR)
    out_r = err_r = stdin_w = -1
    # The init inherits fds 0-2 from us: make them the pipes the monitor reads (a pty replaces them for -t).
    if cfg.tty:
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
    else:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.close(out_w)
        os.close(err_w)
        if cfg.interactive:  # -di: stdin stays open (the monitor holds its other end)
            stdin_r, stdin_w = os.pipe()
            os.dup2(stdin_r, 0)
            os.close(stdin_r)
        else:
            os.dup2(devnull, 0)
    try:
        state_dir = os.path.join(state.runtime_dir(), cfg.id)
        clear_stop_mark(state_dir)
        c = container.Container.create(cfg, keep_storage=previous is not None)
        try:
            if previous is not None:
                c.state.created, c.state.restart_count = previous.created, previous.restart_count
                c.state.ports = previous.ports
            c.start()
        except BaseException:
            # The container stays, stopped, with what it was (a failed `start` must not lose
            # its writable layer), unless it was run with --rm.
            if c.state.status != "stopped":
                c.kill(_signal.SIGKILL)
                c.wait(timeout=10)
            if cfg.auto_remove:
                container._remove_leftovers(c.state)
            raise
        pty = c.pty_master if c.pty_master is not None else -1
        if previous is None and not os.path.exists(logs.log_path(state_dir)):
            os.close(os.open(logs.log_path(state_dir), os.O_CREAT | os.O_WRONLY, 0o640))
    except MinictrError as e:
        _report(report, {"error": e.message, "hint": e.hint, "exit_code": e.exit_code})
        raise
    except BaseException as e:
        _report(report, {"error": f"{type(e).__name__}: {e}", "hint": None, "exit_code": 125})
        raise
    # Our copies of the container's ends go: the monitor sees EOF when the container's are closed.
    for fd in (0, 1):
        os.dup2(devnull, fd)
    os.close(devnull)
    # The monitor's own complaints (it has nobody to tell) go to a file that goes with the container.
    errors = os.open(os.path.join(state_dir, MONITOR_LOG), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(errors, 2)
    os.close(errors)
    _report(report, {"id": cfg.id})
    handoff(cfg.id, c.pid, out_r, err_r, pty, stdin_w)


def _report(fd: int, message: dict) -> None:
    if fd < 0:
        return
    from . import leanjson
    try:
        os.write(fd, leanjson.dumps(message).encode() + b"\n")
        os.close(fd)
    except OSError:
        pass


def run_detached(cfg: ContainerConfig, previous: state.State | None = None) -> str:
    """Start ``cfg`` under a monitor that outlives us; return its id once it runs. Raises its start error."""
    from . import leanjson

    r, w = os.pipe()
    child = os.fork()
    if child == 0:  # never returns into the caller's code
        code = 125
        try:
            os.close(r)
            os.setsid()  # no terminal, no job control: our Ctrl-C is not the monitor's
            if os.fork() != 0:
                code = 0
            else:
                _signal.pthread_sigmask(_signal.SIG_SETMASK, ())
                launch(cfg, w, previous)
        except BaseException:
            pass
        finally:
            os._exit(code)
    os.close(w)
    os.waitpid(child, 0)
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    if not data.strip():
        raise MinictrError(f"container {cfg.name}: the monitor died before it reported",
                           hint="rerun with --debug; `minictr ps -a` shows what is left")
    msg = leanjson.loads(data)
    if "error" in msg:
        err = MinictrError(msg["error"], hint=msg.get("hint"))
        err.exit_code = msg.get("exit_code") or 125
        raise err
    return msg["id"]


def relaunch_main(container_id: str) -> None:
    """The monitor's restart (``--restart``): in a fresh interpreter that is still the monitor's PID."""
    try:
        st = state.load_id(container_id)
        st.restart_count += 1
        launch(config_from_saved(st.config), -1, st)
    finally:
        os._exit(1)  # launch hands off to a new monitor; here only if that failed


def start(ref: str) -> state.State:
    """Run a stopped container again, with its config and its writable layer."""
    container.gc()
    st = state.load(ref)
    if st.status in ("created", "running") and st.is_alive():
        return st  # as docker: starting a running container does nothing
    if st.auto_remove:
        raise InvalidTransition(f"container {st.name} was run with --rm and cannot be started again")
    if _monitor_alive(st):  # between two runs of --restart: that monitor must not start it too
        mark_stopped_by_user(os.path.dirname(st.path()))
        deadline = time.monotonic() + 10
        while _monitor_alive(st) and time.monotonic() < deadline:
            time.sleep(0.02)
        st = state.load_id(st.id)
        if st.status in ("created", "running") and st.is_alive():
            return st
    cfg = config_from_saved(st.config)
    run_detached(cfg, previous=st)
    return state.load_id(st.id)


def _monitor_alive(st: state.State) -> bool:
    return bool(st.supervisor_pid) and state.process_start(st.supervisor_pid) == st.supervisor_start


# ---------------------------------------------------------------- stopping
def parse_signal(text: str | int) -> int:
    """``SIGTERM``, ``TERM``, ``term`` or ``15`` -> 15. Raises MinictrError."""
    import signal
    word = str(text).strip().upper()
    if word.isdigit() and 0 < int(word) < 65:
        return int(word)
    name = word if word.startswith("SIG") else "SIG" + word
    sig = getattr(signal, name, None)
    if not isinstance(sig, signal.Signals):
        raise MinictrError(f"invalid signal: {text}", hint="use a name such as SIGTERM, TERM or KILL, or a number")
    return int(sig)


def _running(ref: str, what: str) -> state.State:
    st = state.load(ref)
    if st.status not in ("created", "running") or not st.is_alive():
        raise NotRunning(f"cannot {what} container {st.name}: it is not running",
                         hint=f"start it with `minictr start {st.name}`")
    return st


def kill(ref: str, sig: int = _signal.SIGKILL) -> state.State:
    st = _running(ref, "kill")
    if sig == _signal.SIGKILL:
        mark_stopped_by_user(os.path.dirname(st.path()))
    os.kill(st.pid, sig)
    return st


def stop(ref: str, timeout: float = 10.0) -> state.State:
    """The image's StopSignal (or SIGTERM), then SIGKILL after ``timeout`` s; returns the stopped state."""
    st = state.load(ref)
    if st.status not in ("created", "running") or not st.is_alive():
        return st
    mark_stopped_by_user(os.path.dirname(st.path()))
    sig = parse_signal((st.config or {}).get("stop_signal") or "SIGTERM")
    _signal_if_alive(st, sig)
    if not _wait_dead(st, timeout):
        _signal_if_alive(st, _signal.SIGKILL)
        _wait_dead(st, 10.0)
    return wait_recorded(st)


def _signal_if_alive(st: state.State, sig: int) -> None:
    try:
        if st.is_alive():
            os.kill(st.pid, sig)
    except ProcessLookupError:
        pass


def _wait_dead(st: state.State, timeout: float) -> bool:
    """Wait until the init has exited (a zombie counts); False after ``timeout`` s."""
    try:
        fd = os.pidfd_open(st.pid)
    except ProcessLookupError:
        return True
    try:
        if not st.is_alive():  # the pid was reused since we looked
            return True
        import select
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(timeout * 1000)) or not st.is_alive()
    finally:
        os.close(fd)


def wait_recorded(st: state.State, timeout: float | None = 10.0) -> state.State:
    """Wait until the monitor has recorded the end (or died, then gc records it); the new state."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            now = state.load_id(st.id)
        except MinictrError:
            return st  # removed (--rm)
        if now.status == "stopped":
            return now
        if not _monitor_alive(now) and not now.is_alive():
            container.gc()
            continue
        if deadline is not None and time.monotonic() > deadline:
            return now
        time.sleep(0.02)


def wait(ref: str) -> int:
    """Block until the container stops; its exit code (docker wait)."""
    st = state.load(ref)
    if st.status != "stopped":
        st = wait_recorded(st, timeout=None)
    return st.exit_code if st.exit_code is not None else 0


def restart(ref: str, timeout: float = 10.0) -> state.State:
    stop(ref, timeout)
    return start(ref)
