"""The mount plan is data: compare it, then apply it to a fake kernel."""

import errno

import pytest

from minictr import rootfs
from minictr.config import Rootfs
from minictr.errors import SyscallError
from minictr.syscalls import FakeSyscalls, MountFlags as MS, UmountFlags


def mounts(steps):
    return [s for s in steps if isinstance(s, rootfs.Mount)]


def test_plan_starts_by_making_every_mount_private():
    first = rootfs.plan(Rootfs("/r"))[0]
    assert first == rootfs.Mount(None, "/", None, MS.REC | MS.PRIVATE, mkdir=False)


def test_directory_root_is_bind_mounted_onto_itself():
    m = mounts(rootfs.plan(Rootfs("/r")))[1]
    assert (m.source, m.target, m.flags) == ("/r", "/r", MS.BIND | MS.REC)


def test_overlay_root_lists_layers_in_order():
    r = Rootfs("/c/rootfs", lowers=("/l/top", "/l/base"), upper="/c/upper", work="/c/work")
    m = mounts(rootfs.plan(r))[1]
    assert m.fstype == "overlay"
    assert m.data == "lowerdir=/l/top:/l/base,upperdir=/c/upper,workdir=/c/work"


def test_plan_mounts_what_a_container_sees():
    table = {m.target: (m.fstype, m.flags) for m in mounts(rootfs.plan(Rootfs("/r")))}
    assert table["/r/proc"] == ("proc", MS.NOSUID | MS.NODEV | MS.NOEXEC)
    assert table["/r/dev"][0] == "tmpfs"
    assert table["/r/dev/pts"][0] == "devpts"
    assert table["/r/dev/shm"][0] == "tmpfs"
    assert table["/r/dev/mqueue"][0] == "mqueue"
    assert table["/r/sys"] == ("sysfs", MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RDONLY)
    devices = {s.path.rsplit("/", 1)[1] for s in rootfs.plan(Rootfs("/r")) if isinstance(s, rootfs.Device)}
    assert devices == {"null", "zero", "full", "random", "urandom", "tty"}


def test_devpts_is_a_new_instance_and_ptmx_points_into_it():
    steps = rootfs.plan(Rootfs("/r"))
    pts = next(m for m in mounts(steps) if m.target == "/r/dev/pts")
    assert "newinstance" in pts.data
    assert rootfs.Symlink("/r/dev/ptmx", "pts/ptmx") in steps


def test_read_only_root_is_remounted_last():
    last = rootfs.plan(Rootfs("/r", readonly=True))[-1]
    assert last.flags & MS.RDONLY and last.flags & MS.REMOUNT and last.target == "/r"


def test_apply_calls_the_kernel_in_plan_order(tmp_path):
    root = str(tmp_path)
    fake = FakeSyscalls()
    steps = rootfs.plan(Rootfs(root))
    rootfs.apply(steps, fake)
    assert [c[1][1] for c in fake.calls if c[0] == "mount"] == [m.target for m in mounts(steps)]
    assert [c[1][0] for c in fake.calls if c[0] == "mknod"][0] == f"{root}/dev/null"
    assert (tmp_path / "dev" / "ptmx").is_symlink()
    assert (tmp_path / "proc").is_dir()


def test_apply_stops_at_the_first_refused_mount(tmp_path):
    fake = FakeSyscalls(fail={"mount": errno.EPERM})
    with pytest.raises(SyscallError) as info:
        rootfs.apply(rootfs.plan(Rootfs(str(tmp_path))), fake)
    assert fake.names() == ["mount"]
    assert "Operation not permitted" in str(info.value) and "needs root" in str(info.value)


def test_pivot_sequence():
    fake = FakeSyscalls()
    rootfs.pivot_into(fake, "/new")
    assert fake.calls == [("chdir", ("/new",)), ("pivot_root", (".", ".")),
                          ("umount2", (".", int(UmountFlags.DETACH))), ("chdir", ("/",))]


def test_chroot_sequence_keeps_the_old_root_mounted():
    fake = FakeSyscalls()
    rootfs.chroot_into(fake, "/new")
    assert "umount2" not in fake.names() and "pivot_root" not in fake.names()
    assert ("chroot", (".",)) in fake.calls


def test_pure_v2_cgroupfs_is_one_read_only_mount():
    steps = rootfs.plan(Rootfs("/r"), cgroupfs=((".", "cgroup2", None),))
    m = mounts(steps)[-1]
    assert (m.target, m.fstype) == ("/r/sys/fs/cgroup", "cgroup2") and m.flags & MS.RDONLY


