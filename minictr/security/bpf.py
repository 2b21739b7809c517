"""A tiny classic-BPF assembler and disassembler, for seccomp filters.

Man pages: seccomp(2) (the filter's input, ``struct seccomp_data``, and return
values), bpf(4) on BSD or the kernel's Documentation/networking/filter.rst
(the instruction set). A classic BPF program is an array of::

    struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; };   /* 8 bytes, native order */

One accumulator ``A``. The few instructions a seccomp filter needs:

    ld  [k]          A = 32-bit word at offset k of struct seccomp_data
    and #k           A &= k
    jeq #k, jt, jf   if A == k skip jt instructions, else skip jf   (also jgt, jge, jset)
    ja  k            skip k instructions (32-bit offset)
    ret #k           the verdict (SECCOMP_RET_*)

Jumps only go forward, and ``jt``/``jf`` are 8 bits: at most 255 instructions.
The assembler takes labels and resolves them to relative offsets; a conditional
jump that lands further away goes through a ``ja`` trampoline placed right after
it (``ja`` has a 32-bit offset). Nothing here knows about syscalls: see seccomp.py.
"""

from __future__ import annotations

import struct

# instruction classes and fields (linux/filter.h, linux/bpf_common.h)
LD_W_ABS = 0x00 | 0x00 | 0x20    # BPF_LD | BPF_W | BPF_ABS
ALU_AND_K = 0x04 | 0x50 | 0x00   # BPF_ALU | BPF_AND | BPF_K
JA = 0x05 | 0x00                 # BPF_JMP | BPF_JA
JEQ_K = 0x05 | 0x10              # BPF_JMP | BPF_JEQ | BPF_K
JGT_K = 0x05 | 0x20
JGE_K = 0x05 | 0x30
JSET_K = 0x05 | 0x40
RET_K = 0x06                     # BPF_RET | BPF_K

MAX_INSNS = 4096                 # BPF_MAXINSNS: the kernel refuses longer programs
MAX_JUMP = 255                   # jt and jf are u8
_INSN = struct.Struct("=HBBI")

_CONDITIONAL = {JEQ_K: "jeq", JGT_K: "jgt", JGE_K: "jge", JSET_K: "jset"}


class BPFError(ValueError):
    """A program that cannot be assembled: unknown label, backward jump, too long."""


class Assembler:
    """Collect instructions with symbolic jump targets, then ``assemble()`` to bytes.

    A jump target is a label name; ``None`` means "the next instruction".
    ``label(name)`` names the instruction emitted next.
    """

    def __init__(self) -> None:
        self._items: list[list] = []   # ["label", name] or [code, jt, jf, k, comment]
        self._fresh = 0

    def fresh(self, stem: str = "L") -> str:
        self._fresh += 1
        return f".{stem}{self._fresh}"

    def label(self, name: str) -> None:
        self._items.append(["label", name])

    def ld(self, offset: int, comment: str = "") -> None:
        self._emit(LD_W_ABS, None, None, offset, comment)

    def and_(self, k: int, comment: str = "") -> None:
        self._emit(ALU_AND_K, None, None, k, comment)

    def jeq(self, k: int, jt: str | None, jf: str | None = None, comment: str = "") -> None:
        self._emit(JEQ_K, jt, jf, k, comment)

    def jgt(self, k: int, jt: str | None, jf: str | None = None, comment: str = "") -> None:
        self._emit(JGT_K, jt, jf, k, comment)

    def jge(self, k: int, jt: str | None, jf: str | None = None, comment: str = "") -> None:
        self._emit(JGE_K, jt, jf, k, comment)

    def ja(self, target: str, comment: str = "") -> None:
        self._emit(JA, target, None, 0, comment)

    def ret(self, k: int, comment: str = "") -> None:
        self._emit(RET_K, None, None, k, comment)

    def _emit(self, code, jt, jf, k, comment) -> None:
        if not 0 <= k <= 0xFFFFFFFF:
            raise BPFError(f"constant {k:#x} does not fit in 32 bits")
        self._items.append([code, jt, jf, k, comment])

    def instructions(self) -> list[tuple[int, int, int, int]]:
        """Resolve labels (adding trampolines where needed): (code, jt, jf, k) per instruction."""
        items = self._explicit_fallthrough(self._items)
        while True:
            pos = _positions(items)
            far = _first_far_jump(items, pos)
            if far is None:
                break
            at, which = far
            insn = items[at]
            trampolines = []
            for slot in which:               # 1 = jt, 2 = jf
                name = self.fresh("T")
                trampolines += [["label", name], [JA, insn[slot], None, 0, "trampoline"]]
                insn[slot] = name
            items[at + 1:at + 1] = trampolines
        pos = _positions(items)
        out, pc = [], 0
        for item in items:
            if item[0] == "label":
                continue
            code, jt, jf, k, _ = item
            if code == JA:
                out.append((code, 0, 0, _offset(pos, jt, pc)))
            elif code in _CONDITIONAL:
                out.append((code, _offset(pos, jt, pc), _offset(pos, jf, pc), k))
            else:
                out.append((code, 0, 0, k))
            pc += 1
        if len(out) > MAX_INSNS:
            raise BPFError(f"{len(out)} instructions: more than the kernel's {MAX_INSNS}")
        return out

    def assemble(self) -> bytes:
        return b"".join(_INSN.pack(*insn) for insn in self.instructions())

    def _explicit_fallthrough(self, items: list[list]) -> list[list]:
        """Turn every ``None`` target of a conditional jump into a label on the next instruction,
        so that inserting a trampoline never changes where a branch lands."""
        out = []
        pending = None
        for item in items:
            if item[0] != "label" and pending:
                out.append(["label", pending])
                pending = None
            item = list(item)
            if item[0] in _CONDITIONAL and (item[1] is None or item[2] is None):
                pending = pending or self.fresh("N")
                item[1] = pending if item[1] is None else item[1]
                item[2] = pending if item[2] is None else item[2]
            out.append(item)
        if pending:
            raise BPFError("the program ends with a conditional jump that falls off its end")
        return out


