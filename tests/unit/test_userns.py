"""User namespaces without a kernel: --userns plans, subuid files, map writing, host refusals."""

import errno
import os

import pytest

from minictr import userns
from minictr.config import ContainerConfig, Rootfs
from minictr.errors import ConfigError, ContainerSetupError
from minictr.syscalls import FakeSyscalls

SUBUID = """\
# a comment
alice:100000:65536
1001:300000:1000
bob:200000:65536
broken line
carol:x:5
alice:500000:0
"""


def test_parse_subid_matches_the_name_or_the_uid_and_skips_the_rest():
    assert userns.parse_subid(SUBUID, "alice", 1000) == [(100000, 65536)]   # a count of 0 grants nothing
    assert userns.parse_subid(SUBUID, "dave", 1001) == [(300000, 1000)]     # by number
    assert userns.parse_subid(SUBUID, "carol", 1002) == []                  # malformed
    assert userns.parse_subid("", "alice", 1000) == []


def test_read_subids_of_a_missing_file_is_empty(tmp_path):
    assert userns.read_subids(str(tmp_path / "nope"), "alice", 1000) == []
    (tmp_path / "subuid").write_text(SUBUID)
    assert userns.read_subids(str(tmp_path / "subuid"), "bob", 1005) == [(200000, 65536)]


def test_root_gets_no_user_namespace_unless_asked():
    assert userns.plan(None, 0, 0, "root") == userns.UserMaps()
    assert userns.plan("host", 0, 0, "root").uid_map == ()


def test_root_auto_maps_root_inside_to_an_unprivileged_range():
    maps = userns.plan("auto", 0, 0, "root")
    assert maps.uid_map == ((0, userns.AUTO_ROOT_BASE, userns.AUTO_SIZE),) == maps.gid_map
    assert not maps.helper  # root writes any map itself
    maps = userns.plan("auto", 0, 0, "root", containers_range=(2_000_000, 10_000))
    assert maps.uid_map == ((0, 2_000_000, 10_000),)


def test_root_keep_id_and_user_host_are_refused_with_a_reason():
    with pytest.raises(userns.UsernsError, match="keep-id is for an ordinary user"):
        userns.plan("keep-id", 0, 0, "root")
    with pytest.raises(userns.UsernsError, match="--userns=host needs root"):
        userns.plan("host", 1000, 1000, "alice")
    with pytest.raises(userns.UsernsError, match="unknown mode"):
        userns.plan("private", 1000, 1000, "alice")


def test_a_user_without_subordinate_ids_maps_their_own_uid_to_root():
    maps = userns.plan(None, 1000, 1001, "alice")
    assert maps.uid_map == ((0, 1000, 1),) and maps.gid_map == ((0, 1001, 1),)
    assert not maps.helper and maps.note == ""
    assert userns.plan("auto", 1000, 1001, "alice") == maps


def test_a_user_with_ranges_maps_root_to_themselves_and_the_rest_to_the_range():
    maps = userns.plan(None, 1000, 1000, "alice", subuids=[(100000, 65536)], subgids=[(100000, 65536), (7, 3)])
    assert maps.uid_map == ((0, 1000, 1), (1, 100000, 65536))
    assert maps.gid_map == ((0, 1000, 1), (1, 100000, 65536), (65537, 7, 3))
    assert maps.helper
    ContainerConfig(id="a" * 64, name="x", image="-", rootfs=Rootfs("/"), args=("true",),
                    namespaces=frozenset({"user", "mount"}), uid_map=maps.uid_map, gid_map=maps.gid_map).validate()


def test_without_newuidmap_the_ranges_fall_back_to_one_uid_with_a_note():
    maps = userns.plan(None, 1000, 1000, "alice", subuids=[(100000, 65536)], subgids=[(100000, 65536)],
                       helpers=False)
    assert maps.uid_map == ((0, 1000, 1),) and not maps.helper
    assert maps.note.startswith("note: newuidmap/newgidmap not found") and "\n" not in maps.note


def test_keep_id_keeps_the_users_id_and_fills_around_it():
    maps = userns.plan("keep-id", 1000, 1000, "alice", subuids=[(100000, 65536)], subgids=[(100000, 65536)])
    assert maps.uid_map == ((0, 100000, 1000), (1000, 1000, 1), (1001, 101000, 64536))
    assert maps.user == "1000:1000" and maps.helper
    alone = userns.plan("keep-id", 1000, 1000, "alice")
    assert alone.uid_map == ((1000, 1000, 1),) and alone.user == "1000:1000"


