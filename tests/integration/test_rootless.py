"""Rootless runs, for real: as a throwaway Unix user that this module creates and removes.

The user (``minictr-rootless-XXXX``, home under a temp dir) gets subordinate ids
from useradd (/etc/subuid, /etc/subgid), so newuidmap maps a full range. It is
removed with ``userdel -r`` at the end, even when a test fails; its processes are
killed first, by pid. Each test checks that nothing is left behind: no state, no
container storage, no process of the user (slirp4netns and the go-between exit
with the container).

Also root's ``--userns=auto``: root inside a container that is not root outside.
"""

import json
import os
import pty
import pwd
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import MINICTR, Minictr
from ttyhelp import close_pty, read_until

CHECKOUT = str(Path(__file__).resolve().parents[2])
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

if os.geteuid() != 0 or shutil.which("useradd") is None:
    pytest.skip("these tests create a Unix user: they need root and useradd", allow_module_level=True)


class User:
    """A throwaway user, and how to run minictr as them."""

    def __init__(self, base: Path):
        self.name = "minictr-rootless-" + secrets.token_hex(2)
        self.base = base
        self.home = base / "home"
        subprocess.run(["useradd", "--create-home", "--home-dir", str(self.home), "--shell", "/bin/sh",
                        "--comment", "minictr tests/integration/test_rootless.py", self.name], check=True)
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.runtime = base / "xdg-run"
        self.runtime.mkdir(mode=0o700)
        os.chown(self.runtime, self.uid, self.gid)
        self.env = {"HOME": str(self.home), "PATH": PATH, "PYTHONPATH": CHECKOUT, "USER": self.name,
                    "XDG_RUNTIME_DIR": str(self.runtime), "LANG": "C.UTF-8"}

    def demote(self) -> None:
        os.setgroups([])
        os.setresgid(self.gid, self.gid, self.gid)
        os.setresuid(self.uid, self.uid, self.uid)

    def __call__(self, *args, timeout=90, **kw) -> subprocess.CompletedProcess:
        """``minictr ARGS`` as the user."""
        return subprocess.run([*MINICTR, *args], env=self.env, cwd=str(self.home), capture_output=True, text=True,
                              timeout=timeout, preexec_fn=self.demote, **kw)

    def subuids(self) -> list[tuple[int, int]]:
        from minictr.userns import read_subids
        return read_subids("/etc/subuid", self.name, self.uid)

    def pids(self) -> list[int]:
        """Live processes of the user or of their subordinate uids (a zombie, waiting for the
        host's init to reap it, is gone already)."""
        owners = [(self.uid, 1)] + self.subuids()
        out = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    uid = os.stat(f"/proc/{entry}").st_uid
                    with open(f"/proc/{entry}/stat") as f:
                        state = f.read().rsplit(")", 1)[1].split()[0]
                except (OSError, IndexError):
                    continue
                if any(start <= uid < start + n for start, n in owners) and state not in ("Z", "X"):
                    out.append(int(entry))
        return out

    def remove(self) -> None:
        for pid in self.pids():  # only this user's processes: all of them started by these tests
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["userdel", "--remove", self.name], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def user():
    base = Path(tempfile.mkdtemp(prefix="minictr-rootless-test-"))
    base.chmod(0o755)  # the user must reach their home
    u = User(base)
    try:
        yield u
    finally:
        u.remove()
    assert subprocess.run(["id", u.name], capture_output=True).returncode != 0, "the test user is still there"


