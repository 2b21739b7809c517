"""Confinement as data: capability masks, the flags, the mount-plan entries, device rules and their eBPF."""

import os
import stat
import struct

import pytest

from minictr import cli, rootfs
from minictr.cgroups import create
from minictr.cgroups.fake import build_hybrid, build_v2
from minictr.config import Rootfs, Security
from minictr.errors import ConfigError
from minictr.security import capabilities as caps
from minictr.security import devices, masks
from minictr.security.options import from_flags, host_config
from minictr.syscalls import FakeSyscalls, MountFlags as MS

CID = "c0ffee" * 10 + "abcd"


# -- capabilities ------------------------------------------------------------

def test_the_kernels_numbers():
    assert len(caps.NAMES) == 41 and caps.LAST_CAP == 40
    assert caps.NUMBERS["CAP_CHOWN"] == 0 and caps.NUMBERS["CAP_NET_RAW"] == 13
    assert caps.NUMBERS["CAP_SYS_ADMIN"] == 21 and caps.NUMBERS["CAP_SETFCAP"] == 31
    assert caps.NUMBERS["CAP_BPF"] == 39 and caps.NUMBERS["CAP_CHECKPOINT_RESTORE"] == 40


def test_dockers_default_set_is_the_mask_podman_shows():
    assert len(caps.DEFAULT) == 14
    assert caps.mask(caps.DEFAULT) == 0x00000000A80425FB
    assert sorted(caps.names_of(0xA80425FB)) == sorted(caps.DEFAULT)
    assert caps.mask(caps.NAMES) == 0x1FFFFFFFFFF


@pytest.mark.parametrize("given", ["NET_ADMIN", "net_admin", "CAP_NET_ADMIN", "cap_Net_Admin", " NET_ADMIN "])
def test_names_with_or_without_cap_and_in_any_case(given):
    assert caps.normalize(given) == "CAP_NET_ADMIN"


def test_all_and_an_unknown_name():
    assert caps.normalize("all") == "ALL"
    with pytest.raises(ConfigError) as e:
        caps.normalize("NET_ADMINN")
    assert "NET_ADMINN" in str(e.value) and "\n" not in str(e.value) and e.value.exit_code == 125


def test_resolve_as_docker_does():
    assert caps.resolve() == tuple(sorted(caps.DEFAULT, key=caps.NUMBERS.get))
    dropped = caps.resolve(cap_drop=["NET_RAW"])
    assert "CAP_NET_RAW" not in dropped and len(dropped) == 13
    assert caps.mask(caps.resolve(cap_add=["NET_ADMIN"])) == 0xA80425FB | 1 << 12
    assert caps.resolve(cap_drop=["ALL"]) == ()
    assert caps.resolve(cap_add=["net_admin"], cap_drop=["all"]) == ("CAP_NET_ADMIN",)
    assert caps.resolve(cap_add=["ALL"], cap_drop=["SYS_ADMIN"]) == tuple(n for n in caps.NAMES if n != "CAP_SYS_ADMIN")
    assert caps.resolve(privileged=True, cap_drop=["CHOWN"]) == caps.NAMES


def test_bounding_set_drops_everything_else_up_to_the_kernels_last_cap_then_clears_ambient():
    fake = FakeSyscalls()  # its kernel knows capabilities 0..40
    caps.apply_bounding(fake, caps.mask(caps.DEFAULT))
    dropped = [args[0] for name, args in fake.calls if name == "capbset_drop"]
    assert dropped == [c for c in range(42) if c not in {caps.NUMBERS[n] for n in caps.DEFAULT}]  # 41: EINVAL, stop
    assert fake.names()[-1] == "cap_ambient_clear"


def test_capset_root_keeps_the_set_another_user_gets_nothing():
    fake = FakeSyscalls()
    caps.apply_sets(fake, 0xA80425FB, root=True)
    caps.apply_sets(fake, 0xA80425FB, root=False)
    assert [args for name, args in fake.calls if name == "capset"] == [(0xA80425FB, 0xA80425FB, 0), (0, 0, 0)]


def test_capset_cannot_ask_for_more_than_this_process_holds():
    fake = FakeSyscalls()
    no_sys_resource = ((1 << 41) - 1) & ~(1 << 24)  # this CI host's bounding set
    fake.caps = (no_sys_resource, no_sys_resource, 0)
    caps.apply_sets(fake, caps.mask(caps.NAMES), root=True)
    assert fake.calls[-1] == ("capset", (no_sys_resource, no_sys_resource, 0))


# -- the flags ---------------------------------------------------------------

def test_no_flags_is_dockers_default():
    assert from_flags() == Security()
    assert masks.paths(Security()) == (masks.MASKED, masks.READONLY)
    assert devices.rules(Security()) == devices.DEFAULT


