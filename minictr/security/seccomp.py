"""Compile a docker-format seccomp profile into a classic BPF program.

Man pages: seccomp(2) (``struct seccomp_data``, the ``SECCOMP_RET_*`` verdicts and
their order), seccomp_rule_add(3) and seccomp_export_bpf(3) (libseccomp, which runc
and crun use to do the same; our tests compare the two). The program::

    ld  [4]                      ; arch
    jeq #AUDIT_ARCH, ok          ; not our architecture (an i386 int 0x80 call on x86_64 ...)
    ret KILL_PROCESS             ;   -> kill the process
  ok:
    ld  [0]                      ; nr
    jge #0x40000000, x32         ; x86_64 only: the x32 ABI sets this bit: kill too (but -1)
    jeq #0, chain0               ; read     one compare per syscall a rule names, to the
    jeq #39, chain0              ; getpid   code of its rules (shared by syscalls alike) ...
    jeq #135, chain2             ; personality
    ret ERRNO(EPERM)             ; ... and the default action for every other call
  chain0:
    ret ALLOW
  chain2:                        ; a syscall with argument rules: each rule in turn,
    ld [args[0].hi] ...          ;   64-bit values as two 32-bit halves
    ret ALLOW

A conditional jump reaches at most 255 instructions ahead; the assembler (bpf.py) puts a
``ja`` trampoline after each one that must go further.

How we differ from docker + runc + libseccomp, on purpose:

- Only the native ABI. runc also adds the profile's sub-architectures (x86 and x32 on
  x86_64, arm on aarch64) and filters their calls with their own numbers; we kill a
  process that makes a call through another ABI. libseccomp's default for a wrong arch
  is SCMP_ACT_KILL (the thread); we kill the whole process (SECCOMP_RET_KILL_PROCESS).
- SCMP_ACT_TRACE compiles to SECCOMP_RET_TRACE | errnoRet (EPERM if unset, as runc):
  with no tracer attached the kernel fails the call with ENOSYS (seccomp(2)).
- runc also returns ENOSYS, not the default errno, for syscall numbers newer than any
  the profile knows (so that new libcs fall back); we do not.

Rules are picked by the container's capabilities and the arch (seccomp_profile.Rule.applies).
For one syscall, rules with argument filters are tried in profile order, then the rule
without filters; the first that matches decides. A rule whose action is the default is
dropped (libseccomp refuses those, and runc skips them).
"""

from __future__ import annotations

import os

from ..errors import ConfigError
from . import seccomp_profile as sp
from .bpf import Assembler, disassemble

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}   # EM_* | __AUDIT_ARCH_64BIT | _LE
X32_SYSCALL_BIT = 0x40000000

RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000
_RET_BASE = {"SCMP_ACT_KILL_PROCESS": RET_KILL_PROCESS, "SCMP_ACT_KILL_THREAD": RET_KILL_THREAD,
             "SCMP_ACT_KILL": RET_KILL_THREAD, "SCMP_ACT_TRAP": RET_TRAP, "SCMP_ACT_ERRNO": RET_ERRNO,
             "SCMP_ACT_TRACE": RET_TRACE, "SCMP_ACT_LOG": RET_LOG, "SCMP_ACT_ALLOW": RET_ALLOW}

#: struct seccomp_data offsets; both targets are little-endian, so a u64's low half comes first
OFF_NR, OFF_ARCH = 0, 4


def _arg_offsets(index: int) -> tuple[int, int]:
    lo = 16 + 8 * index
    return lo, lo + 4


def verdict(action: str, errno: int | None) -> int:
    """The SECCOMP_RET_* value for a profile action; ERRNO and TRACE carry errnoRet (EPERM if unset)."""
    base = _RET_BASE[action]
    if base in (RET_ERRNO, RET_TRACE):
        return base | (sp.EPERM if errno is None else errno)
    return base


def verdict_name(k: int) -> str:
    names = {RET_KILL_PROCESS: "KILL_PROCESS", RET_KILL_THREAD: "KILL_THREAD", RET_TRAP: "TRAP",
             RET_LOG: "LOG", RET_ALLOW: "ALLOW"}
    if k in names:
        return names[k]
    if k & 0xFFFF0000 == RET_ERRNO:
        return f"ERRNO({os.strerror(k & 0xFFFF) if k & 0xFFFF < 200 else k & 0xFFFF}: {k & 0xFFFF})"
    if k & 0xFFFF0000 == RET_TRACE:
        return f"TRACE({k & 0xFFFF})"
    return ""


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """'6.1.0-18-amd64' -> (6, 1)."""
    parts = (release or os.uname().release).split(".")
    return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)


def plan(profile: sp.Profile, caps, arch: str, kernel: tuple[int, int] | None = None):
    """The decision, as data: (default verdict, {nr: (name, chain)}), where a chain is a
    tuple of (args, verdict) tried in order; ``args == ()`` matches always."""
    go_arch, _ = sp.target(arch)
    caps = sp.normalize_caps(caps)
    kernel = kernel or kernel_version()
    default = verdict(profile.default_action, profile.default_errno)
    entries: dict[int, tuple[str, list]] = {}
    for rule in profile.rules:
        if not rule.applies(caps, go_arch, kernel):
            continue
        v = verdict(rule.action, rule.errno)
        if v == default:
            continue
        for name, nr in sp.resolve(rule.names, arch):
            entries.setdefault(nr, (name, []))[1].append((rule.args, v))
    out = {}
    for nr, (name, chain) in entries.items():
        always = {v for args, v in chain if not args}
        if len(always) > 1:
            raise ConfigError("seccomp profile", name, "two rules without argument filters give this "
                              "syscall different actions", hint="keep one of them, or add args")
        conditional = []
        for args, v in chain:
            if args and v not in always and (args, v) not in conditional:
                conditional.append((args, v))
        out[nr] = (name, tuple(conditional) + tuple(((), v) for v in always))
    return default, out


