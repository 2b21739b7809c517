"""L1: a minimal image from host programs: the programs, their loader and libraries, named data.

``minictr image from-binary /usr/bin/python3.11 --add /usr/lib/python3.11 -t py``
makes a one-layer image that holds only what the program needs to start:

- each program, at the path it has on the host;
- its ELF interpreter and shared libraries, found as the loader finds them
  (``elf.needed_files``: PT_INTERP, DT_NEEDED, DT_RUNPATH, ld.so.conf);
- the data files the caller names (``--add SRC[:DEST]``), for example
  Python's standard library; ELF files among them (Python's extension
  modules) bring their own libraries too.

Every path keeps the host's shape: a symbolic link on the way
(``/lib64/ld-linux-x86-64.so.2`` -> ``/lib/x86_64-linux-gnu/...``, a
usrmerged ``/lib`` -> ``usr/lib``) is copied as a link, and its target as
well. The files are copied into a staging directory and packed by
``diff.write_layer``, so ``timestamp`` makes the image reproducible.

Man pages: ld.so(8), elf(5), symlink(7).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time

from ..errors import ImageError
from ..image import oci
from ..image.store import Store
from . import elf
from .diff import write_layer


def _copy_path(src: str, dest_root: str, dest: str | None = None) -> list[str]:
    """Copy the host path ``src`` below ``dest_root``: at ``dest``, or else at its own path
    with every symbolic link on the way kept as a link (and its target copied too).
    Returns the host paths of the regular files copied (for the ELF scan)."""
    if dest is not None:
        return _copy_here(os.path.realpath(src), os.path.join(dest_root, dest.lstrip("/")))
    parts = [p for p in os.path.abspath(src).split("/") if p]
    for i in range(len(parts)):
        here = "/" + "/".join(parts[:i + 1])
        out = os.path.join(dest_root, *parts[:i + 1])
        st = os.lstat(here)
        if stat.S_ISLNK(st.st_mode):
            if not os.path.lexists(out):
                os.makedirs(os.path.dirname(out), exist_ok=True)
                os.symlink(os.readlink(here), out)
            real = os.path.normpath(os.path.join(os.path.dirname(here), os.readlink(here), *parts[i + 1:]))
            return _copy_path(real, dest_root)
        if i < len(parts) - 1 and not os.path.isdir(out):
            os.makedirs(out, exist_ok=True)
            shutil.copystat(here, out)
    return _copy_here("/" + "/".join(parts), os.path.join(dest_root, *parts))


def _copy_here(here: str, out: str) -> list[str]:
    os.makedirs(os.path.dirname(out), exist_ok=True)
    if os.path.isdir(here) and not os.path.islink(here):
        shutil.copytree(here, out, symlinks=True, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
        return [os.path.join(dirpath, f) for dirpath, _d, files in os.walk(here)
                if "__pycache__" not in dirpath for f in files
                if os.path.isfile(os.path.join(dirpath, f)) and not os.path.islink(os.path.join(dirpath, f))]
    if not os.path.lexists(out):
        shutil.copy2(here, out, follow_symlinks=False)
    return [here]


def from_binaries(store: Store, programs, *, name: str, adds=(), cmd=None,
                  timestamp: int | None = None, work: str | None = None):
    """Make the minimal image ``name`` from the host programs ``programs`` and the data
    paths ``adds`` (``"SRC"`` or ``"SRC:DEST"``); returns the ``Image``."""
    if not programs:
        raise ImageError("from-binary needs at least one program", hint="name a path such as /usr/bin/python3")
    for p in programs:
        if not os.path.isfile(p):
            raise ImageError(f"no such program: {p}", hint="give the program's path on this host")
        if not elf.is_elf(p):
            raise ImageError(f"{p} is not an ELF program", hint="a script needs its interpreter: name that instead")
    store.ensure()
    stage = tempfile.mkdtemp(dir=work or store.tmp_dir, prefix="from-binary-")
    try:
        os.chmod(stage, 0o755)
        elves = [os.path.abspath(p) for p in programs]
        for p in programs:
            _copy_path(p, stage)
        for spec in adds:
            src, _, dest = spec.partition(":")
            if not os.path.lexists(src):
                raise ImageError(f"--add {spec}: no such file or directory", hint="give a path on this host")
            elves += [f for f in _copy_path(src, stage, dest or None) if elf.is_elf(f)]
        for lib in elf.needed_files(elves):
            _copy_path(lib, stage)
        for d in ("tmp",):
            os.makedirs(os.path.join(stage, d), mode=0o1777, exist_ok=True)
            os.chmod(os.path.join(stage, d), 0o1777)
        ts = int(time.time()) if timestamp is None else int(timestamp)
        layer_path = os.path.join(stage + ".layer")
        layer = write_layer(stage, layer_path, timestamp=ts)
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
        with store.transaction():
            store.put_blob_file(layer_path, layer.digest)
            cfg = {"created": created, "architecture": oci.host_platform()["architecture"], "os": "linux",
                   "config": {"Cmd": list(cmd) if cmd else [os.path.abspath(programs[0])],
                              "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
                   "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
                   "history": [{"created": created, "created_by": "minictr image from-binary "
                                + " ".join(list(programs) + [f"--add {a}" for a in adds])}]}
            cfg_bytes = oci.canonical_json(cfg)
            store.put_blob(cfg_bytes)
            manifest = {"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                        "config": oci.descriptor(oci.OCI_CONFIG, cfg_bytes),
                        "layers": [{"mediaType": oci.OCI_LAYER_GZIP, "digest": layer.digest,
                                    "size": layer.size}]}
            digest = store.put_blob(oci.canonical_json(manifest))
            return store.add_image(digest, [name])
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if os.path.exists(stage + ".layer"):
            os.unlink(stage + ".layer")
