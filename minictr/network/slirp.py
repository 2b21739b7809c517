"""L1: a rootless container's network: slirp4netns, a user-space TCP/IP stack.

An ordinary user cannot make a veth in the host's network namespace, nor a
bridge, nor NAT rules. slirp4netns (Debian's ``slirp4netns``; podman's rootless
default) joins the container's user and network namespaces, makes a ``tap0``
device there, and turns the container's packets into ordinary sockets of
its own on the host: outbound connections work, and published ports are its
listening sockets, added through its API socket (``add_hostfwd``)::

    container 10.0.2.100 --tap0--> slirp4netns (a host process of the user) --> the host's sockets
                                   10.0.2.2 gateway, 10.0.2.3 DNS

``--disable-host-loopback``: the container cannot reach the host's 127.0.0.1
(as podman). ``--exit-fd`` is a pidfd of the container's init: it becomes
readable (and hangs up once reaped) when the init exits, and slirp4netns exits
then, by itself, whoever supervised the container. The record in the state
(``network``) names its pid, for ``stop`` when a run is killed.

Man pages: slirp4netns(1) (its API: "add_hostfwd"), pidfd_open(2), tun(4).
"""

from __future__ import annotations

import os

from .. import leanjson
from ..errors import MinictrError

MODE = "slirp4netns"
GUEST_IP = "10.0.2.100"
READY_TIMEOUT = 10.0
SOCKET = "slirp.sock"


class SlirpError(MinictrError):
    """slirp4netns is missing, or did not come up, or refused a port."""


def intent(ports=()) -> dict:
    """The state's ``network`` record, before anything is started."""
    return {"network": MODE, "ports": [list(p) for p in ports], "pid": 0, "pid_start": 0,
            "socket": "", "down": False}


def command(binary: str, pid: int, api_socket: str, ready_fd: int, exit_fd: int) -> list[str]:
    """slirp4netns' argv for the container whose init is ``pid``."""
    return [binary, "--configure", "--mtu=65520", "--disable-host-loopback", f"--api-socket={api_socket}",
            f"--ready-fd={ready_fd}", f"--exit-fd={exit_fd}", str(pid), "tap0"]


def start(record: dict, pid: int, dir: str) -> dict:
    """Start slirp4netns for the init ``pid``, wait until tap0 is up, publish the ports. Updates ``record``.

    slirp4netns is made the child of a short-lived go-between, so that it is
    nobody's child here (the host's init reaps it): a foreground run hands
    off to a small supervisor, and a detached one to its monitor.
    """
    from ..userns import which
    from ..procfs import start_time as process_start
    binary = which(MODE)
    if binary is None:
        raise SlirpError("--network slirp4netns: slirp4netns is not installed",
                         hint="apt-get install slirp4netns, or use --network none")
    sock = os.path.join(dir, SOCKET)
    ready_r, ready_w = os.pipe()
    report_r, report_w = os.pipe()
    exit_fd = os.pidfd_open(pid)
    try:
        middle = os.fork()
        if middle == 0:  # the go-between: spawn it, say its pid, go
            try:
                # Why relative: a socket's path may be at most 107 bytes (unix(7)), and a
                # state dir under $XDG_RUNTIME_DIR with a 64-digit id can be longer.
                os.chdir(dir)
                os.set_inheritable(ready_w, True)
                os.set_inheritable(exit_fd, True)
                devnull = os.open(os.devnull, os.O_RDWR)
                slirp = os.posix_spawn(binary, command(binary, pid, SOCKET, ready_w, exit_fd), os.environ,
                                       file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0),
                                                     (os.POSIX_SPAWN_DUP2, devnull, 1),
                                                     (os.POSIX_SPAWN_DUP2, devnull, 2)],
                                       setsid=True)
                os.write(report_w, str(slirp).encode())
            finally:
                os._exit(0)
        os.waitpid(middle, 0)
    finally:
        for fd in (ready_w, report_w, exit_fd):
            os.close(fd)
    try:
        text = os.read(report_r, 32)
        record.update(pid=int(text or 0), socket=sock)
        record["pid_start"] = (process_start(record["pid"]) or 0) if record["pid"] else 0
        if not _wait_ready(ready_r):
            raise SlirpError("slirp4netns did not bring the container's tap0 up",
                             hint="run `slirp4netns --configure PID tap0` by hand to see why")
    finally:
        os.close(report_r)
        os.close(ready_r)
    for host_ip, host_port, container_port, proto in record.get("ports") or ():
        add_hostfwd(sock, proto, host_ip or "0.0.0.0", int(host_port), int(container_port))
    return record


def _wait_ready(fd: int, timeout: float = READY_TIMEOUT) -> bool:
    """slirp4netns writes "1" to its ready fd once tap0 is configured; end-of-file means it died."""
    import select
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    if not poller.poll(timeout * 1000):
        return False
    return os.read(fd, 1) == b"1"


def request(sock_path: str, message: dict, timeout: float = 5.0) -> dict:
    """One request on slirp4netns' API socket: a JSON object out, a JSON object back."""
    import _socket
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    # The path through an O_PATH fd of its directory is short whatever the directory's is (unix(7): 107 bytes).
    dir_fd = os.open(os.path.dirname(sock_path) or ".", os.O_PATH | os.O_CLOEXEC)
    try:
        s.settimeout(timeout)
        s.connect(f"/proc/self/fd/{dir_fd}/{os.path.basename(sock_path)}")
        s.sendall(leanjson.dumps(message).encode())
        s.shutdown(_socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
        os.close(dir_fd)
    return leanjson.loads(data) if data.strip() else {}


def add_hostfwd(sock_path: str, proto: str, host_addr: str, host_port: int, guest_port: int) -> int:
    """Publish ``host_addr:host_port`` -> the container's ``guest_port``; returns the rule's id."""
    reply = request(sock_path, {"execute": "add_hostfwd", "arguments": {
        "proto": proto, "host_addr": host_addr, "host_port": host_port,
        "guest_addr": GUEST_IP, "guest_port": guest_port}})
    if "error" in reply or "return" not in reply:
        why = (reply.get("error") or {}).get("desc") or "no answer"
        raise SlirpError(f"-p {host_addr}:{host_port}:{guest_port}/{proto}: slirp4netns refused it: {why}",
                         hint="pick another host port (is it in use?)")
    return int((reply["return"] or {}).get("id", 0))


def stop(record: dict) -> None:
    """Make sure slirp4netns is gone (it exits by itself with the init) and its socket removed. Idempotent."""
    from ..procfs import start_time as process_start
    pid = record.get("pid") or 0
    if pid and process_start(pid) == record.get("pid_start"):
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
    if record.get("socket"):
        try:
            os.unlink(record["socket"])
        except FileNotFoundError:
            pass
    record["down"] = True
