"""The classic-BPF assembler and the seccomp compiler, run in a test interpreter (bpf_vm)."""

import errno
import itertools
import os
import subprocess
import sys

import pytest

from bpf_vm import AUDIT_ARCH_AARCH64, AUDIT_ARCH_X86_64, run, seccomp_data
from minictr.errors import ConfigError
from minictr.security import bpf, seccomp
from minictr.security import seccomp_profile as sp
from minictr.security.seccomp_cache import DEFAULT_PROFILE, program_for
from minictr.security.syscall_tables import AARCH64, X86_64
from minictr.syscalls import FakeSyscalls

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALLOW, EPERM, ENOSYS = seccomp.RET_ALLOW, seccomp.RET_ERRNO | 1, seccomp.RET_ERRNO | errno.ENOSYS
KILL = seccomp.RET_KILL_PROCESS
DEFAULT_CAPS = {"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
                "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"}
CLONE_NEWNS, CLONE_NEWUSER, CLONE_VM, SIGCHLD = 0x20000, 0x10000000, 0x100, 17


# -- the assembler ----------------------------------------------------------------------

def test_labels_resolve_to_relative_jumps():
    asm = bpf.Assembler()
    asm.ld(0)
    asm.jeq(7, "yes", None)
    asm.ret(1)
    asm.label("yes")
    asm.ret(2)
    assert asm.instructions() == [(bpf.LD_W_ABS, 0, 0, 0), (bpf.JEQ_K, 1, 0, 7), (bpf.RET_K, 0, 0, 1),
                                  (bpf.RET_K, 0, 0, 2)]
    assert run(asm.assemble(), seccomp_data(7)) == 2 and run(asm.assemble(), seccomp_data(8)) == 1


@pytest.mark.parametrize("distance", [254, 255, 256, 300, 1000])
def test_long_jumps_go_through_trampolines(distance):
    asm = bpf.Assembler()
    asm.ld(0)
    asm.jeq(5, "far_true", None)        # both the true and the false branch may be far
    asm.jgt(9, None, "far_false")
    for _ in range(distance):
        asm.ret(0xDEAD)                 # filler that must be jumped over
    asm.label("far_true")
    asm.ret(1)
    asm.label("far_false")
    asm.ret(2)
    insns = asm.instructions()
    assert all(jt <= 255 and jf <= 255 for _, jt, jf, _ in insns)
    assert len(insns) == distance + 5 + (0 if distance < 255 else 2)   # one trampoline per far branch
    prog = asm.assemble()
    assert run(prog, seccomp_data(5)) == 1      # jeq true: far
    assert run(prog, seccomp_data(10)) == 0xDEAD  # jgt true: falls into the filler
    assert run(prog, seccomp_data(3)) == 2      # jgt false: far


def test_assembler_refuses_backward_jumps_unknown_labels_and_long_programs():
    asm = bpf.Assembler()
    asm.label("top")
    asm.ld(0)
    asm.ja("top")
    with pytest.raises(bpf.BPFError, match="backwards"):
        asm.instructions()
    asm = bpf.Assembler()
    asm.ja("nowhere")
    with pytest.raises(bpf.BPFError, match="undefined label"):
        asm.instructions()
    asm = bpf.Assembler()
    for _ in range(bpf.MAX_INSNS + 1):
        asm.ret(0)
    with pytest.raises(bpf.BPFError, match="4097 instructions"):
        asm.instructions()


def test_disassembler_prints_absolute_targets_and_names():
    prog = seccomp.compile(sp.parse({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}), set(), "x86_64")
    assert seccomp.show(prog, "x86_64").splitlines() == [
        "   0: ld  [4]                    ; arch",
        "   1: jeq #0xc000003e  3, 2",
        "   2: ret #0x80000000            ; KILL_PROCESS",
        "   3: ld  [0]                    ; nr",
        "   4: jge #0x40000000  5, 7",
        "   5: jeq #0xffffffff  7, 6",
        "   6: ret #0x80000000            ; KILL_PROCESS",
        "   7: jeq #0x53  9, 8            ; mkdir",
        "   8: ret #0x7fff0000            ; ALLOW",
        "   9: ret #0x50001               ; ERRNO(Operation not permitted: 1)",
    ]


