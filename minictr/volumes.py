"""L1: volumes: ``-v``, ``--mount``, ``--tmpfs``, named volumes in the store, and their mount steps.

Three kinds, as docker has them:

- a **bind mount** ``-v /host/dir:/in/ctr[:ro]``: a host path seen inside;
- a **named volume** ``-v data:/in/ctr``: a directory minictr keeps in the
  store (``volumes/NAME/_data``), made on first use (or by ``volume create``),
  kept when the container is removed, removed by ``volume rm``/``prune``. The
  first time it is mounted, it is filled with what the image has at that path
  (docker's "copy-up"), so ``-v db:/var/lib/db`` starts with the image's files;
- a **tmpfs** ``--tmpfs /run[:size=64m]``: memory, gone with the container.

``parse_volume``/``parse_mount``/``parse_tmpfs`` turn a flag into a
``config.VolumeMount``; ``steps(mounts, root)`` turns those into the mount
plan's steps (``rootfs.Mount``, ``rootfs.File``, ``rootfs.ReadOnly``), which
the container's init applies in its own mount namespace, after /proc, /dev
and /sys and before pivot_root:

1. ``mount --rbind SRC ROOT/TARGET`` (MS_BIND|MS_REC: submounts come along);
2. ``mount --make-rprivate ROOT/TARGET``: nothing mounted later on either side
   propagates to the other (docker's default, "rprivate");
3. for ``:ro``: a bind of the target onto itself remounted read-only (MS_RDONLY
   is ignored on the first bind; see ``rootfs._remount_readonly``).

A bind's target is created in the container's root first: a directory, or an
empty file when the source is a file.

Man pages: mount(2) (MS_BIND, MS_REC, MS_PRIVATE, MS_REMOUNT), mount_namespaces(7), tmpfs(5).
"""

from __future__ import annotations

import os

from .config import VolumeMount
from .errors import ConfigError, InvalidTransition, NotFound


def volumes_dir() -> str:
    from .image.quick import store_root
    return os.path.join(store_root(), "volumes")


def _check_target(target: str, flag: str, text: str) -> str:
    if not target.startswith("/") or target == "/" or "\0" in target or ".." in target.split("/"):
        raise ConfigError(flag, text, "the container path must be absolute, not / and without '..'",
                          hint="use -v /host/dir:/data")
    return os.path.normpath(target)


def _is_volume_name(text: str) -> bool:
    from .config import is_name
    return is_name(text)


def _source(source: str, flag: str, text: str) -> tuple[str, str]:
    """``(kind, source)``: a host path (must exist) or a named volume."""
    if source.startswith("/"):
        if not os.path.exists(source):
            raise ConfigError(flag, text, f"the host path {source} does not exist",
                              hint=f"create it first (mkdir -p {source})")
        return "bind", os.path.realpath(source)
    if _is_volume_name(source):
        return "volume", source
    raise ConfigError(flag, text, "the source must be an absolute host path or a volume name",
                      hint="use -v /abs/path:/data or -v myvol:/data")


def parse_volume(text: str) -> tuple[str, VolumeMount]:
    """``-v SRC:TARGET[:ro|rw]`` -> (kind, mount); kind "volume" means ``source`` is still a name."""
    parts = text.split(":")
    if len(parts) == 3 and parts[2] in ("ro", "rw", "z", "Z"):
        source, target, mode = parts
    elif len(parts) == 2:
        (source, target), mode = parts, "rw"
    else:
        raise ConfigError("-v", text, "must look like HOST_PATH:CONTAINER_PATH[:ro] or NAME:CONTAINER_PATH[:ro]",
                          hint="use -v /srv/data:/data:ro")
    kind, source = _source(source, "-v", text)
    return kind, VolumeMount("bind", _check_target(target, "-v", text), source, readonly=mode == "ro")


def parse_mount(text: str) -> tuple[str, VolumeMount]:
    """``--mount type=bind|volume|tmpfs,source=..,target=..[,readonly][,tmpfs-size=..][,tmpfs-mode=..]``."""
    fields: dict[str, str] = {}
    for item in text.split(","):
        key, eq, value = item.partition("=")
        key = {"src": "source", "dst": "target", "destination": "target", "ro": "readonly"}.get(key, key)
        fields[key] = value if eq else "true"
    kind = fields.pop("type", "volume")
    target = fields.pop("target", "")
    readonly = fields.pop("readonly", "false") in ("true", "1")
    if kind == "tmpfs":
        opts = []
        if "tmpfs-size" in fields:
            opts.append("size=" + fields.pop("tmpfs-size"))
        if "tmpfs-mode" in fields:
            opts.append("mode=" + fields.pop("tmpfs-mode"))
        out = ("tmpfs", VolumeMount("tmpfs", _check_target(target, "--mount", text), "tmpfs", readonly,
                                    options=",".join(opts) or "mode=1777"))
    elif kind in ("bind", "volume"):
        source = fields.pop("source", "")
        if kind == "bind" and not source.startswith("/"):
            raise ConfigError("--mount", text, "a bind mount needs source=/absolute/host/path")
        if kind == "volume" and (not source or source.startswith("/")):
            raise ConfigError("--mount", text, "a volume mount needs source=NAME", hint="type=volume,source=data,target=/data")
        found, source = _source(source, "--mount", text)
        out = (found, VolumeMount("bind", _check_target(target, "--mount", text), source, readonly))
    else:
        raise ConfigError("--mount", text, f"unknown type {kind!r}: bind, volume or tmpfs")
    if fields.get("bind-propagation") in ("rprivate", "private"):  # what minictr does anyway
        del fields["bind-propagation"]
    if fields:
        raise ConfigError("--mount", text, f"unknown option {sorted(fields)[0]!r}",
                          hint="known: type, source, target, readonly, tmpfs-size, tmpfs-mode")
    return out


def parse_tmpfs(text: str) -> VolumeMount:
    """``--tmpfs /path[:options]``."""
    target, _, options = text.partition(":")
    return VolumeMount("tmpfs", _check_target(target, "--tmpfs", text), "tmpfs", options=options or "mode=1777")


# ------------------------------------------------------------------ named volumes
def volume_path(name: str) -> str:
    return os.path.join(volumes_dir(), name)


def create(name: str) -> str:
    """Make the named volume (quietly if it exists). Returns its data directory."""
    if not _is_volume_name(name):
        raise ConfigError("volume name", name, "must be [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    data = os.path.join(volume_path(name), "_data")
    os.makedirs(data, mode=0o755, exist_ok=True)
    return data


def list_names() -> list[str]:
    try:
        return sorted(n for n in os.listdir(volumes_dir()) if os.path.isdir(os.path.join(volumes_dir(), n, "_data")))
    except FileNotFoundError:
        return []


def users(name: str, states) -> list[str]:
    """Names of the containers (from ``states``) that mount volume ``name``."""
    data = os.path.join(volume_path(name), "_data")
    return [s.name for s in states
            if any(m.get("source") == data for m in (s.config or {}).get("mounts") or ())]


def remove(name: str, states, force: bool = False) -> None:
    if not os.path.isdir(volume_path(name)):
        raise NotFound(f"no such volume: {name}", hint="`minictr volume ls` lists them")
    used = users(name, states)
    if used and not force:
        raise InvalidTransition(f"volume {name} is in use by {', '.join(used)}", hint="remove those containers first")
    from .fsutil import remove_tree
    remove_tree(volume_path(name))


def inspect(name: str) -> dict:
    if not os.path.isdir(volume_path(name)):
        raise NotFound(f"no such volume: {name}")
    return {"Name": name, "Driver": "local", "Mountpoint": os.path.join(volume_path(name), "_data"),
            "CreatedAt": os.stat(volume_path(name)).st_mtime}


def resolve(kind: str, mount: VolumeMount, image_dirs=()) -> VolumeMount:
    """A parsed mount made ready: a named volume made (and filled the first time), ``file`` set.

    ``image_dirs`` are the image's directories, topmost first (overlay lowers,
    or the root): the first one that has the target fills a new volume.
    """
    from .record import replace
    if kind == "volume":
        fresh = not os.path.isdir(os.path.join(volume_path(mount.source), "_data"))
        data = create(mount.source)
        if fresh:
            fill(data, mount.target, image_dirs)
        return replace(mount, source=data)
    if kind == "bind":
        return replace(mount, file=not os.path.isdir(mount.source))
    return mount


def fill(data: str, target: str, image_dirs) -> bool:
    """Copy the image's content at ``target`` into a new volume's ``data`` dir (docker's copy-up)."""
    import shutil
    for d in image_dirs:
        src = os.path.join(d, target.lstrip("/"))
        if os.path.isdir(src) and not os.path.islink(src):
            shutil.copytree(src, data, symlinks=True, dirs_exist_ok=True)
            shutil.copystat(src, data)
            return True
    return False


def steps(mounts, root: str, own_root: bool = True) -> list:
    """The mount plan's steps for ``mounts`` under the container root ``root``."""
    from .rootfs import File, Mount, ReadOnly
    from .syscalls import MountFlags as MS
    out: list = []
    for m in mounts:
        target = root.rstrip("/") + m.target
        if m.kind == "tmpfs":
            out.append(Mount("tmpfs", target, "tmpfs", MS.NOSUID | MS.NODEV | (MS.RDONLY if m.readonly else 0),
                             m.options or "mode=1777"))
            continue
        if m.file and own_root:
            out.append(File(target, ""))  # the mount point: an empty file, in the container's own layer
        out += [Mount(m.source, target, None, MS.BIND | MS.REC, mkdir=not m.file),
                Mount(None, target, None, MS.PRIVATE | MS.REC, mkdir=False)]
        if m.readonly:
            out.append(ReadOnly(target))
    return out
