"""Containers made from a bundle's config.json (minictr.oci.spec) on the real kernel.

Each bundle runs through the one core: ``spec.load_bundle`` -> ``container.run``,
in a subprocess (the test's own process stays out of the container's way). The
fields checked are the ones minictr applies only for a bundle: rlimits,
oomScoreAdj, sysctl, umask, additionalGids, personality, the capability sets,
rootfsPropagation, namespace paths, linux.devices; and hooks' stdin. Plus the two
directions of the one core: podman's real config.json runs under minictr, and
``minictr run --dry-run --bundle`` writes a bundle that runc runs.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minictr.oci import spec

HERE = Path(__file__).parent
FIXTURES = HERE.parent / "unit" / "oci"

RUN = """
import sys
from minictr.oci import spec
from minictr import container
warnings = []
cfg = spec.load_bundle(sys.argv[1], sys.argv[2], warnings)
for w in warnings:
    print("warning:", w, file=sys.stderr)
c = container.run(cfg)
sys.exit(c.state.exit_code)
"""


def run_bundle(bundle: Path, name: str = "b1", timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", RUN, str(bundle), name], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONPATH=str(HERE.parents[1])))


@pytest.fixture
def bundle(tmp_path, rootfs_dir) -> Path:
    b = tmp_path / "bundle"
    b.mkdir()
    shutil.copytree(rootfs_dir, b / "rootfs", symlinks=True)
    return b


def write(bundle: Path, doc: dict) -> None:
    (bundle / "config.json").write_text(json.dumps(doc))


def base(script: str) -> dict:
    doc = spec.default_spec()
    doc["process"].update(terminal=False, args=["sh", "-c", script])
    doc["root"]["readonly"] = False
    return doc


def values(out: str) -> dict:
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.mark.alone  # ip_forward before and after: the default bridge, made by another test's run, sets it
def test_process_fields_of_a_bundle_are_applied(bundle):
    doc = base("echo nofile=$(ulimit -n); echo nproc=$(ulimit -u); echo oom=$(cat /proc/self/oom_score_adj); "
               "echo umask=$(umask); echo groups=$(id -G); echo shmmax=$(cat /proc/sys/kernel/shmmax); "
               "echo fwd=$(cat /proc/sys/net/ipv4/ip_forward); echo arch=$(uname -m); "
               "echo root=$(awk '$5 == \"/\" {print $7}' /proc/self/mountinfo); "
               "echo fuse=$(stat -c '%t:%T %a %g' /dev/fuse)")
    doc["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000},
                                 {"type": "RLIMIT_NPROC", "soft": 77, "hard": 77}]
    doc["process"]["oomScoreAdj"] = 421
    doc["process"]["user"] = {"uid": 0, "gid": 0, "umask": 0o27, "additionalGids": [10, 20]}
    doc["linux"]["sysctl"] = {"kernel.shmmax": "65536", "net.ipv4.ip_forward": "1"}
    doc["linux"]["personality"] = {"domain": "LINUX32"}
    doc["linux"]["rootfsPropagation"] = "rshared"
    doc["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640,
                                "uid": 0, "gid": 7}]
    write(bundle, doc)
    host_shmmax = Path("/proc/sys/kernel/shmmax").read_text()
    host_fwd = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    r = run_bundle(bundle)
    assert r.returncode == 0, r.stderr
    v = values(r.stdout)
    assert (v["nofile"], v["nproc"], v["oom"], v["umask"]) == ("512", "77", "421", "0027")
    assert v["groups"].split() == ["0", "10", "20"]
    assert (v["shmmax"], v["fwd"]) == ("65536", "1")  # in the container's own ipc and net namespaces
    assert v["arch"] in ("i686", "armv8l")  # LINUX32
    assert v["root"].startswith("shared:")
    assert v["fuse"] == "a:e5 640 7"  # major 10, minor 229 in hex; mode and group from the bundle
    # ... and the host's kernel was not touched
    assert Path("/proc/sys/kernel/shmmax").read_text() == host_shmmax
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == host_fwd


def test_a_host_wide_sysctl_is_refused_before_anything_runs(bundle):
    doc = base("true")
    doc["linux"]["sysctl"] = {"vm.swappiness": "60"}  # harmless even if the refusal broke: a common value
    write(bundle, doc)
    r = run_bundle(bundle)
    assert r.returncode != 0
    assert 'config.json: linux.sysctl: "vm.swappiness" is not namespaced' in r.stderr


def test_a_non_root_user_gets_the_bundles_capability_sets(bundle):
    caps = ["CAP_NET_BIND_SERVICE"]
    doc = base("grep -E '^Cap(Inh|Prm|Eff|Amb|Bnd)' /proc/self/status | tr -d '\\t' | tr ':' '='; id -u")
    doc["process"]["user"] = {"uid": 1000, "gid": 1000}
    doc["process"]["capabilities"] = {"bounding": caps + ["CAP_KILL"], "effective": caps, "permitted": caps,
                                      "inheritable": caps, "ambient": caps}
    write(bundle, doc)
    r = run_bundle(bundle)
    assert r.returncode == 0, r.stderr
    v = values(r.stdout)
    assert v["CapBnd"] == "0000000000000420"
    # ambient capabilities survive execve for a non-root user: the shell has NET_BIND_SERVICE (bit 10)
    assert v["CapAmb"] == v["CapEff"] == v["CapPrm"] == v["CapInh"] == "0000000000000400"
    assert r.stdout.split()[-1] == "1000"


def test_namespace_paths_are_joined_not_made(bundle):
    holder = subprocess.Popen(["unshare", "--net", "--uts", "--ipc", "sleep", "60"])
    try:
        deadline = time.time() + 5
        while os.readlink(f"/proc/{holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            assert time.time() < deadline, "the holder never unshared"
            time.sleep(0.01)
        doc = base("for k in net uts ipc pid; do readlink /proc/self/ns/$k; done")
        doc.pop("hostname")  # keep the holder's hostname: a joined uts namespace is not renamed
        doc["linux"]["namespaces"] = [{"type": "pid"}, {"type": "mount"},
                                      {"type": "network", "path": f"/proc/{holder.pid}/ns/net"},
                                      {"type": "uts", "path": f"/proc/{holder.pid}/ns/uts"},
                                      {"type": "ipc", "path": f"/proc/{holder.pid}/ns/ipc"}]
        write(bundle, doc)
        r = run_bundle(bundle)
        assert r.returncode == 0, r.stderr
        net, uts, ipc, pid = r.stdout.split()
        assert net == os.readlink(f"/proc/{holder.pid}/ns/net")
        assert uts == os.readlink(f"/proc/{holder.pid}/ns/uts")
        assert ipc == os.readlink(f"/proc/{holder.pid}/ns/ipc")
        assert pid != os.readlink("/proc/self/ns/pid")  # the one it did not join is new
    finally:
        holder.kill()
        holder.wait()


def test_a_pid_namespace_path_is_joined_by_the_fork(bundle):
    # unshare forks sleep as PID 1 of a new pid namespace; the bundle's init joins it, as PID 2 or later
    holder = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "sleep", "60"])
    try:
        link = f"/proc/{holder.pid}/ns/pid_for_children"
        deadline = time.time() + 5
        while os.readlink(link) == os.readlink("/proc/self/ns/pid"):
            assert time.time() < deadline, "the holder never unshared"
            time.sleep(0.01)
        doc = base("readlink /proc/self/ns/pid; echo $$; ps -o pid,comm | grep -c sleep")
        doc["linux"]["namespaces"] = [{"type": "pid", "path": link}, {"type": "mount"}, {"type": "uts"}]
        write(bundle, doc)
        r = run_bundle(bundle)
        assert r.returncode == 0, r.stderr
        ns, pid, sleeps = r.stdout.split()
        assert ns == os.readlink(link) and int(pid) > 1  # the holder's sleep is PID 1 there
        assert sleeps == "1"  # and this container's /proc shows it: the same pid namespace
    finally:
        holder.kill()
        holder.wait()


HOOKED = """
import json, sys
from minictr.oci import spec
from minictr.oci.hooks import run_hook
from minictr import container
cfg = spec.load_bundle(sys.argv[1], "hooked")
c = container.Container.create(cfg)
try:
    state = {"ociVersion": "1.1.0", "id": "hooked", "status": "created", "pid": c.pid, "bundle": sys.argv[1],
             "annotations": dict(cfg.annotations)}
    for hook in cfg.hooks:
        if hook.stage == "createRuntime":
            run_hook(hook, state)
    c.start()
    code = c.wait()
