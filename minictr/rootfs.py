"""L1: what the container sees mounted, as a plan (data), and the short loop that applies it.

Building the mounts is split in two, as bubblewrap does it:

1. ``plan(rootfs)`` returns a list of steps (``Mount``, ``Device``, ``Symlink``)
   with every path, flag and option spelled out. It touches nothing, so a
   test compares it as data and a lesson prints it.
2. ``apply(plan, kernel)`` walks the list and makes each step happen, through a
   ``Syscalls`` object (real, or a recording fake).

Then ``pivot_into`` (or ``chroot_into`` for the lesson that shows why chroot is
not enough) makes the prepared directory the new ``/``.

All of this runs inside the container's own, new mount namespace, so none of
these mounts is ever seen by the host, and all of them vanish with the
container's last process.

Man pages: mount(2), mount_namespaces(7), pivot_root(2), umount2(2), chroot(2),
proc(5), sysfs(5), pts(4), tmpfs(5), overlayfs (Documentation/filesystems/overlayfs.rst).
"""

from __future__ import annotations

import os
import stat

from .config import Rootfs
from .record import Record
from .syscalls import MountFlags as MS
from .syscalls import Syscalls, UmountFlags


class Mount(Record):
    """One mount(2) call. ``target`` is a path on the host side of the new root."""

    source: str | None
    target: str
    fstype: str | None = None
    flags: int = 0
    data: str | None = None
    mkdir: bool = True  # create the target directory first


class Device(Record):
    """A character device node in the container's fresh /dev."""

    path: str
    major: int
    minor: int
    mode: int = 0o666
    bind: str | None = None  # in a user namespace: bind this host node (mknod is refused there)


class Symlink(Record):
    path: str
    target: str


class File(Record):
    """A small file the runtime writes into the container's own root (/etc/hostname, /etc/hosts)."""

    path: str
    content: str


class Mask(Record):
    """Hide ``path`` if it exists: a file gets ``null`` (the container's /dev/null) bound over it,
    a directory an empty tmpfs; both read-only (see ``minictr.security.masks``)."""

    path: str
    null: str


class ReadOnly(Record):
    """Make ``path`` read-only if it exists: bind it onto itself, then remount the bind read-only."""

    path: str


Step = Mount | Device | Symlink | File | Mask | ReadOnly

#: The devices every container gets (the OCI runtime spec's default list).
DEFAULT_DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
                   ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))


