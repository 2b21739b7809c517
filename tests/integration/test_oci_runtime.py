"""minictr-runtime on the real kernel: the OCI state machine walked with separate processes, as
conmon walks it (create exits, start comes later), the console socket, --pid-file,
--preserve-fds, exec into a running container, pause/resume, errors in the JSON log, and a
create killed at any moment leaves nothing that ``delete --force`` cannot remove.

``create`` here is tests/integration/oci_create.py: the runtime's create path from a
ContainerConfig built in the test (the bundle's config.json reader is minictr.oci.spec).
"""

import array
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ttyhelp import pty_from_console_socket

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces, mounts and cgroups")

HERE = Path(__file__).parent
RUNTIME = [sys.executable, "-m", "minictr.oci"]


class Oci:
    """minictr-runtime with a private --root and a JSON --log, and the create harness."""

    def __init__(self, tmp: Path, rootfs: str):
        self.tmp, self.rootfs = tmp, rootfs
        self.root, self.log = tmp / "root", tmp / "runtime.log"

    def __call__(self, *args, timeout=30, out: Path | None = None) -> subprocess.CompletedProcess:
        """``out``: stdout and stderr go to that file (a detached exec's command keeps them, as
        conmon's pipes; a pipe here would keep subprocess.run waiting for the command to end)."""
        argv = [*RUNTIME, "--root", str(self.root), "--log", str(self.log), "--log-format", "json", *args]
        if out is None:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        with open(out, "ab") as f:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f, timeout=timeout)

    def create(self, cid: str, *args: str, flags=(), out: Path | None = None, **kw) -> subprocess.CompletedProcess:
        """The container's stdio is a file (conmon gives pipes it reads; a pipe here would keep
        subprocess.run waiting for the container to end)."""
        out = out or self.tmp / f"{cid}.out"
        with open(out, "ab") as f:
            return subprocess.run([sys.executable, str(HERE / "oci_create.py"), str(self.root), cid, self.rootfs,
                                   *flags, "--", *args], stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                                  timeout=30, **kw)

    def state(self, cid: str) -> dict:
        r = self("state", cid)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def wait_status(self, cid: str, status: str, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            st = self.state(cid)
            if st["status"] == status or time.monotonic() > deadline:
                return st
            time.sleep(0.05)

    def ids(self) -> list[str]:
        r = self("list", "-q")
        return r.stdout.split()


def _mounts_mentioning(text: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if text in line]


@pytest.fixture
def oci(tmp_path, rootfs_dir):
    o = Oci(tmp_path, rootfs_dir)
    yield o
    from minictr import cgroups
    ids = o.ids()
    for cid in ids:
        o("delete", "--force", cid)
    assert not o.root.exists() or os.listdir(o.root) == [], "state left behind"
    assert [cid for cid in ids if cgroups.open(cid) is not None] == [], "cgroup left behind"
    assert _mounts_mentioning(str(tmp_path)) == [], "mounts left behind"


def _ns(pid, kind="pid"):
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def test_the_state_machine_walked_by_separate_processes(oci, tmp_path):
    script = 'trap "echo got TERM; exit 3" TERM; echo hello from $(hostname); while true; do sleep 0.05; done'
    pid_file = tmp_path / "init.pid"
    r = oci.create("walk", "sh", "-c", script, flags=("--pid-file", str(pid_file)))
    assert r.returncode == 0, (tmp_path / "walk.out").read_text()
    st = oci.state("walk")
    assert (st["status"], st["id"], st["ociVersion"]) == ("created", "walk", "1.1.0")
    pid = st["pid"]
    assert pid_file.read_text() == str(pid)
    # create has exited; its init lives on, in its own PID namespace, and has not run the command yet
    assert _ns(pid) != _ns("self") and (tmp_path / "walk.out").read_text() == ""
    r = oci("start", "walk")
    assert r.returncode == 0, r.stderr
    assert oci.state("walk")["status"] == "running"
    deadline = time.monotonic() + 5
    while "hello" not in (tmp_path / "walk.out").read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (tmp_path / "walk.out").read_text() == "hello from ocibox\n"
    assert not (oci.root / "walk" / "exec.fifo").exists()
    r = oci("start", "walk")
    assert r.returncode == 1 and "it is running, not created" in r.stderr
    r = oci("delete", "walk")
    assert r.returncode == 1 and "it is running" in r.stderr and "--force" in r.stderr
    assert oci("kill", "walk", "TERM").returncode == 0
    st = oci.wait_status("walk", "stopped")
    assert (st["status"], st["pid"]) == ("stopped", 0)
    assert "got TERM" in (tmp_path / "walk.out").read_text()
    r = oci("kill", "walk", "9")
    assert r.returncode == 1 and "it is stopped" in r.stderr
    assert oci("delete", "walk").returncode == 0
    assert oci("state", "walk").returncode == 1 and os.listdir(oci.root) == []


def test_errors_go_to_the_log_as_json_lines(oci):
    r = oci("start", "nosuch")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1
    lines = [json.loads(line) for line in oci.log.read_text().splitlines()]
    assert lines[-1]["level"] == "error" and "container nosuch does not exist" in lines[-1]["msg"]
    assert set(lines[-1]) == {"level", "msg", "time"}


def test_delete_force_kills_a_created_container_and_leaves_nothing(oci):
    assert oci.create("early", "sleep", "60").returncode == 0
    pid = oci.state("early")["pid"]
    r = oci("delete", "--force", "early")
    assert r.returncode == 0, r.stderr
    assert oci("state", "early").returncode == 1
    from minictr.state import process_start
    assert process_start(pid) is None  # gone (or a zombie waiting for PID 1)


def test_the_console_socket_receives_the_pty_master(oci, tmp_path):
    path = str(tmp_path / "console.sock")

    def create():
        r = oci.create("tty", "sh", "-c", "tty; echo cols $(stty size)", flags=("--tty", "--console-socket", path))
        assert r.returncode == 0, (tmp_path / "tty.out").read_text()
    master = pty_from_console_socket(path, create)
    try:
        assert os.isatty(master)
        assert oci("start", "tty").returncode == 0
        text = b""
        deadline = time.monotonic() + 5
        while b"cols" not in text and time.monotonic() < deadline:
            try:
                text += os.read(master, 1024)
            except OSError:
                break
        assert b"/dev/pts/0" in text  # the container's own devpts
    finally:
        os.close(master)
    assert (tmp_path / "tty.out").read_text() == ""  # nothing went to create's stdio


def test_preserve_fds_passes_fd_3_and_no_other(oci, tmp_path):
    r3, w3 = os.pipe()
    r4, w4 = os.pipe()
    # create gets them as its fds 3 and 4 (as conmon passes them), inheritable; only 3 is preserved
    renumber = "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); " \
               "os.execv(sys.executable, [sys.executable] + sys.argv[3:])"
    script = "echo via3 >&3; echo via4 >&4 || echo no fd 4"
    try:
        with open(tmp_path / "fds.out", "ab") as f:
            r = subprocess.run([sys.executable, "-c", renumber, str(w3), str(w4), str(HERE / "oci_create.py"),
                                str(oci.root), "fds", oci.rootfs, "--preserve-fds", "1", "--", "sh", "-c", script],
                               stdin=subprocess.DEVNULL, stdout=f, stderr=f, pass_fds=(w3, w4), timeout=30)
        assert r.returncode == 0, (tmp_path / "fds.out").read_text()
        os.close(w3)
        os.close(w4)
        assert oci("start", "fds").returncode == 0
        assert os.read(r3, 100) == b"via3\n"
        oci.wait_status("fds", "stopped")
        assert os.read(r4, 100) == b""  # end-of-file: nobody held fd 4 open into the container
        assert "no fd 4" in (tmp_path / "fds.out").read_text()
    finally:
        os.close(r3)
        os.close(r4)


def test_exec_joins_the_running_container(oci, tmp_path):
    assert oci.create("ex", "sleep", "60").returncode == 0
    assert oci("start", "ex").returncode == 0
    init = oci.state("ex")["pid"]
    r = oci("exec", "ex", "sh", "-c", "hostname; readlink /proc/self/ns/pid; exit 7")
    assert r.returncode == 7, r.stderr
    assert r.stdout.split() == ["ocibox", _ns(init)]
    r = oci("exec", "--env", "A=1", "--cwd", "/etc", "--user", "65534:65534", "ex", "sh", "-c", "echo $A $(pwd) $(id -u)")
    assert r.stdout.split() == ["1", "/etc", "65534"], r.stderr
    r = oci("exec", "ex", "nosuchcommand")
    assert r.returncode == 127 and "nosuchcommand" in r.stderr
    # podman's form: --process spec.json --detach --pid-file
    spec = tmp_path / "process.json"
    spec.write_text(json.dumps({"args": ["sleep", "30"], "env": ["PATH=/bin"], "cwd": "/", "terminal": False,
                                "user": {"uid": 0, "gid": 0}}))
    pid_file = tmp_path / "exec.pid"
    r = oci("exec", "--process", str(spec), "--detach", "--pid-file", str(pid_file), "ex", out=tmp_path / "exec.out")
    assert r.returncode == 0, (tmp_path / "exec.out").read_text()
    pid = int(pid_file.read_text())
    assert _ns(pid) == _ns(init) and open(f"/proc/{pid}/cmdline").read() == "sleep\x0030\x00"
    # the process.json's own capabilities and user (spec.with_process), not the container's
    narrow = tmp_path / "narrow.json"
    narrow.write_text(json.dumps({"args": ["sh", "-c", "grep -E '^(CapEff|CapBnd):' /proc/self/status; id -u"],
                                  "cwd": "/", "user": {"uid": 0, "gid": 0},
                                  "capabilities": {k: ["CAP_KILL"] for k in ("bounding", "effective", "permitted")}}))
    r = oci("exec", "--process", str(narrow), "ex")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["CapEff:", "0000000000000020", "CapBnd:", "0000000000000020", "0"]
    r = oci("ps", "--format", "json", "ex")
    assert init in json.loads(r.stdout) and pid in json.loads(r.stdout)
    assert oci("kill", "--all", "ex", "KILL").returncode == 0  # every process in its cgroup
    oci.wait_status("ex", "stopped")
    from minictr.state import process_start
    assert process_start(pid) is None
    r = oci("exec", "ex", "true")
    assert r.returncode == 1 and "it is stopped" in r.stderr


def test_pause_freezes_and_resume_thaws(oci, tmp_path):
    from minictr import cgroups
    script = "i=0; while true; do i=$((i+1)); echo $i; sleep 0.02; done"
    assert oci.create("frz", "sh", "-c", script).returncode == 0
    assert oci("start", "frz").returncode == 0
    assert oci("resume", "frz").returncode == 1  # not paused
    r = oci("pause", "frz")
    assert r.returncode == 0, r.stderr
    assert oci.state("frz")["status"] == "paused" and cgroups.open("frz").frozen()
    out = tmp_path / "frz.out"
    before = out.read_text()
    time.sleep(0.3)
    assert out.read_text() == before  # frozen: not one more line
    assert oci("exec", "frz", "true").returncode == 1
    assert oci("resume", "frz").returncode == 0
    assert oci.state("frz")["status"] == "running" and not cgroups.open("frz").frozen()
    time.sleep(0.3)
    assert len(out.read_text()) > len(before)
    assert oci("pause", "frz").returncode == 0
    r = oci("delete", "--force", "frz")  # a paused container is thawed to die
    assert r.returncode == 0, r.stderr
    assert cgroups.open("frz") is None


@pytest.mark.slow
def test_a_create_killed_at_any_moment_leaves_nothing_delete_force_cannot_remove(oci, tmp_path):
    from minictr import cgroups
    for i, delay in enumerate((0.0, 0.03, 0.06, 0.09, 0.12, 0.15, 0.2)):
        cid = f"killed{i}"
        with open(tmp_path / "k.out", "ab") as f:
            p = subprocess.Popen([sys.executable, str(HERE / "oci_create.py"), str(oci.root), cid, oci.rootfs,
                                  "--", "sleep", "60"], stdin=subprocess.DEVNULL, stdout=f, stderr=f)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        r = oci("delete", "--force", cid)
        assert r.returncode == 0, r.stderr
        assert os.listdir(oci.root) == [] if oci.root.exists() else True, (delay, os.listdir(oci.root))
        assert cgroups.open(cid) is None, delay


def test_exec_with_a_terminal_sends_its_pty_to_the_console_socket(oci, tmp_path):
    """podman exec -it: --tty --detach --console-socket; the command's pty is in the container's devpts."""
    assert oci.create("exectty", "sleep", "60").returncode == 0
    assert oci("start", "exectty").returncode == 0
    path = str(tmp_path / "exec.sock")

    def exec_tty():
        r = oci("exec", "--tty", "--detach", "--console-socket", path, "--pid-file", str(tmp_path / "pid"),
                "exectty", "sh", "-c", "tty; sleep 10", out=tmp_path / "exec.out")
        assert r.returncode == 0, (tmp_path / "exec.out").read_text()
    master = pty_from_console_socket(path, exec_tty)
    try:
        text = b""
        deadline = time.monotonic() + 5
        while b"\n" not in text and time.monotonic() < deadline:
            text += os.read(master, 1024)
        assert text.strip().startswith(b"/dev/pts/")  # the container's devpts, as the init's pty is
        pid = int((tmp_path / "pid").read_text())
        assert _ns(pid) == _ns(oci.state("exectty")["pid"])
    finally:
        os.close(master)
