"""minictr-runtime's command line (minictr.oci.cli): runc's grammar as podman and conmon send it,
errors as one line and as the JSON log lines conmon reads, and the state rules through the CLI."""

import json
import os
import signal

import pytest

from minictr.oci import cli
from minictr.state import State


# -- the grammar -----------------------------------------------------------------

def test_what_conmon_sends_for_create():
    glob, cmd, opts, pos = cli.parse(["--root", "/run/r", "--log", "/tmp/l.json", "--log-format", "json",
                                      "create", "--bundle", "/b", "--pid-file", "/p", "--console-socket", "/s",
                                      "abc123"])
    assert glob == {"root": "/run/r", "log": "/tmp/l.json", "log_format": "json"}
    assert (cmd, pos) == ("create", ["abc123"])
    assert opts == {"bundle": "/b", "pid_file": "/p", "console_socket": "/s"}


def test_go_style_flags_single_dash_and_equals():
    glob, cmd, opts, pos = cli.parse(["-root=/r", "--log-format=json", "delete", "-force", "x"])
    assert glob == {"root": "/r", "log_format": "json"} and opts == {"force": True} and pos == ["x"]
    assert cli.parse(["kill", "--all=false", "x", "9"])[2:] == ({"all": False}, ["x", "9"])


def test_exec_keeps_the_command_words_after_the_id_verbatim():
    _, _, opts, pos = cli.parse(["exec", "-t", "--env", "A=1", "-e", "B=2", "box", "sh", "-c", "ls -l", "--tty"])
    assert opts == {"tty": True, "env": ["A=1", "B=2"]}
    assert pos == ["box", "sh", "-c", "ls -l", "--tty"]
    _, _, opts, pos = cli.parse(["exec", "--pid-file", "/p", "--process", "/f.json", "--detach", "box"])
    assert opts == {"pid_file": "/p", "process": "/f.json", "detach": True} and pos == ["box"]


@pytest.mark.parametrize("argv,words", [
    ([], "no command"),
    (["frobnicate", "x"], "unknown command"),
    (["create", "--bundel", "/b", "x"], "unknown flag --bundel"),
    (["create", "--bundle"], "needs a value"),
    (["start"], "start takes ID"),
    (["start", "a", "b"], "got 2"),
    (["kill", "a", "9", "extra"], "got 3"),
    (["delete", "--force=maybe", "x"], "true or false"),
])
def test_a_bad_command_line_is_one_clear_error(argv, words):
    with pytest.raises(cli.UsageError, match=words):
        cli.parse(argv)


@pytest.mark.parametrize("text,number", [("15", 15), ("TERM", 15), ("SIGTERM", 15), ("sigkill", 9),
                                         ("KILL", 9), ("HUP", 1), ("USR1", signal.SIGUSR1)])
def test_signals_by_name_or_number(text, number):
    assert cli.parse_signal(text) == number


@pytest.mark.parametrize("text", ["0", "999", "SIGFOO", "SIG_DFL", "-9", ""])
def test_bad_signals_are_refused(text):
    with pytest.raises(cli.ConfigError, match="signal"):
        cli.parse_signal(text)


# -- errors, the log, exit statuses ----------------------------------------------------

def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def log_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_systemd_cgroup_is_refused_in_the_json_log_podman_reads(tmp_path, capsys):
    log = tmp_path / "log.json"
    code, out, err = run(capsys, "--root", str(tmp_path / "r"), "--log", str(log), "--log-format", "json",
                         "--systemd-cgroup", "state", "x")
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and "systemd" in err and "cgroupfs" in err
    (line,) = log_lines(log)
    assert line["level"] == "error" and "systemd cgroup driver is not supported" in line["msg"]
    assert line["time"].endswith("Z") and line["time"][:2] == "20"


def test_an_unknown_container_is_exit_1_and_one_log_line(tmp_path, capsys):
    log = tmp_path / "log.txt"
    code, out, err = run(capsys, "--root", str(tmp_path / "r"), "--log", str(log), "state", "nosuch")
    assert code == 1 and "container nosuch does not exist" in err
    text = log.read_text()
    assert text.startswith('time="') and 'level=error msg="container nosuch does not exist' in text


def test_a_usage_error_also_goes_to_the_log(tmp_path, capsys):
    log = tmp_path / "log.json"
    code, _, err = run(capsys, "--log", str(log), "--log-format", "json", "create", "--bundle")
    assert code == 1 and "needs a value" in err
    assert "needs a value" in log_lines(log)[0]["msg"]