# -- the compiler -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def default():
    return sp.load(DEFAULT_PROFILE)


def verdict(prog, name, *args, arch="x86_64"):
    table = X86_64 if arch == "x86_64" else AARCH64
    audit = AUDIT_ARCH_X86_64 if arch == "x86_64" else AUDIT_ARCH_AARCH64
    return run(prog, seccomp_data(table[name], audit, args))


def test_default_profile_refuses_what_docker_refuses(default):
    prog = seccomp.compile(default, DEFAULT_CAPS, "x86_64", (6, 1))
    for name in ("read", "write", "getpid", "execve", "chroot", "ptrace", "openat", "mknod"):
        assert verdict(prog, name) == ALLOW, name
    for name in ("keyctl", "add_key", "request_key", "kexec_load", "init_module", "finit_module",
                 "delete_module", "open_by_handle_at", "mount", "umount2", "pivot_root", "unshare",
                 "setns", "bpf", "perf_event_open", "userfaultfd", "reboot", "swapon", "swapoff", "acct",
                 "clock_settime", "settimeofday", "syslog", "quotactl"):
        assert verdict(prog, name) == EPERM, name
    assert verdict(prog, "clone3") == ENOSYS
    assert verdict(prog, "clone", CLONE_VM | SIGCHLD) == ALLOW
    assert verdict(prog, "clone", CLONE_NEWUSER | SIGCHLD) == EPERM
    assert verdict(prog, "clone", (1 << 32) | SIGCHLD) == ALLOW        # only the low flag bits count
    for value in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF):
        assert verdict(prog, "personality", value) == ALLOW
    for value in (0x1, 0x400000, 0x1_0000_0000):
        assert verdict(prog, "personality", value) == EPERM
    assert verdict(prog, "socket", 1) == ALLOW and verdict(prog, "socket", 40) == EPERM   # AF_VSOCK


def test_cap_sys_admin_opens_the_gated_calls(default):
    prog = seccomp.compile(default, DEFAULT_CAPS | {"SYS_ADMIN"}, "x86_64", (6, 1))
    for name in ("mount", "umount2", "unshare", "setns", "bpf", "clone3"):
        assert verdict(prog, name) == ALLOW, name
    assert verdict(prog, "clone", CLONE_NEWNS | SIGCHLD) == ALLOW
    assert verdict(prog, "keyctl") == EPERM and verdict(prog, "reboot") == EPERM


def test_wrong_arch_and_x32_are_killed_but_nr_minus_one_is_not(default):
    prog = seccomp.compile(default, DEFAULT_CAPS, "x86_64", (6, 1))
    assert run(prog, seccomp_data(39, AUDIT_ARCH_AARCH64)) == KILL
    assert run(prog, seccomp_data(39, 0x40000003)) == KILL                 # i386
    assert run(prog, seccomp_data(0x40000000 + 39)) == KILL               # x32 getpid
    assert run(prog, seccomp_data(-1)) == EPERM                            # a tracer's skip: the default


def test_aarch64_program_uses_aarch64_numbers(default):
    prog = seccomp.compile(default, DEFAULT_CAPS, "aarch64", (6, 1))
    assert verdict(prog, "getpid", arch="aarch64") == ALLOW
    assert verdict(prog, "keyctl", arch="aarch64") == EPERM
    assert verdict(prog, "clone", CLONE_NEWUSER, arch="aarch64") == EPERM
    assert run(prog, seccomp_data(AARCH64["getpid"], AUDIT_ARCH_X86_64)) == KILL
    assert run(prog, seccomp_data(0x40000000 + 172, AUDIT_ARCH_AARCH64)) == EPERM   # no x32 check here


def test_min_kernel_is_compared_with_the_kernel_given(default):
    old = seccomp.compile(default, DEFAULT_CAPS, "x86_64", (4, 4))
    assert verdict(old, "ptrace") == EPERM
    assert seccomp.kernel_version("6.1.0-18-amd64") == (6, 1) and seccomp.kernel_version("5.10") == (5, 10)


EDGES = [0, 1, 5, 0xFFFFFFFF, 0x1_0000_0000, 0x1_0000_0005, 0x5_0000_0000, 0xFFFFFFFF_FFFFFFFF, 0x7FFFFFFF_00000005]


