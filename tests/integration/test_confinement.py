"""What root in a default container may do (issue 15): probed from inside, compared with podman+runc.

Every probe of a refusal is harmless if the refusal were broken: the write to
/proc/sys writes back the value already there, the tmpfs goes on the
container's own /mnt, the block node is opened read-only and one byte read.
"""

import json
import os
import shutil
import subprocess
import tempfile

import pytest

DEFAULT_CAPS = "00000000a80425fb"
MASKED_HERE = ("/proc/keys", "/proc/timer_list", "/sys/firmware")  # the runc masks this kernel has (NOTES.md)
READONLY_HERE = ("/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq")

def host_disk() -> tuple[int, int]:
    """major:minor of the host's root file system (a real disk here: 254:0, /dev/vda)."""
    dev = os.stat("/").st_dev
    return (os.major(dev), os.minor(dev)) if os.major(dev) else (8, 0)


STATUS = "grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status; echo ---; cat /proc/self/mountinfo; echo ---\n"
PROBES = STATUS + """
mkdir -p /tmp /mnt
v=$(cat /proc/sys/kernel/printk)
if echo "$v" > /proc/sys/kernel/printk 2>/dev/null; then echo procsys=written; else echo procsys=refused; fi
if mount -t tmpfs none /mnt 2>/dev/null; then echo mount=ok; umount /mnt; else echo mount=refused; fi
if mknod /tmp/disk b {major} {minor} 2>/dev/null; then echo mknod=ok; else echo mknod=refused; fi
if head -c1 /tmp/disk >/dev/null 2>&1; then echo blockopen=ok; else echo blockopen=refused; fi
if echo x >/dev/null && head -c1 /dev/zero >/dev/null && head -c1 /dev/urandom >/dev/null; then echo null=ok; fi
if dmesg >/dev/null 2>&1; then echo dmesg=ok; else echo dmesg=refused; fi
echo keysbytes=$(cat /proc/keys | wc -c)
"""


class Probe:
    """The output of STATUS (and PROBES): /proc/self/status fields, mountinfo, key=value results."""

    def __init__(self, out: str):
        status, mountinfo, rest = out.split("---\n", 2)
        self.status = dict(line.replace("\t", "").split(":", 1) for line in status.splitlines())
        self.mounts = {}
        for line in mountinfo.splitlines():
            fields = line.split()
            sep = fields.index("-")
            self.mounts[fields[4]] = {"root": fields[3], "opts": fields[5].split(","), "fstype": fields[sep + 1]}
        self.results = dict(line.split("=", 1) for line in rest.splitlines() if "=" in line)

    def read_only(self, path: str) -> bool:
        return path in self.mounts and "ro" in self.mounts[path]["opts"]

    def masked(self, path: str) -> bool:
        m = self.mounts.get(path)
        if m is None:
            return False
        # a file: /dev/null bound over it; a directory: a read-only tmpfs over it
        return m["root"] == "/null" or (m["fstype"] == "tmpfs" and "ro" in m["opts"])


def probe(mc, *flags, script=PROBES, image="busybox") -> Probe:
    major, minor = host_disk()
    r = mc("run", "--rm", *flags, image, "sh", "-c", script.format(major=major, minor=minor))
    assert r.returncode == 0, r.stderr
    return Probe(r.stdout)


def host_bounding() -> str:
    with open("/proc/self/status") as f:
        return next(line.split()[1] for line in f if line.startswith("CapBnd:"))


def test_a_default_container_has_dockers_confinement(mc):
    p = probe(mc)
    assert p.status["CapEff"] == p.status["CapBnd"] == p.status["CapPrm"] == DEFAULT_CAPS
    assert p.status["CapInh"] == p.status["CapAmb"] == "0000000000000000"
    assert p.status["NoNewPrivs"] == "0"
    assert p.status["Seccomp"] == "2"  # a filter: docker's default profile
    for path in READONLY_HERE:
        assert p.read_only(path), path
    for path in MASKED_HERE:
        assert p.masked(path), (path, p.mounts.get(path))
    assert p.mounts["/proc/keys"]["root"] == "/null" and p.mounts["/sys/firmware"]["fstype"] == "tmpfs"
    assert p.results["keysbytes"] == "0"
    assert p.results["procsys"] == "refused"
    assert p.results["mount"] == "refused"
    assert (p.results["mknod"], p.results["blockopen"]) == ("ok", "refused")  # b *:* m, and no r
    assert p.results["null"] == "ok"
    assert p.results["dmesg"] == "refused"


