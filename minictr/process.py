"""L2: the container's init process, and how its parent talks to it.

A container is just a process. This module forks it, and the child turns
itself into the container step by step: new namespaces, a hostname, ``lo``
up, the mount plan, pivot_root, the user, then exec of the command.

Parent and child talk over a ``SOCK_SEQPACKET`` socket pair, one JSON
message per packet. The child's end is close-on-exec, so a successful exec
*is* the last message: the parent reads end-of-file. A failure is a
structured error naming the stage, the call and the errno, never a bare
exit status 1::

    parent (supervisor)                        child: the container's init, PID 1
    -------------------                        ----------------------------------
    socketpair(SEQPACKET)
    unshare(CLONE_NEWPID); fork()  ─────────►  prctl(PR_SET_PDEATHSIG, SIGKILL)
    setns(own pid ns)  (undo for later forks)  join its cgroup: "0" into each group
                                               [setns(a bundle's namespace paths)]
                                               unshare(mnt uts ipc net cgroup: the rest)
                                               sethostname, lo up, [sysctl,
                                               oom_score_adj], the mount plan,
                                               pivot_root [, rootfsPropagation]
                                               [-t: open a pty, pass its master over the socket]
                 ◄──────────────────────────  {"ready"}  or  {"error", stage, call, errno}
    status: created
    send {"start"}  ───────────────────────►  user, workdir, [umask, personality],
                                               stdio, [rlimits], bounding set, setgroups,
                                               setuid, capset, no_new_privs,
                                               seccomp filter, execve(command)
                 ◄──────────────────────────  end-of-file (exec closed the socket)
    status: running                            or {"error", stage: "exec", errno}, exit 126/127
    waitpid(child)

The OCI runtime (``minictr.oci.runtime``) splits this in two processes: its
``create`` sends ``{"detach"}`` with an O_PATH fd of ``<root>/<id>/exec.fifo``
instead of ``{"start"}``. The child drops its parent-death signal (``create``
exits next), answers ``{"detached"}``, runs no further until a later ``start``
opens the fifo for reading (its open for writing blocks until then), and from
there reports on the fifo as it would on the socket: exec closes it, or an
error goes into it (see ``_wait_for_start``).

With a user namespace ("user" in ``namespaces``: rootless runs, ``--userns``)
the child makes it first, so that it owns every namespace made after it, and
the parent writes its maps (minictr.userns; newuidmap/newgidmap for ranges)::

    parent                                     child (the go-between)
    fork()  (no CLONE_NEWPID yet)  ────────►  join its cgroup (still the host's ids)
                                               unshare(CLONE_NEWUSER)
                 ◄──────────────────────────  {"userns"}
    write /proc/C/setgroups "deny" (alone),
    /proc/C/uid_map, /proc/C/gid_map
    (or newuidmap C ..., newgidmap C ...)
    send {"mapped"}  ──────────────────────►  setresgid/setresuid(0): root inside
                                               unshare(CLONE_NEWPID)
                                               clone(CLONE_PARENT) ──► the init, PID 1: our child
                 ◄──────────────────────────  {"init", pid}; exit      waits until the go-between is gone,
    waitpid(go-between)                                                 then goes on as above
                                                                        (unshare mnt uts ipc net cgroup ...)

Why the child joins its cgroup itself, first thing. A cgroup namespace is
rooted at the cgroup the process is in *when it unshares*, so the container
sees its own cgroup as ``/``; and what the child allocates from then on is
charged to the container. Why not the parent writing the child's PID into
``cgroup.procs``, as runc does: moving a *process* takes a global lock
(cgroup_threadgroup_rwsem) whose first taking waits for an RCU grace period,
6-16 ms on this kind of machine, longer than the rest of the start. A thread
that writes "0" into a v1 group's ``tasks`` file moves only itself, and the
kernel skips that lock (cgroup_procs_write_start in kernel/cgroup/cgroup.c);
the child has a single thread, so that moves the whole process. cgroup v2
has no such file for a domain group, so there the child writes "0" into
``cgroup.procs`` and waits for the grace period like everybody else.

The confinement (lesson 10, ``minictr.security``) comes last, in an order
that matters: the mounts need CAP_SYS_ADMIN, the bounding set can only be
dropped while we have CAP_SETPCAP, setuid needs CAP_SETUID, capset narrows
what is left, and the seccomp filter goes in as the very last step, so that
none of our own setup calls has to pass it (with no_new_privs; without it the
kernel wants CAP_SYS_ADMIN for a filter, so it goes in before the user switch,
as runc does: see the comments in ``_child``). ``config.Security.seccomp_filter``
holds the compiled program; empty means no filter and no call.

The steps in [brackets] (but -t) come only from an OCI bundle's config.json
(``minictr.oci.spec``); their defaults leave a ``minictr run`` as it was.

Man pages: fork(2), clone(2), execve(2), unshare(2), setns(2), pid_namespaces(7), user_namespaces(7), setrlimit(2), personality(2),
prctl(2) (PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS), unix(7) (SOCK_SEQPACKET,
SCM_RIGHTS), pty(7), capabilities(7), seccomp(2).

Why over 400 lines: the protocol drawn above is one conversation between the parent and
the child, and the order of the confinement steps (capabilities, no_new_privs, seccomp
last) is part of it; exec (a second process entering the same container) applies the
same steps, so they are written once, here. The OCI split's wait on exec.fifo is a branch
of the same conversation, and must be here for another reason too: whatever the init runs
after pivot_root has to be imported before it.
The user namespace handshake (rootless runs,
``--userns``) is a part of the same conversation, so it is here too; what it computes
(the maps, newuidmap, the host's refusals) lives in minictr.userns.
"""