def test_v1_cgroupfs_gets_a_tmpfs_and_one_mount_per_hierarchy():
    view = (("memory", "cgroup", "memory"), ("cpu,cpuacct", "cgroup", "cpu,cpuacct"), ("unified", "cgroup2", None))
    steps = rootfs.plan(Rootfs("/r"), cgroupfs=view)
    table = {m.target: (m.fstype, m.data) for m in mounts(steps) if m.fstype}  # the remount has none
    assert table["/r/sys/fs/cgroup"] == ("tmpfs", "mode=755")
    assert table["/r/sys/fs/cgroup/memory"] == ("cgroup", "memory")
    assert table["/r/sys/fs/cgroup/unified"] == ("cgroup2", None)
    assert rootfs.Symlink("/r/sys/fs/cgroup/cpu", "cpu,cpuacct") in steps
    assert all(m.flags & MS.RDONLY for m in mounts(steps) if m.fstype in ("cgroup", "cgroup2"))
    last = steps[-1]
    assert last.target == "/r/sys/fs/cgroup" and last.flags & MS.REMOUNT and last.flags & MS.RDONLY


def test_no_cgroupfs_without_a_view():
    assert not [m for m in mounts(rootfs.plan(Rootfs("/r"))) if "cgroup" in m.target]


def test_hostname_files_only_when_asked():
    assert not [s for s in rootfs.plan(Rootfs("/r")) if isinstance(s, rootfs.File)]
    files = {s.path: s.content for s in rootfs.plan(Rootfs("/r"), hostname="box") if isinstance(s, rootfs.File)}
    assert files["/r/etc/hostname"] == "box\n"
    assert "127.0.1.1\tbox" in files["/r/etc/hosts"] and "localhost" in files["/r/etc/hosts"]


def test_a_file_step_replaces_a_symlink_instead_of_writing_through_it(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("host")
    (tmp_path / "root" / "etc").mkdir(parents=True)
    (tmp_path / "root" / "etc" / "hostname").symlink_to(outside)
    rootfs.apply([rootfs.File(str(tmp_path / "root" / "etc" / "hostname"), "box\n")], FakeSyscalls())
    assert outside.read_text() == "host"
    assert (tmp_path / "root" / "etc" / "hostname").read_text() == "box\n"


def test_an_rm_containers_overlay_is_volatile_and_a_kept_ones_is_not():
    from minictr.rootfs import plan

    def overlay_data(**kw):
        root = Rootfs("/r", lowers=("/l2", "/l1"), upper="/u", work="/w", **kw)
        return next(s.data for s in plan(root) if getattr(s, "fstype", None) == "overlay")

    assert overlay_data() == "lowerdir=/l2:/l1,upperdir=/u,workdir=/w"
    assert overlay_data(volatile=True) == "lowerdir=/l2:/l1,upperdir=/u,workdir=/w,volatile"


@pytest.mark.parametrize("release,ok", [("6.18.44-fc-v657", True), ("5.10.0-23-amd64", True),
                                        ("5.4.0-150-generic", False), ("4.19.0", False), ("weird", False)])
def test_volatile_needs_linux_5_10(release, ok):
    from minictr.rootfs import volatile_overlay_supported
    assert volatile_overlay_supported(release) is ok


def test_in_a_user_namespace_devices_are_bound_and_sys_too_on_the_hosts_network():
    from minictr.config import Rootfs
    from minictr.rootfs import Device, Mount, ReadOnly, plan
    steps = plan(Rootfs("/r"), userns=True, host_net=True)
    devices = [s for s in steps if isinstance(s, Device)]
    assert devices and all(d.bind == "/dev/" + d.path.rsplit("/", 1)[1] for d in devices)  # mknod is refused
    assert not any(isinstance(s, Mount) and s.fstype == "sysfs" for s in steps)  # not our network namespace
    assert any(isinstance(s, Mount) and s.source == "/sys" and s.target == "/r/sys" for s in steps)
    assert ReadOnly("/r/sys") in steps
    own_net = plan(Rootfs("/r"), userns=True)
    assert any(isinstance(s, Mount) and s.fstype == "sysfs" for s in own_net)
    assert all(d.bind is None for d in plan(Rootfs("/r")) if isinstance(d, Device))  # root: fresh nodes


def test_an_overlay_in_a_user_namespace_reads_user_xattrs():
    from minictr.config import Rootfs
    from minictr.rootfs import Mount, plan
    (ov,) = [s for s in plan(Rootfs("/r", lowers=("/l",), upper="/u", work="/w", userxattr=True))
             if isinstance(s, Mount) and s.fstype == "overlay"]
    assert ov.data.endswith(",userxattr")