@pytest.mark.parametrize("op, holds", [
    ("SCMP_CMP_EQ", lambda a, v, w: a == v), ("SCMP_CMP_NE", lambda a, v, w: a != v),
    ("SCMP_CMP_LT", lambda a, v, w: a < v), ("SCMP_CMP_LE", lambda a, v, w: a <= v),
    ("SCMP_CMP_GT", lambda a, v, w: a > v), ("SCMP_CMP_GE", lambda a, v, w: a >= v),
    ("SCMP_CMP_MASKED_EQ", lambda a, v, w: a & v == w),
])
def test_argument_comparisons_on_64_bit_values(op, holds):
    for value, value_two in itertools.product(EDGES, [0, 5, 0x1_0000_0000]):
        prog = seccomp.compile(sp.parse({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 2, "value": value, "valueTwo": value_two, "op": op}]}]}), set(), "x86_64")
        for a in EDGES:
            got = run(prog, seccomp_data(X86_64["getpgid"], args=(0, 0, a)))
            assert got == (seccomp.RET_ERRNO | 13 if holds(a, value, value_two) else ALLOW), (op, a, value)


def test_rules_for_one_syscall_and_conflicts():
    two = sp.parse({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["getpgid"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
        {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2,
         "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
        # the default action (ERRNO(EPERM)): dropped, as libseccomp refuses and runc skips it
        {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_EQ"}]},
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
    ]})
    prog = seccomp.compile(two, set(), "x86_64")
    assert verdict(prog, "getpgid", 1) == seccomp.RET_ERRNO | 13   # the filtered rules are tried first
    assert verdict(prog, "getpgid", 2) == seccomp.RET_ERRNO | 2
    assert verdict(prog, "getpgid", 3) == ALLOW and verdict(prog, "getpgid", 4) == ALLOW
    assert verdict(prog, "getpid") == EPERM
    clash = sp.parse({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["getpgid"], "action": "SCMP_ACT_ALLOW"}, {"names": ["getpgid"], "action": "SCMP_ACT_LOG"}]})
    with pytest.raises(ConfigError, match="getpgid.*different actions"):
        seccomp.compile(clash, set(), "x86_64")


def test_actions_compile_to_their_seccomp_ret_values():
    cases = [("SCMP_ACT_KILL", None, 0), ("SCMP_ACT_KILL_THREAD", None, 0), ("SCMP_ACT_KILL_PROCESS", None, KILL),
             ("SCMP_ACT_TRAP", None, 0x30000), ("SCMP_ACT_ERRNO", 2, 0x50002), ("SCMP_ACT_ERRNO", None, 0x50001),
             ("SCMP_ACT_TRACE", 7, 0x7FF00007), ("SCMP_ACT_LOG", None, 0x7FFC0000)]
    for action, err, ret in cases:
        rule = {"names": ["getpgid"], "action": action}
        if err is not None:
            rule["errnoRet"] = err
        prog = seccomp.compile(sp.parse({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]}), set(), "x86_64")
        assert verdict(prog, "getpgid") == ret, action
        assert verdict(prog, "getpid") == ALLOW


# -- loading, the cache -----------------------------------------------------------------

def test_fake_syscalls_record_the_filter():
    fake = FakeSyscalls()
    fake.seccomp_set_mode_filter(b"\x06\x00\x00\x00\x00\x00\xff\x7f")
    assert fake.calls == [("seccomp_set_mode_filter", (b"\x06\x00\x00\x00\x00\x00\xff\x7f", 0))]