def test_needs_helper_only_for_more_than_ones_own_id():
    assert not userns.needs_helper(((0, 1000, 1),), ((0, 1000, 1),), 1000, 1000)
    assert userns.needs_helper(((0, 1000, 1), (1, 100000, 5)), ((0, 1000, 1),), 1000, 1000)
    assert userns.needs_helper(((0, 1000, 1),), ((0, 27, 1),), 1000, 1000)   # another gid
    assert not userns.needs_helper(((0, 10**9, 65536),), ((0, 10**9, 65536),), 0, 0)  # root writes anything


def test_write_maps_alone_denies_setgroups_first(tmp_path):
    d = tmp_path / "42"
    d.mkdir()
    for f in ("setgroups", "uid_map", "gid_map"):
        (d / f).write_text("")
    userns.write_maps(42, ((0, 1000, 1),), ((0, 1000, 1),), proc=str(tmp_path), euid=1000, egid=1000)
    assert (d / "setgroups").read_text() == "deny"
    assert (d / "uid_map").read_text() == "0 1000 1\n" == (d / "gid_map").read_text()


def test_write_maps_as_root_leaves_setgroups_alone(tmp_path):
    d = tmp_path / "7"
    d.mkdir()
    for f in ("setgroups", "uid_map", "gid_map"):
        (d / f).write_text("allow")
    userns.write_maps(7, ((0, 5, 2), (2, 9, 1)), ((0, 5, 3),), proc=str(tmp_path), euid=0, egid=0)
    assert (d / "setgroups").read_text() == "allow"
    assert (d / "uid_map").read_text().startswith("0 5 2\n2 9 1\n")


def test_write_maps_runs_newuidmap_and_newgidmap_for_ranges(tmp_path):
    calls = []
    uid_map, gid_map = ((0, 1000, 1), (1, 100000, 65536)), ((0, 1000, 1), (1, 100000, 65536))
    userns.write_maps(99, uid_map, gid_map, proc=str(tmp_path), euid=1000, egid=1000,
                      spawn=lambda argv: calls.append(argv) or 0)
    assert calls == [["newuidmap", "99", "0", "1000", "1", "1", "100000", "65536"],
                     ["newgidmap", "99", "0", "1000", "1", "1", "100000", "65536"]]
    with pytest.raises(userns.UsernsError, match=r"newuidmap 99 failed \(exit status 1\).*/etc/subuid"):
        userns.write_maps(99, uid_map, gid_map, euid=1000, egid=1000, spawn=lambda argv: 1)


def test_a_write_the_kernel_refuses_is_one_line(tmp_path):
    with pytest.raises(userns.UsernsError, match="uid_map"):
        userns.write_maps(1, ((0, 0, 1),), ((0, 0, 1),), proc=str(tmp_path), euid=0, egid=0)


@pytest.mark.parametrize("path,value,words", [
    ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1", "AppArmor"),
    ("/proc/sys/kernel/unprivileged_userns_clone", "0", "kernel.unprivileged_userns_clone=0"),
    ("/proc/sys/user/max_user_namespaces", "0\n", "user.max_user_namespaces=0"),
])
def test_the_host_setting_that_refuses_a_user_namespace_is_named(path, value, words):
    files = {path: value}
    why, fix = userns.refusal(read=files.get, euid=1000)
    assert words in why and "sysctl" in fix
    with pytest.raises(userns.UsernsError) as info:
        userns.check_host(read=files.get, euid=1000)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_no_refusal_when_the_settings_allow_it_and_root_ignores_the_unprivileged_ones():
    allowing = {"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "0",
                "/proc/sys/kernel/unprivileged_userns_clone": "1", "/proc/sys/user/max_user_namespaces": "63000"}
    assert userns.refusal(read=allowing.get, euid=1000) is None
    assert userns.refusal(read={}.get, euid=1000) is None  # files absent: no such restriction
    apparmor = {"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1"}
    assert userns.refusal(read=apparmor.get, euid=0) is None


