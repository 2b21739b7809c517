"""exec (issue 16): a second process that joins a running container: its namespaces, its cgroup,
its confinement; the exit status passes through; a stopped or missing container is one line."""

import json
import os
import subprocess
import time

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces, mounts and cgroups")


@pytest.fixture
def box(mc, rootfs_dir):
    r = mc("run", "-d", "--name", "box", "--hostname", "boxhost", "-e", "FROM_RUN=yes", rootfs_dir, "sleep", "60")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    with open(mc.tmp / "run" / cid / "state.json") as f:
        pid = json.load(f)["pid"]
    yield pid
    mc("rm", "-f", "box")


def test_exec_joins_every_namespace_and_the_cgroup_of_the_container(mc, box):
    script = "for n in ipc uts net pid cgroup mnt; do readlink /proc/self/ns/$n; done; hostname; " \
             "cat /proc/1/cmdline | tr '\\0' ' '; echo; cat /proc/self/cgroup"
    r = mc("exec", "box", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    ours = [os.readlink(f"/proc/{box}/ns/{n}") for n in ("ipc", "uts", "net", "pid", "cgroup", "mnt")]
    assert lines[:6] == ours
    assert lines[6:8] == ["boxhost", "sleep 60 "]  # the same /proc/1 as the container's
    with open(f"/proc/{box}/cgroup") as f:
        host_view = f.read()
    assert host_view != "" and all(line.endswith(":/") for line in lines[8:] if line)  # the container's root group
    assert len(lines[8:]) == len(host_view.splitlines())


def test_exec_has_the_confinement_of_the_container(mc, box):
    r = mc("exec", "box", "sh", "-c", "grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status")
    fields = dict(line.split(":\t") for line in r.stdout.splitlines())
    assert fields["CapEff"] == "00000000a80425fb" and fields["CapBnd"] == "00000000a80425fb"
    assert fields["Seccomp"] == "2"
    assert fields["NoNewPrivs"] == "0"
    assert mc("exec", "box", "hostname", "evil").returncode != 0  # no CAP_SYS_ADMIN
    # The masks and read-only paths are mounts: joining the mount namespace is joining them.
    r = mc("exec", "box", "sh", "-c", "echo x > /proc/sys/kernel/hostname")
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    with open("/proc/sys/kernel/hostname") as f:
        assert f.read().strip() != "evil"


def test_user_env_and_workdir(mc, box):
    r = mc("exec", "-u", "nobody", "-w", "/etc", "-e", "A=1", "box", "sh", "-c", 'id -u; pwd; echo $A $FROM_RUN')
    assert r.stdout.split("\n")[:3] == ["65534", "/etc", "1 yes"], r.stderr
    r = mc("exec", "-w", "/nowhere", "box", "true")
    assert r.returncode == 126 and "/nowhere" in r.stderr and len(r.stderr.splitlines()) == 1
    r = mc("exec", "-u", "nobody", "box", "grep", "CapEff", "/proc/self/status")
    assert r.stdout.split() == ["CapEff:", "0000000000000000"]


def test_exit_status_passes_through_and_failures_are_one_line(mc, box):
    assert mc("exec", "box", "sh", "-c", "exit 7").returncode == 7
    r = mc("exec", "box", "nosuchcmd")
    assert (r.returncode, r.stderr) == (127, 'minictr: exec "nosuchcmd": executable file not found in $PATH\n')
    r = mc("exec", "box", "/etc/passwd")
    assert r.returncode == 126 and len(r.stderr.splitlines()) == 1
    r = mc("exec", "missing", "true")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "no such container" in r.stderr
    assert mc("stop", "-t", "0", "box").returncode == 0
    r = mc("exec", "box", "true")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "not running" in r.stderr


def test_stdin_a_terminal_and_detach(mc, box):
    r = mc("exec", "-i", "box", "cat", input="through exec\n")
    assert r.stdout == "through exec\n"
    r = mc("exec", "-t", "box", "sh", "-c", "test -t 0 && tty", stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and r.stdout.startswith("/dev/pts/"), (r.stdout, r.stderr)
    # The rootfs directory is shared by the session's tests: write to the container's /dev (a tmpfs).
    t = time.monotonic()
    assert mc("exec", "-d", "box", "sh", "-c", "sleep 1; echo done > /dev/bg").returncode == 0
    assert time.monotonic() - t < 1  # -d: it does not wait
    deadline = time.monotonic() + 5
    while mc("exec", "box", "cat", "/dev/bg").stdout != "done\n" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mc("exec", "box", "cat", "/dev/bg").stdout == "done\n"