def plan(rootfs: Rootfs, cgroupfs: tuple[tuple[str, str, str | None], ...] = (),
         hostname: str | None = None, masked: tuple[str, ...] = (), readonly: tuple[str, ...] = (),
         sys_writable: bool = False, extra=(), userns: bool = False, host_net: bool = False) -> list[Step]:
    """Every step that turns ``rootfs.path`` into a container root, in order.

    ``cgroupfs`` lists the host's cgroup hierarchies as ``(dir under
    /sys/fs/cgroup, fstype, options)``, e.g. ``("memory", "cgroup", "memory")``
    on v1 or ``(".", "cgroup2", None)`` on pure v2. They are mounted read-only;
    in the container's cgroup namespace each one shows the container's own
    group as its root.

    With ``hostname``, ``/etc/hostname`` and ``/etc/hosts`` are written to
    name the container, as docker does. Only pass it for a root the container
    owns (its overlay upper layer, its own unpacked tarball), never for a
    directory used in place.

    ``masked`` and ``readonly`` are paths as the container sees them
    (``/proc/keys``, ``/proc/sys``; see ``minictr.security.masks``): they
    become ``Mask`` and ``ReadOnly`` steps, after /proc, /dev and /sys exist.
    ``sys_writable`` mounts /sys read-write (``--privileged``).
    ``extra`` are the volumes' steps (``minictr.volumes.steps``): after the
    kernel's file systems, before the masks and the read-only remount of the root.
    ``userns``: the init is in a user namespace of its own, where mknod(2) of a
    device is refused: /dev gets bind mounts of the host's nodes, as runc's rootless mode.
    ``host_net`` (with ``userns``): the init shares the host's network namespace,
    which its user namespace does not own, so sysfs cannot be mounted: the
    host's /sys is bound instead, read-only (runc does the same).
    """
    r = rootfs.path.rstrip("/") or "/"
    nosuid_nodev_noexec = MS.NOSUID | MS.NODEV | MS.NOEXEC
    steps: list[Step] = [
        # Why: on systemd hosts "/" is a *shared* mount, so anything we mount
        # would propagate back to the host, and pivot_root(2) refuses to work
        # (EINVAL) when the new root's parent is shared. Make every mount in
        # our new namespace private first.
        Mount(None, "/", None, MS.REC | MS.PRIVATE, mkdir=False),
    ]
    if rootfs.is_overlay:
        # The image layers (read-only, shared by every container of the image)
        # under the container's own writable upper dir.
        data = f"lowerdir={':'.join(rootfs.lowers)},upperdir={rootfs.upper},workdir={rootfs.work}"
        if rootfs.userxattr:
            # Mounted in a user namespace (Linux 5.11+): overlayfs reads its
            # opaque-dir marks from user.overlay.*, which an unprivileged user can set.
            data += ",userxattr"
        if rootfs.volatile:
            # Why: an --rm container's upper dir is deleted when it exits, so
            # nothing in it needs to reach the disk. "volatile" (Linux 5.10)
            # makes the overlay skip fsync/syncfs, and the sync of the upper
            # file system when it is unmounted, as the container exits.
            data += ",volatile"
        steps.append(Mount("overlay", r, "overlay", 0, data))
    else:
        # Why: pivot_root needs new_root to be a mount point. Binding the
        # directory onto itself makes it one.
        steps.append(Mount(r, r, None, MS.BIND | MS.REC, mkdir=False))
    if hostname:
        steps += [File(f"{r}/etc/hostname", f"{hostname}\n"),
                  File(f"{r}/etc/hosts", f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                                         f"127.0.1.1\t{hostname}\n")]
    steps += [
        Mount("proc", f"{r}/proc", "proc", nosuid_nodev_noexec),
        Mount("tmpfs", f"{r}/dev", "tmpfs", MS.NOSUID | MS.STRICTATIME, "mode=755,size=65536k"),
    ]
    steps += [Device(f"{r}/dev/{name}", major, minor, bind=f"/dev/{name}" if userns else None)
              for name, major, minor in DEFAULT_DEVICES]
    steps += [
        # A devpts of our own ("newinstance"): the container's ptys are numbered
        # from 0 and the host's are invisible. /dev/ptmx must point into it.
        Mount("devpts", f"{r}/dev/pts", "devpts", MS.NOSUID | MS.NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620"),
        Symlink(f"{r}/dev/ptmx", "pts/ptmx"),
        Symlink(f"{r}/dev/fd", "/proc/self/fd"),
        Symlink(f"{r}/dev/stdin", "/proc/self/fd/0"),
        Symlink(f"{r}/dev/stdout", "/proc/self/fd/1"),
        Symlink(f"{r}/dev/stderr", "/proc/self/fd/2"),
        Mount("shm", f"{r}/dev/shm", "tmpfs", nosuid_nodev_noexec, "mode=1777,size=65536k"),
        Mount("mqueue", f"{r}/dev/mqueue", "mqueue", nosuid_nodev_noexec),
    ]
    if userns and host_net:
        steps.append(Mount("/sys", f"{r}/sys", None, MS.BIND | MS.REC))
        if not sys_writable:
            steps.append(ReadOnly(f"{r}/sys"))
    else:
        # sysfs shows the network devices of the mounting process's network
        # namespace; read-only so that the container cannot tune the host's kernel.
        steps.append(Mount("sysfs", f"{r}/sys", "sysfs",
                           nosuid_nodev_noexec | (0 if sys_writable else MS.RDONLY)))
    steps += _cgroup_steps(f"{r}/sys/fs/cgroup", cgroupfs)
    steps += list(extra)
    steps += [ReadOnly(r + p) for p in readonly] + [Mask(r + p, f"{r}/dev/null") for p in masked]
    if rootfs.readonly:
        steps.append(Mount(r, r, None, MS.BIND | MS.REMOUNT | MS.RDONLY, mkdir=False))
    return steps


def _cgroup_steps(base: str, cgroupfs) -> list[Step]:
    ro = MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RDONLY
    if not cgroupfs:
        return []
    if len(cgroupfs) == 1 and cgroupfs[0][0] == ".":  # pure v2: one tree, right at /sys/fs/cgroup
        return [Mount("cgroup2", base, "cgroup2", ro, mkdir=False)]
    # v1 or hybrid: a small tmpfs to hold one directory per hierarchy (as runc does).
    steps: list[Step] = [Mount("tmpfs", base, "tmpfs", MS.NOSUID | MS.NODEV | MS.NOEXEC, "mode=755", mkdir=False)]
    for sub, fstype, options in cgroupfs:
        steps.append(Mount("cgroup", f"{base}/{sub}", fstype, ro, options))
        if options and "," in options:  # co-mounted "cpu,cpuacct": also reachable as cpu and cpuacct
            steps += [Symlink(f"{base}/{name}", sub) for name in options.split(",") if name != sub]
    # Now that the mount points exist, make the holder read-only too.
    steps.append(Mount(None, base, None, MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, mkdir=False))
    return steps


def apply(steps: list[Step], kernel: Syscalls) -> None:
    """Make every step happen, in order. Raises ``SyscallError`` naming the step that failed."""
    for step in steps:
        if isinstance(step, Mount):
            if step.mkdir:
                _mkdir(step.target)
            kernel.mount(step.source, step.target, step.fstype, step.flags, step.data)
        elif isinstance(step, Device) and step.bind:
            _replace(step.path)
            os.close(os.open(step.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))
            kernel.mount(step.bind, step.path, None, MS.BIND)
        elif isinstance(step, Device):
            _replace(step.path)
            # Why mknod and not a bind mount of the host's node: we are real
            # root here, and a fresh node cannot be used to reach anything but
            # the device itself. (In a user namespace mknod is refused; runc
            # then bind-mounts the host's nodes instead.)
            kernel.mknod(step.path, stat.S_IFCHR | step.mode, step.major, step.minor)
        elif isinstance(step, Symlink):
            _replace(step.path)
            os.symlink(step.target, step.path)
        elif isinstance(step, File):
            _mkdir(os.path.dirname(step.path))
            _replace(step.path)  # never write through a symlink the image put there
            with open(step.path, "x") as f:
                f.write(step.content)
        elif isinstance(step, Mask):
            try:
                is_dir = stat.S_ISDIR(os.stat(step.path).st_mode)
            except FileNotFoundError:
                continue  # this kernel has no such file (/proc/kcore without CONFIG_PROC_KCORE): nothing to hide
            if is_dir:
                kernel.mount("tmpfs", step.path, "tmpfs", MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, "mode=755")
            else:
                kernel.mount(step.null, step.path, None, MS.BIND)
                _remount_readonly(kernel, step.path)
        elif isinstance(step, ReadOnly):
            if not os.path.exists(step.path):
                continue
            kernel.mount(step.path, step.path, None, MS.BIND | MS.REC)
            _remount_readonly(kernel, step.path)


#: statvfs(3)'s ST_* flag -> mount(2)'s MS_* flag, for the flags a remount must keep.
_KEPT_FLAGS = ((2, MS.NOSUID), (4, MS.NODEV), (8, MS.NOEXEC), (1024, MS.NOATIME), (2048, MS.NODIRATIME),
               (4096, MS.RELATIME))


def _remount_readonly(kernel: Syscalls, path: str) -> None:
    """Remount the bind mount at ``path`` read-only, keeping the flags it has.

    Why a second call: the kernel ignores MS_RDONLY on the first MS_BIND; a
    bind is made read-only only by MS_REMOUNT|MS_BIND afterwards (mount(2)).
    Why keep nosuid/nodev/noexec and the atime flags: a remount sets the
    per-mount flags to exactly those given, so leaving them out would *clear*
    nosuid/nodev/noexec that /proc was mounted with. In a user namespace the
    kernel even refuses it (EPERM): flags inherited from a more privileged
    mount namespace are "locked" (mount_namespaces(7)), which is why runc
    reads them with statfs(2) before it remounts. We do the same.
    """
    have = os.statvfs(path).f_flag
    kept = 0
    for st_flag, ms_flag in _KEPT_FLAGS:
        if have & st_flag:
            kept |= ms_flag
    kernel.mount(None, path, None, MS.REMOUNT | MS.BIND | MS.RDONLY | kept)


def volatile_overlay_supported(release: str | None = None) -> bool:
    """Does this kernel know overlayfs's "volatile" option (Linux 5.10 and later)?"""
    try:
        major, minor = (int(x) for x in (release or os.uname().release).split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (5, 10)


def _mkdir(path: str) -> None:
    """``mkdir -p``, with the common cases (there already, or only the last part missing) in one call."""
    try:
        os.mkdir(path)
    except FileExistsError:
        pass
    except FileNotFoundError:
        os.makedirs(path, exist_ok=True)


def _replace(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def pivot_into(kernel: Syscalls, new_root: str) -> None:
    """Make ``new_root`` the root of this mount namespace and drop the old one.

    The sequence, as runc does it:

    1. ``chdir(new_root)``
    2. ``pivot_root(".", ".")``: the new root goes to ``/`` and the old root is
       stacked on top of it, at the same place. No put_old directory is needed,
       so it works on a read-only root too.
    3. ``umount2(".", MNT_DETACH)``: unmount the old root that sits on top.
       Lazily, because processes may still hold files open in it.
    4. ``chdir("/")``: so that our working directory is in the new root.

    After this, no path leads back to the host's files: the old root is not
    mounted anywhere in this namespace.
    """
    kernel.chdir(new_root)
    kernel.pivot_root(".", ".")
    kernel.umount2(".", UmountFlags.DETACH)
    kernel.chdir("/")


def chroot_into(kernel: Syscalls, new_root: str) -> None:
    """The old way: only this process's idea of ``/`` changes.

    The host's root stays mounted in the namespace, so a root process can
    climb out again (lesson 03 shows how). Kept for teaching: ``run --no-pivot``.
    """
    kernel.chdir(new_root)
    kernel.chroot(".")
    kernel.chdir("/")
