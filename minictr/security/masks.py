"""Masked and read-only paths: the parts of /proc and /sys a container must not read or write.

A container has its own /proc and /sys mounts, but many files in them are
the *host's* kernel: ``/proc/sys`` tunes it (``echo 1 >
/proc/sys/kernel/printk`` inside changes the host's console log level),
``/proc/keys`` lists keyrings, ``/proc/timer_list`` leaks the host's timers
and task names, ``/sys/firmware`` holds ACPI tables and EFI variables.

runc's defaults, which docker and podman use (the OCI runtime spec's
``linux.maskedPaths`` and ``linux.readonlyPaths``), are below. They become
steps of the mount plan (``rootfs.Mask``, ``rootfs.ReadOnly``):

- a **masked** file gets the container's ``/dev/null`` bound over it, read-only:
  it reads as empty; a masked directory gets an empty read-only tmpfs;
- a **read-only** path is bound onto itself and remounted read-only;
- a path this kernel does not have (``/proc/kcore`` without CONFIG_PROC_KCORE)
  is skipped.

``--privileged`` (and docker's ``--security-opt systempaths=unconfined``) turns both off.

Man pages: proc(5), sysfs(5), mount(2) (MS_BIND, MS_REMOUNT), tmpfs(5).
"""

from __future__ import annotations

#: runc's default masked paths.
MASKED = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
)
#: runc's default read-only paths.
READONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def paths(security) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(masked, readonly)`` for a ``config.Security``: its own lists, or the defaults (None)."""
    if security.privileged:
        return (), ()
    masked = MASKED if security.masked_paths is None else security.masked_paths
    readonly = READONLY if security.readonly_paths is None else security.readonly_paths
    return masked, readonly

