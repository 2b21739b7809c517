"""elf.py against the host's own programs (cross-checked with ldd), and small ELF files
written here byte by byte, so the parser is checked on both byte orders and classes."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys

import pytest

from minictr.build import elf
from minictr.errors import ImageError


def tiny_elf(path, *, bits=64, order="<", interp=b"/lib/ld-test.so.1", needed=(b"libfoo.so.2",),
             runpath=b"$ORIGIN/../lib", vaddr=0x400000):
    """A minimal ELF file: a header, three program headers (PT_LOAD over the whole file,
    PT_INTERP, PT_DYNAMIC) and a string table that DT_STRTAB names by virtual address."""
    ehsize, phentsize = (64, 56) if bits == 64 else (52, 32)
    phoff, phnum = ehsize, 3
    strtab = b"\0" + b"\0".join(list(needed) + [runpath]) + b"\0"
    offs, at = [], 1
    for s in list(needed) + [runpath]:
        offs.append(at)
        at += len(s) + 1
    interp_off = phoff + phnum * phentsize
    str_off = interp_off + len(interp) + 1
    dyn_off = str_off + len(strtab)
    dyn_fmt = order + ("qQ" if bits == 64 else "iI")
    dyn = b"".join(struct.pack(dyn_fmt, elf.DT_NEEDED, o) for o in offs[:-1])
    dyn += struct.pack(dyn_fmt, elf.DT_RUNPATH, offs[-1]) + struct.pack(dyn_fmt, elf.DT_STRTAB, vaddr + str_off)
    dyn += struct.pack(dyn_fmt, elf.DT_NULL, 0)
    total = dyn_off + len(dyn)
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 1 if order == "<" else 2, 1]) + b"\0" * 9
    if bits == 64:
        header = ident + struct.pack(order + "HHIQQQIHHHHHH", 2, 62, 1, vaddr, phoff, 0, 0, ehsize,
                                     phentsize, phnum, 0, 0, 0)
        ph = lambda t, off, size: struct.pack(order + "IIQQQQQQ", t, 4, off, vaddr + off, vaddr + off, size, size, 8)
    else:
        header = ident + struct.pack(order + "HHIIIIIHHHHHH", 2, 3, 1, vaddr, phoff, 0, 0, ehsize,
                                     phentsize, phnum, 0, 0, 0)
        ph = lambda t, off, size: struct.pack(order + "IIIIIIII", t, off, vaddr + off, vaddr + off, size, size, 4, 4)
    phs = ph(elf.PT_LOAD, 0, total) + ph(elf.PT_INTERP, interp_off, len(interp) + 1) + \
        ph(elf.PT_DYNAMIC, dyn_off, len(dyn))
    data = header + phs + interp + b"\0" + strtab + dyn
    assert len(data) == total
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("bits, order", [(64, "<"), (64, ">"), (32, "<"), (32, ">")])
def test_reads_interp_needed_and_runpath(tmp_path, bits, order):
    path = tiny_elf(tmp_path / "prog", bits=bits, order=order, needed=(b"libfoo.so.2", b"libbar.so"))
    info = elf.read(path)
    assert info.bits == bits and info.interpreter == "/lib/ld-test.so.1"
    assert info.needed == ("libfoo.so.2", "libbar.so")
    assert info.runpath == (os.path.normpath(str(tmp_path)) + "/../lib",)  # $ORIGIN expanded


def test_needed_files_searches_the_run_path_then_the_dirs(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "sys").mkdir()
    (tmp_path / "bin").mkdir()
    prog = tiny_elf(tmp_path / "bin" / "prog", needed=(b"libfoo.so.2", b"libbar.so"))
    shutil.copy(prog, tmp_path / "lib" / "libfoo.so.2")   # found through $ORIGIN/../lib
    tiny_elf(tmp_path / "sys" / "libbar.so", needed=(b"libfoo.so.2",))  # $ORIGIN/../lib too
    (tmp_path / "sys" / "libfoo.so.2").write_bytes(b"\x7fELF")  # shadowed: the run path comes first
    found = elf.needed_files([prog], dirs=[str(tmp_path / "sys")])
    assert found == ["/lib/ld-test.so.1", str(tmp_path / "lib/libfoo.so.2"), str(tmp_path / "sys/libbar.so")]
    with pytest.raises(ImageError, match="truncated"):
        elf.read(str(tmp_path / "sys" / "libfoo.so.2"))


def test_a_missing_library_is_one_clear_error(tmp_path):
    prog = tiny_elf(tmp_path / "prog", needed=(b"libnothere.so.9",), runpath=b"/nowhere")
    with pytest.raises(ImageError, match="needs libnothere.so.9"):
        elf.needed_files([prog], dirs=[str(tmp_path)])


def test_not_an_elf(tmp_path):
    (tmp_path / "script").write_text("#!/bin/sh\n")
    assert not elf.is_elf(str(tmp_path / "script"))
    with pytest.raises(ImageError, match="not an ELF file"):
        elf.read(str(tmp_path / "script"))


def test_loader_dirs_follow_includes(tmp_path):
    (tmp_path / "ld.so.conf.d").mkdir()
    (tmp_path / "ld.so.conf").write_text("# comment\ninclude ld.so.conf.d/*.conf\n/opt/first\n")
    (tmp_path / "ld.so.conf.d" / "a.conf").write_text("/opt/from-include  # trailing comment\n")
    dirs = elf.loader_dirs(str(tmp_path / "ld.so.conf"))
    assert dirs[:2] == ["/opt/from-include", "/opt/first"]


@pytest.mark.skipif(not shutil.which("ldd"), reason="no ldd on this host")
def test_the_host_python_agrees_with_ldd():
    prog = os.path.realpath(sys.executable)
    if not elf.is_elf(prog) or elf.read(prog).interpreter is None:
        pytest.skip(f"{prog} is not a dynamically linked ELF program")
    out = subprocess.run(["ldd", prog], capture_output=True, text=True, check=True).stdout
    want = {os.path.realpath(l.split("=>")[-1].split()[0]) for l in out.splitlines() if "/" in l}
    got = {os.path.realpath(p) for p in elf.needed_files([prog])}
    assert got == want
