"""Detached containers (issue 16): run -d under a small monitor, ps, logs, stop, start, rm -f,
a killed monitor, --restart, attach, and ten at once."""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from minictr import procfs
from patience import HANG_S
from ttyhelp import close_pty, read_until, spawn_in_pty

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces, mounts and cgroups")


def state_of(mc, cid: str) -> dict:
    with open(mc.tmp / "run" / cid / "state.json") as f:
        return json.load(f)


def rss_kb(pid: int) -> int:
    """The monitor's memory, once it is the monitor: the launcher reports the start just before its execve."""
    def is_monitor():
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"from minictr.monitor import main" in f.read()
    assert until(is_monitor)
    return procfs.rss_kib(pid)


def cgroup_gone(cid: str) -> bool:
    from minictr import cgroups
    return cgroups.open(cid) is None


def run_d(mc, *args) -> str:
    r = mc("run", "-d", *args, timeout=30)
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid), r.stdout
    return cid


def until(check, timeout=HANG_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_run_d_returns_at_once_and_a_small_monitor_keeps_the_logs(mc, rootfs_dir):
    import minictr.monitor  # only for its side effect: its bytecode cached, as after any first run
    t = time.monotonic()
    cid = run_d(mc, "--name", "bg", rootfs_dir, "sh", "-c",
                "echo to-out; echo to-err >&2; while [ ! -e /go ]; do sleep 0.05; done; echo later; sleep 30")
    assert time.monotonic() - t < 5
    st = state_of(mc, cid)
    monitor, init = st["supervisor_pid"], st["pid"]
    with open(f"/proc/{init}/stat") as f:
        assert int(f.read().rsplit(")", 1)[1].split()[1]) == monitor  # the monitor is the init's parent
    assert os.getsid(monitor) != os.getsid(0)  # its own session: not our job
    assert until(lambda: b"to-err" in (mc.tmp / "run" / cid / "json.log").read_bytes())
    assert rss_kb(monitor) <= 10 * 1024
    ps = mc("ps").stdout
    assert re.search(r"bg\s*$", ps, re.M) and "Up " in ps
    logs = mc("logs", "bg")
    assert (logs.stdout, logs.stderr) == ("to-out\n", "to-err\n")  # the streams stay apart
    records = [json.loads(line) for line in (mc.tmp / "run" / cid / "json.log").read_text().splitlines()]
    assert {(r["stream"], r["log"]) for r in records} == {("stdout", "to-out\n"), ("stderr", "to-err\n")}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", r["time"]) for r in records)
    follow = mc.popen("logs", "-f", "bg", stdout=subprocess.PIPE, text=True)
    try:
        assert follow.stdout.readline() == "to-out\n"
        assert mc("exec", "bg", "touch", "/go").returncode == 0
        assert follow.stdout.readline() == "later\n"  # written after logs -f started
    finally:
        follow.kill()
        follow.wait()
    assert mc("logs", "-t", "--tail", "1", "bg").stdout.endswith("Z later\n")
    assert mc("rm", "-f", "bg").returncode == 0  # rm -f of a running container
    assert not procfs.alive(init) and not procfs.alive(monitor) and cgroup_gone(cid)


def test_stop_uses_sigterm_then_sigkill_after_the_grace_period(mc, rootfs_dir):
    run_d(mc, "--name", "polite", "--init", rootfs_dir, "sleep", "30")  # --init passes SIGTERM on to sleep
    run_d(mc, "--name", "deaf", rootfs_dir, "sleep", "30")  # sleep as PID 1 ignores SIGTERM (no handler)
    t = time.monotonic()
    assert mc("stop", "-t", "5", "polite").stdout == "polite\n"
    assert time.monotonic() - t < 3
    t = time.monotonic()
    assert mc("stop", "-t", "1", "deaf").returncode == 0
    assert 0.9 < time.monotonic() - t < 4
    assert mc("wait", "polite", "deaf").stdout.split() == ["143", "137"]
    ps = mc("ps", "-a").stdout
    assert re.search(r"Exited \(143\).*polite", ps) and re.search(r"Exited \(137\).*deaf", ps)
    assert mc("stop", "deaf").returncode == 0  # already stopped: nothing to do
    assert mc("kill", "deaf").returncode == 1  # not running: one line
    assert mc("rm", "polite", "deaf").returncode == 0


def test_start_runs_it_again_with_its_writable_layer(mc):
    cid = run_d(mc, "--name", "keeper", "busybox", "sh", "-c", "echo run >> /data.txt; sleep 30")
    assert mc("kill", "keeper").stdout == "keeper\n"
    assert mc("wait", "keeper").stdout == "137\n"
    created = state_of(mc, cid)["created"]
    assert mc("start", "keeper").returncode == 0
    assert "Up " in mc("ps").stdout
    assert mc("exec", "keeper", "cat", "/data.txt").stdout == "run\nrun\n"  # the file of the first run is kept
    assert state_of(mc, cid)["created"] == created
    r = mc("restart", "-t", "1", "keeper")
    assert r.returncode == 0, r.stderr
    assert mc("exec", "keeper", "cat", "/data.txt").stdout == "run\nrun\nrun\n"
    # A start that fails (here: the overlay's work dir is missing) leaves it stopped, layer and all.
    assert mc("stop", "-t", "0", "keeper").returncode == 0
    bundle = state_of(mc, cid)["bundle"]
    os.rename(f"{bundle}/work", f"{bundle}/work.away")
    r = mc("start", "keeper")
    assert r.returncode == 1 and "mount" in r.stderr
    assert re.search(r"Exited \(125\).*keeper", mc("ps", "-a").stdout)
    os.rename(f"{bundle}/work.away", f"{bundle}/work")
    assert mc("start", "keeper").returncode == 0
    assert mc("exec", "keeper", "cat", "/data.txt").stdout == "run\nrun\nrun\nrun\n"
    assert mc("rm", "-f", "keeper").returncode == 0
    assert cgroup_gone(cid)


def test_a_killed_monitor_stops_the_container_and_ps_collects_it(mc, rootfs_dir):
    cid = run_d(mc, "--name", "orphan", rootfs_dir, "sh", "-c", "sleep 30 & sleep 30")
    st = state_of(mc, cid)
    os.kill(st["supervisor_pid"], signal.SIGKILL)
    assert until(lambda: not procfs.alive(st["pid"]))  # PR_SET_PDEATHSIG, then the PID namespace goes
    ps = mc("ps", "-a").stdout
    assert re.search(r"Exited \(137\).*orphan", ps), ps
    assert cgroup_gone(cid)
    assert mc("rm", "orphan").returncode == 0
    assert mc.states() == []


def test_restart_on_failure_is_carried_out_by_the_monitor(mc, rootfs_dir):
    cid = run_d(mc, "--name", "flaky", "--restart", "on-failure:2", rootfs_dir, "sh", "-c", "echo try; exit 3")
    assert until(lambda: state_of(mc, cid)["restart_count"] == 2 and state_of(mc, cid)["status"] == "stopped"
                 and not procfs.alive(state_of(mc, cid)["supervisor_pid"]))
    assert state_of(mc, cid)["exit_code"] == 3
    assert mc("logs", "flaky").stdout == "try\n" * 3
    assert mc("rm", "flaky").returncode == 0


def test_attach_to_a_dit_container_passes_the_size_and_detaches(mc, rootfs_dir):
    cid = run_d(mc, "-it", "--name", "term", rootfs_dir, "sh")
    assert rss_kb(state_of(mc, cid)["supervisor_pid"]) <= 10 * 1024  # with the pty and the socket too
    pid, fd = spawn_in_pty(mc, "attach", "term", rows=33, cols=101)
    try:
        time.sleep(0.3)
        os.write(fd, b"stty size; echo mark-$((6*7))\r")
        assert b"33 101" in read_until(fd, b"mark-42\r\n")
        os.write(fd, b"\x10\x11")  # Ctrl-P Ctrl-Q
        read_until(fd, b"read escape sequence")
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    finally:
        close_pty(pid, fd)
    assert "Up " in mc("ps").stdout  # detaching leaves it running
    assert mc("rm", "-f", "term").returncode == 0


def test_ten_detached_containers_at_once(mc, rootfs_dir):
    ids = [run_d(mc, "--name", f"many{i}", rootfs_dir, "sleep", "60") for i in range(10)]
    ps = mc("ps", "-q", "--no-trunc").stdout.split()
    assert sorted(ps) == sorted(ids)
    monitors = [state_of(mc, cid)["supervisor_pid"] for cid in ids]
    assert len(set(monitors)) == 10 and all(procfs.alive(p) for p in monitors)
    assert mc("rm", "-f", *ids).returncode == 0
    assert not any(procfs.alive(p) for p in monitors)
    assert all(cgroup_gone(cid) for cid in ids)


def test_start_a_shows_the_output_and_passes_the_status_and_kill_sends_a_signal(mc, rootfs_dir):
    run_d(mc, "--name", "once", rootfs_dir, "sh", "-c", "echo out; echo err >&2; exit 4")
    assert mc("wait", "once").stdout == "4\n"
    r = mc("start", "-a", "once")
    assert (r.returncode, r.stdout, r.stderr) == (4, "out\n", "err\n")  # only this run's output
    assert mc("logs", "once").stdout == "out\nout\n"
    run_d(mc, "--name", "trap", rootfs_dir, "sh", "-c", "trap 'exit 42' USR1; echo trapped; while :; do sleep 0.05; done")
    # PID 1 ignores USR1 until its trap is set: wait for sh to say so
    assert until(lambda: "trapped" in mc("logs", "trap").stdout), "the container never set its trap"
    assert mc("kill", "-s", "USR1", "trap").returncode == 0
    assert mc("wait", "trap").stdout == "42\n"
    assert mc("rm", "once", "trap").returncode == 0