def test_program_for_settings(tmp_path, default):
    cache = str(tmp_path / "cache")
    assert program_for("unconfined", DEFAULT_CAPS, cache=cache) is None
    assert program_for(None, DEFAULT_CAPS, cache=cache) is None
    prog = program_for("default", DEFAULT_CAPS, "x86_64", cache=cache)
    assert prog == seccomp.compile(default, DEFAULT_CAPS, "x86_64")
    files = os.listdir(cache)
    assert len(files) == 1 and files[0].startswith("seccomp-") and files[0].endswith(".bpf")
    assert program_for("default", DEFAULT_CAPS, "x86_64", cache=cache) == prog
    admin = program_for("default", DEFAULT_CAPS | {"CAP_SYS_ADMIN"}, "x86_64", cache=cache)
    assert admin != prog and len(os.listdir(cache)) == 2
    custom = tmp_path / "p.json"
    custom.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}')
    assert verdict(program_for(str(custom), set(), "x86_64", cache=cache), "mkdir") == EPERM
    custom.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}]}')
    changed = program_for(str(custom), set(), "x86_64", cache=cache)
    assert verdict(changed, "mkdir") == ALLOW and verdict(changed, "rmdir") == EPERM
    with pytest.raises(ConfigError, match="seccomp profile"):
        program_for(str(tmp_path / "missing.json"), set(), cache=cache)
    assert not [f for f in os.listdir(cache) if f.endswith(".tmp")]


def test_a_cache_file_whose_key_differs_is_not_used(tmp_path):
    cache = str(tmp_path / "cache")
    prog = program_for("default", DEFAULT_CAPS, "x86_64", cache=cache)
    (name,) = os.listdir(cache)
    path = os.path.join(cache, name)
    with open(path, "rb") as f:
        header, _, body = f.read().partition(b"\n")
    with open(path, "wb") as f:     # same file name, another key: as after a digest collision
        f.write(header.replace(b"caps=", b"caps=CAP_SYS_ADMIN,") + b"\n" + b"\x06\x00\x00\x00\x00\x00\xff\x7f")
    assert program_for("default", DEFAULT_CAPS, "x86_64", cache=cache) == prog


def test_a_store_we_cannot_write_only_means_no_cache(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert program_for("default", DEFAULT_CAPS, "x86_64", cache=str(blocker / "cache"))


def test_a_cached_load_imports_neither_json_nor_the_compiler(tmp_path):
    code = (
        "import sys, time\n"
        "from minictr.security.seccomp_cache import program_for\n"
        "t = time.perf_counter()\n"
        "p = program_for('default', {'CHOWN'})\n"
        "t = time.perf_counter() - t\n"
        "heavy = [m for m in ('json', 'minictr.security.seccomp', 'minictr.security.seccomp_profile',\n"
        "         'minictr.security.bpf', 'hashlib', 'dataclasses') if m in sys.modules]\n"
        "print(len(p), ','.join(heavy) or '-', t)\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO, MINICTR_ROOT=str(tmp_path / "store"))
    runs = [subprocess.run([sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True,
                           check=True).stdout.split() for _ in range(2)]
    (miss_size, miss_heavy, _), (hit_size, hit_heavy, hit_seconds) = runs
    assert "json" in miss_heavy and "minictr.security.seccomp" in miss_heavy   # the first run compiles
    assert hit_size == miss_size and hit_heavy == "-"                          # the second only reads
    assert float(hit_seconds) < 0.05, hit_seconds                             # ~0.2 ms idle; loose for load


def test_the_kernel_checks_a_program_and_loads_a_good_one():
    from minictr.errors import SyscallError
    from minictr.syscalls import LinuxSyscalls

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                      # a throw-away child: a filter never comes off again
        try:
            sys_ = LinuxSyscalls()
            sys_.prctl(38, 1)         # PR_SET_NO_NEW_PRIVS
            results = []
            for program in (b"\xff\xff\x00\x00\x00\x00\x00\x00", b"\x06\x00" * 3, seccomp.compile(
                    sp.parse({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}), set())):
                try:
                    sys_.seccomp_set_mode_filter(program)
                    results.append("loaded")
                except SyscallError as e:
                    results.append(f"{errno.errorcode[e.errno]}: {e}")
            with open("/proc/self/status") as f:
                results += [line.split()[1] for line in f if line.startswith("Seccomp:")]
            os.write(w, "\n".join(results).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        bad_code, bad_size, good, mode = f.read().split("\n")
    os.waitpid(pid, 0)
    assert bad_code.startswith("EINVAL: seccomp SECCOMP_SET_MODE_FILTER (1 instructions)")
    assert bad_size.startswith("EINVAL: seccomp a filter of 6 bytes")
    assert (good, mode) == ("loaded", "2")