from __future__ import annotations

import _signal  # the signal module without its enums (importing enum costs ~3 ms of a start)
import _socket  # the socket module without its enums, likewise
import fcntl
import os
import termios
from errno import EACCES, ENOENT, EPERM
from sys import byteorder as _BYTEORDER
from _signal import SIG_DFL, SIGHUP, SIGINT, SIGKILL, SIGPIPE, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGXFSZ

# Everything the child needs must be imported here, at the top: after
# pivot_root the host's files (and so Python's own modules) are out of reach.
from . import leanjson, namespaces, rootfs, userns
from .config import ContainerConfig
from .errors import ContainerSetupError, MinictrError
from .record import replace
from .security import capabilities, masks
from .syscalls import PER_LINUX, PER_LINUX32, PR_SET_KEEPCAPS, PR_SET_PDEATHSIG, CloneFlags, Syscalls
from .users import resolve_user

_PR_SET_DUMPABLE = 4  # prctl(2)

#: The child exits with these when it could not exec, as docker's runtime does.
EXIT_SETUP_FAILED, EXIT_CANNOT_INVOKE, EXIT_NOT_FOUND = 125, 126, 127

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Channel:
    """One end of the parent<->child socket: JSON messages, optionally with file descriptors."""

    def __init__(self, sock: _socket.socket):
        self.sock = sock

    def send(self, kind: str, fds: list[int] = (), **fields) -> None:
        data = leanjson.dumps({"type": kind, **fields}).encode()
        # SCM_RIGHTS: the kernel duplicates these fds into the receiving process (unix(7)).
        ancillary = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _fd_bytes(fds))] if fds else []
        try:
            self.sock.sendmsg([data], ancillary)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the other side is gone; its absence is noticed by recv or waitpid

    def recv(self) -> tuple[dict | None, list[int]]:
        """The next message and any fds with it; ``(None, [])`` at end-of-file."""
        try:
            data, ancillary, _flags, _addr = self.sock.recvmsg(65536, _socket.CMSG_SPACE(4 * _MAX_FDS))
        except ConnectionResetError:
            return None, []
        fds = [fd for level, kind, raw in ancillary
               if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS
               for fd in _fds_of(raw)]
        if not data:
            return None, []
        return leanjson.loads(data), fds

    def close(self) -> None:
        self.sock.close()


_MAX_FDS = 4


def _fd_bytes(fds) -> bytes:
    return b"".join(int(fd).to_bytes(4, _BYTEORDER, signed=True) for fd in fds)


def _fds_of(raw: bytes) -> list[int]:
    return [int.from_bytes(raw[i:i + 4], _BYTEORDER, signed=True) for i in range(0, len(raw) - len(raw) % 4, 4)]



class Init:
    """The parent's handle on a forked container init."""

    def __init__(self, pid: int, channel: Channel):
        self.pid = pid
        self.channel = channel
        self.pty_master: int | None = None

    def setup(self) -> None:
        """Wait for the child to build the container; return when it waits at exec."""
        msg, fds = self.channel.recv()
        self._raise_if_error(msg, expected="ready")
        if fds:
            self.pty_master = fds[0]

    def detach(self, fifo_path_fd: int, preserve_fds: int = 0, start_hooks=(), state: dict | None = None) -> None:
        """OCI ``create``: tell the child to outlive us and wait on the exec fifo (an O_PATH fd of it).

        ``start_hooks`` (config.json's startContainer, as dicts) run in the child once ``start``
        came, with ``state`` on their stdin. Returns once the child has dropped its parent-death
        signal; the channel is closed then.
        """
        self.channel.send("detach", fds=[fifo_path_fd], preserve_fds=preserve_fds, start_hooks=list(start_hooks),
                          state=state or {})
        msg, _ = self.channel.recv()
        self.channel.close()
        self._raise_if_error(msg, expected="detached")

    def start(self, meanwhile=None) -> None:
        """Let the child exec the command; return once exec has happened.

        ``meanwhile()``, if given, runs between the two: the parent's own
        bookkeeping (the "running" state) overlaps the child's last steps and
        its execve, instead of waiting for them.
        """
        self.channel.send("start")
        if meanwhile is not None:
            meanwhile()
        msg, _ = self.channel.recv()
        self.channel.close()
        if msg is not None:
            self._raise_if_error(msg, expected=None)

    def _raise_if_error(self, msg: dict | None, expected: str | None) -> None:
        _check_reply(msg, expected, "init", "the container's init exited before it was ready")


