"""The run path's entry point to seccomp: the program for a setting, compiled once.

    program_for("default", caps)            -> bytes   (docker's default profile, our data)
    program_for("unconfined", caps)         -> None    (no filter)
    program_for("/path/profile.json", caps) -> bytes
    oci_program(text, caps, arch, build)    -> (bytes, notes)  (config.json's linux.seccomp)

Measured on the 2-core lab machine: compiling the default profile costs ~4.5 ms, plus
~35-100 ms of imports (json, dataclasses, the tables) on a first run; a cached load costs
~0.15-0.2 ms (five stats and one read). So this module imports only ``os`` and ``zlib``:
json and the compiler (seccomp.py) come in only on a cache miss.

A cache file lives at ``$MINICTR_ROOT/cache/seccomp-<digest>.bpf`` and holds a header
line with the full key, then the program. The key names everything the program depends
on: the profile (the content hash of a custom profile; for the default, the identity of
its data file), the capability set, the arch, the kernel's major.minor (``minKernel``),
and the identity (size, mtime, inode) of the compiler's own files, so that an upgraded
minictr never loads a stale program. The digest in the file name is only for finding
the file: a loaded file is used only if its stored key matches exactly. Files are
written atomically (write a temporary file, then rename(2)), and carry a CRC-32 of what
follows the key: a torn or corrupted file is ignored and rebuilt.

``oci_program`` does the same for a bundle's ``linux.seccomp`` (minictr-runtime create, measured:
compiling podman's profile cost ~46 ms of every create). Its key holds the profile's whole JSON
text, not a digest of it: an entry is used only for exactly that profile. The compile's notes
(the syscall names it skipped, which create warns about in its log) are stored with the program,
so that a cached create warns exactly as a compiling one.
"""

from __future__ import annotations

import os
import zlib

_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROFILE = os.path.join(_HERE, "seccomp_default.json")
_COMPILER_FILES = ("seccomp.py", "seccomp_profile.py", "bpf.py", "syscall_tables.py")
_MAGIC = b"minictr-seccomp-2 "
DEFAULT_ROOT = "/var/lib/minictr"   # as image.store.DEFAULT_ROOT (not imported: the run path stays lean)


def cache_dir() -> str:
    from ..paths import store_root
    return os.path.join(store_root(), "cache")


def program_for(setting: str | None, caps, arch: str | None = None, *,
                cache: str | None = None) -> bytes | None:
    """The BPF program for ``--security-opt seccomp=SETTING``, or None for no filter.

    ``caps``: the container's capability names (bounding set), with or without ``CAP_``.
    Raises ConfigError for a bad profile, an unknown arch or name (see seccomp_profile).
    """
    if setting is None or setting == "unconfined":
        return None
    arch = arch or os.uname().machine
    caps = sorted(c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper() for c in caps or ())
    if setting == "default":
        path, profile_id = DEFAULT_PROFILE, "default:" + _identity(DEFAULT_PROFILE)
        raw = None
    else:
        path = setting
        raw = _read_profile(path)
        import hashlib   # only for custom profiles: the default one is identified by its file
        profile_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    key = _key(arch, caps, f"profile={profile_id}").encode()
    where = _where(cache, key)
    found = _load(where, key)
    if found is not None:
        return found[0]
    program = _compile(path, raw, caps, arch)
    _store(where, key, program)
    return program


def oci_program(text: str, caps, arch: str, build, *, sources=(), cache: str | None = None) -> tuple[bytes, list]:
    """``(program, notes)`` of an OCI ``linux.seccomp`` given as its JSON ``text`` (one line).

    ``build()`` compiles it on a miss and returns ``(program, notes)``; ``notes`` is a list of
    ``[field, message]`` pairs, kept with the program. Errors of ``build`` propagate (a profile
    that does not compile is never cached). ``caps`` as in ``program_for``. ``sources``: the
    files of the caller's own code that shape the program (their identity joins the key).
    """
    caps = sorted(c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper() for c in caps or ())
    oci = "oci=" + ";".join(_identity(f) for f in sources)
    key = (_key(arch, caps, oci) + " profile=" + text).encode()
    if b"\n" in key:   # not one line (leanjson/json never write one): no cache, just compile
        return build()
    where = _where(cache, key)
    found = _load(where, key)
    if found is not None:
        program, notes = found
        if not notes:
            return program, []
        from .. import leanjson
        try:
            return program, leanjson.loads(notes)
        except ValueError:
            pass  # (the CRC matched: not reached unless the writer was wrong) rebuild
    program, notes = build()
    from .. import leanjson
    _store(where, key, program, leanjson.dumps(notes).encode() if notes else b"")
    return program, notes


def _key(arch: str, caps: list, profile: str) -> str:
    release = os.uname().release.split(".")
    return (f"arch={arch} kernel={release[0]}.{release[1] if len(release) > 1 else 0} "
            f"caps={','.join(caps)} {profile} "
            f"compiler={';'.join(_identity(os.path.join(_HERE, f)) for f in _COMPILER_FILES)}")


def _where(cache: str | None, key: bytes) -> str:
    return os.path.join(cache or cache_dir(), f"seccomp-{zlib.crc32(key):08x}{zlib.adler32(key):08x}.bpf")


def _identity(path: str) -> str:
    st = os.stat(path)
    return f"{st.st_size}-{st.st_mtime_ns}-{st.st_ino}"


def _read_profile(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        from ..errors import ConfigError
        raise ConfigError("seccomp profile", path, e.strerror or str(e),
                          hint="give the path of a JSON profile in docker's format, or seccomp=unconfined") from None


def _load(where: str, key: bytes) -> tuple[bytes, bytes] | None:
    """``(program, notes)`` from the entry at ``where`` if it is whole and for ``key``, else None.

    An entry: ``MAGIC key\n`` then ``CRC32 NOTES_LENGTH\n`` (hex, decimal), the notes, the program.
    """
    try:
        with open(where, "rb") as f:
            data = f.read()
    except OSError:
        return None
    header, sep, rest = data.partition(b"\n")
    if not sep or header != _MAGIC + key:
        return None
    sums, sep, body = rest.partition(b"\n")
    try:
        crc, length = sums.split(b" ")
        crc, length = int(crc, 16), int(length)
    except ValueError:
        return None
    if not sep or zlib.crc32(body) != crc or not 0 <= length < len(body):
        return None
    notes, program = body[:length], body[length:]
    if len(program) % 8:
        return None
    return program, notes


def _compile(path: str, raw: bytes | None, caps, arch: str) -> bytes:
    from . import seccomp, seccomp_profile
    profile = seccomp_profile.load(path) if raw is None else seccomp_profile.parse_bytes(raw, path)
    return seccomp.compile(profile, caps, arch)


def _store(where: str, key: bytes, program: bytes, notes: bytes = b"") -> None:
    """Best effort: a store we cannot write (read-only, not root) just means no cache."""
    tmp = f"{where}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(where), mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            body = notes + program
            os.write(fd, b"%s%s\n%08x %d\n%s" % (_MAGIC, key, zlib.crc32(body), len(notes), body))
        finally:
            os.close(fd)
        os.replace(tmp, where)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
