"""config.json's mounts as mount plan steps (minictr.mountspec), and run_hook (minictr.oci.hooks)."""

import json
import os
import stat

import pytest

from minictr import rootfs
from minictr.config import DeviceNode, Hook, MountSpec, Rootfs
from minictr.mountspec import check_options, parse_options, steps
from minictr.oci.hooks import HookError, run_hook
from minictr.rootfs import Device, Mount, ReadOnly, Symlink, Touch
from minictr.syscalls import FakeSyscalls
from minictr.syscalls import MountFlags as MS


def test_options_split_into_flags_propagation_and_data():
    assert parse_options(["nosuid", "strictatime", "mode=755", "size=65536k"]) == \
        (MS.NOSUID | MS.STRICTATIME, 0, "mode=755,size=65536k")
    assert parse_options(["rbind", "rprivate", "ro", "nodev"]) == \
        (MS.BIND | MS.REC | MS.RDONLY | MS.NODEV, MS.PRIVATE | MS.REC, "")
    assert parse_options(["ro", "rw", "exec", "noexec", "tmpcopyup"]) == (MS.NOEXEC, 0, "")  # the last word wins
    assert check_options(MountSpec("/x", "", "/src", ())) == "a mount needs a type, or bind or rbind in its options"
    assert check_options(MountSpec("/x", "none", "/sys", ("rbind", "ro"))) is None
    assert "idmap" in check_options(MountSpec("/x", "bind", "/src", ("bind", "idmap")))


def test_a_podman_style_mount_list_becomes_steps(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("")
    shm = tmp_path / "shm"
    shm.mkdir()
    specs = (
        MountSpec("/proc", "proc", "proc", ("nosuid", "noexec", "nodev")),
        MountSpec("/dev", "tmpfs", "tmpfs", ("nosuid", "strictatime", "mode=755", "size=65536k")),
        MountSpec("/etc/hosts", "bind", str(hosts), ("bind", "rprivate")),
        MountSpec("/dev/shm", "bind", str(shm), ("bind", "rprivate", "nosuid", "noexec", "nodev")),
        MountSpec("/sys/fs/cgroup", "cgroup", "cgroup", ("rprivate", "nosuid", "noexec", "nodev", "relatime", "ro")),
    )
    out = steps(specs, "/r", cgroupfs=(("memory", "cgroup", "memory"),),
                devices=(DeviceNode("/dev/fuse", "c", 10, 229, 0o600, 0, 5),))
    assert out[0] == Mount("proc", "/r/proc", "proc", MS.NOSUID | MS.NOEXEC | MS.NODEV, None)
    assert out[1] == Mount("tmpfs", "/r/dev", "tmpfs", MS.NOSUID | MS.STRICTATIME, "mode=755,size=65536k")
    # a file bind: the mount point is made as a file, the bind has no flags, propagation comes after
    assert out[2:5] == [Touch("/r/etc/hosts"), Mount(str(hosts), "/r/etc/hosts", None, MS.BIND, mkdir=False),
                        Mount(None, "/r/etc/hosts", None, MS.PRIVATE | MS.REC, mkdir=False)]
    # a directory bind with flags: bind, then a remount with them (the kernel ignores them on the bind)
    assert out[5:8] == [Mount(str(shm), "/r/dev/shm", None, MS.BIND),
                        Mount(None, "/r/dev/shm", None, MS.BIND | MS.REMOUNT | MS.NOSUID | MS.NOEXEC | MS.NODEV,
                              mkdir=False),
                        Mount(None, "/r/dev/shm", None, MS.PRIVATE | MS.REC, mkdir=False)]
    assert out[8].fstype == "tmpfs" and out[9] == Mount("cgroup", "/r/sys/fs/cgroup/memory", "cgroup",
                                                        MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RDONLY, "memory")
    devices = [s for s in out if isinstance(s, Device)]
    assert devices[-1] == Device("/r/dev/fuse", 10, 229, 0o600, "c", 0, 5) and len(devices) == 7
    assert Symlink("/r/dev/ptmx", "pts/ptmx") in out and Symlink("/r/dev/fd", "/proc/self/fd") in out


def test_a_destination_never_leaves_the_root_through_a_symlink(tmp_path):
    from minictr.mountspec import in_root
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "run").mkdir()
    (root / "evil").symlink_to("/")                  # an image may hold any symlink
    (root / "up").symlink_to("../../../..")
    (root / "var").symlink_to("run")
    r = str(root)
    assert in_root(r, "/evil/etc/passwd") == f"{r}/etc/passwd"
    assert in_root(r, "/up/etc") == f"{r}/etc"
    assert in_root(r, "/var/lock") == f"{r}/run/lock"
    assert in_root(r, "/../../x") == f"{r}/x"
    (root / "loop").symlink_to("loop")
    with pytest.raises(OSError, match="too many levels"):
        in_root(r, "/loop/x")
    out = steps((MountSpec("/evil/hosts", "bind", "/etc/hostname", ("bind",)),), r)
    assert [s.target for s in out if isinstance(s, Mount)] == [f"{r}/hosts"]


