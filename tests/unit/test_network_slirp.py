"""slirp4netns' command line and its API socket, against a fake server (no slirp4netns started)."""

import json
import os
import socket
import threading

import pytest

from minictr.network import slirp


def test_the_command_line_joins_the_init_and_keeps_the_hosts_loopback_out():
    argv = slirp.command("/usr/bin/slirp4netns", 4242, "slirp.sock", 7, 8)
    assert argv[0] == "/usr/bin/slirp4netns" and argv[-2:] == ["4242", "tap0"]
    assert "--configure" in argv and "--disable-host-loopback" in argv
    assert "--api-socket=slirp.sock" in argv and "--ready-fd=7" in argv and "--exit-fd=8" in argv


def test_the_record_before_anything_starts():
    rec = slirp.intent([("127.0.0.1", 8080, 80, "tcp")])
    assert rec == {"network": "slirp4netns", "ports": [["127.0.0.1", 8080, 80, "tcp"]], "pid": 0, "pid_start": 0,
                   "socket": "", "down": False}


class FakeAPI:
    """A unix socket that answers like slirp4netns' API, and records the requests."""

    def __init__(self, path, reply):
        self.requests = []
        self.sock = socket.socket(socket.AF_UNIX)
        d = os.open(os.path.dirname(path), os.O_PATH)
        try:
            self.sock.bind(f"/proc/self/fd/{d}/{os.path.basename(path)}")  # as slirp4netns binds it: relative
        finally:
            os.close(d)
        self.sock.listen()
        self.reply = reply
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.sock.accept()
        with conn:
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
            self.requests.append(json.loads(data))
            conn.sendall(json.dumps(self.reply).encode())


def test_add_hostfwd_sends_the_rule_and_returns_its_id(tmp_path):
    # a long directory: the socket is reached through /proc/self/fd, whatever the path's length
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    api = FakeAPI(str(deep / "s"), {"return": {"id": 3}})
    assert slirp.add_hostfwd(str(deep / "s"), "tcp", "127.0.0.1", 8080, 80) == 3
    api.thread.join(5)
    assert api.requests == [{"execute": "add_hostfwd", "arguments": {
        "proto": "tcp", "host_addr": "127.0.0.1", "host_port": 8080, "guest_addr": "10.0.2.100", "guest_port": 80}}]


def test_a_refused_port_is_one_line(tmp_path):
    FakeAPI(str(tmp_path / "s"), {"error": {"desc": "bad request: add_hostfwd: slirp_add_hostfwd failed"}})
    with pytest.raises(slirp.SlirpError) as info:
        slirp.add_hostfwd(str(tmp_path / "s"), "tcp", "0.0.0.0", 80, 80)
    assert "slirp4netns refused it" in str(info.value) and "\n" not in str(info.value)


def test_stop_leaves_a_process_that_is_not_slirps_alone(tmp_path):
    (tmp_path / "slirp.sock").write_text("")
    rec = {"pid": os.getpid(), "pid_start": 1, "socket": str(tmp_path / "slirp.sock")}  # wrong start: not it
    slirp.stop(rec)  # must not signal this process
    assert rec["down"] and not (tmp_path / "slirp.sock").exists()
