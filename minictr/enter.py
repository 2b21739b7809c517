"""L3: ``exec``: a second process that joins a running container.

"A container is just a process" once more: ``exec`` makes another process
and puts it where the container's init is. Nothing in the kernel marks it
as "in the container" except what it joins::

    CLI                              A (fork)                          B (fork of A)
    open /proc/INIT/ns/*             write "0" into the container's
    socketpair(SEQPACKET)            cgroup files (joins it)
                                     setns(2) each namespace: ipc, uts,
                                     net, pid, cgroup, mnt (root and cwd
                                     become the container's)
                                     [-t: openpty in the container's devpts]
              ◄───────────────────── {"ready"} (+ the pty master)
                                     fork ────────────────────────────► in the container's PID namespace
                                                                        (setns(pid) only moves children)
                                                                        user, env, cwd, stdio;
                                                                        process.confine: bounding set,
                                                                        setuid, capabilities, no_new_privs,
                                                                        seccomp (the container's program)
                                                                        execve(command)
              ◄──────────────────────────────────────────────────────  end-of-file, or {"error"} 126/127
    waitpid(A) ◄──────────────────── waitpid(B), exit with its status

The confinement is the container's own: its saved config (state.config)
says its capabilities, no_new_privs and seccomp profile; the seccomp
program is compiled again from it (cached). ``exec`` into a stopped or
missing container is one line and exit 1; a command that is not found or
not executable exits 127 or 126, as docker.

Man pages: setns(2), nsenter(1), pid_namespaces(7), fork(2), execve(2),
capabilities(7), seccomp(2), pty(7).
"""

from __future__ import annotations

import os

from . import lifecycle, process, state
from .child import enter_namespaces, open_namespaces
from .config import merge_env
from .errors import MinictrError
from .record import replace

#: What ``exec`` exits with when it could not run the command at all.
EXIT_EXEC_FAILED = 126

_PROC_NAMES = {"mount": "mnt"}


def exec_in(ref: str, argv: list[str], *, env=(), workdir: str | None = None, user: str | None = None,
            tty: bool = False, interactive: bool = False, detach: bool = False, kernel=None) -> tuple[int, str]:
    """Run ``argv`` in the running container ``ref``: ``(exit status, error line or "")``."""
    import _socket

    try:
        st = state.load(ref)
    except MinictrError as e:
        return 1, str(e)
    if st.status not in ("created", "running") or not st.is_alive():
        return 1, f"container {st.name} is not running (hint: start it with `minictr start {st.name}`)"
    cfg = lifecycle.config_from_saved(st.config)
    cfg = replace(cfg, env=merge_env(list(cfg.env), list(env)), cwd=workdir or cfg.cwd,
                  user=user if user is not None else cfg.user, tty=tty, interactive=interactive, args=tuple(argv))
    if not cfg.cwd.startswith("/"):
        return 1, f"exec: working directory {cfg.cwd!r} must be an absolute path"
    if kernel is None:
        from .syscalls import linux
        kernel = linux()
    # The user namespace comes first (SETNS_ORDER): it owns the others, and joining it
    # gives the capabilities there that joining them needs (rootless, or --userns).
    kinds = [_PROC_NAMES.get(k, k) for k in cfg.namespaces]
    from . import cgroups
    mgr = cgroups.open(st.id)
    join = mgr.join_files() if mgr is not None else ()
    try:
        fds = open_namespaces(st.pid, kinds)
    except FileNotFoundError:
        return 1, f"container {st.name} is not running"
    parent_sock, child_sock = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:  # A: never returns into the caller's code
        code = EXIT_EXEC_FAILED
        try:
            parent_sock.close()
            code = _joiner(cfg, process.Channel(child_sock), fds, join, kernel, detach)
        finally:
            os._exit(code)
    for fd in fds:
        os.close(fd)
    child_sock.close()
    ch = process.Channel(parent_sock)
    msg, got = ch.recv()
    if msg is None or msg.get("type") == "error":
        os.waitpid(pid, 0)
        ch.close()
        return (msg or {}).get("exit_code", EXIT_EXEC_FAILED), (msg or {}).get("message", "exec failed")
    if detach:
        ch.close()
        return 0, ""
    status = None
    if tty and got:
        from .tty import relay
        status = relay(got[0], pid)
    if status is None:
        status = os.waitpid(pid, 0)[1]
    msg, _ = ch.recv()  # B's exec error, or end-of-file (exec closed B's end; A has exited)
    ch.close()
    if msg is not None and msg.get("type") == "error":
        return msg.get("exit_code", EXIT_EXEC_FAILED), msg["message"]
    return process.exit_status(status), ""


def _joiner(cfg, ch: process.Channel, fds: list[int], join, kernel, detach: bool) -> int:
    """A: join the cgroup and the namespaces, fork B into them, wait for it. Returns B's status."""
    try:
        for path in join:  # first, with the host's paths (before the mount namespace changes them)
            with open(path, "w") as f:
                f.write("0")
        enter_namespaces(fds, kernel)
        master = slave = -1
        if cfg.tty:
            master, slave = os.openpty()  # in the container's devpts: the mount namespace is joined
    except BaseException as e:
        ch.send("error", message=f"exec: cannot join the container: {e}", exit_code=EXIT_EXEC_FAILED)
        return EXIT_EXEC_FAILED
    ch.send("ready", fds=[master] if master >= 0 else [])
    if master >= 0:
        os.close(master)
    if detach:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
    child = os.fork()
    if child == 0:  # B: in the container's PID namespace
        code = EXIT_EXEC_FAILED
        try:
            code = _command(cfg, ch, slave, kernel)
        finally:
            os._exit(code)
    if slave >= 0:
        os.close(slave)
    ch.close()
    return process.exit_status(os.waitpid(child, 0)[1])


def _command(cfg, ch: process.Channel, slave: int, kernel) -> int:
    """B: the container's user, environment, directory and confinement, then exec."""
    from .users import resolve_user

    try:
        u = resolve_user(cfg.user, "/")
        env = process._environment(cfg, u)
        os.chdir(cfg.cwd)
        process.take_stdio(slave, cfg.interactive)
        process.confine(kernel, cfg.security, u)
        process.exec_command(cfg.args, env)
    except process.ExecFailed as e:
        ch.send("error", message=str(e), exit_code=e.exit_code)
        return e.exit_code
    except BaseException as e:
        text = e.message if isinstance(e, MinictrError) else (f"{e.strerror}: {e.filename}" if isinstance(e, OSError)
                                                             and e.filename else str(e))
        ch.send("error", message=f"exec: {text}", exit_code=EXIT_EXEC_FAILED)
        return EXIT_EXEC_FAILED
    return EXIT_EXEC_FAILED