def spawn(config: ContainerConfig, kernel: Syscalls, cgroupfs: tuple = (), own_root: bool = False,
          join: tuple[str, ...] = (), write_maps=None) -> Init:
    """Fork the container's init. It builds the container and waits at exec for ``Init.start()``.

    ``cgroupfs`` is what ``rootfs.plan`` mounts at /sys/fs/cgroup; ``own_root``
    says the root is the container's own copy, where /etc/hostname may be written;
    ``join`` are the files the child writes "0" into to join its cgroup
    (``CgroupManager.join_files()``); ``write_maps(pid, uid_map, gid_map)``
    writes a user namespace's maps (default ``userns.write_maps``; tests record).
    """
    parent_sock, child_sock = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    pid_path = next((path for kind, path in config.join_namespaces if kind == "pid"), None)
    user = config.makes_userns
    # With a user namespace of its own the child makes the PID namespace itself,
    # after the user namespace, so that the new user namespace owns it (see _enter_userns).
    pid = _fork(kernel, new_pid_ns="pid" in config.namespaces and not user, join_pid=pid_path)
    if pid == 0:  # the child: never returns into the caller's code
        code = EXIT_SETUP_FAILED
        try:
            parent_sock.close()
            code = _child(config, Channel(child_sock), kernel, cgroupfs, own_root, join)
        finally:
            os._exit(code)
    child_sock.close()
    channel = Channel(parent_sock)
    if user:
        try:
            pid = _map_userns(config, channel, pid, write_maps or userns.write_maps)
        except BaseException:
            _kill_and_reap(pid)
            channel.close()
            raise
    return Init(pid, channel)


def _map_userns(cfg: ContainerConfig, ch: Channel, pid: int, write_maps) -> int:
    """The parent's half of the user namespace handshake (drawn in the module docstring).

    Returns the pid of the container's init: the child itself, or (with a PID
    namespace) the process it cloned as our child, once the child has exited.
    """
    msg, _ = ch.recv()
    _check_reply(msg, "userns", "user namespace", _GONE_BEFORE_MAPPED)
    # Why the parent writes the maps: a process may not map ids into its own
    # new namespace beyond the one it has; a process outside, with the
    # privilege (root, or newuidmap's setuid bit), writes them (user_namespaces(7)).
    write_maps(pid, cfg.uid_map, cfg.gid_map)
    ch.send("mapped")
    if "pid" not in cfg.namespaces:
        return pid
    msg, _ = ch.recv()
    _check_reply(msg, "init", "user namespace", _GONE_BEFORE_MAPPED)
    os.waitpid(pid, 0)  # the go-between has exited (or is about to): reap it
    return int(msg["pid"])


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


_GONE_BEFORE_MAPPED = "the container's init exited before its user namespace was mapped"


def _check_reply(msg: dict | None, expected: str | None, stage: str, gone: str) -> None:
    """Raise ContainerSetupError unless ``msg`` is the ``expected`` reply: the child's own error
    (its stage, errno, hint and exit code), ``gone`` if it closed the channel, else an unexpected message."""
    if msg is None:
        raise ContainerSetupError(stage, gone)
    if msg["type"] == "error":
        raise ContainerSetupError(msg["stage"], msg["message"], errno=msg.get("errno"),
                                  hint=msg.get("hint"), exit_code=msg.get("exit_code", EXIT_SETUP_FAILED))
    if msg["type"] != expected:
        raise ContainerSetupError(stage, f"unexpected message {msg!r}")


def _enter_userns(cfg: ContainerConfig, ch: Channel, kernel: Syscalls) -> None:
    """The child's half of the handshake. Returns in the container's init; a go-between never returns."""
    try:
        kernel.unshare(CloneFlags.NEWUSER)
    except OSError as e:
        # Say which host setting refused it, if one did (read-only checks).
        found = userns.refusal()
        if found is None:
            raise
        raise userns.UsernsError(f"unshare(CLONE_NEWUSER): {os.strerror(e.errno)}: {found[0]}",
                                 hint=found[1]) from None
    ch.send("userns")
    msg, _ = ch.recv()
    if msg is None or msg.get("type") != "mapped":
        os._exit(EXIT_SETUP_FAILED)  # the parent could not map us, and says why itself
    # Why become 0 now: until setresuid, our ids are what our host ids map to
    # (65534 when unmapped), and the set-up's files (the upper dir, mount
    # points) must be made as the container's root. The maps are in: this
    # works for any id they map (we hold every capability in the namespace).
    if any(inside == 0 for inside, _h, _n in cfg.gid_map):
        os.setresgid(0, 0, 0)
    if any(inside == 0 for inside, _h, _n in cfg.uid_map):
        os.setresuid(0, 0, 0)
    # Why: a change of ids makes a process non-dumpable, and then only the host's
    # root may open its /proc/PID/ns files; the user must (slirp4netns joins our
    # network namespace, exec joins them all). runc's nsexec does the same. The
    # command's execve sets it again from the binary it runs.
    kernel.prctl(_PR_SET_DUMPABLE, 1)
    if "pid" not in cfg.namespaces:
        return
    # Why not unshare(CLONE_NEWPID) in the parent, as without a user namespace:
    # a PID namespace belongs to the user namespace its maker was in, and
    # mounting /proc needs CAP_SYS_ADMIN in *that* one. Made here, it is ours.
    kernel.unshare(CloneFlags.NEWPID)
    gone_r, gone_w = os.pipe()
    # Why CLONE_PARENT: the init (PID 1 of the new namespace) is born as the
    # parent's own child, so the parent waitpid()s it as without a user namespace.
    pid = kernel.clone_parent()
    if pid == 0:  # the init
        os.close(gone_w)
        os.read(gone_r, 1)  # end-of-file once the go-between has exited: its "init" message went first
        os.close(gone_r)
        # The death signal is not inherited by a new process: set it again.
        kernel.prctl(PR_SET_PDEATHSIG, SIGKILL)
        return
    ch.send("init", pid=pid)
    os._exit(0)


