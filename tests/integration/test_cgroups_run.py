"""Limits through the real CLI, `python -m minictr run`, on this host (root).

Each container's cgroups are checked gone after the test, and destroyed by the
fixture if a failing test left any (only ids this test created are touched).
"""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from cpuload import Spinner, assert_about_half
from patience import HANG_S
from minictr import cgroups


class Seen:
    """Ids of the containers a test made, so teardown can check (and clean) their cgroups."""

    def __init__(self, mc):
        self.mc = mc
        self.ids: set[str] = set()

    def note(self):
        self.ids.update(self.mc.states())

    def state(self, name, status=None, timeout=HANG_S) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.note()
            for cid in self.mc.states():
                try:
                    with open(self.mc.tmp / "run" / cid / "state.json") as f:
                        st = json.load(f)
                except (OSError, ValueError):
                    continue
                if st["name"] == name and (status is None or st["status"] == status):
                    return st
            time.sleep(0.02)
        raise AssertionError(f"container {name} never reached {status}")


@pytest.fixture
def seen(mc):
    s = Seen(mc)
    yield s
    s.note()
    leaked = []
    for cid in s.ids:
        mgr = cgroups.open(cid)
        if mgr is not None:
            leaked.append(cid)
            mgr.destroy()
    assert leaked == [], "cgroups left behind"


def test_memory_limit_oom_exit_137_and_message(mc, rootfs_dir, seen):
    # dd allocates (and fills) a 100 MB buffer: 3 times the limit
    r = mc("run", "--name", "hog", "--memory", "32m", rootfs_dir, "dd", "if=/dev/zero", "of=/dev/null",
           "bs=100M", "count=1")
    seen.note()
    assert r.returncode == 137, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "container hog was killed: out of memory (limit 32MiB)"
    assert seen.state("hog")["oom_killed"] is True
    assert re.search(r"Exited \(137\)", mc("ps", "-a").stdout)
    assert mc("rm", "hog").returncode == 0


def test_no_oom_message_for_an_ordinary_sigkill(mc, rootfs_dir, seen):
    p = mc.popen("run", "--name", "shot", "--memory", "32m", rootfs_dir, "sleep", "30",
                 stderr=subprocess.PIPE, text=True)
    os.kill(seen.state("shot", "running")["pid"], signal.SIGKILL)  # from the host: PID 1 cannot refuse it
    _, err = p.communicate(timeout=HANG_S)
    assert p.returncode == 137
    assert "out of memory" not in err
    assert seen.state("shot")["oom_killed"] is False
    mc("rm", "shot")


def test_pids_limit_stops_a_fork_loop(mc, rootfs_dir, seen):
    # echo is a shell builtin: the loop forks only for `sleep`; the shell is process 1 of 10
    r = mc("run", "--name", "forker", "--pids-limit", "10", rootfs_dir, "sh", "-c",
           "i=0; while [ $i -lt 50 ]; do sleep 5 & i=$((i+1)); echo $i; done")
    seen.note()
    assert "can't fork" in r.stderr
    assert r.stdout.split()[-1] == "9", r.stdout
    mc("rm", "forker")


@pytest.mark.alone  # a share of a CPU: another worker's busy test would take the CPU the quota allows
def test_cpus_half_a_cpu(mc, rootfs_dir, seen):
    p = mc.popen("run", "--name", "spin", "--cpus", "0.5", rootfs_dir, "sh", "-c", "while :; do :; done")
    try:
        st = seen.state("spin", "running")
        mgr = cgroups.open(st["id"])
        time.sleep(0.3)  # let it settle into the quota
        with Spinner() as control:
            c0, before = control.cpu_ns(), mgr.stats()
            time.sleep(2.0)
            c1, after = control.cpu_ns(), mgr.stats()
        wall = (after.time - before.time) * 1e9
        assert_about_half(cgroups.cpu_percent(before, after) / 100, (c1 - c0) / wall)
    finally:
        mc("rm", "-f", "spin")  # a shell as PID 1 ignores SIGTERM; SIGKILL it
        p.wait(timeout=HANG_S)


def test_cgroup_namespace_shows_root(mc, rootfs_dir, seen):
    r = mc("run", "--rm", "--memory", "64m", "--pids-limit", "20", rootfs_dir, "cat", "/proc/self/cgroup")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines and {line.split(":", 2)[2] for line in lines} == {"/"}, r.stdout