def test_privileged_is_everything():
    s = from_flags(privileged=True)
    assert s.capabilities == caps.NAMES and s.seccomp == "unconfined" and s.sys_writable
    assert masks.paths(s) == ((), ()) and devices.rules(s) == ("a *:* rwm",)


def test_security_opts(tmp_path):
    profile = tmp_path / "p.json"
    profile.write_text("{}")
    s = from_flags(security_opt=["no-new-privileges", f"seccomp={profile}"])
    assert s.no_new_privileges and s.seccomp == str(profile)
    assert from_flags(security_opt=["no-new-privileges=false"]).no_new_privileges is False
    assert from_flags(security_opt=["no-new-privileges:true"]).no_new_privileges is True
    assert from_flags(security_opt=["seccomp=unconfined"]).seccomp == "unconfined"
    assert masks.paths(from_flags(security_opt=["systempaths=unconfined"])) == ((), ())


@pytest.mark.parametrize("opt, words", [
    ("seccomp=/no/such/profile.json", "no such file"),
    ("no-new-privileges=maybe", "true or false"),
    ("apparmor=unconfined", "not supported"),
    ("bogus", "unknown option"),
])
def test_bad_security_opts_are_one_line(opt, words):
    with pytest.raises(ConfigError) as e:
        from_flags(security_opt=[opt])
    assert words in str(e.value) and "\n" not in str(e.value)


def test_the_cli_reads_the_flags_fast_and_builds_the_security():
    args = cli.parse_run_fast(["--cap-add", "NET_ADMIN", "--cap-drop=net_raw", "--privileged",
                               "--security-opt", "no-new-privileges", "busybox"])
    assert (args.cap_add, args.cap_drop, args.privileged, args.security_opt) == (
        ["NET_ADMIN"], ["net_raw"], True, ["no-new-privileges"])
    s = cli._security(args)
    assert s.cap_add == ("CAP_NET_ADMIN",) and s.cap_drop == ("CAP_NET_RAW",) and s.privileged
    assert cli._security(cli.parse_run_fast(["busybox"])) is None  # nothing asked: nothing imported
    with pytest.raises(ConfigError, match="BOGUS"):
        cli._security(cli.parse_run_fast(["--cap-add", "BOGUS", "busybox"]))


def test_inspect_names_are_dockers():
    hc = host_config(from_flags(cap_add=["NET_ADMIN"], cap_drop=["ALL"], security_opt=["no-new-privileges"]))
    assert hc["CapAdd"] == ["CAP_NET_ADMIN"] and hc["CapDrop"] == ["ALL"]
    assert hc["Privileged"] is False and hc["SecurityOpt"] == ["no-new-privileges"]
    assert hc["Capabilities"] == ["CAP_NET_ADMIN"] and "/proc/keys" in hc["MaskedPaths"]
    default = host_config(Security())
    assert default["CapAdd"] is None and default["SecurityOpt"] is None and len(default["Capabilities"]) == 14


# -- masked and read-only paths in the mount plan -----------------------------

def test_plan_has_read_only_then_masked_entries_after_sys():
    steps = rootfs.plan(Rootfs("/r"), masked=masks.MASKED, readonly=masks.READONLY)
    kinds = [type(s).__name__ for s in steps]
    sysfs = next(i for i, s in enumerate(steps) if isinstance(s, rootfs.Mount) and s.target == "/r/sys")
    first = kinds.index("ReadOnly")
    assert sysfs < first < kinds.index("Mask")
    assert rootfs.ReadOnly("/r/proc/sys") in steps
    assert rootfs.Mask("/r/proc/keys", "/r/dev/null") in steps
    assert sum(k == "Mask" for k in kinds) == 11 and sum(k == "ReadOnly" for k in kinds) == 5


def test_sys_is_read_only_unless_privileged():
    def sysfs(**kw):
        return next(s for s in rootfs.plan(Rootfs("/r"), **kw) if getattr(s, "target", "") == "/r/sys")
    assert sysfs().flags & MS.RDONLY
    assert not sysfs(sys_writable=True).flags & MS.RDONLY


