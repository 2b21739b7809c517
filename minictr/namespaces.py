"""L1: namespace kinds, their CLONE_* flags, and what /proc says about them.

A namespace wraps one global resource so that the processes inside see their
own copy: mount table, hostname, IPC objects, network stack, PID numbers,
cgroup root. Each process's namespaces are the symlinks in /proc/PID/ns;
two processes share a namespace when the links have the same inode.

Man pages: namespaces(7), unshare(2), setns(2), pid_namespaces(7),
mount_namespaces(7), network_namespaces(7), cgroup_namespaces(7).
"""

from __future__ import annotations

import os

from .syscalls import CloneFlags

#: kind name (as in /proc/PID/ns and in ContainerConfig.namespaces) -> flag
KINDS: dict[str, CloneFlags] = {
    "mount": CloneFlags.NEWNS,
    "uts": CloneFlags.NEWUTS,
    "ipc": CloneFlags.NEWIPC,
    "net": CloneFlags.NEWNET,
    "pid": CloneFlags.NEWPID,
    "cgroup": CloneFlags.NEWCGROUP,
    "user": CloneFlags.NEWUSER,
    "time": CloneFlags.NEWTIME,
}

# /proc/PID/ns calls the mount namespace "mnt".
_PROC_NAME = {"mount": "mnt"}


def unshare_uts(kernel, hostname: str) -> None:
    """Give the calling process a UTS namespace of its own, then name it ``hostname``.

    The order is the whole point: sethostname(2) changes the hostname of the
    caller's UTS namespace, so without the unshare(2) first it renames the host.
    ``kernel`` is a ``syscalls.Syscalls`` (the real one, or a fake in tests).
    """
    kernel.unshare(CloneFlags.NEWUTS)
    kernel.sethostname(hostname)


def flags_for(kinds) -> int:
    """The CLONE_* flags for a set of kind names."""
    out = 0
    for kind in kinds:
        out |= KINDS[kind]
    return out


def ns_link(pid: int | str, kind: str, proc: str = "/proc") -> str:
    return f"{proc}/{pid}/ns/{_PROC_NAME.get(kind, kind)}"


def ns_id(pid: int | str, kind: str, proc: str = "/proc") -> str:
    """``'mnt:[4026531841]'``: what the kernel calls this process's namespace of that kind."""
    return os.readlink(ns_link(pid, kind, proc))


def namespaces_of(pid: int | str = "self", proc: str = "/proc") -> dict[str, str]:
    """Every namespace of a process, as ``{kind: 'kind:[inode]'}``."""
    out = {}
    for kind in KINDS:
        try:
            out[kind] = ns_id(pid, kind, proc)
        except OSError:  # an older kernel without that kind, or the process is gone
            pass
    return out
