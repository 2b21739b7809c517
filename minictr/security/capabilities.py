"""Capabilities: names and numbers, docker's default set, ``--cap-add``/``--cap-drop``, and applying them.

Root's power is split into about forty capabilities (capabilities(7)). Each
thread has five sets of them, shown as hex masks in ``/proc/PID/status``:

- **effective** (CapEff): what the kernel checks right now;
- **permitted** (CapPrm): what the thread may make effective;
- **inheritable** (CapInh) and **ambient** (CapAmb): what may survive execve;
- **bounding** (CapBnd): the most the thread, and everything it executes,
  can ever get back. Dropped with ``prctl(PR_CAPBSET_DROP)``, never re-added.

On execve, a root process gets ``permitted = inheritable | bounding`` (its
"file capabilities" count as all ones), so for root *the bounding set is the
set*: dropping it is what confines the command, and capset(2) only makes the
init's own sets agree before exec.

The numbers are the kernel's (include/uapi/linux/capability.h), 0..40 as of
Linux 5.9 (CAP_CHECKPOINT_RESTORE).
"""

from __future__ import annotations

from ..errors import ConfigError

#: Capability names, by number (capability.h). Index = the capability's bit.
NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
NUMBERS = {name: i for i, name in enumerate(NAMES)}
LAST_CAP = len(NAMES) - 1

#: docker's (and podman's) default set: what a container's root keeps.
DEFAULT = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
ALL = "ALL"


def mask(names) -> int:
    """The bit mask of capability names: ``mask(DEFAULT) == 0xa80425fb``."""
    out = 0
    for name in names:
        out |= 1 << NUMBERS[name]
    return out


def names_of(bits: int) -> list[str]:
    """The names of the bits set in a mask (e.g. CapEff from /proc/self/status, read as hex)."""
    return [name for i, name in enumerate(NAMES) if bits >> i & 1]


def normalize(name: str) -> str:
    """``net_admin``, ``NET_ADMIN`` or ``CAP_NET_ADMIN`` -> ``CAP_NET_ADMIN``; ``all`` -> ``ALL``.

    Raises ``ConfigError`` for a name capability.h does not have.
    """
    upper = name.strip().upper()
    if upper == ALL:
        return ALL
    full = upper if upper.startswith("CAP_") else "CAP_" + upper
    if full not in NUMBERS:
        raise ConfigError("capability", name, "no such capability",
                          hint="use a name from capabilities(7), with or without CAP_, e.g. NET_ADMIN, or ALL")
    return full


def resolve(cap_add=(), cap_drop=(), privileged: bool = False, base=DEFAULT) -> tuple[str, ...]:
    """The capabilities a container gets, as docker works them out (sorted by number).

    - ``--privileged``: all of them;
    - ``--cap-add ALL``: all of them except those in ``--cap-drop``;
    - ``--cap-drop ALL``: only those in ``--cap-add``;
    - otherwise: the defaults, minus ``--cap-drop``, plus ``--cap-add``.
    """
    adds = {normalize(n) for n in cap_add}
    drops = {normalize(n) for n in cap_drop}
    if privileged:
        caps = set(NAMES)
    elif ALL in adds:
        caps = set(NAMES) - drops
    elif ALL in drops:
        caps = adds
    else:
        caps = (set(base) - drops) | adds
    caps.discard(ALL)
    return tuple(sorted(caps, key=NUMBERS.__getitem__))


def apply_bounding(kernel, keep: int) -> None:
    """Drop every capability not in ``keep`` from the bounding set (needs CAP_SETPCAP: do it first),
    and clear the ambient set.

    Why before the user switch: PR_CAPBSET_DROP needs CAP_SETPCAP in the
    effective set, which a non-root user has lost after setuid(2).
    """
    for cap in range(64):
        if not keep >> cap & 1 and not kernel.capbset_drop(cap):
            break  # EINVAL: past the last capability this kernel knows
    # Ambient capabilities would survive execve even for a non-root user
    # (capabilities(7), "Ambient capability set"); a container starts with none.
    kernel.cap_ambient_clear()


def apply_sets(kernel, keep: int, root: bool) -> None:
    """capset(2): effective = permitted = ``keep`` for root, nothing for another user; inheritable empty.

    Why after setuid(2), not before: (1) setgroups/setgid/setuid need
    CAP_SETGID/CAP_SETUID, which ``--cap-drop`` may have taken away; (2) a
    switch from uid 0 to a non-zero uid clears the permitted and effective
    sets anyway (capabilities(7), "Effect of user ID changes on
    capabilities"), unless PR_SET_KEEPCAPS is set. We never set KEEPCAPS: a
    non-root user gets empty effective and permitted sets, as docker gives
    it, and only the bounding set remembers ``keep``. For uid 0, setuid(0)
    changes no set, and this capset is what narrows them.

    The sets can only shrink (capset refuses to add to permitted), so ``keep``
    is cut to what this process holds: a host whose own bounding set lacks a
    capability (this CI host lacks CAP_SYS_RESOURCE) can still run --privileged.
    """
    _eff, permitted, _inh = kernel.capget()
    sets = keep & permitted if root else 0
    kernel.capset(sets, sets, 0)


def apply_explicit(kernel, sec, keep: int) -> None:
    """A bundle's own capability sets (config.json's ``process.capabilities``), after setuid(2).

    ``keep`` is the bounding set (already applied); ``sec`` a ``config.Security`` whose
    ``cap_effective``/``cap_permitted`` (None: the bounding set), ``cap_inheritable`` and
    ``cap_ambient`` (None: empty) are applied with capset(2), then each ambient capability
    is raised (prctl PR_CAP_AMBIENT_RAISE). As with ``apply_sets``, the sets are cut to what
    this process holds. An ambient capability must be permitted and inheritable, or the
    kernel refuses it (capabilities(7)); such a one is left out, as runc leaves it out.
    """
    _eff, held, _inh = kernel.capget()
    permitted = (keep if sec.cap_permitted is None else mask(sec.cap_permitted)) & held
    effective = (keep if sec.cap_effective is None else mask(sec.cap_effective)) & permitted
    inheritable = mask(sec.cap_inheritable or ()) & keep  # capset: within the bounding set
    kernel.capset(effective, permitted, inheritable)
    for name in sec.cap_ambient or ():
        bit = NUMBERS[name]
        if permitted >> bit & 1 and inheritable >> bit & 1:
            kernel.cap_ambient_raise(bit)