def test_apply_masks_a_file_with_null_a_directory_with_tmpfs_and_skips_what_is_missing(tmp_path):
    (tmp_path / "keys").write_text("secret")
    (tmp_path / "firmware").mkdir()
    (tmp_path / "sys").mkdir()
    null = str(tmp_path / "null")
    fake = FakeSyscalls()
    rootfs.apply([rootfs.Mask(str(tmp_path / "keys"), null), rootfs.Mask(str(tmp_path / "firmware"), null),
                  rootfs.Mask(str(tmp_path / "kcore"), null), rootfs.ReadOnly(str(tmp_path / "sys")),
                  rootfs.ReadOnly(str(tmp_path / "sysrq-trigger"))], fake)
    have = os.statvfs(tmp_path).f_flag
    kept = (MS.NOSUID if have & 2 else 0) | (MS.NODEV if have & 4 else 0) | (MS.NOEXEC if have & 8 else 0) \
        | (MS.NOATIME if have & 1024 else 0) | (MS.NODIRATIME if have & 2048 else 0) \
        | (MS.RELATIME if have & 4096 else 0)
    ro_remount = MS.REMOUNT | MS.BIND | MS.RDONLY | kept
    keys, fw, sys_ = str(tmp_path / "keys"), str(tmp_path / "firmware"), str(tmp_path / "sys")
    assert fake.calls == [
        ("mount", (null, keys, None, MS.BIND, None)),
        ("mount", (None, keys, None, ro_remount, None)),
        ("mount", ("tmpfs", fw, "tmpfs", MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, "mode=755")),
        ("mount", (sys_, sys_, None, MS.BIND | MS.REC, None)),
        ("mount", (None, sys_, None, ro_remount, None)),
    ]


def test_a_remount_keeps_nosuid_nodev_noexec_of_the_mount_below():
    # /proc is mounted nosuid,nodev,noexec; a read-only remount without them would clear them
    assert {m for _st, m in rootfs._KEPT_FLAGS} >= {MS.NOSUID, MS.NODEV, MS.NOEXEC}


# -- devices ---------------------------------------------------------------

