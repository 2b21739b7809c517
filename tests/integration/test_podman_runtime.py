"""podman drives minictr's OCI runtime (issue 18, part 5): ``podman --runtime minictr-runtime ...``.

Each scenario of the issue runs under Debian's podman 4.3 (conmon 2.1) with a private store
(podmanhelp.py), and minictr-runtime behind the lesson's logging wrapper
(``minictr.labs.l14.logging_runtime``), so each test also sees the calls podman made (create,
start, exec, kill, delete) and the config.json it wrote. After every test: no podman container,
no runtime state, no cgroup named after a container id, no new network namespace, no mount
under the test's dirs. Plus runc's own ``runc spec`` bundle under minictr-runtime, without
podman: create, state, start, state, delete.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from podmanhelp import (IMAGE, Podman, cgroups_of, mounts_mentioning, runtime_command,
                        status_of)
from ttyhelp import read_until

from minictr.labs.l14 import logging_runtime

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("podman") or not shutil.which("runc"),
    reason="needs root, podman and runc (`make setup-test` installs them)")

#: docker's default capabilities, as a CapEff mask (0xa80425fb), and the bits of the two we drop
DEFAULT_CAPS = 0xa80425FB
CAP_CHOWN, CAP_NET_RAW = 0, 13


@pytest.fixture(scope="module")
def podman(tmp_path_factory, rootfs_dir):
    p = Podman(tmp_path_factory.mktemp("podman"))
    try:
        p.import_busybox(rootfs_dir)
        yield p
    finally:
        p.cleanup()


class Runtime:
    """minictr-runtime (private state dir) behind the logging wrapper."""

    def __init__(self, tmp: Path):
        self.state = tmp / "rt-state"
        self.log = tmp / "calls"
        self.plain = runtime_command(tmp, self.state)
        self.path = logging_runtime(str(tmp / "logged-runtime"), [self.plain], str(self.log))

    def calls(self) -> list[list[str]]:
        path = self.log / "calls.log"
        return [line.split() for line in path.read_text().splitlines()] if path.exists() else []

    def verbs(self) -> list[str]:
        return [next(a for a in argv if not a.startswith("-")) for argv in self.calls()]

    def created(self) -> list[str]:
        return [argv[-1] for argv in self.calls() if "create" in argv]

    def config(self, n: int = 1) -> dict:
        """The config.json podman handed to the n-th create."""
        numbered = [i for i, argv in enumerate(self.calls(), 1) if "create" in argv]
        return json.loads((self.log / f"{numbered[n - 1]}-config.json").read_text())


@pytest.fixture
def rt(tmp_path, podman):
    r = Runtime(tmp_path)
    yield r
    left = podman.container_ids()
    if left:
        podman("rm", "-f", "-t", "0", *left)
    assert left == [], "podman containers left behind"
    assert (sorted(os.listdir(r.state)) if r.state.exists() else []) == [], "runtime state left behind"
    for cid in r.created():
        assert cgroups_of(cid) == [], f"cgroups of {cid[:12]} left behind"
    for n in range(1, len(r.created()) + 1):  # podman's (netavark's) namespaces, by the path it gave
        for ns in r.config(n)["linux"]["namespaces"]:
            assert not os.path.exists(ns.get("path", "/nonexistent")), f"{ns['path']} left behind"
    assert mounts_mentioning(str(tmp_path)) == [] and mounts_mentioning(str(r.state)) == []


def run(podman, rt, *args, timeout=120) -> subprocess.CompletedProcess:
    return podman("--runtime", rt.path, "run", *args, timeout=timeout)


def wait_for(predicate, timeout=15.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_run_rm_echo_hi(podman, rt):
    r = run(podman, rt, "--rm", IMAGE, "echo", "hi")  # the command, on podman's default bridge
    assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
    verbs = rt.verbs()
    assert verbs[0] == "create" and "start" in verbs and verbs[-1] == "delete", verbs
    create = rt.calls()[0]
    assert "--bundle" in create and "--pid-file" in create and "--console-socket" not in create
    assert rt.config()["process"]["args"] == ["echo", "hi"]


def test_exit_status_comes_back(podman, rt):
    r = run(podman, rt, "--rm", "--network", "none", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (r.returncode, r.stdout) == (7, "out\n") and "err" in r.stderr


def test_run_it(podman, rt):
    pid, fd = pty.fork()
    if pid == 0:  # the child: podman on a terminal, as a user types it
        try:
            os.environ.update(podman.env)
            os.execvp("podman", podman.argv("--runtime", rt.path, "run", "--rm", "-it", "--network", "none",
                                            IMAGE, "sh"))
        finally:
            os._exit(127)
    try:
        read_until(fd, b"# ", timeout=60)  # the shell's prompt
        os.write(fd, b"tty; echo $((6 * 7)); stty size; exit 3\n")
        out = read_until(fd, b"42", timeout=30)
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    assert b"/dev/pts/0" in out
    assert os.waitstatus_to_exitcode(status) == 3
    create = next(argv for argv in rt.calls() if "create" in argv)
    assert "--console-socket" in create  # the pty master came back over it (SCM_RIGHTS)
    assert rt.config()["process"]["terminal"] is True


def test_detached_exec_logs_stop_rm(podman, rt):
    script = 'echo started; trap "echo got TERM; exit 7" TERM; while :; do sleep 0.2; done'
    cid = run(podman, rt, "-d", "--network", "none", IMAGE, "sh", "-c", script).stdout.strip()
    assert len(cid) == 64, cid
    wait_for(lambda: "started" in podman.ok("logs", cid), what="the container's first line in podman logs")
    out = podman.ok("--runtime", rt.path, "exec", cid, "sh", "-c", "echo in $(hostname), pid 1 is $(cat /proc/1/comm)")
    assert out == f"in {cid[:12]}, pid 1 is sh\n"
    assert podman("--runtime", rt.path, "exec", cid, "sh", "-c", "exit 5").returncode == 5
    exec_call = next(argv for argv in rt.calls() if "exec" in argv)
    assert "--process" in exec_call and "--detach" in exec_call and "--pid-file" in exec_call
    t0 = time.monotonic()
    podman.ok("--runtime", rt.path, "stop", "-t", "20", cid)
    assert time.monotonic() - t0 < 15, "SIGTERM did not reach the container: podman waited for its timeout"
    assert podman.ok("logs", cid) == "started\ngot TERM\n"
    assert podman.ok("inspect", "--format", "{{.State.ExitCode}}", cid).strip() == "7"
    kills = [argv for argv in rt.calls() if "kill" in argv]
    assert kills and kills[0][-1] in ("15", "TERM", "SIGTERM"), kills
    podman.ok("--runtime", rt.path, "rm", cid)
    assert "delete" in rt.verbs()


def _cgroup_dir(pid: int, controller: str) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            if controller in names.split(","):
                return f"/sys/fs/cgroup/{controller}{path}"
    return ""


def test_memory_and_pids_limit(podman, rt):
    cid = run(podman, rt, "-d", "--network", "none", "--memory", "64m", "--pids-limit", "50", IMAGE,
              "sleep", "300").stdout.strip()
    try:
        pid = int(podman.ok("inspect", "--format", "{{.State.Pid}}", cid))
        assert rt.config()["linux"]["resources"]["memory"]["limit"] == 64 << 20
        cgroups_path = rt.config()["linux"]["cgroupsPath"]
        memory, pids = _cgroup_dir(pid, "memory"), _cgroup_dir(pid, "pids")
        if memory:  # cgroup v1 (this host): podman's cgroupsPath, from the hierarchy's root
            assert memory == f"/sys/fs/cgroup/memory{cgroups_path}" and pids == f"/sys/fs/cgroup/pids{cgroups_path}"
            assert Path(memory, "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
            assert Path(pids, "pids.max").read_text().strip() == "50"
        else:  # cgroup v2
            unified = _cgroup_dir(pid, "")
            assert unified.endswith(cgroups_path)
            assert Path(unified, "memory.max").read_text().strip() == str(64 << 20)
            assert Path(unified, "pids.max").read_text().strip() == "50"
            pids = unified
        # the limit bites: 60 background sleeps cannot all start (sleep 300 is one task already)
        forks = podman("--runtime", rt.path, "exec", cid, "sh", "-c",
                       "for i in $(seq 60); do sleep 30 & done; echo all started")
        assert "all started" not in forks.stdout and "fork" in forks.stderr, (forks.stdout, forks.stderr)
        assert int(Path(pids, "pids.current").read_text()) <= 50
    finally:
        podman.ok("--runtime", rt.path, "rm", "-f", "-t", "0", cid)


def test_cap_drop(podman, rt):
    probe = "grep -E '^Cap(Eff|Bnd)' /proc/self/status; touch /f; chown 1 /f 2>&1 && echo chowned; true"
    args = ["--rm", "--network", "none", "--cap-drop", "net_raw", "--cap-drop", "CAP_CHOWN", IMAGE, "sh", "-c", probe]
    ours = run(podman, rt, *args)
    assert ours.returncode == 0, ours.stderr
    want = DEFAULT_CAPS & ~(1 << CAP_CHOWN) & ~(1 << CAP_NET_RAW)
    assert ours.stdout == f"CapEff:\t{want:016x}\nCapBnd:\t{want:016x}\nchown: /f: Operation not permitted\n"
    theirs = podman("--runtime", "/usr/bin/runc", "run", *args)
    assert theirs.stdout == ours.stdout  # runc, handed the same config.json by podman, does the same
    bounding = rt.config()["process"]["capabilities"]["bounding"]
    assert "CAP_NET_RAW" not in bounding and "CAP_CHOWN" not in bounding and "CAP_KILL" in bounding


def test_network_none(podman, rt):
    r = run(podman, rt, "--rm", "--network", "none", IMAGE, "sh", "-c", "ls /sys/class/net; hostname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "lo" and len(r.stdout.split()) == 2
    [net] = [ns for ns in rt.config()["linux"]["namespaces"] if ns["type"] == "network"]
    assert "path" not in net  # a new, empty namespace: the runtime makes it


def test_network_bridge(podman, rt):
    cid = run(podman, rt, "-d", "--network", "bridge", IMAGE, "sleep", "300").stdout.strip()
    try:
        pid = int(podman.ok("inspect", "--format", "{{.State.Pid}}", cid))
        [net] = [ns for ns in rt.config()["linux"]["namespaces"] if ns["type"] == "network"]
        # podman (netavark) made the namespace and its veth; the runtime joins it by path
        assert os.stat(net["path"]).st_ino == os.stat(f"/proc/{pid}/ns/net").st_ino
        ip = podman.ok("inspect", "--format", "{{.NetworkSettings.IPAddress}}", cid).strip()
        gateway = podman.ok("inspect", "--format", "{{.NetworkSettings.Gateway}}", cid).strip()
        out = podman.ok("--runtime", rt.path, "exec", cid, "sh", "-c",
                        f"ip -o -4 addr show eth0; ping -c 3 -w 10 {gateway} && echo reached")
        assert f"inet {ip}/" in out and out.endswith("reached\n") and " 0 packets received" not in out, out
        assert status_of(pid)["NSpid"].split()[-1] == "1"  # its own PID namespace too
    finally:
        podman.ok("--runtime", rt.path, "rm", "-f", "-t", "0", cid)


def _state(rt_cmd, cid) -> dict:
    r = subprocess.run([rt_cmd, "state", cid], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_runc_spec_bundle(tmp_path, rootfs_dir):
    """runc's own default config.json (``runc spec``), run by minictr-runtime: create, start, delete."""
    state = tmp_path / "rt-state"
    rt_cmd = runtime_command(tmp_path, state)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copytree(rootfs_dir, bundle / "rootfs", symlinks=True)
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    cfg = json.loads((bundle / "config.json").read_text())
    assert cfg["root"] == {"path": "rootfs", "readonly": True}  # relative to the bundle, read-only
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sh", "-c", "echo hello from $(hostname) as $(id -u); touch /x 2>/dev/null || echo ro"]
    (bundle / "config.json").write_text(json.dumps(cfg, indent=2))
    cid = "runc-spec-test"
    out, err = tmp_path / "out", tmp_path / "err"
    try:
        # the container inherits create's stdio (no terminal: runc's pass-through), so not pipes
        # that a reader would wait on until the container exits
        with open(out, "w") as f, open(err, "w+") as e:
            r = subprocess.run([rt_cmd, "create", "--bundle", str(bundle), cid], stdout=f, stderr=e, timeout=60)
        assert r.returncode == 0, err.read_text()
        st = _state(rt_cmd, cid)
        assert (st["id"], st["status"], st["bundle"]) == (cid, "created", str(bundle))
        assert st["pid"] > 0 and st["ociVersion"].startswith("1.")
        r = subprocess.run([rt_cmd, "start", cid], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        wait_for(lambda: _state(rt_cmd, cid)["status"] == "stopped", what="the container to stop")
        assert out.read_text() == "hello from runc as 0\nro\n"
    finally:
        r = subprocess.run([rt_cmd, "delete", "--force", cid], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert subprocess.run([rt_cmd, "state", cid], capture_output=True, timeout=30).returncode != 0
    assert (sorted(os.listdir(state)) if state.exists() else []) == []
    assert mounts_mentioning(str(bundle)) == []


def test_pause_unpause(podman, rt):
    cid = run(podman, rt, "-d", "--network", "none", IMAGE, "sleep", "300").stdout.strip()
    try:
        pid = int(podman.ok("inspect", "--format", "{{.State.Pid}}", cid))
        podman.ok("--runtime", rt.path, "pause", cid)
        assert podman.ok("inspect", "--format", "{{.State.Status}}", cid).strip() == "paused"
        freezer = _cgroup_dir(pid, "freezer")
        if freezer:  # cgroup v1: the freezer's own word
            assert Path(freezer, "freezer.state").read_text().strip() == "FROZEN"
        podman.ok("--runtime", rt.path, "unpause", cid)
        assert podman.ok("inspect", "--format", "{{.State.Status}}", cid).strip() == "running"
        if freezer:
            assert Path(freezer, "freezer.state").read_text().strip() == "THAWED"
        assert {"pause", "resume"} <= set(rt.verbs())
    finally:
        podman.ok("--runtime", rt.path, "rm", "-f", "-t", "0", cid)


def test_a_missing_command_is_create_s_error(podman, rt):
    """As runc does, so that podman says "not found" (127), not "cannot run" (126)."""
    r = run(podman, rt, "--rm", "--network", "none", IMAGE, "no-such-command")
    assert r.returncode == 127, r.stderr
    assert 'exec "no-such-command": executable file not found in $PATH' in r.stderr
    assert "start" not in rt.verbs()  # create failed: podman never called start
    theirs = podman("--runtime", "/usr/bin/runc", "run", "--rm", "--network", "none", IMAGE, "no-such-command")
    assert theirs.returncode == 127