finally:
    c.delete(force=True)
sys.exit(code)
"""


def test_a_hook_reads_the_containers_state_on_stdin(bundle, tmp_path):
    seen = tmp_path / "seen"
    hook = tmp_path / "hook.sh"
    # the hook runs on the host: it reads its stdin, then looks at the container's init through /proc
    hook.write_text(f"#!/bin/sh\ncat > {seen}.json\npid=$(sed 's/.*\"pid\": *\\([0-9]*\\).*/\\1/' {seen}.json)\n"
                    f"readlink /proc/$pid/ns/pid > {seen}.ns\necho \"$HOOKVAR\" > {seen}.env\n")
    hook.chmod(0o755)
    doc = base("echo started")
    doc["annotations"] = {"org.example.lesson": "14"}
    doc["hooks"] = {"createRuntime": [{"path": str(hook), "env": ["HOOKVAR=from-config"], "timeout": 10}]}
    write(bundle, doc)
    r = subprocess.run([sys.executable, "-c", HOOKED, str(bundle)], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=str(HERE.parents[1])))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "started\n"
    state = json.loads((tmp_path / "seen.json").read_text())
    assert state["status"] == "created" and state["id"] == "hooked" and state["bundle"] == str(bundle)
    assert state["annotations"] == {"org.example.lesson": "14"} and state["pid"] > 1
    assert (tmp_path / "seen.ns").read_text().strip() != os.readlink("/proc/self/ns/pid")  # it was the container
    assert (tmp_path / "seen.env").read_text() == "from-config\n"


def test_podmans_own_config_json_runs_under_minictr(bundle, tmp_path):
    doc = json.loads((FIXTURES / "podman-run.config.json").read_text())
    doc["root"]["path"] = str(bundle / "rootfs")
    files = tmp_path / "userdata"
    (files / "shm").mkdir(parents=True)
    for m in doc["mounts"]:
        if m["type"] == "bind":  # podman's own files, in its temp dirs then: ours now
            name = os.path.basename(m["source"])
            if name != "shm":
                (files / name).write_text(f"{name} from the bundle\n")
            m["source"] = str(files / name)
    for ns in doc["linux"]["namespaces"]:
        ns.pop("path", None)  # podman's network namespace is gone: a new one
    doc["process"]["args"] = ["sh", "-c", "cat /etc/hostname; grep -E '^(CapEff|Seccomp|NoNewPrivs):' "
                              "/proc/self/status | tr -d '\\t'; ulimit -n; mount -t tmpfs t /mnt || echo refused"]
    write(bundle, doc)
    r = run_bundle(bundle, "c" * 64)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "hostname from the bundle"
    assert "CapEff:00000000a80425fb" in lines and "Seccomp:2" in lines
    assert lines[-2:] == ["1024", "refused"]


def test_run_dry_run_writes_a_bundle_that_runc_and_minictr_run(mc, rootfs_dir, tmp_path):
    out = tmp_path / "dry"
    r = mc("run", "--dry-run", "--bundle", str(out), "--memory", "32m", "--cap-drop", "NET_RAW", "-e", "GREETING=hi",
           rootfs_dir, "sh", "-c", "echo $GREETING; grep CapEff /proc/self/status")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{out}/config.json\n"
    assert mc("ps", "-aq").stdout == ""  # nothing was started, nothing is left
    doc = json.loads((out / "config.json").read_text())
    assert doc["root"]["path"] == "rootfs" and (out / "rootfs" / "bin" / "busybox").exists()
    assert doc["linux"]["resources"]["memory"]["limit"] == 32 << 20
    assert "CAP_NET_RAW" not in doc["process"]["capabilities"]["bounding"]
    again = mc("run", "--dry-run", "--bundle", str(out), rootfs_dir, "true")
    assert again.returncode == 125 and "already has a config.json" in again.stderr
    runc_root = tmp_path / "runc-root"
    theirs = subprocess.run(["runc", "--root", str(runc_root), "run", "-b", str(out), "dry-" + tmp_path.name[-8:]],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert theirs.returncode == 0, theirs.stderr
    ours = run_bundle(out, "dry")
    assert ours.returncode == 0, ours.stderr
    assert theirs.stdout == ours.stdout == "hi\nCapEff:\t00000000a80405fb\n"  # docker's 14 minus NET_RAW (bit 13)
