"""Detached containers without a kernel: restart policies, signals, flags, the saved config, and
the monitor's wait loop on an ordinary child process (its logs, its exit status)."""

import json
import os
import signal

import pytest

from minictr import cli, cli_life, config, lifecycle, logs, monitor, state
from minictr.config import ContainerConfig, Resources, Rootfs, Security
from minictr.errors import ConfigError, MinictrError


@pytest.mark.parametrize("text, parsed", [("no", ("no", 0)), ("always", ("always", 0)),
                                          ("on-failure", ("on-failure", 0)), ("on-failure:3", ("on-failure", 3)),
                                          ("unless-stopped", ("unless-stopped", 0))])
def test_restart_policies_parse_as_docker(text, parsed):
    assert config.parse_restart_policy(text) == parsed


@pytest.mark.parametrize("bad", ["sometimes", "always:2", "on-failure:0", "on-failure:x", "on-failure:", ""])
def test_a_bad_restart_policy_is_one_clear_error(bad):
    with pytest.raises(ConfigError, match="--restart"):
        config.parse_restart_policy(bad)


@pytest.mark.parametrize("policy, code, restarts, by_user, again", [
    ("no", 1, 0, False, False),
    ("always", 0, 5, False, True),
    ("always", 137, 0, True, False),         # stop, kill, rm -f: never again
    ("on-failure", 0, 0, False, False),      # a clean exit is not a failure
    ("on-failure", 1, 100, False, True),     # no limit
    ("on-failure:2", 1, 1, False, True),
    ("on-failure:2", 1, 2, False, False),    # the limit is reached
    ("unless-stopped", 0, 0, False, True),
])
def test_when_the_monitor_starts_a_container_again(policy, code, restarts, by_user, again):
    assert config.should_restart(policy, code, restarts, by_user) is again


def test_a_config_refuses_a_bad_policy():
    cfg = ContainerConfig(id="a" * 64, name="x", image="i", rootfs=Rootfs(path="/"), args=("sh",),
                          restart_policy="bogus")
    with pytest.raises(ConfigError):
        cfg.validate()


@pytest.mark.parametrize("text, num", [("KILL", 9), ("sigterm", 15), ("SIGHUP", 1), ("10", 10), (15, 15)])
def test_signals_by_name_or_number(text, num):
    assert lifecycle.parse_signal(text) == num


@pytest.mark.parametrize("bad", ["NOPE", "0", "99", "SIG"])
def test_a_bad_signal_is_refused(bad):
    with pytest.raises(MinictrError, match="invalid signal"):
        lifecycle.parse_signal(bad)


def test_tail_takes_all_or_a_number():
    assert cli_life.parse_tail("all") is None
    assert cli_life.parse_tail("3") == 3
    with pytest.raises(MinictrError):
        cli_life.parse_tail("-1")


@pytest.mark.parametrize("typed, sent, held, detach", [
    (b"ls\r", b"ls\r", b"", False),
    (b"ab\x10\x11cd", b"ab", b"", True),
    (b"ab\x10", b"ab", b"\x10", False),       # wait for the next key
    (b"\x10x", b"\x10x", b"", False),          # Ctrl-P then something else: both go to the container
])
def test_ctrl_p_ctrl_q_detaches(typed, sent, held, detach):
    assert cli_life.scan_detach_keys(typed) == (sent, held, detach)


def test_exec_and_life_cycle_flags_parse():
    parser = cli.build_parser()
    a = parser.parse_args(["exec", "-it", "-e", "A=1", "-w", "/tmp", "-u", "nobody", "web", "sh", "-c", "id"])
    assert (a.interactive, a.tty, a.env, a.workdir, a.user, a.container, a.cmd) == \
        (True, True, ["A=1"], "/tmp", "nobody", "web", ["sh", "-c", "id"])
    a = parser.parse_args(["logs", "-f", "--tail", "5", "-t", "--since", "10m", "web"])
    assert (a.follow, a.tail, a.timestamps, a.since) == (True, "5", True, "10m")
    assert parser.parse_args(["stop", "-t", "3", "a", "b"]).time == 3
    assert parser.parse_args(["stop", "a"]).time == 10
    assert parser.parse_args(["kill", "-s", "HUP", "a"]).signal == "HUP"
    a = parser.parse_args(["start", "-ai", "a"])
    assert (a.attach, a.interactive, a.containers) == (True, True, ["a"])


