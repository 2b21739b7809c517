"""L2: the monitor of a detached container (``run -d``), as conmon is for podman.

One small process per detached container. It is the parent of the
container's init (``lifecycle.launch`` forks the init, then replaces itself,
same PID, with this file), and it lives on after the CLI has returned::

    python -I -S -c "...; from minictr.monitor import main; main(sys.argv)" CHECKOUT ID PID OUT ERR PTY STDIN

(the last four are file descriptors it inherited, -1 when absent). Its jobs:

- **reap the init** (it is its parent: waitpid(2) works; the init's
  PR_SET_PDEATHSIG kills the container if the monitor is killed, and the next
  ``ps``/``rm`` collects what is left, as ``container.gc`` does for a killed CLI);
- **write the logs**: the container's stdout and stderr are two pipes (or one
  pty for ``-t``) that it reads and writes to ``json.log`` in docker's
  json-file format (logs.py), each stream apart;
- **hold the pty** of a ``-dit`` container and serve it to ``minictr attach``
  over a unix socket, ``attach.sock`` in the state dir;
- **record the end** (exit status, finish time, OOM) in the state file, and
  for ``--restart`` run the container again (``lifecycle.relaunch``, in a new
  interpreter, same PID: ``execve`` again).

It must stay small (at most 10 MB RSS, fifty of them at once): while it waits
it imports only C modules and ``minictr.logs``; no ctypes, no state, no
cgroups. It waits in poll(2) on the pipes, the socket and a pidfd of the init
(pidfd_open(2): readable when the init exits). Only when the init has exited
does it import what recording the end needs.

The attach protocol (client -> monitor), frames on a SOCK_STREAM socket:
``b"d" + 4-byte length + bytes`` (keys for the pty), ``b"w" + rows(2) + cols(2)``
(a window size). Monitor -> client: the pty's output, raw. Closing the socket
detaches.

Man pages: poll(2), pidfd_open(2), waitpid(2), pty(7), unix(7), setsid(2),
prctl(2) (PR_SET_PDEATHSIG), execve(2). conmon(8) is the model.
"""

import _signal as signal  # the signal module without its enums
import os
import select
import sys
import time

#: Files in the container's state dir (``<runtime dir>/<id>/``).
STOP_MARK = "stopped-by-user"  # stop, kill, rm -f: the restart policy must not start it again
ATTACH_SOCKET = "attach.sock"
#: Restart back-off: 0.1 s, doubling, at most 2 s (docker: 100 ms doubling, at most a minute).
BACKOFF, BACKOFF_MAX = 0.1, 2.0


def mark_stopped_by_user(state_dir: str) -> None:
    """Tell the monitor the next exit was asked for (``stop``, ``kill``, ``rm -f``): no restart."""
    try:
        open(os.path.join(state_dir, STOP_MARK), "w").close()
    except FileNotFoundError:
        pass  # the container is being removed


def stopped_by_user(state_dir: str) -> bool:
    return os.path.exists(os.path.join(state_dir, STOP_MARK))


def clear_stop_mark(state_dir: str) -> None:
    try:
        os.unlink(os.path.join(state_dir, STOP_MARK))
    except FileNotFoundError:
        pass


def settle(st, timeout: float = 10.0) -> None:
    """Before ``rm``: no restart from now on, and let a live supervisor (a detached container's
    monitor) record the end first. Not one that has recorded it already, nor ourselves (a
    notebook kernel that created the container stays alive)."""
    from minictr import state
    from minictr.errors import NotFound

    mark_stopped_by_user(os.path.dirname(st.path()))
    deadline = time.monotonic() + timeout
    while (st.supervisor_pid and st.supervisor_pid != os.getpid()
           and state.process_start(st.supervisor_pid) == st.supervisor_start and time.monotonic() < deadline):
        try:
            if state.load_id(st.id).status == "stopped":
                break
        except NotFound:
            break
        time.sleep(0.02)


def short_path(dir_fd: int, name: str) -> str:
    """A path to ``name`` in an open directory that fits a unix socket's 108 bytes (unix(7))."""
    return f"/proc/self/fd/{dir_fd}/{name}"