def test_version_and_features(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("minictr-runtime version ") and "spec: 1.1.0" in out
    code, out, _ = run(capsys, "features")
    doc = json.loads(out)
    assert doc["ociVersionMax"] == "1.1.0" and "startContainer" in doc["hooks"]
    assert "CAP_SYS_ADMIN" in doc["linux"]["capabilities"] and doc["linux"]["cgroup"]["systemd"] is False
    assert "SCMP_ACT_ERRNO" in doc["linux"]["seccomp"]["actions"]


def test_bad_ids_are_refused_before_anything_is_read(tmp_path, capsys):
    code, _, err = run(capsys, "--root", str(tmp_path), "create", "--bundle", str(tmp_path), "../evil")
    assert code == 1 and "invalid container id '../evil'" in err


# -- the state rules through the command line, on state files of dead processes ----------

@pytest.fixture
def root(tmp_path, monkeypatch):
    r = tmp_path / "root"
    monkeypatch.setenv("MINICTR_RUNTIME_DIR", str(r))  # restored after the test (main() points it at --root)
    return r


def saved(root, cid, status, pid=999_999_999, **kw):
    """A state file whose process is long gone (no PID is that high)."""
    s = State(id=cid, name=cid, image="-", command=["sh"], status=status, pid=pid, pid_start=1,
              supervisor_pid=pid, supervisor_start=1, **kw)
    s.save(create=True)
    return s


def test_a_dead_container_shows_stopped_and_refuses_start_kill_and_exec(root, capsys):
    saved(root, "gone", "running", oci_bundle="/b")
    code, out, _ = run(capsys, "--root", str(root), "state", "gone")
    assert code == 0 and json.loads(out)["status"] == "stopped" and json.loads(out)["bundle"] == "/b"
    for argv in (["start", "gone"], ["kill", "gone", "KILL"], ["exec", "gone", "true"], ["pause", "gone"]):
        code, _, err = run(capsys, "--root", str(root), *argv)
        assert code == 1 and "it is stopped" in err, argv


def test_delete_of_a_stopped_container_removes_its_state_dir(root, capsys):
    saved(root, "done", "running")
    assert run(capsys, "--root", str(root), "delete", "done")[0] == 0
    assert os.listdir(root) == []


def test_a_create_killed_half_way_is_stopped_and_delete_force_cleans_up(root, capsys):
    saved(root, "half", "creating")  # its creator (create) is dead
    code, out, _ = run(capsys, "--root", str(root), "list", "--format", "json")
    assert [(c["id"], c["status"]) for c in json.loads(out)] == [("half", "stopped")]
    (root / ".new-other-1.2").mkdir()  # killed during its first write: no state.json yet
    assert run(capsys, "--root", str(root), "delete", "--force", "other")[0] == 0
    assert run(capsys, "--root", str(root), "delete", "--force", "half")[0] == 0
    assert os.listdir(root) == []
    code, _, err = run(capsys, "--root", str(root), "delete", "nothing")
    assert code == 1 and "does not exist" in err
    assert run(capsys, "--root", str(root), "delete", "--force", "nothing")[0] == 0  # as runc: nothing to do


def test_create_refuses_an_existing_id(root, capsys, tmp_path):
    from minictr.config import ContainerConfig, Rootfs
    from minictr.errors import AlreadyExists
    from minictr.oci import runtime
    saved(root, "taken", "running")
    cfg = ContainerConfig(id="taken", name="taken", image="-", rootfs=Rootfs(str(tmp_path)), args=("true",))
    with pytest.raises(AlreadyExists, match="container taken already exists"):
        runtime.create(cfg, str(tmp_path))


def test_a_terminal_needs_a_console_socket_and_a_socket_needs_a_terminal(root, tmp_path):
    from minictr.config import ContainerConfig, Rootfs
    from minictr.oci import runtime
    from minictr.record import replace
    cfg = ContainerConfig(id="t", name="t", image="-", rootfs=Rootfs(str(tmp_path)), args=("sh",), tty=True)
    with pytest.raises(cli.ConfigError, match="console socket"):
        runtime.create(cfg, str(tmp_path))
    with pytest.raises(cli.ConfigError, match="no pty"):
        runtime.create(replace(cfg, tty=False), str(tmp_path), console_socket="/s")
    assert not root.exists() or os.listdir(root) == []  # refused before anything was made


def test_pid_file_is_written_whole(tmp_path):
    from minictr.oci import runtime
    path = tmp_path / "pid"
    runtime.write_pid_file(str(path), 1234)
    assert path.read_text() == "1234" and os.listdir(tmp_path) == ["pid"]


def _exec_report(fifo: str, child) -> dict | None:
    """Make the exec fifo, fork a process that runs ``child(fifo)`` and exits, and return
    ``runtime._wait_for_exec``'s report on it."""
    from minictr.oci import runtime
    os.mkfifo(fifo)
    pid = os.fork()
    if pid == 0:
        try:
            child(fifo)
        finally:
            os._exit(0)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        return runtime._wait_for_exec(fd, pid)
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
        os.unlink(fifo)


def _writer(message: bytes | None):
    def child(fifo: str) -> None:
        fd = os.open(fifo, os.O_WRONLY)  # blocks until the reader opens it
        if message:
            os.write(fd, message)
    return child


def test_start_wakes_on_exec_or_on_an_error_in_the_fifo(tmp_path):
    """The exec fifo, without a container: a writer that closes (exec) is success; one that writes a
    report is its error; a process that dies without ever opening the fifo is an error too."""
    fifo = str(tmp_path / "exec.fifo")
    for message, expected in ((None, None), (b'{"type":"error","message":"exec \\"x\\": not found"}',
                                             "not found")):
        report = _exec_report(fifo, _writer(message))
        assert (report or {}).get("message", None) if expected else report is None
        if expected:
            assert expected in report["message"]
    report = _exec_report(fifo, lambda fifo: None)  # never opens the fifo
    assert "exited before it could start" in report["message"]
