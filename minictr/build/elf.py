"""L1: a small ELF reader: what a dynamically linked program needs to start.

A dynamically linked executable names its **interpreter** (the dynamic
loader, ``/lib64/ld-linux-x86-64.so.2``) in a ``PT_INTERP`` program header,
and its shared libraries in the ``PT_DYNAMIC`` segment: ``DT_NEEDED``
entries (``libc.so.6``), searched in ``DT_RUNPATH`` (or the older
``DT_RPATH``), then the loader's paths (``/etc/ld.so.conf`` and the
defaults). The strings live in the string table that ``DT_STRTAB`` points
at, as a *virtual address*: the ``PT_LOAD`` headers map it back to a file
offset. This is what ``ldd`` shows, without running the program.

Only the standard library (``struct``): 32- and 64-bit, little- and
big-endian. ``needed_files`` follows the libraries' own DT_NEEDED
recursively, as the loader does.

Man pages: elf(5), ld.so(8), ldconfig(8), ldd(1).
"""

from __future__ import annotations

import glob
import os
import struct

from ..errors import ImageError
from ..record import Record

PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_NEEDED, DT_STRTAB, DT_RPATH, DT_RUNPATH = 0, 1, 5, 15, 29
#: Where ld.so looks last (ld.so(8)), with Debian's multiarch directories first.
DEFAULT_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
                "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib")


class ElfInfo(Record):
    path: str
    bits: int                 # 32 or 64
    interpreter: str | None   # PT_INTERP, None for a static program or a library
    needed: tuple = ()        # DT_NEEDED names, in order
    runpath: tuple = ()       # DT_RUNPATH (or DT_RPATH) directories, $ORIGIN expanded


def is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def read(path: str) -> ElfInfo:
    """The interpreter, DT_NEEDED and run path of the ELF file at ``path``."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF":
        raise ImageError(f"{path} is not an ELF file", hint="name a compiled program or shared library")
    try:
        return _parse(path, data)
    except (struct.error, IndexError, ValueError, UnicodeDecodeError):  # offsets past the end
        raise ImageError(f"{path} is a truncated or damaged ELF file") from None


def _parse(path: str, data: bytes) -> ElfInfo:
    bits = {1: 32, 2: 64}.get(data[4])
    end = {1: "<", 2: ">"}.get(data[5])
    if bits is None or end is None:
        raise ImageError(f"{path}: unknown ELF class or byte order")
    if bits == 64:
        phoff, = struct.unpack_from(end + "Q", data, 0x20)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 0x36)
        ph_fmt, dyn_fmt = end + "IIQQQQQQ", end + "qQ"
    else:
        phoff, = struct.unpack_from(end + "I", data, 0x1C)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 0x2A)
        ph_fmt, dyn_fmt = end + "IIIIIIII", end + "iI"
    loads, dynamic, interp = [], None, None
    for i in range(phnum):
        fields = struct.unpack_from(ph_fmt, data, phoff + i * phentsize)
        if bits == 64:  # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
            ptype, offset, vaddr, filesz = fields[0], fields[2], fields[3], fields[5]
        else:           # p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align
            ptype, offset, vaddr, filesz = fields[0], fields[1], fields[2], fields[4]
        if ptype == PT_LOAD:
            loads.append((vaddr, offset, filesz))
        elif ptype == PT_DYNAMIC:
            dynamic = (offset, filesz)
        elif ptype == PT_INTERP:
            interp = data[offset:offset + filesz].split(b"\0", 1)[0].decode()
    if dynamic is None:
        return ElfInfo(path, bits, interp)
    entries, size = [], struct.calcsize(dyn_fmt)
    for pos in range(dynamic[0], dynamic[0] + dynamic[1], size):
        tag, value = struct.unpack_from(dyn_fmt, data, pos)
        if tag == DT_NULL:
            break
        entries.append((tag, value))
    strtab = next((v for t, v in entries if t == DT_STRTAB), None)
    if strtab is None:
        return ElfInfo(path, bits, interp)
    # DT_STRTAB is a virtual address: find the PT_LOAD segment that maps it.
    base = next((off + strtab - va for va, off, sz in loads if va <= strtab < va + sz), strtab)

    def string(at: int) -> str:
        return data[base + at:data.index(b"\0", base + at)].decode()
    needed = tuple(string(v) for t, v in entries if t == DT_NEEDED)
    paths = [string(v) for t, v in entries if t == DT_RUNPATH] or \
        [string(v) for t, v in entries if t == DT_RPATH]
    origin = os.path.dirname(os.path.abspath(path))
    runpath = tuple(d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin)
                    for p in paths for d in p.split(":") if d)
    return ElfInfo(path, bits, interp, needed, runpath)


def loader_dirs(conf: str = "/etc/ld.so.conf") -> list[str]:
    """The directories of ``ld.so.conf`` (``include`` globs followed), then the defaults."""
    out: list[str] = []

    def read_conf(path: str, depth: int = 0) -> None:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            return
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if line.startswith("include ") and depth < 8:
                pattern = line.split(None, 1)[1]
                if not pattern.startswith("/"):
                    pattern = os.path.join(os.path.dirname(path), pattern)
                for inc in sorted(glob.glob(pattern)):
                    read_conf(inc, depth + 1)
            elif line.startswith("/"):
                out.append(line)
    read_conf(conf)
    return list(dict.fromkeys(out + [d for d in DEFAULT_DIRS if os.path.isdir(d)]))


def find_library(name: str, runpath=(), dirs=None) -> str | None:
    """Where the loader would find ``name``: a path with a ``/`` as is, else the run path, then ``dirs``."""
    if "/" in name:
        return name if os.path.exists(name) else None
    for d in list(runpath) + list(loader_dirs() if dirs is None else dirs):
        candidate = os.path.normpath(os.path.join(d, name))
        if os.path.exists(candidate):
            return candidate
    return None


def needed_files(paths, dirs=None) -> list[str]:
    """Every file the ELF programs ``paths`` need to start: their interpreters and, recursively,
    their shared libraries (as the loader finds them), in a stable order. ``ImageError`` for a
    library that cannot be found."""
    dirs = loader_dirs() if dirs is None else dirs
    out: dict[str, None] = {}
    todo = list(paths)
    seen: set = set()
    while todo:
        path = todo.pop(0)
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        info = read(path)
        if info.interpreter:
            out.setdefault(info.interpreter, None)
        for name in info.needed:
            found = find_library(name, info.runpath, dirs)
            if found is None:
                raise ImageError(f"{path} needs {name}, which is not in the loader's paths",
                                 hint="install the library, or check `ldd " + path + "`")
            out.setdefault(found, None)
            todo.append(found)
    return list(out)