def _fork(kernel: Syscalls, new_pid_ns: bool, join_pid: str | None = None) -> int:
    if not new_pid_ns:
        return os.fork()
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        # Why: unshare(CLONE_NEWPID) does not move the caller. It sets where
        # the caller's *next child* is born: PID 1 of a new namespace. So the
        # supervisor stays the container init's real parent and can waitpid()
        # it directly. Right after the fork we set pid_for_children back, so
        # that later forks of this process (a notebook kernel, say) are normal.
        # setns(CLONE_NEWPID) to a bundle's pid namespace path works the same
        # way: the next child is born in that namespace (not as its PID 1).
        if join_pid is None:
            kernel.unshare(CloneFlags.NEWPID)
        else:
            _setns(kernel, join_pid, CloneFlags.NEWPID)
        pid = os.fork()
        if pid != 0:
            kernel.setns(own, CloneFlags.NEWPID)
        return pid
    finally:
        os.close(own)


def _error_message(stage: str, exc: BaseException) -> dict:
    if isinstance(exc, MinictrError):
        message, hint = exc.message, exc.hint
    else:
        message, hint = str(exc), None
    return {"stage": stage, "message": message, "hint": hint,
            "errno": getattr(exc, "errno", None)}


def _child(cfg: ContainerConfig, ch: Channel, kernel: Syscalls, cgroupfs: tuple = (), own_root: bool = False,
           join: tuple[str, ...] = ()) -> int:
    """Everything the container's init does before exec. Returns an exit code on failure."""
    stage = "init"
    try:
        # If the supervisor dies (even by SIGKILL), the kernel kills us, and
        # with PID 1 gone, the kernel kills the whole PID namespace.
        kernel.prctl(PR_SET_PDEATHSIG, SIGKILL)
        for sig in (SIGINT, SIGTERM, SIGHUP):
            _signal.signal(sig, SIG_DFL)
        # `minictr run` blocks the signals it forwards until the command has
        # started (container.run); a signal mask survives execve, so the
        # command would start with them blocked. It gets an empty mask.
        _signal.pthread_sigmask(_signal.SIG_SETMASK, ())
        if cfg.init:
            # Before pivot_root: the host's /proc is still where we look.
            hide_command_line(["minictr-init", "--", *cfg.args])

        stage = "cgroup"
        for path in join:  # first: before the cgroup namespace, and before we allocate anything
            _write_file(path, b"0")

        if cfg.makes_userns:
            stage = "user namespace"
            _enter_userns(cfg, ch, kernel)  # first: the user namespace owns the ones made after it

        stage = "namespaces"
        joined = set()
        for kind, path in cfg.join_namespaces:  # a bundle's linux.namespaces[].path (pid: see _fork)
            if kind != "pid":
                # Why setns and not unshare: the bundle names a namespace that exists
                # already (a pod's network, say); we enter it, and make no new one.
                _setns(kernel, path, namespaces.KINDS[kind])
            joined.add(kind)
        flags = namespaces.flags_for(cfg.namespaces - {"pid", "user"} - joined)
        if flags:
            kernel.unshare(flags)
        if "uts" in cfg.namespaces and cfg.hostname:  # a bundle without "hostname" keeps the one it has
            stage = "hostname"
            kernel.sethostname(cfg.hostname)
        if "net" in cfg.namespaces and "net" not in joined:
            stage = "network"
            kernel.set_link_up("lo")
        if cfg.sysctl:
            stage = "sysctl"
            # Why through the host's /proc, before our own is mounted: a namespaced
            # sysctl (net.*, kernel.shm*, kernel.hostname) shows the namespace of the
            # process that writes it, whichever proc mount the file is on; and the
            # container's /proc/sys will be read-only once the plan has run.
            # config.validate allowed only such keys (NAMESPACED_SYSCTLS).
            for key, value in cfg.sysctl:
                _write_file("/proc/sys/" + key.replace(".", "/"), value.encode())
        if cfg.rlimits:
            import resource  # now, while the host's modules are in reach: applied just before exec
        if cfg.oom_score_adj is not None:
            stage = "oom_score_adj"
            # Inherited by the command across exec; raising it needs no privilege, lowering
            # it below the current value needs CAP_SYS_RESOURCE (proc(5)).
            _write_file("/proc/self/oom_score_adj", str(cfg.oom_score_adj).encode())

        stage = "mounts"
        sec = cfg.security
        hostname = cfg.hostname if own_root and "uts" in cfg.namespaces else None
        masked, readonly = masks.paths(sec)
        extra = spec_steps = ()
        if cfg.mounts:  # volumes, and the network's /etc files
            from .volumes import steps
            extra = steps(cfg.mounts, cfg.rootfs.path, own_root)
        if cfg.spec_mounts is not None:  # a bundle's own mount list replaces minictr's kernel file systems
            from . import mountspec
            spec_steps = mountspec.steps(cfg.spec_mounts, cfg.rootfs.path, cgroupfs, cfg.devices,
                                         userns="user" in cfg.namespaces)
        rootfs.apply(rootfs.plan(cfg.rootfs, cgroupfs, hostname, masked, readonly, sec.sys_writable, extra,
                                 spec_steps if cfg.spec_mounts is not None else None,
                                 userns="user" in cfg.namespaces, host_net="net" not in cfg.namespaces), kernel)
        stage = "pivot_root" if cfg.pivot else "chroot"
        (rootfs.pivot_into if cfg.pivot else rootfs.chroot_into)(kernel, cfg.rootfs.path)
        if cfg.rootfs.propagation:
            rootfs.propagate_root(kernel, cfg.rootfs.propagation)

        fds = []
        if cfg.tty:
            stage = "pty"
            # Opened after pivot_root, so the pty lives in the container's own
            # devpts (it is /dev/pts/0 inside); its master goes to the parent.
            master, slave = os.openpty()
            if cfg.console_size:  # process.consoleSize: the window size before the command starts
                fcntl.ioctl(slave, termios.TIOCSWINSZ, _winsize(*cfg.console_size))
            fds = [master]
        ch.send("ready", fds=fds)
        if cfg.tty:
            os.close(master)

        msg, got = ch.recv()
        if msg is None:
            return EXIT_SETUP_FAILED
        if msg["type"] == "detach":
            # The OCI create/start split (minictr.oci): the parent is `create`, which exits now;
            # `start` comes later from another process. We wait on the exec fifo instead.
            stage = "lookup"
            # runc looks the command up at create, and podman tells "not found" (its exit 127)
            # from a start that failed (126) by create's error: so the lookup fails create too.
            _find_command(cfg.args, next((e[5:] for e in cfg.env if e.startswith("PATH=")), DEFAULT_PATH),
                          cfg.cwd)
            stage = "exec fifo"
            ch = _wait_for_start(kernel, ch, got[0], msg.get("preserve_fds", 0))
            stage = "startContainer hook"
            for hook in msg.get("start_hooks") or ():  # in the container, before the command (config.md)
                run_hook_here(hook, msg.get("state") or {})

        stage = "user"
        user = resolve_user(cfg.user, "/")
        if cfg.additional_gids:  # process.user.additionalGids: setgroups(2) in confine()
            user = replace(user, groups=tuple(dict.fromkeys(user.groups + cfg.additional_gids)))
        env = _environment(cfg, user)
        if cfg.umask is not None:
            os.umask(cfg.umask)  # process.user.umask; inherited by the command across exec
        if cfg.personality:
            stage = "personality"
            kernel.personality(PER_LINUX32 if cfg.personality == "LINUX32" else PER_LINUX)

        stage = "workdir"
        os.makedirs(cfg.cwd, exist_ok=True)  # docker creates a missing WorkingDir, owned by root
        os.chdir(cfg.cwd)

        stage = "stdio"
        take_stdio(slave if cfg.tty else -1, cfg.interactive)

        if cfg.rlimits:
            stage = "rlimits"
            # A bundle's process.rlimits (setrlimit(2)), late: a small RLIMIT_AS or RLIMIT_NOFILE
            # must limit the command, not our own setup. They survive setuid and execve.
            for name, soft, hard in cfg.rlimits:
                resource.setrlimit(getattr(resource, name), (soft, hard))

        # confine() (shared with exec) moves `stage` on through its steps, so that a failure names
        # one: stage = "capabilities" (the bounding set), stage = "seccomp" (without no_new_privs,
        # before setuid), stage = "user" (setuid), then "capabilities" and "seccomp" again.
        def at(name: str) -> None:
            nonlocal stage
            stage = name

        confine(kernel, sec, user, at)

        if cfg.init:
            return _init_and_exec(cfg, ch, env)
        stage = "exec"
        _exec(cfg.args, env)
    except BaseException as exc:  # the child must report *anything*, and never unwind into the caller
        report = _error_message(stage, exc)
        report["exit_code"] = getattr(exc, "exit_code", EXIT_SETUP_FAILED)
        ch.send("error", **report)
        return report["exit_code"]
    return EXIT_SETUP_FAILED  # not reached: exec replaced us


