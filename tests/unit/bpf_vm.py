"""A small classic-BPF interpreter, for tests only: run a seccomp program over a seccomp_data.

It follows the kernel's classic BPF semantics (net/core/filter.c, seccomp's checker):
32-bit accumulator A and index X, 16 scratch words, loads from the packet (here the
64-byte struct seccomp_data) only as aligned 32-bit words, forward jumps only.
It runs programs from our assembler and from libseccomp's seccomp_export_bpf(3).
"""

from __future__ import annotations

import struct

M32 = 0xFFFFFFFF
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7


def seccomp_data(nr: int, arch: int = AUDIT_ARCH_X86_64, args=(), ip: int = 0) -> bytes:
    args = list(args) + [0] * (6 - len(args))
    return struct.pack("<IIQ6Q", nr & M32, arch, ip, *[a & (2**64 - 1) for a in args])


def run(program: bytes, data: bytes) -> int:
    insns = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    a = x = 0
    mem = [0] * 16
    pc = 0
    steps = 0
    while True:
        if pc >= len(insns):
            raise RuntimeError("fell off the end of the program")
        steps += 1
        code, jt, jf, k = insns[pc]
        pc += 1
        cls = code & 0x07
        if cls == 0x00:                              # BPF_LD
            mode = code & 0xE0
            if mode == 0x20:                         # ABS
                a = _word(data, k)
            elif mode == 0x00:                       # IMM
                a = k
            elif mode == 0x60:                       # MEM
                a = mem[k]
            elif mode == 0x80:                       # LEN
                a = len(data)
            else:
                raise RuntimeError(f"unsupported load {code:#x}")
            _size(code)
        elif cls == 0x01:                            # BPF_LDX
            mode = code & 0xE0
            x = {0x00: lambda: k, 0x60: lambda: mem[k], 0x80: lambda: len(data)}[mode]()
        elif cls == 0x02:                            # BPF_ST
            mem[k] = a
        elif cls == 0x03:                            # BPF_STX
            mem[k] = x
        elif cls == 0x04:                            # BPF_ALU
            src = x if code & 0x08 else k
            op = code & 0xF0
            a = {0x00: lambda: a + src, 0x10: lambda: a - src, 0x20: lambda: a * src,
                 0x30: lambda: a // src, 0x40: lambda: a | src, 0x50: lambda: a & src,
                 0x60: lambda: a << src, 0x70: lambda: a >> src, 0x80: lambda: -a,
                 0x90: lambda: a % src, 0xA0: lambda: a ^ src}[op]() & M32
        elif cls == 0x05:                            # BPF_JMP
            op = code & 0xF0
            src = x if code & 0x08 else k
            if op == 0x00:
                pc += k
                continue
            cond = {0x10: a == src, 0x20: a > src, 0x30: a >= src, 0x40: bool(a & src)}[op]
            pc += jt if cond else jf
        elif cls == 0x06:                            # BPF_RET
            return a if code & 0x18 == 0x10 else k
        elif cls == 0x07:                            # BPF_MISC
            if code & 0xF8 == 0x00:                  # TAX
                x = a
            else:                                    # TXA
                a = x
        if steps > 100_000:
            raise RuntimeError("no verdict")


def _word(data: bytes, k: int) -> int:
    if k % 4 or k + 4 > len(data):
        raise RuntimeError(f"bad load offset {k}")
    return struct.unpack_from("<I", data, k)[0]


def _size(code: int) -> None:
    if code & 0x18 != 0x00:
        raise RuntimeError("seccomp loads only 32-bit words")