def test_restart_without_detach_or_with_rm_is_refused(capsys, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert cli.main(["run", "--restart", "always", "busybox"]) == 125
    assert "--restart needs -d" in capsys.readouterr().err
    assert cli.main(["run", "-d", "--rm", "--restart", "always", "busybox"]) == 125
    assert "conflict" in capsys.readouterr().err


def test_the_saved_config_starts_the_same_container_again():
    from minictr.container import _config_dict, with_seccomp_filter
    cfg = ContainerConfig(
        id="b" * 64, name="web", image="busybox",
        rootfs=Rootfs(path="/x/rootfs", lowers=("/l1", "/l2"), upper="/x/upper", work="/x/work"),
        args=("sh", "-c", "echo hi"), env=("A=1",), cwd="/srv", user="nobody", hostname="box", tty=True,
        resources=Resources(memory=64 << 20), labels=(("k", "v"),),
        security=with_seccomp_filter(Security(cap_drop=("CAP_NET_RAW",), capabilities=("CAP_CHOWN",),
                                              no_new_privileges=True)),
        stop_signal="SIGQUIT", restart_policy="on-failure:2").validate()
    saved = json.loads(json.dumps(_config_dict(cfg)))  # as the state file keeps it
    again = lifecycle.config_from_saved(saved)
    assert again == cfg
    assert again.security.seccomp_filter and again.security.seccomp_filter == cfg.security.seccomp_filter


def test_the_stop_mark_says_no_restart(tmp_path):
    d = str(tmp_path)
    assert not monitor.stopped_by_user(d)
    monitor.mark_stopped_by_user(d)
    assert monitor.stopped_by_user(d)
    monitor.clear_stop_mark(d)
    assert not monitor.stopped_by_user(d)
    monitor.mark_stopped_by_user(str(tmp_path / "gone"))  # a removed container: no error


def test_the_monitor_logs_both_streams_apart_and_reaps_its_child(tmp_path):
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(out_w, b"one\ntwo")
            os.write(err_w, b"oops\n")
            os.write(out_w, b"\nthree")  # no newline at the end
        finally:
            os._exit(3)
    os.close(out_w)
    os.close(err_w)
    mon = monitor.Monitor(str(tmp_path), pid, out_r, err_r, -1, -1)
    status = mon.run()
    mon.close()
    assert os.waitstatus_to_exitcode(status) == 3
    entries, _ = logs.read(logs.log_path(str(tmp_path)))
    assert [(e.stream, e.log) for e in entries if e.stream == "stdout"] == \
        [("stdout", "one\n"), ("stdout", "two\n"), ("stdout", "three")]
    assert [(e.stream, e.log) for e in entries if e.stream == "stderr"] == [("stderr", "oops\n")]


def test_the_monitor_imports_nothing_big_while_it_waits():
    import subprocess
    import sys
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import minictr.monitor, minictr.logs; "
            "print(sorted(m for m in sys.modules if m.startswith(('minictr', 'ctypes', 'json', 're'))))")
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, here], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['minictr', 'minictr.errors', 'minictr.logs', 'minictr.monitor']"


def test_finish_records_the_exit_of_a_stopped_container(tmp_path):
    st = state.State(id="c" * 64, name="fin", image="i", command=["x"], status="running", pid=1)
    st.save(create=True)
    monitor.finish(st.id, 3 << 8)  # exit status 3, as waitpid gives it
    after = state.load_id(st.id)
    assert (after.status, after.exit_code) == ("stopped", 3) and after.finished > 0


def _fake_container(cid: str, argv: list[str]):
    """A state file whose "init" is an ordinary child process, with no monitor (as after a killed one)."""
    import subprocess
    import sys
    p = subprocess.Popen([sys.executable, "-c", *argv], stdout=subprocess.PIPE, text=True)
    st = state.State(id=cid, name="fake" + cid[:4], image="i", command=["x"], status="running", pid=p.pid,
                     pid_start=state.process_start(p.pid), config={"stop_signal": "SIGTERM"})
    st.save(create=True)
    return p, st


def test_stop_sends_sigterm_and_records_the_end():
    import time
    p, st = _fake_container("d" * 64, ["import time; time.sleep(30)"])
    t = time.monotonic()
    after = lifecycle.stop(st.id, timeout=5)
    assert time.monotonic() - t < 4
    p.communicate()
    assert (after.status, after.exit_code) == ("stopped", 137)  # no monitor: gc records it as killed
    assert p.returncode == -signal.SIGTERM
    assert monitor.stopped_by_user(os.path.dirname(st.path()))


def test_stop_sends_sigkill_after_the_grace_period():
    import time
    p, st = _fake_container("e" * 64, ["import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                       "print('ready', flush=True); time.sleep(30)"])
    assert p.stdout.readline() == "ready\n"  # its handler is in place
    t = time.monotonic()
    lifecycle.stop(st.id, timeout=0.5)
    assert 0.5 <= time.monotonic() - t < 4
    p.communicate()
    assert p.returncode == -signal.SIGKILL
    assert state.load_id(st.id).status == "stopped"
    with pytest.raises(lifecycle.NotRunning):
        lifecycle.kill(st.id, signal.SIGTERM)


def test_the_attach_protocol_types_into_the_pty_and_resizes_it(tmp_path):
    import fcntl
    import socket
    import struct
    import termios
    master, slave = os.openpty()
    mon = monitor.Monitor(str(tmp_path), os.getpid(), -1, -1, master, -1)
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    mon.clients[theirs.fileno()] = [theirs, b""]
    try:
        ours.sendall(b"d" + (3).to_bytes(4, "big") + b"hi\n" + b"w" + (40).to_bytes(2, "big") + b"\x00")
        mon.read_client(theirs.fileno())  # a frame and a half: the half waits
        ours.sendall(b"\x78")  # the rest of the window size: 120 columns
        mon.read_client(theirs.fileno())
        assert os.read(slave, 100) == b"hi\n"
        rows, cols = struct.unpack("HHHH", fcntl.ioctl(slave, termios.TIOCGWINSZ, b"\0" * 8))[:2]
        assert (rows, cols) == (40, 120)
        ours.sendall(b"?garbage")
        mon.read_client(theirs.fileno())
        assert mon.clients == {}  # not our protocol: dropped
    finally:
        ours.close()
        mon.close()
        os.close(slave)