def test_to_host_and_shift_owners(tmp_path):
    m = ((0, 100000, 1000), (1000, 5000, 1))
    assert userns.to_host(m, 0) == 100000 and userns.to_host(m, 999) == 100999
    assert userns.to_host(m, 1000) == 5000 and userns.to_host(m, 1001) is None
    bundle = tmp_path / "b"
    root = bundle / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "su").write_text("x")
    os.chmod(root / "bin" / "su", 0o4755)
    (root / "home").mkdir()
    os.chown(root / "home", 7, 8)
    os.symlink("bin", root / "sbin")
    changed = userns.shift_owners(str(bundle), str(root), m, m)
    assert changed == 5  # rootfs, bin, su, sbin (the link itself), home
    st = os.stat(root / "bin" / "su")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (100000, 100000, 0o4755)  # setuid put back
    assert os.stat(root / "home").st_uid == 100007
    assert os.lstat(root / "sbin").st_uid == 100000
    assert os.stat(bundle).st_uid == 100000


@pytest.mark.parametrize("field,value,words", [
    ("uid_map", ((0, 1000, 0),), "size at least 1"),
    ("uid_map", ((0, 1000, 10), (5, 2000, 10)), "overlap in their container ids"),
    ("gid_map", ((0, 1000, 10), (20, 1005, 10)), "overlap in their host ids"),
    ("gid_map", ((0, "1000", 1),), "three integers"),
    ("uid_map", tuple((i, 10 * i, 1) for i in range(341)), "more than 340"),
])
def test_bad_maps_are_refused_before_anything_forks(field, value, words):
    good = ((0, 1000, 1),)
    kw = {"uid_map": good, "gid_map": good, field: value}
    cfg = ContainerConfig(id="a" * 64, name="x", image="-", rootfs=Rootfs("/"), args=("true",),
                          namespaces=frozenset({"user", "mount"}), **kw)
    with pytest.raises(ConfigError, match=words):
        cfg.validate()


def test_a_user_namespace_needs_both_maps_and_maps_need_one():
    base = dict(id="a" * 64, name="x", image="-", rootfs=Rootfs("/"), args=("true",))
    with pytest.raises(ConfigError, match="needs both a uid_map and a gid_map"):
        ContainerConfig(namespaces=frozenset({"user"}), uid_map=((0, 1, 1),), **base).validate()
    with pytest.raises(ConfigError, match="needs both"):
        ContainerConfig(uid_map=((0, 1, 1),), gid_map=((0, 1, 1),), **base).validate()


def _userns_config(root, **kw):
    base = dict(id="c" * 64, name="uns", image="-", rootfs=Rootfs(str(root)), args=("true",), hostname="box",
                namespaces=frozenset({"user", "mount", "uts"}), uid_map=((0, 1000, 1),), gid_map=((0, 1000, 1),))
    base.update(kw)
    return ContainerConfig(**base)


def test_the_handshake_maps_the_child_before_it_goes_on(tmp_path):
    written = []
    from minictr import process
    init = process.spawn(_userns_config(tmp_path), FakeSyscalls(fail={"pivot_root": errno.EINVAL}),
                         write_maps=lambda pid, u, g: written.append((pid, u, g)))
    try:
        with pytest.raises(ContainerSetupError) as info:
            init.setup()
        assert info.value.stage == "pivot_root"  # it went on past the user namespace, to the mounts
    finally:
        os.waitpid(init.pid, 0)
    assert written == [(init.pid, ((0, 1000, 1),), ((0, 1000, 1),))]


def test_a_refused_user_namespace_stops_at_its_stage_and_maps_nothing(tmp_path):
    from minictr import process
    written = []
    with pytest.raises(ContainerSetupError) as info:
        process.spawn(_userns_config(tmp_path), FakeSyscalls(fail={"unshare": errno.EPERM}),
                      write_maps=lambda *a: written.append(a))
    assert info.value.stage == "user namespace" and info.value.errno == errno.EPERM
    assert written == []


def test_a_failed_map_write_kills_the_child_and_says_why(tmp_path):
    from minictr import process

    def refuse(pid, u, g):
        raise userns.UsernsError("newuidmap 1 failed")

    with pytest.raises(userns.UsernsError, match="newuidmap"):
        process.spawn(_userns_config(tmp_path), FakeSyscalls(), write_maps=refuse)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # reaped: no child left behind
