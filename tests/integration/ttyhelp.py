"""The terminal tests' pty: start minictr on one, read what came up to a needle, clean up;
receive the one a runtime sends to a --console-socket."""

import fcntl
import os
import pty
import select
import signal
import socket
import struct
import termios
import time

from patience import HANG_S


def winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def pty_from_console_socket(path: str, start) -> int:
    """Listen on the unix socket ``path`` as conmon does, call ``start()`` (which runs the runtime with
    ``--console-socket path`` and checks it), and return the one fd it sent (SCM_RIGHTS): the pty master."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    listener.settimeout(20)
    try:
        start()
        conn, _ = listener.accept()
        _msg, fds, _flags, _addr = socket.recv_fds(conn, 1024, 1)
        conn.close()
    finally:
        listener.close()
    assert len(fds) == 1, fds
    return fds[0]


def spawn_in_pty(mc, *args, rows: int | None = None, cols: int | None = None) -> tuple[int, int]:
    """Start ``minictr ARGS`` (of ``mc``'s store) on a new pty, of the given size if any: (pid, master fd)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            if rows:
                winsize(0, rows, cols)
            os.execve(mc.argv()[0], mc.argv(*args), mc.env)
        finally:
            os._exit(127)
    return pid, fd


def close_pty(pid: int, fd: int) -> None:
    """Kill and reap the pty's process if it still runs, and close the master."""
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    os.close(fd)


def read_until(fd: int, needle: bytes, timeout: float = HANG_S) -> bytes:
    """Read ``fd`` until ``needle`` appears; AssertionError naming what came if it does not in time.
    Stops early at end of file (the other side closed)."""
    buf = b""
    deadline = time.time() + timeout
    while needle not in buf:
        if time.time() > deadline:
            raise AssertionError(f"never saw {needle!r} in {buf!r}")
        if select.select([fd], [], [], 0.1)[0]:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            buf += data
    return buf


def wait_foreground_job(ancestor: int, argv: list[str], timeout: float = HANG_S) -> int:
    """Wait until a descendant of ``ancestor`` runs ``argv`` as the foreground job of its
    terminal, and return its PID: a Ctrl-C typed from now on reaches it. (proc(5): in
    /proc/PID/stat the process group equals the terminal's foreground group, tpgid.)"""
    want = "\0".join(argv).encode() + b"\0"
    deadline = time.time() + timeout
    while time.time() < deadline:
        for name in os.listdir("/proc"):
            try:
                if not name.isdigit() or open(f"/proc/{name}/cmdline", "rb").read() != want:
                    continue
                fields = open(f"/proc/{name}/stat").read().rsplit(")", 1)[1].split()
                ppid, pgrp, tpgid = int(fields[1]), int(fields[2]), int(fields[5])
                while ppid not in (0, 1, ancestor):
                    ppid = int(open(f"/proc/{ppid}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue  # it exited meanwhile
            if ppid == ancestor and pgrp == tpgid:
                return int(name)
        time.sleep(0.05)
    raise AssertionError(f"no descendant of {ancestor} ran {argv} in the foreground within {timeout} s")
