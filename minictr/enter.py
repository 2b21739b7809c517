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
            tty: bool = False, interactive: bool = False, detach: bool = False, kernel=None,
            orphan: bool = False, on_pid=None, on_pty=None, make_config=None) -> tuple[int, str]:
    """Run ``argv`` in the running container ``ref``: ``(exit status, error line or "")``.

    For the OCI runtime's exec (minictr.oci): ``on_pid(pid)`` is told the command's host PID;
    ``orphan`` (with ``detach``) leaves the command's stdio as given and lets A exit at once, so
    the command is reparented to the caller's subreaper (conmon), which reaps it, as runc's
    ``exec --detach`` does; a detached exec then also waits for the exec itself, so that a
    command that is not found is an error here. ``on_pty(master)`` takes the pty's master
    (``--console-socket``) instead of relaying it to our terminal. ``make_config(cfg) -> cfg``
    makes the command's config from the container's (``exec --process``: a process.json's
    user, capabilities ... on top of it); ``argv``, ``env``, ``workdir`` and ``user`` apply after it.
    """
    import _socket

    try:
        st = state.load(ref)
    except MinictrError as e:
        return 1, str(e)
    if st.status not in ("created", "running") or not st.is_alive():
        return 1, f"container {st.name} is not running (hint: start it with `minictr start {st.name}`)"
    cfg = lifecycle.config_from_saved(st.config)
    if make_config is not None:
        try:
            cfg = make_config(cfg)
        except MinictrError as e:
            return 1, str(e)
    cfg = replace(cfg, env=merge_env(list(cfg.env), list(env)), cwd=workdir or cfg.cwd,
                  user=user if user is not None else cfg.user, tty=tty or (make_config is not None and cfg.tty),
                  interactive=interactive, args=tuple(argv) or cfg.args)
    if not cfg.cwd.startswith("/"):
        return 1, f"exec: working directory {cfg.cwd!r} must be an absolute path"
    if kernel is None:
        from .syscalls import linux
        kernel = linux()
    # The user namespace comes first (SETNS_ORDER): it owns the others, and joining it
    # gives the capabilities there that joining them needs (rootless, or --userns).
    kinds = [_PROC_NAMES.get(k, k) for k in cfg.namespaces]
    from . import cgroups
    # the dirs recorded at create when there are any (an OCI container placed by cgroupsPath is
    # not under any minictr/ dir that a search would find), else the search
    mgr = cgroups.open(st.id, known=st.cgroup_paths)
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
            code = _joiner(cfg, process.Channel(child_sock), fds, join, kernel, detach, orphan)
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
    if got and on_pty is not None:
        on_pty(got[0])
        os.close(got[0])
        got = []
    if detach and not (orphan or on_pid):
        ch.close()
        return 0, ""
    if detach:  # A's "pid", then B's exec: end-of-file (exec closed B's end; A closed its own) or its error
        msg = _recv_pid(ch, on_pid, until_exec=True)
        os.waitpid(pid, 0)
        ch.close()
        if msg is not None:
            return msg.get("exit_code", EXIT_EXEC_FAILED), msg["message"]
        return 0, ""
    msg = _recv_pid(ch, on_pid, until_exec=False) if on_pid else None
    status = None
    if msg is None and tty and got:
        from .tty import relay
        status = relay(got[0], pid)
    if status is None:
        status = os.waitpid(pid, 0)[1]
    if msg is None:
        msg = _recv_pid(ch, None, until_exec=True)  # B's exec error, or end-of-file (exec closed B's end; A has exited)
    ch.close()
    if msg is not None and msg.get("type") == "error":
        return msg.get("exit_code", EXIT_EXEC_FAILED), msg["message"]
    return process.exit_status(status), ""


def _recv_pid(ch: process.Channel, on_pid, until_exec: bool) -> dict | None:
    """Read A's ``{"pid"}`` (telling ``on_pid``) and, with ``until_exec``, on to end-of-file.

    Returns B's error message, or None. B may report before A does: both write to the socket.
    """
    while True:
        msg, _ = ch.recv()
        if msg is None or msg.get("type") == "error":
            return msg
        if msg.get("type") == "pid":
            if on_pid is not None:
                on_pid(msg["pid"])
            if not until_exec:
                return None


def _joiner(cfg, ch: process.Channel, fds: list[int], join, kernel, detach: bool, orphan: bool = False) -> int:
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
    if detach and not orphan:
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
    ch.send("pid", pid=child)  # its host PID: fork returns it in our (the host's) PID namespace
    ch.close()
    if orphan:
        return 0  # B is reparented to the nearest subreaper (conmon), which reaps it
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