def _positions(items: list[list]) -> dict[str, int]:
    pos, pc = {}, 0
    for item in items:
        if item[0] == "label":
            if item[1] in pos:
                raise BPFError(f"label {item[1]!r} defined twice")
            pos[item[1]] = pc
        else:
            pc += 1
    return pos


def _first_far_jump(items, pos):
    pc = 0
    for i, item in enumerate(items):
        if item[0] == "label":
            continue
        if item[0] in _CONDITIONAL:
            which = [slot for slot in (1, 2) if _offset(pos, item[slot], pc) > MAX_JUMP]
            if which:
                return i, which
        pc += 1
    return None


def _offset(pos: dict[str, int], label: str, pc: int) -> int:
    if label not in pos:
        raise BPFError(f"jump to undefined label {label!r}")
    off = pos[label] - pc - 1
    if off < 0:
        raise BPFError(f"jump backwards to {label!r}: classic BPF only jumps forward")
    return off


# -- reading programs back -------------------------------------------------------------

def decode(program: bytes) -> list[tuple[int, int, int, int]]:
    if len(program) % _INSN.size:
        raise BPFError(f"{len(program)} bytes is not a whole number of 8-byte instructions")
    return [_INSN.unpack_from(program, i) for i in range(0, len(program), _INSN.size)]


#: names for the offsets of struct seccomp_data (little-endian: the low half of a u64 first)
SECCOMP_DATA_FIELDS = {0: "nr", 4: "arch", 8: "ip.lo", 12: "ip.hi",
                       **{16 + 8 * i + 4 * h: f"args[{i}].{'hi' if h else 'lo'}"
                          for i in range(6) for h in (0, 1)}}


def disassemble(program: bytes, fields=SECCOMP_DATA_FIELDS, verdicts=None, constants=None) -> str:
    """One line per instruction, with absolute jump targets, like ``seccomp-tools`` or ``bpf_dbg``:

        0: ld  [4]                 ; arch
        1: jeq #0xc000003e  3, 2
        2: ret #0x80000000         ; KILL_PROCESS

    ``verdicts(k)`` names a return value; ``constants[field][k]`` names a constant compared
    with a loaded field (e.g. ``{"nr": {39: "getpid"}}``).
    """
    lines, loaded = [], ""
    for pc, (code, jt, jf, k) in enumerate(decode(program)):
        note = ""
        if code == LD_W_ABS:
            text, note = f"ld  [{k}]", fields.get(k, "")
            loaded = note
        elif code == ALU_AND_K:
            text = f"and #{k:#x}"
        elif code == JA:
            text = f"ja  {pc + 1 + k}"
        elif code in _CONDITIONAL:
            text = f"{_CONDITIONAL[code]:<4}#{k:#x}  {pc + 1 + jt}, {pc + 1 + jf}"
            note = ((constants or {}).get(loaded) or {}).get(k, "")
        elif code == RET_K:
            text = f"ret #{k:#x}"
            note = verdicts(k) if verdicts else ""
        else:
            text = f"??? code={code:#x} jt={jt} jf={jf} k={k:#x}"
        lines.append(f"{pc:4}: {text:<26}" + (f" ; {note}" if note else ""))
    return "\n".join(line.rstrip() for line in lines)