@pytest.fixture
def clean(user):
    """After a test: no container state, no container storage, no process of the user left."""
    yield user
    left = user("ps", "-aq", "--no-trunc").stdout.split()
    if left:
        user("rm", "-f", *left)
    state = user.runtime / "minictr"
    assert (os.listdir(state) if state.exists() else []) == [], "state left behind"
    containers = user.home / ".local" / "share" / "minictr" / "containers"
    assert (os.listdir(containers) if containers.exists() else []) == [], "container storage left behind"
    deadline = time.time() + 10
    while user.pids() and time.time() < deadline:
        time.sleep(0.1)
    assert user.pids() == [], f"processes left behind: {user.pids()}"


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def test_a_user_runs_busybox_as_root_inside_and_themselves_outside(clean):
    u = clean
    r = u("run", "--rm", "busybox", "sh", "-c", "id -u; cat /proc/self/uid_map; echo made > /made; cat /made; "
          "grep ' / / ' /proc/self/mountinfo | grep -o 'overlay.*userxattr'")
    assert r.returncode == 0, r.stderr
    assert "userxattr" in r.stdout   # overlayfs, mounted in the user namespace (Linux 5.11+)
    lines = r.stdout.split("\n")
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(u.uid), "1"]                 # root inside is the user outside
    assert lines[2].split() == ["1", "100000", "65536"] or int(lines[2].split()[1]) >= 100000  # newuidmap's range
    assert "made" in r.stdout
    store = u.home / ".local" / "share" / "minictr"
    assert (store / "index.json").stat().st_uid == u.uid               # the user's own store, built rootless
    images = u("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert images.returncode == 0 and "busybox:latest" in images.stdout


def test_run_it_gives_the_user_a_terminal(clean):
    u = clean
    pid, fd = pty.fork()
    if pid == 0:
        try:
            u.demote()
            os.chdir(u.home)
            os.execve(MINICTR[0], [*MINICTR, "run", "--rm", "-it", "busybox", "sh"], u.env)
        finally:
            os._exit(127)
    try:
        read_until(fd, b"# ", timeout=30)
        os.write(fd, b"tty; id -u; exit 3\n")
        out = read_until(fd, b"/dev/pts/0", timeout=10)
        deadline = time.time() + 15
        status = None
        while time.time() < deadline:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(st)
                break
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    pass
        assert status == 3, out
        assert b"/dev/pts/0" in out   # the pty is the container's own devpts
    finally:
        close_pty(pid, fd)


def test_images_load_into_the_users_own_store(clean, tmp_path):
    u = clean
    archive = u.home / "bb.tar"
    r = u("save", "-o", str(archive), "busybox")
    assert r.returncode == 0, r.stderr
    r = u("rmi", "busybox")
    assert r.returncode == 0, r.stderr
    r = u("load", "-i", str(archive))
    assert r.returncode == 0, r.stderr
    r = u("run", "--rm", "--network", "none", "busybox", "echo", "loaded")
    assert (r.returncode, r.stdout) == (0, "loaded\n"), r.stderr
    archive.unlink()


def test_limits_are_refused_with_a_reason_and_nothing_is_made(clean):
    u = clean
    r = u("run", "--rm", "--memory", "32m", "--pids-limit", "10", "busybox", "true")
    line = one_line(r.stderr)
    assert r.returncode == 125
    assert "--memory, --pids-limit cannot be honoured rootless" in line and "Delegate=" in line
    r = u("run", "--rm", "--network", "bridge", "busybox", "true")
    assert r.returncode == 125 and "a bridge needs root" in one_line(r.stderr)
    r = u("run", "--rm", "--userns=host", "busybox", "true")
    assert r.returncode == 125 and "--userns=host needs root" in one_line(r.stderr)


def test_keep_id_runs_as_the_users_own_uid(clean):
    u = clean
    r = u("run", "--rm", "--network", "none", "--userns=keep-id", "busybox", "id", "-u")
    assert (r.returncode, r.stdout.strip()) == (0, str(u.uid)), r.stderr


def test_published_port_reaches_the_container_through_slirp4netns(clean):
    u = clean
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = u("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:80", "busybox",
          "sh", "-c", "echo rootless-page > /index.html && httpd -f -p 80 -h /")
    assert r.returncode == 0, r.stderr
    try:
        body = None
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        assert body == b"rootless-page\n"
        ps = u("ps", "--format", "{{.Ports}}")
        assert f"127.0.0.1:{port}->80/tcp" in ps.stdout
        slirp = [p for p in u.pids() if open(f"/proc/{p}/comm").read().strip() == "slirp4netns"]
        assert len(slirp) == 1
        # the host's loopback is out of reach (--disable-host-loopback, as podman's default)
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            lport = listener.getsockname()[1]
            r = u("exec", "web", "sh", "-c", f"nc -w 2 10.0.2.2 {lport} </dev/null; echo rc=$?")
            assert "rc=1" in r.stdout, r
            listener.setblocking(False)
            with pytest.raises(BlockingIOError):
                listener.accept()
    finally:
        assert u("rm", "-f", "web").returncode == 0
    deadline = time.time() + 10
    while any(os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
              for p in slirp) and time.time() < deadline:
        time.sleep(0.1)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2)