class _FifoChannel:
    """The init's end of the exec fifo, after ``start`` opened it: an error goes in as one JSON
    line; a successful exec closes it (O_CLOEXEC), so ``start`` reads end-of-file, as on the socket."""

    def __init__(self, fd: int):
        self.fd = fd

    def send(self, kind: str, fds=(), **fields) -> None:
        try:
            os.write(self.fd, leanjson.dumps({"type": kind, **fields}).encode())
        except OSError:
            pass  # `start` is gone; the state (the init exited) says the rest

    def close(self) -> None:
        os.close(self.fd)


def _wait_for_start(kernel: Syscalls, ch: Channel, fifo_path_fd: int, preserve_fds: int) -> _FifoChannel:
    """Outlive `create`, then block until `start` opens the exec fifo. Returns the fifo's writing end.

    runc's exec.fifo: opening a FIFO for writing blocks until a reader opens it (fifo(7)),
    and `start` is that reader, in a later process.
    """
    # Why first: PR_SET_PDEATHSIG would kill us when `create` exits, which is now the plan.
    # Under podman, conmon (a child subreaper) becomes our parent and reaps us; standalone, PID 1.
    kernel.prctl(PR_SET_PDEATHSIG, 0)
    link = f"/proc/self/fd/{fifo_path_fd}"
    if not os.path.exists(link):  # checked while `create` still listens: the error reaches the user
        raise ContainerSetupError("exec fifo", f"{link} is missing: the container has no /proc",
                                  hint="mount proc at /proc in config.json's mounts")
    ch.send("detached")  # `create` waits for this, so that it never exits before the line above
    ch.close()
    # fds 3 .. 3+N-1 (--preserve-fds) pass into the container; any other inherited one must not.
    for fd in _open_fds():
        if fd >= 3 + preserve_fds and fd != fifo_path_fd:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass
    # The parent handed us an O_PATH fd of <root>/<id>/exec.fifo (we are past pivot_root, the
    # host path is out of reach). An O_PATH fd cannot be read or written; opening the fd's
    # /proc/self/fd link opens the fifo itself, as runc does (so the container needs /proc).
    try:
        fd = os.open(link, os.O_WRONLY | os.O_CLOEXEC)
    finally:
        os.close(fifo_path_fd)
    return _FifoChannel(fd)