def test_podman_with_runc_shows_the_same(mc, rootfs_dir, tmp_path):
    assert shutil.which("podman") and os.path.exists("/usr/bin/runc"), "`make setup-test` installs podman and runc"
    conf = tmp_path / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=1024:1024","nproc=1024:1024"]\n')
    runroot = tempfile.mkdtemp(prefix="mc-rr-")  # podman wants a short runroot
    try:
        r = subprocess.run(["podman", "--root", str(tmp_path / "storage"), "--runroot", runroot,
                            "--storage-driver", "vfs", "--runtime", "/usr/bin/runc", "run", "--rm",
                            "--network", "none", "--rootfs", rootfs_dir, "sh", "-c", STATUS],
                           env={**os.environ, "CONTAINERS_CONF": str(conf)}, capture_output=True, text=True,
                           timeout=120)
    finally:
        shutil.rmtree(runroot, ignore_errors=True)
    assert r.returncode == 0, r.stderr
    theirs = Probe(r.stdout)
    ours = probe(mc, script=STATUS)
    for field in ("CapEff", "CapBnd", "CapPrm", "CapInh", "CapAmb", "NoNewPrivs", "Seccomp"):
        assert ours.status[field] == theirs.status[field], field
    for path in MASKED_HERE:
        assert theirs.masked(path) and ours.masked(path), path
    for path in READONLY_HERE:
        assert theirs.read_only(path) and ours.read_only(path), path


def test_privileged_gets_everything(mc):
    p = probe(mc, "--privileged", script=STATUS)
    assert p.status["CapEff"] == p.status["CapBnd"] == host_bounding()
    assert p.status["Seccomp"] == "0"
    assert not any(p.read_only(path) for path in READONLY_HERE)
    assert not any(p.masked(path) for path in MASKED_HERE)


def test_privileged_devices_and_sys(mc):
    r = mc("run", "--rm", "--privileged", "busybox", "sh", "-c",
           "grep ' /sys ' /proc/self/mountinfo; cat /sys/fs/cgroup/devices/devices.list 2>/dev/null || true")
    assert r.returncode == 0, r.stderr
    sys_line = r.stdout.splitlines()[0].split()
    assert sys_line[5].startswith("rw")
    if os.path.exists("/sys/fs/cgroup/devices/devices.list"):  # a v1 host: the container's group allows all
        assert r.stdout.splitlines()[1:] == ["a *:* rwm"]


def test_cap_drop_all_leaves_nothing(mc):
    p = probe(mc, "--cap-drop", "ALL", script=STATUS + "mkdir -p /tmp; touch /tmp/f;"
                                                     "chown 1 /tmp/f 2>/dev/null && echo chown=ok || echo chown=refused")
    assert p.status["CapEff"] == p.status["CapBnd"] == p.status["CapPrm"] == "0000000000000000"
    assert p.results["chown"] == "refused"


def test_cap_add_net_admin_adds_just_that(mc):
    script = STATUS + "ip link set lo mtu 65536 2>/dev/null && echo netadmin=ok || echo netadmin=refused"
    p = probe(mc, "--cap-add", "net_admin", script=script)
    assert int(p.status["CapEff"], 16) == int(p.status["CapBnd"], 16) == 0xA80425FB | 1 << 12
    assert p.results["netadmin"] == "ok"  # the container's own loopback, set to the MTU it has
    assert probe(mc, script=script).results["netadmin"] == "refused"


def test_a_non_root_user_has_no_effective_capabilities_but_the_bounding_set(mc):
    p = probe(mc, "-u", "65534", script=STATUS)
    assert p.status["CapEff"] == p.status["CapPrm"] == "0000000000000000"
    assert p.status["CapBnd"] == DEFAULT_CAPS


def test_no_new_privileges(mc):
    assert probe(mc, "--security-opt", "no-new-privileges", script=STATUS).status["NoNewPrivs"] == "1"


SECCOMP_PROBES = STATUS + """
mkdir -p /tmp
if mkdir /tmp/made 2>/dev/null; then echo mkdir=ok; else echo mkdir=refused; fi
if unshare -n true 2>/dev/null; then echo unshare=ok; else echo unshare=refused; fi
"""