def test_a_refused_user_namespace_names_the_setting():
    # Never changes a sysctl: the diagnosis reads files, given here as a fake.
    from minictr import userns
    with pytest.raises(userns.UsernsError) as info:
        userns.check_host(read={"/proc/sys/user/max_user_namespaces": "0"}.get, euid=1000)
    assert "user.max_user_namespaces=0" in str(info.value)


@pytest.fixture
def open_store():
    """A private store whose path others may traverse: root's --userns=auto container runs as another uid."""
    base = Path(tempfile.mkdtemp(prefix="minictr-userns-auto-"))
    base.chmod(0o755)
    m = Minictr(base)
    try:
        yield m
    finally:
        left = m("ps", "-aq", "--no-trunc").stdout.split()
        if left:
            m("rm", "-f", *left)
        assert m.states() == []
        shutil.rmtree(base, ignore_errors=True)


def test_userns_auto_as_root_maps_root_inside_to_an_unprivileged_range(open_store):
    m = open_store
    r = m("run", "--rm", "--network", "none", "--userns=auto", "busybox",
          "sh", "-c", "id -u; cat /proc/self/uid_map; touch /etc/x && ls -ln /etc/x")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "0" and lines[1].split() == ["0", "1000000000", "65536"]
    assert lines[2].split()[2] == "0"   # a file root made inside is root's, as the container sees it
    r = m("run", "-d", "--name", "auto", "--network", "none", "--userns=auto", "busybox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    st = m.running_state("auto")
    with open(f"/proc/{st['pid']}/status") as f:
        uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
    assert uids == ["1000000000"] * 4   # outside, the container's root is nobody in particular
    assert m("rm", "-f", "auto").returncode == 0
    # root's default bridge network too: the container's root binds its /etc/hosts from its own dir
    r = m("run", "--rm", "--userns=auto", "busybox", "sh", "-c", "ip -4 -o addr show eth0 | grep -c inet")
    assert (r.returncode, r.stdout.strip()) == (0, "1"), r.stderr


def test_without_newuidmap_one_uid_is_mapped_with_a_one_line_note(clean):
    u = clean
    env = dict(u.env, PATH="/nonexistent")  # no newuidmap (nor slirp4netns: the network is none)
    r = subprocess.run([*MINICTR, "run", "--rm", "busybox", "/bin/cat", "/proc/self/uid_map"], env=env,
                       cwd=str(u.home), capture_output=True, text=True, timeout=90, preexec_fn=u.demote)
    assert r.returncode == 0, r.stderr
    assert one_line(r.stderr).startswith("note: newuidmap/newgidmap not found: mapping only your own uid")
    assert [line.split() for line in r.stdout.splitlines()] == [["0", str(u.uid), "1"]]


def test_the_copy_fallback_runs_rootless_too(clean):
    u = clean
    env = dict(u.env, MINICTR_NO_OVERLAY="1")
    r = subprocess.run([*MINICTR, "run", "--rm", "--network", "none", "busybox", "sh", "-c",
                        "grep ' / ' /proc/self/mountinfo | grep -c overlay; echo x > /x && cat /x"], env=env,
                       cwd=str(u.home), capture_output=True, text=True, timeout=90, preexec_fn=u.demote)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "x"]   # no overlay at /: the image was copied into the container's dir
