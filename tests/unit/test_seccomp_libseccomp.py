"""Our seccomp compiler against libseccomp (the library runc and crun use), via pyseccomp.

The same profile is compiled both ways: ours, and libseccomp's, fed the way runc feeds it
(the rules docker selects by caps and arch, names resolved by libseccomp, rules with the
default action skipped), exported with seccomp_export_bpf(3). Then:

1. both programs run in a test interpreter (bpf_vm) over every syscall number of the
   table, plus x32 numbers and the argument patterns that matter: same verdict. For
   x86_64 and for aarch64 (libseccomp builds a filter for either arch on any host);
2. both programs for this machine are loaded for real, in forked children, which make a set of harmless
   calls (bad arguments, query forms, paths that do not exist): same result each time.
"""

import ctypes
import errno
import itertools
import json
import os
import signal
import tempfile

import pyseccomp as S
import pytest

from bpf_vm import AUDIT_ARCH_AARCH64, AUDIT_ARCH_X86_64, run, seccomp_data
from minictr.security import seccomp
from minictr.security import seccomp_profile as sp
from minictr.security.seccomp_cache import DEFAULT_PROFILE
from minictr.syscalls import LinuxSyscalls

ARCH = os.uname().machine
TABLE = sp.target(ARCH)[1]
KERNEL = seccomp.kernel_version()
DEFAULT_CAPS = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}
OPS = {"SCMP_CMP_NE": S.NE, "SCMP_CMP_LT": S.LT, "SCMP_CMP_LE": S.LE, "SCMP_CMP_EQ": S.EQ,
       "SCMP_CMP_GE": S.GE, "SCMP_CMP_GT": S.GT, "SCMP_CMP_MASKED_EQ": S.MASKED_EQ}

