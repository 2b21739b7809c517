"""Devices: which device nodes a container may open (docker's allow list), on cgroup v1 and v2.

A container's root may ``mknod`` (docker keeps CAP_MKNOD), so a node of the
host's disk is one system call away. What stops it is the *devices cgroup*:
the kernel checks every open(2) of a device node, and every mknod(2), against
the rules of the opener's cgroup (Documentation/admin-guide/cgroup-v1/devices.rst).

The rules are docker's defaults, in the devices cgroup's own words
(``TYPE MAJOR:MINOR ACCESS``; type ``c``, ``b`` or ``a`` for all; ``*`` for
any number; access ``r`` read, ``w`` write, ``m`` mknod)::

    c 1:3 rwm   /dev/null       c 5:0 rwm   /dev/tty
    c 1:5 rwm   /dev/zero       c 5:1 rwm   /dev/console
    c 1:7 rwm   /dev/full       c 5:2 rwm   /dev/ptmx
    c 1:8 rwm   /dev/random     c 136:* rwm /dev/pts/*
    c 1:9 rwm   /dev/urandom    c 10:200 rwm /dev/net/tun
    c *:* m     b *:* m         mknod of any node, open of none of them

- **cgroup v1**: the container's group in the ``devices`` hierarchy gets
  ``a`` written to ``devices.deny`` (nothing allowed), then each rule to
  ``devices.allow``.
- **cgroup v2** has no devices controller. Instead an eBPF program of type
  ``BPF_CGROUP_DEVICE`` is attached to the group; the kernel runs it for each
  check with ``struct bpf_cgroup_dev_ctx {access_type, major, minor}`` and it
  returns 1 (allow) or 0 (deny). ``program()`` assembles it here, in Python,
  as runc and crun do in Go and C: one block of compares per rule.

Man pages: bpf(2), mknod(2); <linux/bpf.h> (bpf_cgroup_dev_ctx, BPF_DEVCG_*).
"""

from __future__ import annotations

import os

from ..errors import ConfigError
from ..record import Record

#: docker's default allow list.
DEFAULT = (
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm",
    "c 136:* rwm", "c 10:200 rwm", "b *:* m", "c *:* m",
)
#: --privileged: every device.
ALL = ("a *:* rwm",)


class Rule(Record):
    """One allow rule. ``kind`` is "c", "b" or "a"; None in major/minor means ``*``."""

    kind: str
    major: int | None
    minor: int | None
    access: str

    def __str__(self) -> str:
        return f"{self.kind} {_num(self.major)}:{_num(self.minor)} {self.access}"


def _num(n: int | None) -> str:
    return "*" if n is None else str(n)


def parse(text: str) -> Rule:
    """``"c 1:3 rwm"`` -> ``Rule("c", 1, 3, "rwm")``. Raises ConfigError for anything else."""
    parts = text.split()
    try:
        kind, numbers, access = parts
        major, minor = numbers.split(":")
        rule = Rule(kind, None if major == "*" else int(major), None if minor == "*" else int(minor), access)
    except ValueError:
        rule = None
    if rule is None or kind not in ("a", "b", "c") or not access or set(access) - set("rwm") \
            or any(n is not None and n < 0 for n in (rule.major, rule.minor)):
        raise ConfigError("device rule", text, "must look like TYPE MAJOR:MINOR ACCESS",
                          hint='e.g. "c 1:3 rwm": type c, b or a, numbers or *, access from rwm')
    return rule


def rules(security) -> tuple[str, ...]:
    """The rules of a ``config.Security``: every device for --privileged, else its own or the defaults."""
    if security.privileged:
        return ALL
    return DEFAULT if security.devices is None else tuple(security.devices)


# ------------------------------------------------------------------ cgroup v1
def apply_v1(fs, group: str, allow) -> None:
    """Deny everything, then allow each rule, in ``group`` of the v1 devices hierarchy.

    A new group starts with its parent's rules (``a *:* rwm`` at the root). With
    ``a *:* rwm`` in ``allow`` there is nothing to write: it stays as it is.
    """
    if tuple(allow) == ALL:
        return
    fs.write(os.path.join(group, "devices.deny"), "a")
    for rule in allow:
        fs.write(os.path.join(group, "devices.allow"), rule)


# ------------------------------------------------------------------ cgroup v2: eBPF
# From <linux/bpf.h>.
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6  # the attach type
BPF_F_ALLOW_MULTI = 2
DEVCG_DEV = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR: the low 16 bits of access_type
DEVCG_ACC = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE: the high 16 bits