def test_the_default_seccomp_profile_refuses_new_namespaces_unless_sys_admin_is_added(mc):
    # unshare -n makes a network namespace below the container's own: harmless either way.
    assert probe(mc, script=SECCOMP_PROBES).results == {"mkdir": "ok", "unshare": "refused"}
    assert probe(mc, "--cap-add", "SYS_ADMIN", script=SECCOMP_PROBES).results["unshare"] == "ok"


def test_seccomp_unconfined_loads_no_filter(mc):
    p = probe(mc, "--security-opt", "seccomp=unconfined", script=STATUS)
    assert p.status["Seccomp"] == "0" and p.status["CapEff"] == DEFAULT_CAPS


def test_a_custom_seccomp_profile_refusing_mkdir(mc, tmp_path):
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}))
    p = probe(mc, "--security-opt", f"seccomp={profile}", script=SECCOMP_PROBES)
    assert p.status["Seccomp"] == "2"
    assert p.results["mkdir"] == "refused"
    assert p.results["unshare"] == "refused"  # no filter for it, but CAP_SYS_ADMIN is still not there


@pytest.mark.parametrize("profile, says", [
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdirx"], "action": "SCMP_ACT_ERRNO"}]}',
     "mkdirx"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",'
     ' "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}]}', "SCMP_CMP_SOMETIMES"),
    ('{"defaultAction": ', "JSON"),
])
def test_a_bad_seccomp_profile_is_one_line_and_starts_nothing(mc, tmp_path, profile, says):
    path = tmp_path / "bad.json"
    path.write_text(profile)
    r = mc("run", "--rm", "--security-opt", f"seccomp={path}", "busybox", "true")
    assert r.returncode == 125 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and says in r.stderr, r.stderr
    assert mc.states() == []


def test_an_unknown_capability_is_one_line_and_starts_nothing(mc):
    r = mc("run", "--rm", "--cap-add", "SYS_BOGUS", "busybox", "true")
    assert r.returncode == 125 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "SYS_BOGUS" in r.stderr
    assert mc.states() == []


def test_inspect_shows_the_security_settings(mc):
    r = mc("run", "--name", "confined", "--cap-add", "NET_ADMIN", "--cap-drop", "net_raw",
           "--security-opt", "no-new-privileges", "busybox", "true")
    assert r.returncode == 0, r.stderr
    out = mc("inspect", "confined")
    assert out.returncode == 0, out.stderr
    hc = json.loads(out.stdout)[0]["HostConfig"]
    assert hc["CapAdd"] == ["CAP_NET_ADMIN"] and hc["CapDrop"] == ["CAP_NET_RAW"]
    assert hc["Privileged"] is False and hc["SecurityOpt"] == ["no-new-privileges"]
    mc("rm", "confined")


# -- the v2 device program, for real, where a cgroup2 tree is mounted ------------

def cgroup2_mount() -> str | None:
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[2] == "cgroup2":
                return fields[1]
    return None


def test_the_ebpf_device_program_on_a_real_cgroup2_group(tmp_path):
    from minictr.security import devices
    from minictr.syscalls import linux

    mount = cgroup2_mount()
    if mount is None:
        pytest.skip("no cgroup2 tree is mounted on this host")
    group = os.path.join(mount, f"minictr-test-bpf-{os.getpid()}")
    node = tmp_path / "disk"
    os.mknod(node, 0o600 | 0o060000, os.makedev(*host_disk()))
    os.mkdir(group)
    try:
        devices.attach_v2(linux(), group, devices.DEFAULT)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # joins the group, then tries the nodes; harmless: read-only, nothing read
            try:
                os.close(r)
                with open(os.path.join(group, "cgroup.procs"), "w") as f:
                    f.write("0")
                out = []
                for path in (str(node), "/dev/null", "/dev/zero"):
                    try:
                        os.close(os.open(path, os.O_RDONLY))
                        out.append("ok")
                    except OSError as e:
                        out.append(str(e.errno))
                os.write(w, " ".join(out).encode())
            finally:
                os._exit(0)
        os.close(w)
        got = os.read(r, 100).decode()
        os.close(r)
        os.waitpid(pid, 0)
    finally:
        os.rmdir(group)
    assert got == "1 ok ok"  # EPERM for the block node, the allowed ones open