def run_hook_here(hook: dict, state: dict) -> None:
    """Run an OCI hook from where we are (the container, past pivot_root: no subprocess module
    here), with ``state`` as JSON on its stdin; raise if it fails. Its ``timeout`` is not enforced."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(r, 0)
            env = dict(item.split("=", 1) for item in hook.get("env") or () if "=" in item)
            os.execve(hook["path"], list(hook.get("args") or [hook["path"]]), env)
        finally:
            os._exit(127)
    os.close(r)
    try:
        os.write(w, leanjson.dumps(state).encode())
    except OSError:
        pass  # it did not read its stdin: its exit status says the rest
    os.close(w)
    code = exit_status(os.waitpid(pid, 0)[1])
    if code != 0:
        raise ContainerSetupError("startContainer hook", f"{hook['path']} exited with status {code}",
                                  exit_code=EXIT_SETUP_FAILED)


def _open_fds() -> list[int]:
    try:
        return [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: every possible fd (no `import resource`: after pivot_root it is out of reach)
        return list(range(3, min(os.sysconf("SC_OPEN_MAX"), 65536)))


def take_stdio(slave: int, interactive: bool) -> None:
    """The command's stdin, stdout and stderr: the pty's slave ``slave`` (>= 0, for -t) or,
    without -i, /dev/null as stdin. Shared by the init and by exec."""
    if slave >= 0:
        os.setsid()  # a new session, so the pty can become our controlling terminal
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        os.close(slave)
    elif not interactive:
        devnull = os.open("/dev/null", os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)


def confine(kernel: Syscalls, sec, user, at=lambda stage: None) -> None:
    """The container's confinement, the last steps before exec: bounding set, user, capabilities,
    no_new_privs, seccomp, in that order (see the module docstring). ``user`` is a resolved
    ``users.User``; ``at(stage)`` is told each stage, for the error report. Used by the init
    and by ``exec`` (enter.py), so both are confined alike.
    """
    at("capabilities")
    keep = capabilities.mask(capabilities.DEFAULT if sec.capabilities is None else sec.capabilities)
    # The bounding set first: dropping from it needs CAP_SETPCAP, which
    # --cap-drop may take away and a non-root user loses at setuid.
    capabilities.apply_bounding(kernel, keep)
    if sec.seccomp_filter and not sec.no_new_privileges:
        # Without no_new_privs, seccomp(2) accepts a filter only from a
        # thread with CAP_SYS_ADMIN (so that a filter cannot fool a setuid
        # program into misbehaving), and a non-root user has none after
        # setuid. So load it now, while we are still all-powerful root, as
        # runc does; the profile must then allow setgroups, setgid, setuid,
        # capget, capset, rt_sigaction and execve (docker's default profile does).
        at("seccomp")
        kernel.seccomp_set_mode_filter(sec.seccomp_filter)

    explicit = not (sec.cap_effective is None and sec.cap_permitted is None and sec.cap_inheritable is None
                    and sec.cap_ambient is None)
    if explicit and user.uid != 0:
        # A bundle may give a non-root user capabilities. setuid(2) to a non-zero uid
        # would empty the permitted set; PR_SET_KEEPCAPS keeps it, so that the capset
        # below can set what the bundle asked (the flag is cleared again at execve).
        kernel.prctl(PR_SET_KEEPCAPS, 1)

    at("user")
    try:
        os.setgroups(list(user.groups))
    except PermissionError:
        # A user namespace mapped without newgidmap has setgroups "deny" (see
        # minictr.userns): the supplementary groups stay what they are.
        if _setgroups_allowed():
            raise
    os.setgid(user.gid)
    os.setuid(user.uid)

    at("capabilities")
    # After setuid, see capabilities.apply_sets: a switch to a non-zero uid
    # has already emptied the effective and permitted sets (we never set
    # PR_SET_KEEPCAPS), and for root this is what narrows them.
    if not explicit:
        capabilities.apply_sets(kernel, keep, root=user.uid == 0)
    else:  # a bundle's own effective, permitted, inheritable and ambient sets
        capabilities.apply_explicit(kernel, sec, keep)
    if sec.no_new_privileges:
        # execve can no longer grant privileges: setuid bits and file
        # capabilities are ignored from here on, for good (prctl(2)).
        kernel.set_no_new_privs()

    # Python ignores SIGPIPE and SIGXFSZ; an ignored signal stays ignored
    # across execve, so give the command the defaults a shell would.
    for sig in (SIGPIPE, SIGXFSZ):
        _signal.signal(sig, SIG_DFL)

    if sec.seccomp_filter and sec.no_new_privileges:
        # THE SECCOMP SEAM: the last step before exec. With no_new_privs
        # set, an unprivileged thread may load a filter; loading it here
        # means no setup call of ours has to be allowed by it.
        at("seccomp")
        kernel.seccomp_set_mode_filter(sec.seccomp_filter)


def _setns(kernel: Syscalls, path: str, nstype: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        kernel.setns(fd, nstype)
    finally:
        os.close(fd)


def _winsize(rows: int, cols: int) -> bytes:
    """struct winsize {unsigned short ws_row, ws_col, ws_xpixel, ws_ypixel} (tty_ioctl(4))."""
    return b"".join(int(v).to_bytes(2, _BYTEORDER) for v in (rows, cols, 0, 0))


def _setgroups_allowed(proc: str = "/proc/self") -> bool:
    try:
        with open(f"{proc}/setgroups", "rb") as f:
            return f.read().strip() != b"deny"
    except OSError:
        return True


def _write_file(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _exec(args: tuple[str, ...], env: dict[str, str]) -> None:
    """execve the command, looking a bare name up in the container's $PATH, as execvp(3) does.

    Not ``os.execvpe``: its PATH lookup imports the warnings module on first
    use, and after pivot_root the host's Python modules are out of reach.
    """
    name = args[0]
    if "/" in name:
        candidates = [name]
    else:
        candidates = [os.path.join(d or ".", name) for d in env.get("PATH", DEFAULT_PATH).split(":")]
    denied = None
    for path in candidates:
        try:
            os.execve(path, list(args), env)
        except (FileNotFoundError, NotADirectoryError):
            continue  # not in this directory: try the next one
        except OSError as e:
            if "/" in name or e.errno not in (EACCES, EPERM):
                raise _ExecFailed(f'exec "{name}": {e.strerror}', e.errno, EXIT_CANNOT_INVOKE) from None
            denied = denied or e  # execvp(3): remember it, but a later directory may have a runnable one
    if denied is not None:
        raise _ExecFailed(f'exec "{name}": {denied.strerror}', denied.errno, EXIT_CANNOT_INVOKE)
    where = "no such file or directory" if "/" in name else "executable file not found in $PATH"
    raise _ExecFailed(f'exec "{name}": {where}', ENOENT, EXIT_NOT_FOUND)


def _find_command(args: tuple[str, ...], path: str, cwd: str) -> None:
    """Raise ``_ExecFailed`` (exit 127) unless ``args[0]`` is a file ``_exec`` would find: a path
    that exists, or a bare name in one of ``path``'s directories (empty means ``cwd``)."""
    name = args[0] if args else ""
    if not name:
        return  # refused with its own message where the command is run
    if "/" in name:
        if not os.path.exists(os.path.join(cwd, name)):
            raise _ExecFailed(f'exec "{name}": no such file or directory', ENOENT, EXIT_NOT_FOUND)
        return
    if not any(os.path.isfile(os.path.join(d or cwd, name)) for d in path.split(":")):
        raise _ExecFailed(f'exec "{name}": executable file not found in $PATH', ENOENT, EXIT_NOT_FOUND)