# Instruction classes and operations (Documentation/bpf/standardization/instruction-set.rst).
LDX_MEM_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
ALU64_AND_K = 0x57  # dst &= imm
ALU64_RSH_K = 0x77  # dst >>= imm
ALU64_MOV_K = 0xB7  # dst = imm
ALU64_MOV_X = 0xBF  # dst = src
JMP_JNE_K = 0x55  # if dst != imm: pc += off
JMP_JNE_X = 0x5D  # if dst != src: pc += off
EXIT = 0x95  # return r0


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One ``struct bpf_insn``: u8 code, u8 regs (dst in the low nibble, src in the high one), s16 off, s32 imm.

    Little-endian, as on x86_64 and aarch64 (on a big-endian machine the
    register nibbles swap too; minictr does not target one).
    """
    import struct  # here: only a cgroup v2 host needs it; a v1 host's run path does without
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def program(allow) -> bytes:
    """The eBPF program for the rules ``allow`` (strings or ``Rule``s): 1 if any rule allows the access.

    Registers: r1 = the context on entry, r2 = device type, r3 = access bits,
    r4 = major, r5 = minor, r1 reused as scratch. Each rule is a block that
    jumps to the next block at its first mismatch, or returns 1::

        r2 = ctx->access_type & 0xffff ; r3 = ctx->access_type >> 16
        r4 = ctx->major ; r5 = ctx->minor
        rule: if r2 != TYPE goto next           (left out for type a)
              r1 = r3 ; r1 &= ~ACCESS ; if r1 != 0 goto next   (left out for rwm)
              if r4 != MAJOR goto next          (left out for *)
              if r5 != MINOR goto next          (left out for *)
              r0 = 1 ; exit
        next: ...
        r0 = 0 ; exit                            (nothing allowed it)
    """
    out = [
        insn(LDX_MEM_W, dst=2, src=1, off=0), insn(ALU64_AND_K, dst=2, imm=0xFFFF),
        insn(LDX_MEM_W, dst=3, src=1, off=0), insn(ALU64_RSH_K, dst=3, imm=16),
        insn(LDX_MEM_W, dst=4, src=1, off=4), insn(LDX_MEM_W, dst=5, src=1, off=8),
    ]
    for item in allow:
        rule = item if isinstance(item, Rule) else parse(item)
        bits = 0
        for ch in rule.access:
            bits |= DEVCG_ACC[ch]
        checks = []  # each a list of instructions ending in a jump; the jump's offset is filled below
        if rule.kind != "a":
            checks.append([(JMP_JNE_K, 2, 0, DEVCG_DEV[rule.kind])])
        if bits != 7:
            checks.append([(ALU64_MOV_X, 1, 3, None), (ALU64_AND_K, 1, 0, ~bits & 7), (JMP_JNE_K, 1, 0, 0)])
        if rule.major is not None:
            checks.append([(JMP_JNE_K, 4, 0, rule.major)])
        if rule.minor is not None:
            checks.append([(JMP_JNE_K, 5, 0, rule.minor)])
        block = [ins for check in checks for ins in check] + [(ALU64_MOV_K, 0, 0, 1), (EXIT, 0, 0, 0)]
        for i, (code, dst, src, imm) in enumerate(block):
            # a jump skips the rest of this block: offsets count from the next instruction
            off = len(block) - i - 1 if code in (JMP_JNE_K, JMP_JNE_X) else 0
            out.append(insn(code, dst, src, off, imm or 0))
    out += [insn(ALU64_MOV_K, dst=0, imm=0), insn(EXIT)]
    return b"".join(out)


def attach_v2(kernel, group: str, allow) -> None:
    """Load the program for ``allow`` and attach it to the cgroup2 directory ``group``.

    BPF_F_ALLOW_MULTI, as runc does: a program an ancestor attached (systemd
    attaches its own) still runs too, and an access must pass all of them.
    The attachment holds the program; our fds can be closed. It goes away
    with the group.
    """
    if tuple(allow) == ALL:
        return
    prog = kernel.bpf_prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, program(allow))
    try:
        target = os.open(group, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            kernel.bpf_prog_attach(target, prog, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)
        finally:
            os.close(target)
    finally:
        os.close(prog)


def confine(mgr, allow, kernel) -> str:
    """Apply the allow list to a container's ``CgroupManager``. Returns how: "v1", "v2" or "none".

    The v1 devices controller when the host has it (this hybrid CI host does);
    otherwise the eBPF program on the container's cgroup2 group (a pure v2 host).
    """
    for g in mgr.groups:
        if g.version == 1 and "devices" in g.controllers:
            apply_v1(mgr.fs, g.path, allow)
            return "v1"
    for g in mgr.groups:
        if g.version == 2:
            attach_v2(kernel, g.path, allow)
            return "v2"
    return "none"
