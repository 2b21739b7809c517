"""The run path's entry point to seccomp: the program for a setting, compiled once.

    program_for("default", caps)            -> bytes   (docker's default profile, our data)
    program_for("unconfined", caps)         -> None    (no filter)
    program_for("/path/profile.json", caps) -> bytes

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
written atomically (write a temporary file, then rename(2)).
"""

from __future__ import annotations

import os
import zlib

_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROFILE = os.path.join(_HERE, "seccomp_default.json")
_COMPILER_FILES = ("seccomp.py", "seccomp_profile.py", "bpf.py", "syscall_tables.py")
_MAGIC = b"minictr-seccomp-1 "
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
    release = os.uname().release.split(".")
    if setting == "default":
        path, profile_id = DEFAULT_PROFILE, "default:" + _identity(DEFAULT_PROFILE)
        raw = None
    else:
        path = setting
        raw = _read_profile(path)
        import hashlib   # only for custom profiles: the default one is identified by its file
        profile_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    key = (f"arch={arch} kernel={release[0]}.{release[1] if len(release) > 1 else 0} "
           f"caps={','.join(caps)} profile={profile_id} "
           f"compiler={';'.join(_identity(os.path.join(_HERE, f)) for f in _COMPILER_FILES)}").encode()
    where = os.path.join(cache or cache_dir(),
                         f"seccomp-{zlib.crc32(key):08x}{zlib.adler32(key):08x}.bpf")
    program = _load(where, key)
    if program is None:
        program = _compile(path, raw, caps, arch)
        _store(where, key, program)
    return program


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


def _load(where: str, key: bytes) -> bytes | None:
    try:
        with open(where, "rb") as f:
            data = f.read()
    except OSError:
        return None
    header, sep, program = data.partition(b"\n")
    if not sep or header != _MAGIC + key or not program or len(program) % 8:
        return None
    return program


def _compile(path: str, raw: bytes | None, caps, arch: str) -> bytes:
    from . import seccomp, seccomp_profile
    profile = seccomp_profile.load(path) if raw is None else seccomp_profile.parse_bytes(raw, path)
    return seccomp.compile(profile, caps, arch)


def _store(where: str, key: bytes, program: bytes) -> None:
    """Best effort: a store we cannot write (read-only, not root) just means no cache."""
    tmp = f"{where}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(where), mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, _MAGIC + key + b"\n" + program)
        finally:
            os.close(fd)
        os.replace(tmp, where)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
