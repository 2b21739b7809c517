"""Generate minictr/security/syscall_tables.py from this machine's kernel headers.

    python3 mk/gen_syscall_tables.py > minictr/security/syscall_tables.py

- x86_64: ``asm/unistd_64.h`` is a flat list of ``#define __NR_name nr``.
- aarch64: arm64 has no table of its own; it includes ``asm-generic/unistd.h`` with
  a few ``__ARCH_WANT_*`` switches (arch/arm64/include/uapi/asm/unistd.h) and
  ``__BITS_PER_LONG == 64``. We evaluate the header's ``#define``/``#if`` lines the
  way that build does: a tiny preprocessor, enough for this one header.
- both: plus NEWER, the few calls after these headers (same number on every arch).
- OTHER_ARCH_NAMES: names that exist on some architecture but not on these two
  (i386, x32, 32-bit asm-generic, plus a short hand list of arch-specific calls
  that no header here declares). A profile may name them: they are skipped, not refused.

The headers come from the ``linux-libc-dev`` package (Debian 12: 6.1).
"""

from __future__ import annotations

import re
import sys

X86_64_H = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
I386_H = "/usr/include/x86_64-linux-gnu/asm/unistd_32.h"
X32_H = "/usr/include/x86_64-linux-gnu/asm/unistd_x32.h"
GENERIC_H = "/usr/include/asm-generic/unistd.h"

#: what arch/arm64/include/uapi/asm/unistd.h defines before it includes asm-generic/unistd.h
ARM64_WANTS = ("__ARCH_WANT_RENAMEAT", "__ARCH_WANT_NEW_STAT", "__ARCH_WANT_SET_GET_RLIMIT",
               "__ARCH_WANT_TIME32_SYSCALLS", "__ARCH_WANT_SYS_CLONE3", "__ARCH_WANT_MEMFD_SECRET")

#: arch-specific calls that docker's profile names and no header on this machine declares
#: (arm, parisc, s390, riscv, ppc), and calls newer than these 6.1 headers (451..)
HAND_NAMES = ("arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush", "set_tls",
              "sync_file_range2", "s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr",
              "s390_guarded_storage", "s390_sthyi", "riscv_flush_icache", "riscv_hwprobe",
              "spu_run", "spu_create", "subpage_prot", "switch_endian", "sys_debug_setcontext",
              "statmount", "listmount", "lsm_get_self_attr", "lsm_set_self_attr",
              "lsm_list_modules", "mseal", "setxattrat", "getxattrat", "listxattrat",
              "removexattrat", "open_tree_attr", "uretprobe", "recv", "send")

#: calls newer than these 6.1 headers that docker's profile allows and a newer libc may make
#: (glibc 2.39 uses fchmodat2). Since pidfd_send_signal (424) a new syscall gets the same
#: number on every architecture, so one list serves both tables. Debian 12's
#: libseccomp2 (2.5.4-1+deb12u1) knows exactly these too.
NEWER = {"cachestat": 451, "fchmodat2": 452, "map_shadow_stack": 453, "futex_wake": 454,
         "futex_wait": 455, "futex_requeue": 456}

NOT_CALLS = ("syscalls", "arch_specific_syscall")


def flat_table(path: str) -> dict[str, int]:
    out = {}
    for line in open(path):
        m = re.match(r"#define __NR_(\w+)\s+(\d+)", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def _eval(expr: str, defs: dict[str, str]) -> bool:
    expr = re.sub(r"defined\s*\(\s*(\w+)\s*\)", lambda m: " 1 " if m.group(1) in defs else " 0 ", expr)
    expr = expr.replace("||", " or ").replace("&&", " and ")
    expr = re.sub(r"!(?!=)", " not ", expr)
    expr = re.sub(r"[A-Za-z_]\w*", lambda m: m.group(0) if m.group(0) in ("or", "and", "not")
                  else str(_value(m.group(0), defs)), expr)
    return bool(eval(expr, {"__builtins__": {}}))  # our own header-derived text, no user input


def _value(name: str, defs: dict[str, str]) -> int:
    text = defs.get(name, "0")
    return int(text) if text.isdigit() else _value(text, defs)


def generic_table(bits: int, wants: tuple[str, ...]) -> dict[str, int]:
    """Run the preprocessor lines of asm-generic/unistd.h for one build; return name -> nr."""
    defs = {w: "1" for w in wants}
    defs["__BITS_PER_LONG"] = str(bits)
    stack: list[tuple[bool, bool]] = []  # (this branch active, some branch already taken)
    active = True
    for raw in open(GENERIC_H):
        line = raw.strip()
        if not line.startswith("#"):
            continue
        word, _, rest = line[1:].strip().partition(" ")
        rest = rest.split("/*")[0].strip()
        if word in ("if", "ifdef", "ifndef"):
            cond = {"if": lambda: _eval(rest, defs), "ifdef": lambda: rest in defs,
                    "ifndef": lambda: rest not in defs}[word]()
            stack.append((active, cond))
            active = active and cond
        elif word == "elif":
            outer, taken = stack[-1]
            cond = not taken and _eval(rest, defs)
            stack[-1] = (outer, taken or cond)
            active = outer and cond
        elif word == "else":
            outer, taken = stack[-1]
            active = outer and not taken
        elif word == "endif":
            active = stack.pop()[0]
        elif active and word == "define":
            name, _, value = rest.partition(" ")
            if "(" not in name:
                defs[name] = value.strip()
        elif active and word == "undef":
            defs.pop(rest, None)
    return {k[5:]: _value(k, defs) for k in defs
            if k.startswith("__NR_") and k[5:] not in NOT_CALLS}


def main() -> None:
    x86_64 = flat_table(X86_64_H)
    aarch64 = generic_table(64, ARM64_WANTS)
    for table in (x86_64, aarch64):
        for name, nr in NEWER.items():
            table.setdefault(name, nr)
    others = set(flat_table(I386_H)) | set(flat_table(X32_H)) | set(generic_table(32, ()))
    others |= set(HAND_NAMES)
    others -= set(x86_64) | set(aarch64)
    w = sys.stdout.write
    w('"""Syscall numbers by architecture. GENERATED by mk/gen_syscall_tables.py from the\n'
      'kernel headers of linux-libc-dev; do not edit by hand."""\n\n')
    # Since Linux 5.1 every architecture gives a new syscall the same number (424 and up):
    # that part is written once and both tables take it in.
    unified = {k: v for k, v in x86_64.items() if v >= 424 and aarch64.get(k) == v}
    w("#: numbers from 424 up, the same on every architecture since Linux 5.1\n")
    w("UNIFIED = {\n")
    for name, nr in sorted(unified.items(), key=lambda kv: kv[1]):
        w(f"    {name!r}: {nr},\n")
    w("}\n\n")
    for var, table in (("X86_64", x86_64), ("AARCH64", aarch64)):
        w(f"{var} = {{\n")
        for name, nr in sorted(table.items(), key=lambda kv: kv[1]):
            if name not in unified:
                w(f"    {name!r}: {nr},\n")
        w("    **UNIFIED,\n")
        w("}\n\n")
    w("#: names of syscalls on other architectures (or newer kernels): a profile may list them\n")
    w("OTHER_ARCH_NAMES = frozenset({\n")
    for name in sorted(others):
        w(f"    {name!r},\n")
    w("})\n")


if __name__ == "__main__":
    main()