def test_a_bind_of_the_hosts_dev_gets_no_device_nodes():
    out = steps((MountSpec("/dev", "bind", "/dev", ("rbind",)),), "/r")
    assert not any(isinstance(s, (Device, Symlink)) for s in out)


def test_the_plan_with_a_bundles_mounts_keeps_masks_and_the_readonly_root():
    spec_steps = steps((MountSpec("/proc", "proc", "proc"),), "/r")
    plan = rootfs.plan(Rootfs("/r", readonly=True, propagation="rslave"), masked=("/proc/keys",),
                       readonly=("/proc/sys",), spec_steps=spec_steps)
    assert plan[0] == Mount(None, "/", None, MS.REC | MS.PRIVATE, mkdir=False)
    assert plan[2] == Mount("proc", "/r/proc", "proc", 0, None)
    assert not any(isinstance(s, Mount) and s.target == "/r/sys" for s in plan)  # only what the bundle names
    assert ReadOnly("/r/proc/sys") in plan and plan[-1] == Mount("/r", "/r", None, MS.BIND | MS.REMOUNT | MS.RDONLY,
                                                                 mkdir=False)


def test_root_propagation_is_set_on_the_new_root():
    fake = FakeSyscalls()
    rootfs.propagate_root(fake, "rslave")
    assert fake.calls == [("mount", (None, "/", None, int(MS.SLAVE | MS.REC), None))]


def test_apply_makes_a_touch_target_and_a_fifo(tmp_path):
    fake = FakeSyscalls()
    rootfs.apply([Touch(str(tmp_path / "etc" / "hosts")), Device(str(tmp_path / "p"), 0, 0, 0o600, "p")], fake)
    assert (tmp_path / "etc" / "hosts").read_text() == ""
    assert fake.calls == [("mknod", (str(tmp_path / "p"), stat.S_IFIFO | 0o600, 0, 0))]
    (tmp_path / "etc" / "hosts").write_text("kept")
    rootfs.apply([Touch(str(tmp_path / "etc" / "hosts"))], fake)
    assert (tmp_path / "etc" / "hosts").read_text() == "kept"  # made only where missing


# ------------------------------------------------------------------ hooks
STATE = {"ociVersion": "1.1.0", "id": "web", "status": "created", "pid": 1234, "bundle": "/b", "annotations": {}}


def script(tmp_path, body: str):
    path = tmp_path / "hook.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_a_hook_gets_the_state_on_stdin_its_args_and_only_its_env(tmp_path):
    out = tmp_path / "out"
    body = f'cat > {out}.state; tr "\\0" " " < /proc/$$/cmdline > {out}; echo "|$FOO|$HOME" >> {out}'
    run_hook(Hook("createRuntime", "/bin/sh", ("myhook", "-c", body), ("FOO=bar",), 5), STATE)
    assert json.loads((tmp_path / "out.state").read_text()) == STATE
    # args[0] is argv[0] (as execv(3)); the environment is only the hook's env: no HOME
    assert (tmp_path / "out").read_text() == f"myhook -c {body} |bar|\n"
    path = script(tmp_path, f"cat > {out}.state\n")
    run_hook({"path": path}, dict(STATE, status="stopped"))  # config.json's own dict works too
    assert json.loads((tmp_path / "out.state").read_text())["status"] == "stopped"


def test_a_failing_hook_says_so_with_its_stderr(tmp_path):
    path = script(tmp_path, "echo 'no network for you' >&2; exit 3\n")
    with pytest.raises(HookError, match=r"exited with status 3: no network for you"):
        run_hook(Hook("poststart", path), STATE)
    with pytest.raises(HookError, match="cannot run it"):
        run_hook(Hook("poststart", str(tmp_path / "missing")), STATE)


def test_a_hook_past_its_timeout_is_killed(tmp_path):
    path = script(tmp_path, "exec sleep 30\n")
    with pytest.raises(HookError, match=r"still running after 1s"):
        run_hook(Hook("createContainer", path, (), (), 1), STATE)