def test_cpu_shares_and_cpuset_reach_the_cgroup(mc, rootfs_dir, seen):
    p = mc.popen("run", "--name", "tuned", "--cpu-shares", "512", "--cpuset-cpus", "0", rootfs_dir, "sleep", "30")
    try:
        st = seen.state("tuned", "running")
        paths = cgroups.open(st["id"]).paths
        layout = cgroups.detect()
        if layout.backend("cpu") == "v1":
            assert open(paths["cpu"] + "/cpu.shares").read().strip() == "512"
        else:
            assert open(paths["cpu"] + "/cpu.weight").read().strip() == "20"
        assert open(paths["cpuset"] + "/cpuset.cpus").read().strip() == "0"
    finally:
        mc("rm", "-f", "tuned")  # a shell as PID 1 ignores SIGTERM; SIGKILL it
        p.wait(timeout=HANG_S)


@pytest.mark.parametrize("flags,words", [
    (["--memory", "lots"], "invalid --memory 'lots': not a size"),
    (["--memory", "1k"], "below the 6MiB minimum"),
    (["--cpus", "0"], "invalid --cpus '0'"),
    (["--cpuset-cpus", "99"], "cpu 99 is not available"),
    (["--memory-swap", "64m"], "needs --memory"),
])
def test_bad_limits_exit_125_with_one_line(mc, rootfs_dir, seen, flags, words):
    r = mc("run", "--rm", *flags, rootfs_dir, "true")
    assert r.returncode == 125
    assert len(r.stderr.strip().splitlines()) == 1 and words in r.stderr, r.stderr
    assert mc.states() == []


def test_stats_no_stream(mc, rootfs_dir, seen):
    p = mc.popen("run", "--name", "watched", "--memory", "32m", rootfs_dir, "sleep", "30")
    try:
        seen.state("watched", "running")
        r = mc("stats", "--no-stream")
        assert r.returncode == 0, r.stderr
        header, *rows = r.stdout.splitlines()
        assert re.split(r"\s{2,}", header) == ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS"]
        cells = re.split(r"\s{2,}", rows[0])
        assert cells[1] == "watched" and cells[3].endswith("/ 32MiB") and cells[5] == "1"
        assert re.fullmatch(r"\d+\.\d\d%", cells[2])
        assert mc("stats", "--no-stream", "nosuch").returncode == 1
    finally:
        mc("rm", "-f", "watched")  # a shell as PID 1 ignores SIGTERM; SIGKILL it
        p.wait(timeout=HANG_S)


@pytest.mark.slow
def test_hundred_runs_with_oom_kills_and_killed_clis_leak_no_cgroups(mc, rootfs_dir, seen):
    killed = []
    for i in range(100):
        kind = i % 5
        if kind == 0:  # OOM kill
            r = mc("run", "--name", f"oom{i}", "--memory", "16m", rootfs_dir, "dd", "if=/dev/zero",
                   "of=/dev/null", "bs=64M", "count=1")
            assert r.returncode == 137 and "out of memory" in r.stderr
        elif kind == 1:  # the CLI is SIGKILLed while its container runs under limits
            p = mc.popen("run", "--name", f"k{i}", "--memory", "32m", "--pids-limit", "5", "--cpus", "0.5",
                         rootfs_dir, "sleep", "60")
            killed.append(seen.state(f"k{i}", "running")["id"])
            p.send_signal(signal.SIGKILL)
            p.wait()
        elif kind == 2:  # --rm with every limit
            assert mc("run", "--rm", "--memory", "32m", "--memory-swap", "32m", "--pids-limit", "10",
                      "--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", "0", rootfs_dir,
                      "true").returncode == 0
        elif kind == 3:  # fork loop at its limit
            r = mc("run", "--name", f"f{i}", "--pids-limit", "5", rootfs_dir, "sh", "-c",
                   "while :; do sleep 5 & done")
            assert "can't fork" in r.stderr
        else:
            assert mc("run", "--name", f"n{i}", "--memory", "64m", rootfs_dir, "true").returncode == 0
        seen.note()
    mc("ps", "-a")  # garbage-collects what the killed CLIs left
    for cid in killed:
        assert cgroups.open(cid) is None, f"cgroup of killed CLI's container {cid[:12]} left behind"
    ids = mc("ps", "-aq", "--no-trunc").stdout.split()
    assert mc("rm", *ids).returncode == 0
    assert len(seen.ids) == 80  # all but the --rm runs, whose state is gone before we can look
    assert [cid for cid in seen.ids if cgroups.open(cid) is not None] == []