class _ExecFailed(Exception):
    def __init__(self, message: str, err: int, exit_code: int):
        super().__init__(message)
        self.errno = err
        self.exit_code = exit_code


def _environment(cfg: ContainerConfig, user) -> dict[str, str]:
    env = dict(item.split("=", 1) for item in cfg.env)
    env.setdefault("PATH", DEFAULT_PATH)
    env.setdefault("HOSTNAME", cfg.hostname)
    env.setdefault("HOME", user.home or "/")
    if cfg.tty:
        env.setdefault("TERM", "xterm")
    return env


def _init_and_exec(cfg: ContainerConfig, ch: Channel, env: dict[str, str]) -> int:
    """``--init``: stay as PID 1, reap every zombie, forward signals to the command.

    A PID 1 gets no default signal actions (a SIGTERM without a handler is
    ignored) and inherits every orphan in the namespace. Most programs are not
    written for that job; this loop is.
    """
    child = os.fork()
    if child == 0:
        try:
            _exec(cfg.args, env)
        except _ExecFailed as e:
            ch.send("error", stage="exec", message=str(e), errno=e.errno, exit_code=e.exit_code, hint=None)
            os._exit(e.exit_code)
        os._exit(EXIT_SETUP_FAILED)
    # The handlers go in before the parent's wait can end (forward_and_reap
    # installs them again): from then on the parent forwards signals to us, and
    # a PID 1 without a handler would drop them.
    def forward(signum, _frame):
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for sig in FORWARDED_SIGNALS:
        _signal.signal(sig, forward)
    ch.close()  # only the command's exec (or its error) may end the parent's wait
    return forward_and_reap(child)