def assemble(profile: sp.Profile, caps, arch: str, kernel: tuple[int, int] | None = None) -> Assembler:
    """The filter as an Assembler (labels and comments), before jump resolution."""
    default, table = plan(profile, caps, arch, kernel)
    asm = Assembler()
    asm.ld(OFF_ARCH, "arch")
    asm.jeq(AUDIT_ARCH[arch], "native", None, arch)
    asm.ret(RET_KILL_PROCESS, "another architecture or ABI")
    asm.label("native")
    asm.ld(OFF_NR, "nr")
    if arch == "x86_64":
        # the x32 ABI shares AUDIT_ARCH_X86_64 and sets bit 30 of the number: kill it.
        # But nr -1 is what a tracer writes to skip a call (ptrace(2)); the kernel then
        # runs the filter again, and -1 must reach the rules (libseccomp does the same).
        asm.jge(X32_SYSCALL_BIT, None, "dispatch", "x32 ABI?")
        asm.jeq(0xFFFFFFFF, "dispatch", None, "nr -1: a tracer skipped the call")
        asm.ret(RET_KILL_PROCESS, "x32 ABI")
    asm.label("dispatch")
    # one compare per syscall, jumping to the code of its chain; syscalls with the same
    # chain share it (300 calls of the default profile share one "ret ALLOW")
    chains: dict[tuple, str] = {}
    for nr, (name, chain) in sorted(table.items(), key=lambda item: (repr(item[1][1]), item[0])):
        label = chains.setdefault(chain, f"chain{len(chains)}")
        asm.jeq(nr, label, None, name)
    asm.ret(default, "default action")
    for chain, label in chains.items():
        asm.label(label)
        for args, v in chain:
            if not args:
                asm.ret(v)
                break
            nxt = asm.fresh("next")
            for arg in args:
                _compare(asm, arg, nxt)
            asm.ret(v)
            asm.label(nxt)
        else:
            asm.ret(default, "no rule matched")
    return asm


def compile(profile: sp.Profile, caps, arch: str | None = None, kernel: tuple[int, int] | None = None) -> bytes:
    """The BPF program (struct sock_filter[]) for seccomp(SECCOMP_SET_MODE_FILTER)."""
    return assemble(profile, caps, arch or os.uname().machine, kernel).assemble()


def show(program: bytes, arch: str | None = None) -> str:
    """The program, readably (lesson 10), with syscall names for the numbers of ``arch``."""
    table = sp.target(arch or os.uname().machine)[1]
    return disassemble(program, verdicts=verdict_name, constants={"nr": {nr: n for n, nr in table.items()}})


def _compare(asm: Assembler, arg: sp.Arg, fail: str) -> None:
    """Fall through if ``args[i] <op> value`` holds for the 64-bit argument, else jump to ``fail``.
    Classic BPF loads 32 bits at a time: compare the high halves, and the low halves
    only where the high halves are equal."""
    lo_off, hi_off = _arg_offsets(arg.index)
    hi, lo = arg.value >> 32, arg.value & 0xFFFFFFFF
    a = f"args[{arg.index}]"
    ok = asm.fresh("ok")
    if arg.op == "SCMP_CMP_EQ":
        asm.ld(hi_off, f"{a} == {arg.value:#x}")
        asm.jeq(hi, None, fail)
        asm.ld(lo_off)
        asm.jeq(lo, None, fail)
    elif arg.op == "SCMP_CMP_NE":
        asm.ld(hi_off, f"{a} != {arg.value:#x}")
        asm.jeq(hi, None, ok)
        asm.ld(lo_off)
        asm.jeq(lo, fail, None)
    elif arg.op == "SCMP_CMP_MASKED_EQ":
        mask, want = arg.value, arg.value_two
        asm.ld(hi_off, f"{a} & {mask:#x} == {want:#x}")
        asm.and_(mask >> 32)
        asm.jeq(want >> 32, None, fail)
        asm.ld(lo_off)
        asm.and_(mask & 0xFFFFFFFF)
        asm.jeq(want & 0xFFFFFFFF, None, fail)
    elif arg.op in ("SCMP_CMP_GT", "SCMP_CMP_GE"):
        asm.ld(hi_off, f"{a} {'>' if arg.op == 'SCMP_CMP_GT' else '>='} {arg.value:#x}")
        asm.jgt(hi, ok, None)            # high half bigger: true whatever the low half
        asm.jeq(hi, None, fail)          # high half smaller: false
        asm.ld(lo_off)
        (asm.jgt if arg.op == "SCMP_CMP_GT" else asm.jge)(lo, None, fail)
    elif arg.op in ("SCMP_CMP_LT", "SCMP_CMP_LE"):
        # a < v is not (a >= v); a <= v is not (a > v)
        asm.ld(hi_off, f"{a} {'<' if arg.op == 'SCMP_CMP_LT' else '<='} {arg.value:#x}")
        asm.jgt(hi, fail, None)
        asm.jeq(hi, None, ok)
        asm.ld(lo_off)
        (asm.jge if arg.op == "SCMP_CMP_LT" else asm.jgt)(lo, fail, None)
    else:  # seccomp_profile validated the op
        raise AssertionError(arg.op)
    asm.label(ok)