CUSTOM = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 0, "value": 0x1_0000_0000, "op": "SCMP_CMP_GT"}]},
        {"names": ["getsid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 14,
         "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_GE"}]},
        {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 15,
         "args": [{"index": 1, "value": 100, "op": "SCMP_CMP_LT"}, {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["sched_getscheduler"], "action": "SCMP_ACT_ERRNO", "errnoRet": 16,
         "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_LE"}]},
        {"names": ["sched_getparam"], "action": "SCMP_ACT_ERRNO", "errnoRet": 17,
         "args": [{"index": 0, "value": 0x5_0000_0000, "op": "SCMP_CMP_NE"}]},
        {"names": ["fcntl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18,
         "args": [{"index": 1, "value": 0xFF0, "valueTwo": 0x400, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 19,
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 19,
         "args": [{"index": 0, "value": 0x20008, "op": "SCMP_CMP_EQ"}]},
        # only compared in the interpreter, never called for real
        {"names": ["sched_yield"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["vhangup"], "action": "SCMP_ACT_KILL"},
        {"names": ["getcpu"], "action": "SCMP_ACT_TRAP"},
        {"names": ["sysinfo"], "action": "SCMP_ACT_LOG"},
        {"names": ["times"], "action": "SCMP_ACT_TRACE", "errnoRet": 9},
        {"names": ["chown32", "arm_fadvise64_64"], "action": "SCMP_ACT_ERRNO"},   # skipped by both
    ],
}
CASES = {
    "default": ("default", DEFAULT_CAPS),
    "default+SYS_ADMIN": ("default", DEFAULT_CAPS | {"CAP_SYS_ADMIN"}),
    "custom": ("custom", set()),
}


def _action(action, err):
    return {"SCMP_ACT_ALLOW": S.ALLOW, "SCMP_ACT_KILL": S.KILL, "SCMP_ACT_KILL_PROCESS": S.KILL_PROCESS,
            "SCMP_ACT_KILL_THREAD": S.KILL_THREAD, "SCMP_ACT_TRAP": S.TRAP, "SCMP_ACT_LOG": S.LOG,
            "SCMP_ACT_ERRNO": S.ERRNO(1 if err is None else err),
            "SCMP_ACT_TRACE": S.TRACE(1 if err is None else err)}[action]


SCMP_ARCH = {"x86_64": S.Arch.X86_64, "aarch64": S.Arch.AARCH64}
AUDITS = {"x86_64": AUDIT_ARCH_X86_64, "aarch64": AUDIT_ARCH_AARCH64}


def libseccomp_program(profile, caps, arch=ARCH) -> bytes:
    """What runc does with a docker profile, to the point of seccomp_export_bpf."""
    default = _action(profile.default_action, profile.default_errno)
    f = S.SyscallFilter(default)
    f.set_attr(S.Attr.ACT_BADARCH, S.KILL_PROCESS)
    if SCMP_ARCH[arch] != S.system_arch():
        f.add_arch(SCMP_ARCH[arch])
        f.remove_arch(S.system_arch())
    caps = frozenset(caps)
    for rule in profile.rules:
        if not rule.applies(caps, sp.target(arch)[0], KERNEL):
            continue
        act = _action(rule.action, rule.errno)
        if act == default:
            continue
        for name in rule.names:
            try:
                nr = S.resolve_syscall(SCMP_ARCH[arch], name)
            except Exception:
                continue          # unknown on this arch: runc skips it too
            if nr < 0:
                continue
            f.add_rule(act, name, *[S.Arg(a.index, OPS[a.op], a.value, a.value_two) for a in rule.args])
    with tempfile.TemporaryFile() as t:
        f.export_bpf(t)
        t.seek(0)
        return t.read()


@pytest.fixture(scope="module")
def programs():
    profiles = {"default": sp.load(DEFAULT_PROFILE), "custom": sp.parse(CUSTOM)}
    return {(case, arch): (seccomp.compile(profiles[p], caps, arch, KERNEL), libseccomp_program(profiles[p], caps, arch))
            for case, (p, caps) in CASES.items() for arch in SCMP_ARCH}


VALUES = [0, 1, 5, 6, 7, 8, 40, 99, 100, 101, 0x400, 0x4FF, 0x20000, 0x20008, 0x7E020000, 0xFFFFFFFF,
          0x1_0000_0000, 0x1_0000_0001, 0x5_0000_0000, 0x10000000 | 17, 0x20000 | 17, 2**64 - 1]


@pytest.mark.parametrize("arch", SCMP_ARCH)
@pytest.mark.parametrize("case", CASES)
def test_same_verdict_for_every_syscall_number(programs, case, arch):
    ours, theirs = programs[case, arch]
    table, audit = sp.target(arch)[1], AUDITS[arch]
    numbers = sorted(table.values()) + [max(table.values()) + 1, 1000, 0x3FFFFFFF, 0x40000000,
                                        0x40000000 + 39, 0x40000200, 0xFFFFFFFF]
    differ = [nr for nr in numbers if run(ours, seccomp_data(nr, audit)) != run(theirs, seccomp_data(nr, audit))]
    assert differ == []
    for other in (AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64, 0x40000003):
        d = seccomp_data(table["getpid"], other)
        assert run(ours, d) == run(theirs, d)


@pytest.mark.parametrize("arch", SCMP_ARCH)
@pytest.mark.parametrize("case", CASES)
def test_same_verdict_for_the_arguments_that_matter(programs, case, arch):
    ours, theirs = programs[case, arch]
    table, audit = sp.target(arch)[1], AUDITS[arch]
    names = ["clone", "personality", "socket", "getpgid", "getsid", "getpriority", "sched_getscheduler",
             "sched_getparam", "fcntl", "mkdirat"]
    checked = 0
    for name in names:
        for index, value, other in itertools.product(range(3), VALUES, (0, 5, 2**64 - 1)):
            args = [other] * 3
            args[index] = value
            d = seccomp_data(table[name], audit, args)
            assert run(ours, d) == run(theirs, d), (name, [hex(a) for a in args])
            checked += 1
    assert checked == len(names) * 3 * len(VALUES) * 3


# -- real probes ------------------------------------------------------------------------

NOWHERE = b"/nonexistent-minictr-seccomp-probe"
CLONE_NEWNS, CLONE_FS, CLONE_SIGHAND = 0x20000, 0x200, 0x800
PROBES = [  # every one harmless even if the filter let it through
    ("getpid", ()),
    ("keyctl", (0, -999, 0)),                          # KEYCTL_GET_KEYRING_ID of no keyring
    ("add_key", (None, None, None, 0, 0)),             # NULL type: EFAULT
    ("request_key", (None, None, None, 0)),
    ("mount", (None, NOWHERE, None, 0, None)),         # a target that does not exist
    ("umount2", (NOWHERE, 0)),
    ("pivot_root", (NOWHERE, NOWHERE)),
    ("unshare", (0,)),                                  # unshare nothing
    ("setns", (-1, 0)),                                 # EBADF
    ("clone", (CLONE_NEWNS | CLONE_FS, 0, 0, 0, 0)),    # NEWNS with FS is EINVAL
    ("clone", (CLONE_SIGHAND, 0, 0, 0, 0)),             # SIGHAND without VM is EINVAL
    ("clone3", (None, 0)),                              # size 0: EINVAL
    ("personality", (0xFFFFFFFF,)),                     # the query form
    ("personality", (0x0,)),                            # PER_LINUX: what we already are
    ("personality", (0x8,)),                            # in a throw-away child
    ("open_by_handle_at", (-1, None, 0)),
    ("bpf", (-1, None, 0)),
    ("perf_event_open", (None, 0, -1, -1, 0)),
    ("userfaultfd", (0xFFFF,)),                         # unknown flags: EINVAL
    ("reboot", (0, 0, 0, None)),                        # wrong magic: EINVAL
    ("swapon", (NOWHERE, 0)),
    ("swapoff", (NOWHERE,)),
    ("acct", (NOWHERE + b"/x",)),
    ("clock_settime", (-1, None)),                      # no such clock
    ("settimeofday", (None, None)),                     # both NULL: does nothing
    ("kexec_load", (0, 0, None, 0xFFFF0000)),           # unknown flags: EINVAL
    ("init_module", (None, 0, b"")),                    # an empty image: ENOEXEC
    ("finit_module", (-1, b"", 0)),
    ("delete_module", (b"minictr_no_such_module", 0o4000)),
    ("chroot", (NOWHERE,)),
    ("mkdir", (NOWHERE + b"/x", 0o700)),
    ("socket", (40, 0xFFFF, 0)),                        # AF_VSOCK, a bad type: EINVAL before any module load
    ("socket", (1, 0xFFFF, 0)),
    ("syslog", (10, None, 0)),                          # SYSLOG_ACTION_SIZE_BUFFER
    ("sethostname", (None, 100000)),                    # too long: EINVAL
    ("ptrace", (0xFFFF, 0, 0, 0)),                      # no such request, no such pid
    ("getpgid", (0x2_0000_0000,)), ("getpgid", (0,)), ("getsid", (4,)), ("getsid", (5,)),
    ("getpriority", (0, 99)), ("getpriority", (0, 100)), ("sched_getscheduler", (7,)),
    ("sched_getscheduler", (8,)), ("sched_getparam", (0x5_0000_0000, None)), ("sched_getparam", (0, None)),
    ("fcntl", (-1, 0x401)), ("fcntl", (-1, 0x1)),
]


def probe(program: bytes | None) -> tuple[list, str]:
    """In a forked child: set no_new_privs, load ``program``, make the PROBES calls.
    Returns what each call gave (errno name, or "ok") and the Seccomp: line of /proc/self/status."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    calls = []
    for name, args in PROBES:   # prepared before the filter is in place
        cargs = [ctypes.c_char_p(a) if isinstance(a, bytes) or a is None else ctypes.c_long(a) for a in args]
        calls.append((ctypes.c_long(TABLE[name]), cargs))
    sys_ = LinuxSyscalls()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            if program is not None:
                sys_.prctl(38, 1)                           # PR_SET_NO_NEW_PRIVS: no CAP_SYS_ADMIN needed
                sys_.seccomp_set_mode_filter(program)
            out = []
            for nr, cargs in calls:
                ctypes.set_errno(0)
                ret = libc.syscall(nr, *cargs)
                out.append("ok" if ret >= 0 else errno.errorcode.get(ctypes.get_errno(), "?"))
            with open("/proc/self/status") as f:
                mode = [line.split()[1] for line in f if line.startswith("Seccomp:")][0]
            os.write(w, json.dumps([out, mode]).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), f"the probe child died: {status:#x}"
    return json.loads(data)


@pytest.fixture(scope="module")
def unconfined():
    return probe(None)


@pytest.mark.parametrize("case", CASES)
def test_real_probes_agree_with_libseccomp(programs, unconfined, case):
    ours, theirs = programs[case, ARCH]
    (got, mode), (want, mode2) = probe(ours), probe(theirs)
    assert mode == mode2 == "2" and unconfined[1] == "0"
    assert dict(zip(range(len(PROBES)), got)) == dict(zip(range(len(PROBES)), want))
    results = {f"{name}{args}": r for (name, args), r in zip(PROBES, got)}
    if case == "default":
        for name in ("keyctl", "add_key", "request_key", "mount", "umount2", "pivot_root", "unshare", "setns",
                     "open_by_handle_at", "bpf", "perf_event_open", "userfaultfd", "reboot", "swapon", "swapoff",
                     "acct", "clock_settime", "settimeofday", "kexec_load", "init_module", "finit_module",
                     "delete_module", "syslog", "sethostname"):
            assert all(r == "EPERM" for (n, _), r in zip(PROBES, got) if n == name), name
        assert results[f"clone{(CLONE_NEWNS | CLONE_FS, 0, 0, 0, 0)}"] == "EPERM"
        assert results[f"clone{(CLONE_SIGHAND, 0, 0, 0, 0)}"] == "EINVAL"   # allowed: the kernel says no
        assert results["clone3(None, 0)"] == "ENOSYS"
        assert results["personality(4294967295,)"] == "ok" and results["getpid()"] == "ok"
        assert results["socket(40, 65535, 0)"] == "EPERM" and results["socket(1, 65535, 0)"] == "EINVAL"
        assert results[f"mkdir{(NOWHERE + b'/x', 0o700)}"] == "ENOENT"
    if case == "default+SYS_ADMIN":
        assert results["unshare(0,)"] == "ok" and results[f"mount{(None, NOWHERE, None, 0, None)}"] == "ENOENT"
        assert results["keyctl(0, -999, 0)"] == "EPERM"
    if case == "custom":
        assert results[f"mkdir{(NOWHERE + b'/x', 0o700)}"] == "EPERM"
        assert results["getsid(5,)"] == "EFAULT" and results["getsid(4,)"] != "EFAULT"   # errno 14
        assert results["keyctl(0, -999, 0)"] != "EPERM" or unconfined[0][1] == "EPERM"


def test_probes_are_meaningful_unconfined(unconfined):
    got, mode = unconfined
    assert mode == "0"
    results = {f"{name}{args}": r for (name, args), r in zip(PROBES, got)}
    assert results["getpid()"] == "ok" and results["clone3(None, 0)"] == "EINVAL"
    if os.geteuid() == 0:   # as root nothing is refused for lack of privilege: each EPERM is the filter's
        assert results[f"mount{(None, NOWHERE, None, 0, None)}"] == "ENOENT"
        assert results["unshare(0,)"] == "ok" and results["setns(-1, 0)"] == "EBADF"


def test_a_call_through_the_x32_abi_kills_the_process(programs):
    if ARCH != "x86_64":
        pytest.skip("x32 exists only on x86_64")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    for program in programs["default", ARCH]:
        pid = os.fork()
        if pid == 0:
            try:
                LinuxSyscalls().prctl(38, 1)
                LinuxSyscalls().seccomp_set_mode_filter(program)
                libc.syscall(ctypes.c_long(0x40000000 + 39))    # x32 getpid
            finally:
                os._exit(3)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS
