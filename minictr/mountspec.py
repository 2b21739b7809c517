"""L1: config.json's ``mounts`` (OCI runtime spec) as steps of the mount plan (``rootfs``).

A bundle names every mount itself: ``/proc``, ``/dev``, ``/dev/pts``, ``/sys``,
``/sys/fs/cgroup``, binds of the host's files... Each entry is a destination, a
type, a source and a list of options. The options are of three sorts, as
mount(8) reads them:

- mount(2) flags: ``ro``/``rw``, ``nosuid``/``suid``, ``nodev``/``dev``,
  ``noexec``/``exec``, ``noatime``, ``relatime``, ``strictatime`` ... and
  ``bind``/``rbind`` (a bind mount, recursive or not);
- propagation: ``private``, ``rprivate``, ``slave``, ``rslave``, ``shared``,
  ``rshared``, ``unbindable``, ``runbindable``: a second mount(2) call;
- anything else is the file system's own data (``mode=755``, ``size=65536k``,
  ``newinstance``, ``gid=5``), passed as mount(2)'s last argument.

The kernel ignores the flags of a first bind: a read-only bind is a bind, then
a remount with ``MS_BIND|MS_REMOUNT|MS_RDONLY``. A ``cgroup`` mount becomes the
container's view of the cgroup hierarchies (``rootfs._cgroup_steps``), as runc
does it. After the mounts, unless ``/dev`` is a bind of the host's, the default
devices and ``linux.devices`` are made in the container's /dev with the usual
symlinks (/dev/ptmx, /dev/fd, /dev/stdin ...), as runc does.

Man pages: mount(2), mount(8) (the option names), mount_namespaces(7) (propagation).
"""

from __future__ import annotations

import errno
import os
import stat

from .syscalls import MountFlags as MS

#: option -> (flag, set it?) ; "rw" clears RDONLY, "suid" clears NOSUID ...
FLAGS = {
    "ro": (MS.RDONLY, True), "rw": (MS.RDONLY, False),
    "nosuid": (MS.NOSUID, True), "suid": (MS.NOSUID, False),
    "nodev": (MS.NODEV, True), "dev": (MS.NODEV, False),
    "noexec": (MS.NOEXEC, True), "exec": (MS.NOEXEC, False),
    "sync": (16, True), "async": (16, False), "dirsync": (128, True),
    "mand": (64, True), "nomand": (64, False),
    "noatime": (MS.NOATIME, True), "atime": (MS.NOATIME, False),
    "nodiratime": (MS.NODIRATIME, True), "diratime": (MS.NODIRATIME, False),
    "relatime": (MS.RELATIME, True), "norelatime": (MS.RELATIME, False),
    "strictatime": (MS.STRICTATIME, True), "nostrictatime": (MS.STRICTATIME, False),
    "bind": (MS.BIND, True), "rbind": (MS.BIND | MS.REC, True),
    "remount": (MS.REMOUNT, True),
}
PROPAGATION = {
    "private": MS.PRIVATE, "rprivate": MS.PRIVATE | MS.REC, "slave": MS.SLAVE, "rslave": MS.SLAVE | MS.REC,
    "shared": MS.SHARED, "rshared": MS.SHARED | MS.REC, "unbindable": MS.UNBINDABLE,
    "runbindable": MS.UNBINDABLE | MS.REC,
}
#: options that are neither flags nor data: a hint to runc or podman, nothing for the kernel
IGNORED = ("tmpcopyup", "notmpcopyup", "copy-symlink", "z", "Z", "U")
UNSUPPORTED = ("idmap", "ridmap", "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec",
               "rnoatime", "ratime", "rrelatime", "rnorelatime", "rstrictatime", "rnostrictatime")


def parse_options(options) -> tuple[int, int, str]:
    """``(flags, propagation, data)`` of a mount's options: ``["nosuid", "mode=755"]`` -> ``(2, 0, "mode=755")``."""
    flags = propagation = 0
    data = []
    for opt in options:
        if opt in FLAGS:
            bit, on = FLAGS[opt]
            flags = flags | bit if on else flags & ~bit
        elif opt in PROPAGATION:
            propagation = PROPAGATION[opt]
        elif opt not in IGNORED:
            data.append(opt)
    return flags, propagation, ",".join(data)


def is_bind(spec) -> bool:
    return spec.type == "bind" or "bind" in spec.options or "rbind" in spec.options


def check_options(spec) -> str | None:
    """What is wrong with a mount entry, in a few words, or None."""
    for opt in spec.options:
        if opt in UNSUPPORTED:
            return f"option {opt!r} is not implemented by minictr"
    if not is_bind(spec) and spec.type in ("", "none"):
        return "a mount needs a type, or bind or rbind in its options"
    return None


def in_root(root: str, path: str, max_links: int = 40) -> str:
    """``root + path`` with every symlink on the way resolved *inside* ``root``, as chroot would.

    Why: the plan runs before pivot_root, where an absolute symlink in the image
    (``etc -> /``) would lead a mount out of the container onto the host's own
    files. Here ``/`` means ``root``, and ``..`` never climbs above it (runc does
    the same with its securejoin).
    """
    try:
        done = walk_in_root(root, path, max_links=max_links)
    except OSError as e:  # ELOOP, the only error of a walk that is not strict
        raise OSError(e.errno, f"too many levels of symbolic links in {path}") from None
    return os.path.join(root, *done) if done else root


def walk_in_root(root: str, path: str, strict: bool = False, follow_last: bool = True,
                 max_links: int = 40) -> list[str]:
    """The real components of ``path`` below ``root``, every symlink resolved inside ``root``.

    An absolute target starts again at ``root``; ``..`` stops at it. Not ``strict``:
    what is not there (yet) is taken as it is. ``strict``: a missing component raises
    FileNotFoundError, a file where a directory must be NotADirectoryError, as open(2).
    ``follow_last=False`` keeps a final symlink as it is. More than ``max_links``
    symlinks: OSError(ELOOP). ``minictr build``'s COPY sources use it too (build/ignore.py).
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        if strict:
            mode = os.lstat(candidate).st_mode
            if parts and not stat.S_ISDIR(mode) and not stat.S_ISLNK(mode):
                raise NotADirectoryError(errno.ENOTDIR, "Not a directory", "/".join(done + [part]))
        target = None
        if parts or follow_last:
            try:
                target = os.readlink(candidate)
            except OSError:  # not a symlink, or not there (yet): take it as it is
                pass
        if target is None:
            done.append(part)
            continue
        links += 1
        if links > max_links:
            raise OSError(errno.ELOOP, "Too many levels of symbolic links", "/".join(done + [part]))
        if target.startswith("/"):
            done = []
        parts = [p for p in target.split("/") if p not in ("", ".")] + parts
    return done


def steps(specs, root: str, cgroupfs=(), devices=(), userns: bool = False) -> list:
    """The plan's steps for ``specs`` (``config.MountSpec``) under the new root ``root``.

    ``cgroupfs`` is the container's cgroup view (as for ``rootfs.plan``), used for a
    ``cgroup``/``cgroup2`` mount; ``devices`` are ``config.DeviceNode`` (linux.devices).
    """
    from .rootfs import DEFAULT_DEVICES, Device, Mount, Symlink, Touch, _cgroup_steps

    r = root.rstrip("/") or "/"
    out: list = []
    dev_is_bind = False
    for spec in specs:
        target = in_root(r, spec.destination)
        flags, propagation, data = parse_options(spec.options)
        if spec.type in ("cgroup", "cgroup2") and not is_bind(spec):
            out += _cgroup_steps(target, cgroupfs, readonly=bool(flags & MS.RDONLY))
            continue
        if is_bind(spec):
            if spec.destination == "/dev":
                dev_is_bind = True
            source_is_dir = os.path.isdir(spec.source)
            if not source_is_dir:
                out.append(Touch(target))  # a file's mount point is a file (made only where missing)
            out.append(Mount(spec.source, target, None, MS.BIND | (flags & MS.REC), mkdir=source_is_dir))
            rest = flags & ~(MS.BIND | MS.REC | MS.REMOUNT)
            if rest:
                # Why a second call: the kernel ignores every flag but MS_REC on a new bind (mount(2)).
                out.append(Mount(None, target, None, MS.BIND | MS.REMOUNT | rest, mkdir=False))
        else:
            source = spec.source or spec.type
            out.append(Mount(source, target, spec.type, flags, data or None))
        if propagation:
            out.append(Mount(None, target, None, propagation, mkdir=False))
    if not dev_is_bind:
        # In a user namespace mknod(2) is refused: the host's nodes are bound instead, as runc's rootless mode does.
        out += [Device(f"{r}/dev/{name}", major, minor, bind=f"/dev/{name}" if userns else None)
                for name, major, minor in DEFAULT_DEVICES]
        out += [Device(in_root(r, d.path), d.major, d.minor, d.mode, d.type, d.uid, d.gid,
                       bind=d.path if userns else None) for d in devices]
        if not any(spec.destination == "/dev/ptmx" for spec in specs):
            out.append(Symlink(f"{r}/dev/ptmx", "pts/ptmx"))
        out += [Symlink(f"{r}/dev/fd", "/proc/self/fd"), Symlink(f"{r}/dev/stdin", "/proc/self/fd/0"),
                Symlink(f"{r}/dev/stdout", "/proc/self/fd/1"), Symlink(f"{r}/dev/stderr", "/proc/self/fd/2")]
    return out