def handoff(container_id: str, pid: int, out: int = -1, err: int = -1, pty: int = -1, stdin: int = -1) -> None:
    """Replace this process with the monitor. Returns only if execve failed."""
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for fd in (out, err, pty, stdin):
        if fd >= 0:
            os.set_inheritable(fd, True)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    # -c and an import, not the file as a script: a script is compiled from source each time (a
    # megabyte of the monitor's memory), a module is loaded from its cached bytecode.
    os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", _BOOT, checkout, container_id,
                              str(pid), str(out), str(err), str(pty), str(stdin)])


#: What the monitor's interpreter runs (argv[1] is the checkout that holds minictr).
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from minictr.monitor import main; main(sys.argv)"


class Monitor:
    """The wait loop: see the module docstring."""

    def __init__(self, state_dir: str, pid: int, out: int, err: int, pty: int, stdin: int):
        from minictr import logs
        self.logs = logs
        self.state_dir, self.pid, self.pty, self.stdin = state_dir, pid, pty, stdin
        self.log = os.open(logs.log_path(state_dir), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.sources = {}  # fd -> (stream name, LineSplitter)
        for fd, stream in ((out, "stdout"), (err, "stderr"), (pty, "stdout")):
            if fd >= 0:
                os.set_inheritable(fd, False)  # a restarted init must not hold our ends
                os.set_blocking(fd, False)
                self.sources[fd] = (stream, logs.LineSplitter())
        if stdin >= 0:
            os.set_inheritable(stdin, False)
        self.listener = None
        self.clients = {}  # socket fd -> (socket, pending input bytes)
        self.poller = select.poll()

    def serve_attach(self) -> None:
        import _socket
        dir_fd = os.open(self.state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            path = short_path(dir_fd, ATTACH_SOCKET)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            sock.bind(path)
            os.chmod(path, 0o600)  # root only: attach is a way into the container
        finally:
            os.close(dir_fd)
        sock.listen(8)
        self.listener = sock
        self.poller.register(sock.fileno(), select.POLLIN)

    def run(self) -> int:
        """Serve until the init exits; returns its wait status."""
        pidfd = os.pidfd_open(self.pid)
        for fd in self.sources:
            self.poller.register(fd, select.POLLIN)
        self.poller.register(pidfd, select.POLLIN)
        if self.pty >= 0:
            self.serve_attach()
        while True:
            try:
                events = self.poller.poll()
            except InterruptedError:
                continue
            for fd, _ev in events:
                if fd == pidfd:
                    for src in list(self.sources):
                        self.read_source(src, drain=True)
                    self.close_clients()
                    os.close(pidfd)
                    return os.waitpid(self.pid, 0)[1]
                if fd in self.sources:
                    self.read_source(fd)
                elif self.listener is not None and fd == self.listener.fileno():
                    self.accept()
                elif fd in self.clients:
                    self.read_client(fd)

    def accept(self) -> None:
        import _socket
        try:
            fd, _ = self.listener._accept()  # _socket's accept: a bare fd (socket.py's accept wraps it)
        except OSError:
            return
        conn = _socket.socket(fileno=fd)
        conn.setblocking(False)
        self.clients[conn.fileno()] = [conn, b""]
        self.poller.register(conn.fileno(), select.POLLIN)

    def read_source(self, fd: int, drain: bool = False) -> None:
        stream, splitter = self.sources[fd]
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:  # EIO: a pty whose every slave is closed
                data = b""
            if not data:
                self.write_log(stream, splitter.flush())
                self.poller.unregister(fd)
                del self.sources[fd]
                return
            self.write_log(stream, splitter.feed(data))
            if fd == self.pty:
                for client in list(self.clients):
                    self.send_client(client, data)
            if not drain:
                return

    def write_log(self, stream: str, lines: list[str]) -> None:
        if lines:
            now = time.time_ns()
            try:
                os.write(self.log, b"".join(self.logs.encode(line, stream, now) for line in lines))
            except OSError as e:  # a full disk loses log lines, never the container (our death would kill it)
                print(f"minictr monitor: log write failed: {e.strerror}", file=sys.stderr)

    def send_client(self, fd: int, data: bytes) -> None:
        try:
            self.clients[fd][0].sendall(data)
        except OSError:  # BlockingIOError too: a client that does not read is dropped, never waited for
            self.drop_client(fd)

    def read_client(self, fd: int) -> None:
        conn, pending = self.clients[fd]
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.drop_client(fd)
            return
        pending += data
        while pending:
            kind = pending[:1]
            if kind == b"d" and len(pending) >= 5:
                size = int.from_bytes(pending[1:5], "big")
                if len(pending) < 5 + size:
                    break
                if self.pty >= 0:
                    try:
                        os.write(self.pty, pending[5:5 + size])
                    except OSError:
                        pass
                pending = pending[5 + size:]
            elif kind == b"w" and len(pending) >= 5:
                self.resize(int.from_bytes(pending[1:3], "big"), int.from_bytes(pending[3:5], "big"))
                pending = pending[5:]
            elif kind in (b"d", b"w"):
                break  # the rest of the frame is still on its way
            else:
                self.drop_client(fd)  # not our protocol
                return
        self.clients[fd][1] = pending

    def resize(self, rows: int, cols: int) -> None:
        if self.pty < 0:
            return
        import fcntl
        import termios
        try:
            fcntl.ioctl(self.pty, termios.TIOCSWINSZ,
                        rows.to_bytes(2, sys.byteorder) + cols.to_bytes(2, sys.byteorder) + bytes(4))
        except OSError:
            pass

    def drop_client(self, fd: int) -> None:
        conn, _ = self.clients.pop(fd)
        try:
            self.poller.unregister(fd)
        except KeyError:
            pass
        conn.close()

    def close_clients(self) -> None:
        for fd in list(self.clients):
            self.drop_client(fd)
        if self.listener is not None:
            self.poller.unregister(self.listener.fileno())
            self.listener.close()
            self.listener = None
            try:
                os.unlink(os.path.join(self.state_dir, ATTACH_SOCKET))
            except OSError:
                pass

    def close(self) -> None:
        for fd in [self.log, self.pty, self.stdin, *self.sources]:
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass


def finish(container_id: str, wait_status: int) -> None:
    """The init has exited: record it; remove an ``--rm`` container; restart one whose policy says so."""
    from minictr import state
    from minictr.cgroups import manager
    from minictr.config import should_restart

    st = state.load_id(container_id)
    state_dir = os.path.dirname(st.path())
    state.record_exit(st, wait_status, manager.open(container_id))
    if st.auto_remove:
        if st.bundle:
            from minictr.fsutil import remove_tree
            remove_tree(st.bundle, ignore_errors=True)
        st.remove()
        return
    if not os.path.isdir(state_dir):
        return  # removed while it ran (rm -f)
    policy = (st.config or {}).get("restart_policy", "no")
    if should_restart(policy, st.exit_code, st.restart_count, stopped_by_user(state_dir)):
        time.sleep(min(BACKOFF * 2 ** st.restart_count, BACKOFF_MAX))
        if stopped_by_user(state_dir) or not os.path.isdir(state_dir):
            return  # stopped or removed during the back-off
        checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        # A new interpreter, same PID (so still the parent of the next init): lifecycle
        # creates and starts the container again, then hands off to a fresh monitor.
        os.execv(sys.executable, [sys.executable, "-I", "-S", "-c",
                                  "import sys; sys.path.insert(0, sys.argv[1]); "
                                  "from minictr.lifecycle import relaunch_main; relaunch_main(sys.argv[2])",
                                  checkout, container_id])


def main(argv: list[str]) -> None:
    container_id = argv[2]
    pid, out, err, pty, stdin = (int(x) for x in argv[3:8])
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)  # a closed terminal or attach client must not end the monitor
    from .paths import runtime_dir
    runtime = runtime_dir()
    code = 0
    try:
        mon = Monitor(os.path.join(runtime, container_id), pid, out, err, pty, stdin)
        status = mon.run()
        mon.close()
        finish(container_id, status)
    except Exception as e:  # nobody reads our stderr (/dev/null), but --debug runs may
        print(f"minictr monitor {container_id[:12]}: {type(e).__name__}: {e}", file=sys.stderr)
        code = 1
    os._exit(code)


if __name__ == "__main__":
    main(sys.argv)