def test_dockers_device_list():
    assert devices.DEFAULT[:10] == ("c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
                                    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm")
    assert set(devices.DEFAULT[10:]) == {"b *:* m", "c *:* m"}
    assert [str(devices.parse(r)) for r in devices.DEFAULT] == list(devices.DEFAULT)
    assert devices.parse("c 136:* rwm") == devices.Rule("c", 136, None, "rwm")


@pytest.mark.parametrize("bad", ["x 1:3 rwm", "c 1 rwm", "c a:b rwm", "c 1:3 rwx", "c 1:3 ", "", "c -1:3 r"])
def test_bad_device_rules(bad):
    with pytest.raises(ConfigError):
        devices.parse(bad)


def test_v1_denies_all_then_allows_each_rule(tmp_path):
    root, proc, fs = build_hybrid(str(tmp_path))
    mgr = create(CID, root=root, proc_self_cgroup=proc, fs=fs)
    assert devices.confine(mgr, devices.DEFAULT, FakeSyscalls()) == "v1"
    group = mgr.paths["devices"]
    writes = [(os.path.basename(p), v) for p, v in fs.writes if p.startswith(group + "/devices.")]
    assert writes == [("devices.deny", "a")] + [("devices.allow", r) for r in devices.DEFAULT]
    fs.writes.clear()
    devices.apply_v1(fs, group, devices.ALL)
    assert fs.writes == []  # privileged: the parent's "a *:* rwm" stays
    mgr.destroy()


def test_v2_loads_a_device_program_and_attaches_it_to_the_group(tmp_path):
    root, proc, fs = build_v2(str(tmp_path))
    mgr = create(CID, root=root, proc_self_cgroup=proc, fs=fs)
    fake = FakeSyscalls()
    assert devices.confine(mgr, devices.DEFAULT, fake) == "v2"
    (load, (ptype, prog, _lic)), (attach, (target, prog_fd, atype, flags)) = fake.calls
    assert (load, ptype, prog) == ("bpf_prog_load", 15, devices.program(devices.DEFAULT))
    assert (attach, atype, flags) == ("bpf_prog_attach", 6, 2)  # BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI
    mgr.destroy()


# A tiny interpreter for the instructions program() uses: checks what the program *decides*.
def run_ebpf(prog: bytes, ctx: tuple[int, int, int]) -> int:
    mem = struct.pack("<III", *ctx)
    regs = [0] * 11
    pc = 0
    steps = 0
    while True:
        code, regbyte, off, imm = struct.unpack_from("<BBhi", prog, pc * 8)
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        steps += 1
        assert steps < 10000 and (dst == 1 or dst >= 2 or code in (0x95, 0xB7)), "runaway program"
        if code == 0x61:
            assert src == 1 and off in (0, 4, 8)
            regs[dst] = struct.unpack_from("<I", mem, off)[0]
        elif code == 0x57:
            regs[dst] &= imm & 0xFFFFFFFFFFFFFFFF
        elif code == 0x77:
            regs[dst] >>= imm
        elif code == 0xB7:
            regs[dst] = imm & 0xFFFFFFFFFFFFFFFF
        elif code == 0xBF:
            regs[dst] = regs[src]
        elif code == 0x55:
            if regs[dst] != imm & 0xFFFFFFFFFFFFFFFF:
                pc += off
        elif code == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


BLOCK, CHAR, MKNOD, READ, WRITE = 1, 2, 1, 2, 4


def ctx(kind, acc, major, minor):
    return ((acc << 16) | kind, major, minor)


@pytest.mark.parametrize("kind, acc, major, minor, allowed", [
    (CHAR, READ | WRITE, 1, 3, 1),      # /dev/null
    (CHAR, READ, 1, 9, 1),              # /dev/urandom
    (CHAR, READ | WRITE, 136, 7, 1),    # /dev/pts/7
    (CHAR, MKNOD, 1, 3, 1),
    (BLOCK, MKNOD, 254, 0, 1),          # b *:* m: mknod of the host's disk node works...
    (BLOCK, READ, 254, 0, 0),           # ...but opening it does not
    (BLOCK, READ | WRITE, 8, 0, 0),
    (CHAR, READ, 1, 1, 0),              # /dev/mem
    (CHAR, MKNOD, 1, 1, 1),             # c *:* m
    (CHAR, READ | WRITE, 10, 200, 1),   # /dev/net/tun
    (CHAR, READ, 10, 229, 0),           # /dev/fuse
    (CHAR, READ | MKNOD, 4, 0, 0),
])
def test_the_device_program_decides_as_the_rules_say(kind, acc, major, minor, allowed):
    assert run_ebpf(devices.program(devices.DEFAULT), ctx(kind, acc, major, minor)) == allowed


def test_program_encoding_instruction_by_instruction():
    prog = devices.program(["c 1:3 rwm"])
    assert len(prog) % 8 == 0
    insns = [struct.unpack("<BBhi", prog[i:i + 8]) for i in range(0, len(prog), 8)]
    assert insns == [
        (0x61, 0x12, 0, 0), (0x57, 0x02, 0, 0xFFFF),   # r2 = ctx->access_type; r2 &= 0xffff
        (0x61, 0x13, 0, 0), (0x77, 0x03, 0, 16),       # r3 = ctx->access_type; r3 >>= 16
        (0x61, 0x14, 4, 0), (0x61, 0x15, 8, 0),        # r4 = ctx->major; r5 = ctx->minor
        (0x55, 0x02, 4, CHAR),                         # if r2 != CHAR goto next (skip 4)
        (0x55, 0x04, 3, 1), (0x55, 0x05, 2, 3),        # major 1, minor 3
        (0xB7, 0x00, 0, 1), (0x95, 0, 0, 0),           # return 1
        (0xB7, 0x00, 0, 0), (0x95, 0, 0, 0),           # next: return 0
    ]
    m_only = [struct.unpack("<BBhi", b) for b in (devices.program(["b *:* m"])[48 + 8 * i:56 + 8 * i]
                                                    for i in range(4))]
    assert m_only == [(0x55, 0x02, 5, BLOCK), (0xBF, 0x31, 0, 0), (0x57, 0x01, 0, 6), (0x55, 0x01, 2, 0)]


def test_the_privileged_list_allows_everything_and_needs_no_program():
    assert run_ebpf(devices.program(devices.ALL), ctx(BLOCK, READ | WRITE, 8, 0)) == 1
    fake = FakeSyscalls()
    devices.attach_v2(fake, "/nowhere", devices.ALL)
    assert fake.calls == []


def test_dev_null_node_is_a_char_device():
    # the mask source, /dev/null, is mknod'ed by the plan before the masks
    steps = rootfs.plan(Rootfs("/r"), masked=("/proc/keys",))
    null = next(i for i, s in enumerate(steps) if isinstance(s, rootfs.Device) and s.path == "/r/dev/null")
    mask = next(i for i, s in enumerate(steps) if isinstance(s, rootfs.Mask))
    assert null < mask and stat.S_ISCHR(stat.S_IFCHR)


# -- the real wrappers, harmlessly -------------------------------------------

def test_capget_reads_what_proc_shows():
    from minictr.syscalls import linux
    with open("/proc/self/status") as f:
        status = dict(line.split(":\t", 1) for line in f if line.startswith("Cap"))
    assert linux().capget() == tuple(int(status[k], 16) for k in ("CapEff", "CapPrm", "CapInh"))


@pytest.mark.skipif(os.geteuid() != 0, reason="loading an eBPF program needs root")
def test_the_verifier_refuses_a_broken_program_with_a_readable_error():
    from minictr.errors import SyscallError
    from minictr.syscalls import linux
    no_exit = devices.insn(devices.ALU64_MOV_K, dst=0, imm=1)  # falls off the end: the verifier says no
    with pytest.raises(SyscallError) as e:
        linux().bpf_prog_load(devices.BPF_PROG_TYPE_CGROUP_DEVICE, no_exit)
    assert "bpf BPF_PROG_LOAD" in str(e.value) and "verifier" in str(e.value)
    fd = linux().bpf_prog_load(devices.BPF_PROG_TYPE_CGROUP_DEVICE, devices.program(devices.DEFAULT))
    os.close(fd)  # the real program passes the verifier