def hide_command_line(argv: list[str], proc: str = "/proc/self") -> bool:
    """Make ``/proc/<this pid>/cmdline`` read ``argv``, and ``environ`` read empty.

    The ``--init`` process is a fork of the CLI, so the container would see
    the host's whole command line as PID 1's (``minictr run -e TOKEN=... ``)
    and the host's environment. The kernel serves ``cmdline`` from the
    process's own memory between ``arg_start`` and ``arg_end`` (fields 48-49
    of /proc/PID/stat, proc(5)), and ``environ`` from ``env_start..env_end``
    (50-51). Why we write over that memory in place, as setproctitle(3)
    does, rather than another way:

    - prctl(PR_SET_MM_ARG_START/END) could point the kernel at a new string,
      but it needs CAP_SYS_RESOURCE, which a container host often lacks;
    - exec'ing a small init is not possible here: the init is a fork of the
      CLI that has pivoted into the container's root, where neither Python
      nor minictr exists.

    The write goes through /proc/self/mem (pwrite at the address), not a raw
    pointer: a wrong address is an error (EIO), never a crash. It is safe
    because Python copied argv and the environment at startup (sys.argv,
    os.environ) and never reads the originals again. The new text is cut to
    the old length (the kernel reads no further), the rest is NULs, so the
    kernel reads the NUL-separated words followed by empty ones. Returns
    False if /proc is not there or refuses (the init still works, it only
    shows the old command line).
    """
    try:
        with open(f"{proc}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        # fields[0] is field 3 (state): arg_start is field 48, so index 45.
        arg_start, arg_end, env_start, env_end = (int(x) for x in fields[45:49])
        text = b"\0".join(a.encode(errors="surrogateescape") for a in argv) + b"\0"
        size = arg_end - arg_start
        if size <= 0:
            return False
        fd = os.open(f"{proc}/mem", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.pwrite(fd, text[:size - 1].ljust(size, b"\0"), arg_start)
            if env_end > env_start:
                os.pwrite(fd, bytes(env_end - env_start), env_start)
        finally:
            os.close(fd)
        with open(f"{proc}/comm", "wb") as f:  # the short name top(1) shows: at most 15 bytes
            f.write(argv[0].encode()[:15])
    except (OSError, ValueError, IndexError):
        return False
    return True


#: The one list of signals passed on to a container: by a foreground ``minictr run`` to the init
#: (``container.run``; ``supervise.FORWARDED`` is a copy, tested equal) and by the init to its
#: command. SIGKILL and SIGSTOP cannot be caught; SIGWINCH goes too, as docker's sig-proxy sends it.
FORWARDED_SIGNALS = (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH)


def forward_and_reap(child: int) -> int:
    """The loop of an init: pass signals on to ``child``, reap every process, return ``child``'s status.

    Installing a handler is what makes the signals arrive at all: the kernel
    drops a signal sent to a PID 1 that has no handler for it. ``os.wait()``
    reaps *any* child, so the orphans the kernel hands to PID 1 do not stay
    zombies. Returns when ``child`` exits: its exit code, or 128+N for signal N.
    """
    def forward(signum, _frame):
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass  # it has just exited; the wait below will see it

    for sig in FORWARDED_SIGNALS:
        _signal.signal(sig, forward)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 0
        if pid == child:
            return exit_status(status)


def exit_status(wait_status: int) -> int:
    """A wait status as a shell shows it: the exit code, or 128+N for death by signal N.

    The one place that turns a wait status into docker's exit code (0-255):
    the init's wait loop and ``state.record_exit`` (what wait, ps and inspect show) use it.
    """
    code = os.waitstatus_to_exitcode(wait_status)
    return code if code >= 0 else 128 - code



#: Public names for ``exec`` (enter.py): the PATH lookup + execve, and its failure (exit_code 126/127).
exec_command = _exec
ExecFailed = _ExecFailed
