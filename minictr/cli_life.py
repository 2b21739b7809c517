"""L4: the commands of containers that live on: logs, attach, exec, start, stop, restart, kill, wait.

``run -d`` itself is in cli.py (it shares ``run``'s flags). The work is done
by lifecycle.py (start, stop, kill, wait), logs.py (the json-file log),
enter.py (exec) and the monitor (attach's other end); this module parses,
prints and exits, as docker's CLI does: ``stop``, ``kill``, ``start``,
``restart`` print each container as given; ``wait`` prints exit codes;
``exec`` and ``start -a`` exit with the container's (or the command's) status.

See docker-logs(1), docker-attach(1), docker-exec(1), docker-stop(1),
docker-kill(1), docker-start(1), docker-restart(1), docker-wait(1).
"""

from __future__ import annotations

import os
import sys
import time

from .errors import MinictrError

#: The detach keys of ``attach`` (and ``run -it``'s later sessions): Ctrl-P, Ctrl-Q, as docker's default.
DETACH_KEYS = b"\x10\x11"


def register(sub) -> None:
    p = sub.add_parser("logs", help="show a container's output (json-file log)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new output until the container stops")
    p.add_argument("--tail", metavar="N", default="all", help="only the last N lines (default: all)")
    p.add_argument("-t", "--timestamps", action="store_true", help="show each line's time (RFC 3339, ns)")
    p.add_argument("--since", metavar="T", help="only lines since T: a duration (10m), a Unix time or a date")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("attach", help="connect this terminal to a running -dit container (detach: Ctrl-P Ctrl-Q)")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=cmd_attach)

    import argparse
    p = sub.add_parser("exec", help="run a command in a running container")
    p.add_argument("-i", "--interactive", action="store_true", help="keep stdin attached")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    p.add_argument("-d", "--detach", action="store_true", help="run the command in the background")
    p.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VAL", help="set an environment variable")
    p.add_argument("-w", "--workdir", metavar="DIR", help="working directory inside the container")
    p.add_argument("-u", "--user", metavar="USER", help="user[:group] or uid[:gid] (default: the container's)")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")
    p.set_defaults(func=cmd_exec)

    for name, helptext in (("stop", "stop running containers: StopSignal (SIGTERM), then SIGKILL"),
                           ("restart", "stop, then start containers")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("-t", "--time", type=int, default=10, metavar="N",
                       help="seconds to wait before SIGKILL (default 10)")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
        p.set_defaults(func=cmd_stop if name == "stop" else cmd_restart)

    p = sub.add_parser("kill", help="send a signal to running containers (default SIGKILL)")
    p.add_argument("-s", "--signal", default="KILL", metavar="SIG", help="signal name or number (default KILL)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(func=cmd_kill)

    p = sub.add_parser("start", help="start stopped containers again (their config, their writable layer)")
    p.add_argument("-a", "--attach", action="store_true", help="show its output and exit with its status")
    p.add_argument("-i", "--interactive", action="store_true", help="attach stdin (with -a, for a -t container)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("wait", help="block until containers stop, print their exit codes")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(func=cmd_wait)


def _each(refs, action) -> int:
    """``action(ref)`` for each container, docker's way: print the ref, or one error line and go on."""
    failed = 0
    for ref in refs:
        try:
            action(ref)
            print(ref, flush=True)
        except MinictrError as e:
            print(f"minictr: {e}", file=sys.stderr)
            failed = 1
    return failed


# ---------------------------------------------------------------- logs
def parse_tail(text: str) -> int | None:
    """``--tail``: ``all`` -> None, ``N`` -> N. Raises MinictrError."""
    if text == "all":
        return None
    if text.isdigit():
        return int(text)
    raise MinictrError(f"logs: --tail {text!r} is not a number", hint="use --tail 10, or --tail all")


def cmd_logs(args) -> int:
    from . import logs, state

    tail = parse_tail(args.tail)
    since = None
    if args.since is not None:
        try:
            since = logs.parse_since(args.since)
        except ValueError as e:
            raise MinictrError(f"logs: --since: {e}", hint="e.g. --since 10m, --since 2026-12-01T10:00:00Z") from None
    st = state.load(args.container)
    path = logs.log_path(os.path.dirname(st.path()))
    entries, offset = logs.read(path)
    _print_entries(logs.select_entries(entries, tail, since), args.timestamps)
    if not args.follow:
        return 0
    from . import container
    while True:
        running = _is_running(st.id)
        entries, offset = logs.read(path, offset)
        _print_entries(logs.select_entries(entries, None, since), args.timestamps)
        if not running:  # read once more after it stopped: its last lines are in
            return 0
        time.sleep(0.1)
        container.gc()


def _is_running(container_id: str) -> bool:
    """Not yet recorded as stopped: the monitor writes the last lines of the log before it records the end."""
    from . import state
    try:
        st = state.load_id(container_id)
    except MinictrError:
        return False
    monitor_alive = bool(st.supervisor_pid) and state.process_start(st.supervisor_pid) == st.supervisor_start
    return st.status in ("created", "running") and (st.is_alive() or monitor_alive)


def _print_entries(entries, timestamps: bool) -> None:
    for e in entries:
        stream = sys.stdout if e.stream == "stdout" else sys.stderr
        stream.write(f"{e.time} {e.log}" if timestamps else e.log)
    sys.stdout.flush()
    sys.stderr.flush()


# ---------------------------------------------------------------- attach
def cmd_attach(args) -> int:
    from . import lifecycle
    st = lifecycle._running(args.container, "attach to")
    if not (st.config or {}).get("tty"):
        raise MinictrError(f"cannot attach to {st.name}: it has no terminal",
                           hint="attach works with containers run with -dit; use `minictr logs -f` for the others")
    detached = attach_session(os.path.dirname(st.path()))
    if detached:
        print("\r\nread escape sequence", file=sys.stderr)
        return 0
    st = lifecycle.wait_recorded(st)
    return st.exit_code if st.exit_code is not None else 0


def attach_session(state_dir: str, stdin: int = 0, stdout: int = 1) -> bool:
    """Relay this terminal to the monitor's pty socket. True if the user detached (Ctrl-P Ctrl-Q)."""
    import select
    import signal
    import socket

    from .monitor import ATTACH_SOCKET, short_path
    from .tty import Terminal

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dir_fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        sock.connect(short_path(dir_fd, ATTACH_SOCKET))
    except OSError as e:
        sock.close()
        raise MinictrError(f"cannot attach: the container's monitor does not answer ({e.strerror})",
                           hint="is it still running? `minictr ps`") from None
    finally:
        os.close(dir_fd)
    fd = sock.detach()
    term = Terminal(fd, stdin, stdout)  # raw mode; Terminal.close() closes fd

    def send_size(*_):
        try:
            import fcntl
            import termios
            raw = fcntl.ioctl(stdin, termios.TIOCGWINSZ, b"\0" * 8)
            rows, cols = int.from_bytes(raw[0:2], sys.byteorder), int.from_bytes(raw[2:4], sys.byteorder)
            os.write(fd, b"w" + rows.to_bytes(2, "big") + cols.to_bytes(2, "big"))
        except OSError:
            pass  # stdin is not a terminal

    signal.signal(signal.SIGWINCH, send_size)
    send_size()
    held = b""  # a Ctrl-P waiting for what comes next
    try:
        reading = True
        while True:
            ready, _, _ = select.select([fd] + ([stdin] if reading else []), [], [])
            if fd in ready:
                data = os.read(fd, 65536)
                if not data:
                    return False  # the container exited
                os.write(stdout, data)
            if stdin in ready:
                data = os.read(stdin, 65536)
                if not data:
                    reading = False
                    continue
                keys, held, detach = scan_detach_keys(held + data)
                if keys:
                    os.write(fd, b"d" + len(keys).to_bytes(4, "big") + keys)
                if detach:
                    return True
    finally:
        term.close()


def scan_detach_keys(data: bytes, keys: bytes = DETACH_KEYS) -> tuple[bytes, bytes, bool]:
    """Split typed bytes: ``(to send, held back, detach?)``. A lone Ctrl-P at the end is held back."""
    i = data.find(keys)
    if i >= 0:
        return data[:i], b"", True
    for n in range(len(keys) - 1, 0, -1):
        if data.endswith(keys[:n]):
            return data[:-n], data[-n:], False
    return data, b"", False


# ---------------------------------------------------------------- exec
def cmd_exec(args) -> int:
    from . import enter

    cmd = list(args.cmd)
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    if not cmd:
        raise MinictrError("exec: no command given", hint="e.g. `minictr exec web sh`")
    code, message = enter.exec_in(args.container, cmd, env=args.env, workdir=args.workdir, user=args.user,
                                  tty=args.tty, interactive=args.interactive, detach=args.detach)
    if message:
        print(f"minictr: {message}", file=sys.stderr)
    return code


# ---------------------------------------------------------------- the life cycle
def cmd_stop(args) -> int:
    from . import lifecycle
    return _each(args.containers, lambda ref: lifecycle.stop(ref, args.time))


def cmd_restart(args) -> int:
    from . import lifecycle
    return _each(args.containers, lambda ref: lifecycle.restart(ref, args.time))


def cmd_kill(args) -> int:
    from . import lifecycle
    sig = lifecycle.parse_signal(args.signal)
    return _each(args.containers, lambda ref: lifecycle.kill(ref, sig))


def cmd_start(args) -> int:
    from . import lifecycle
    if not args.attach:
        return _each(args.containers, lifecycle.start)
    if len(args.containers) != 1:
        raise MinictrError("start: -a takes one container", hint="start the others without -a")
    from . import logs, state
    st = state.load(args.containers[0])
    path = logs.log_path(os.path.dirname(st.path()))
    _, offset = logs.read(path)  # only what this run writes
    st = lifecycle.start(st.id)
    if (st.config or {}).get("tty"):
        if attach_session(os.path.dirname(st.path())) and args.interactive:
            return 0
    else:
        while True:
            running = _is_running(st.id)
            entries, offset = logs.read(path, offset)
            _print_entries(entries, False)
            if not running:
                break
            time.sleep(0.05)
    st = lifecycle.wait_recorded(st)
    return st.exit_code if st.exit_code is not None else 0


def cmd_wait(args) -> int:
    from . import lifecycle
    failed = 0
    for ref in args.containers:
        try:
            print(lifecycle.wait(ref), flush=True)
        except MinictrError as e:
            print(f"minictr: {e}", file=sys.stderr)
            failed = 1
    return failed
