"""Lesson 10 (what root in a container may do): decode CapEff; a seccomp profile that refuses mkdir.

Two exercises:

- ``10.decode_caps``: ``def decode_caps(mask: int) -> set[str]`` turns a
  capability mask (CapEff of /proc/PID/status, read as hex) into the names of
  its bits, ``{"CAP_CHOWN", ...}``. The checks catch the usual mistakes with a
  diagnosis: bits numbered from 1 (off by one), names without ``CAP_``, a
  hard-coded list (the same answer for every mask), a table that stops early.
- ``10.no_mkdir``: ``def no_mkdir_profile() -> dict`` returns a seccomp
  profile in docker's format that allows everything except ``mkdir`` and
  ``mkdirat``, refused with EPERM. The checks compile it with minictr's own
  compiler (``security.seccomp.plan``) for x86_64 and aarch64, catch a
  forgotten ``mkdirat``, a wrong action name, a killing action, a wrong
  errno, a refusing default, and then load the filter in a forked child
  (with no_new_privs, so no privilege is needed) and watch mkdir fail.

The quizzes' answer keys live here (``QUIZZES``), not in the notebook, so a
learner cannot read the answer above the question: the notebook asks
``Quiz.lab("10.caps")``.

Man pages: capabilities(7), proc(5) (CapEff), seccomp(2), prctl(2) (PR_SET_NO_NEW_PRIVS),
mkdir(2) (mkdir and mkdirat).
"""

from __future__ import annotations

import errno
import os
import tempfile

from .kit import Case, CaseFailed, Exercise, in_child, register
from .lesson import Lesson

__all__ = ["LESSON", "QUIZZES", "as_the_container", "decode_caps", "no_mkdir_profile"]

LESSON = Lesson("10", "What root in a container may do", needs_root=True, confines=True,
                namespaces=("mnt", "uts", "ipc", "net", "pid", "cgroup"), privilege="root")


# -- exercise 1: decode CapEff --------------------------------------------------------------

def decode_caps(mask: int) -> set[str]:
    """minictr's answer: the names of the bits set in ``mask``; bit N is capability number N."""
    from ..security.capabilities import names_of

    return set(names_of(mask))


def _decode_cases() -> list[Case]:
    from ..security.capabilities import DEFAULT, NAMES, mask

    def run(fn, bits: int) -> set:
        got = fn(bits)
        if not isinstance(got, (set, frozenset, list, tuple)):
            raise CaseFailed(f"returned {type(got).__name__}: return a set of names such as {{'CAP_CHOWN'}}")
        return set(got)

    def diagnose(got: set, want: set, bits: int) -> None:
        if got == want:
            return
        bare = {n[4:] for n in want}
        if got == bare:
            raise CaseFailed("the names lack the CAP_ prefix: capabilities(7) and /usr/include/linux/"
                             "capability.h call them CAP_CHOWN, CAP_NET_RAW ...")
        shifted_up = {NAMES[i + 1] for i in range(len(NAMES) - 1) if bits >> i & 1}
        shifted_down = {NAMES[i - 1] for i in range(1, len(NAMES)) if bits >> i & 1}
        if got and (got == shifted_up or got == shifted_down):
            raise CaseFailed("off by one: bit 0 (the lowest, mask & 1) is capability number 0, CAP_CHOWN; "
                             "test bit N with mask >> N & 1")
        extra, missing = sorted(got - want), sorted(want - got)
        raise CaseFailed(f"for {bits:#x}: {len(missing)} missing ({', '.join(missing[:3]) or '-'}), "
                         f"{len(extra)} wrong ({', '.join(extra[:3]) or '-'})")

    default = mask(DEFAULT)

    def docker_default(fn):
        diagnose(run(fn, default), set(DEFAULT), default)

    def other_masks(fn):
        first = run(fn, default)
        for names in (("CAP_SYS_ADMIN",), ("CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_KILL"), ()):
            got = run(fn, mask(names))
            if names and got == first:
                raise CaseFailed("the same names for another mask: a hard-coded list? Read the bits of mask")
            if not names and got:
                raise CaseFailed(f"a mask of 0 (a non-root user's CapEff) has no capability, you returned {sorted(got)[:3]}")
            diagnose(got, set(names), mask(names))

    def every_cap(fn):
        full = (1 << len(NAMES)) - 1
        got = run(fn, full)
        if got != set(NAMES):
            missing = sorted(set(NAMES) - got, key=NAMES.index)
            if missing and all(n in missing for n in NAMES[NAMES.index(missing[0]):]):
                raise CaseFailed(f"the table stops before {missing[0]} (bit {NAMES.index(missing[0])}): "
                                 f"this kernel has {len(NAMES)} capabilities, 0 to {len(NAMES) - 1}")
            diagnose(got, set(NAMES), full)
        # bits above the last capability are not capabilities: a mask may carry them (CapBnd of a newer kernel)
        if run(fn, full | 1 << 62) - set(NAMES):
            raise CaseFailed("bit 62 is no capability this kernel names: ignore bits past the last one")

    return [
        Case("docker's default CapEff, 00000000a80425fb: the 14 names", docker_default),
        Case("other masks: SYS_ADMIN alone, three others, none", other_masks),
        Case("all 41 (a --privileged container), and a bit past the last", every_cap),
    ]


register(Exercise(
    id="10.decode_caps", title="Decode CapEff",
    function="decode_caps", signature="def decode_caps(mask: int) -> set[str]",
    cases=_decode_cases,
    reference=lambda: decode_caps,
))


# -- exercise 2: a seccomp profile that refuses mkdir ---------------------------------------

def no_mkdir_profile() -> dict:
    """minictr's answer: allow everything; refuse both spellings of mkdir with EPERM."""
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM},
        ],
    }


def _plan(profile: dict, arch: str):
    """(default verdict, {syscall name: first verdict}) of the learner's profile, compiled by minictr."""
    from ..errors import ConfigError
    from ..security import seccomp, seccomp_profile
    from ..security.capabilities import NAMES

    if not isinstance(profile, dict):
        raise CaseFailed(f"returned {type(profile).__name__}: return a dict, as docker's profile JSON")
    try:
        parsed = seccomp_profile.parse(profile, "your profile")
    except ConfigError as e:
        if "action" in e.field.lower() or "action" in str(e.value).lower() or "action" in e.message.lower():
            raise CaseFailed(f"{e.message}: seccomp actions are SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, "
                             "SCMP_ACT_KILL_PROCESS ... (docker's names, in capitals)") from None
        raise CaseFailed(f"not a valid profile: {e.message}") from None
    default, table = seccomp.plan(parsed, NAMES, arch, (6, 1))
    return default, {name: chain[0][1] for _nr, (name, chain) in table.items()}


def _no_mkdir_cases() -> list[Case]:
    from ..security import seccomp

    refuse = seccomp.RET_ERRNO | errno.EPERM

    def verdict_ok(name: str, v: int | None, arch: str) -> None:
        if v is None:
            if name == "mkdirat":
                raise CaseFailed("mkdirat is not refused: busybox's mkdir, and every program on aarch64 "
                                 "(which has no mkdir syscall at all), call mkdirat; refuse both names")
            raise CaseFailed(f"{name} is not refused on {arch}: name it in the rule too")
        if v & 0xFFFF0000 == seccomp.RET_ERRNO and v != refuse:
            n = v & 0xFFFF
            raise CaseFailed(f"{name} fails with errno {n} ({errno.errorcode.get(n, '?')}): use errnoRet 1, "
                             "EPERM, what docker's profile returns for what it refuses")
        if v != refuse:
            raise CaseFailed(f"{name} gets {seccomp.verdict_name(v) or hex(v)}: refuse it (SCMP_ACT_ERRNO, "
                             "errnoRet 1) rather than kill the process or let it through")

    def per_arch(arch: str, has_mkdir: bool):
        def run(fn):
            default, verdicts = _plan(fn(), arch)
            if default != seccomp.RET_ALLOW:
                raise CaseFailed(f"the defaultAction gives {seccomp.verdict_name(default)} for every other call: "
                                 "the container could not even execve; use SCMP_ACT_ALLOW")
            for name in (("mkdir", "mkdirat") if has_mkdir else ("mkdirat",)):
                verdict_ok(name, verdicts.get(name), arch)
            others = sorted(n for n, v in verdicts.items() if n not in ("mkdir", "mkdirat") and v != seccomp.RET_ALLOW)
            if others:
                raise CaseFailed(f"{', '.join(others[:3])} refused too: refuse only mkdir and mkdirat")
        return run

    def loaded(fn):
        from ..security.capabilities import NAMES
        from ..security import seccomp_profile
        from ..syscalls import linux

        profile = fn()
        default, _verdicts = _plan(profile, os.uname().machine)
        if default != seccomp.RET_ALLOW:
            # a child under such a filter could not even write its answer back (or exit cleanly)
            raise CaseFailed(f"not loaded: the defaultAction gives {seccomp.verdict_name(default)} for every "
                             "other call; use SCMP_ACT_ALLOW")
        program = seccomp.compile(seccomp_profile.parse(profile, "your profile"), NAMES)
        kernel = linux()
        base = tempfile.mkdtemp(prefix="minictr-l10-")
        try:
            def body():
                kernel.set_no_new_privs()           # so an unprivileged process may load a filter too
                kernel.seccomp_set_mode_filter(program)
                out = {"listdir": sorted(os.listdir(base)), "pid": os.getpid() > 0}
                try:
                    os.mkdir(os.path.join(base, "refused"))
                    out["mkdir"] = "made"
                except OSError as e:
                    out["mkdir"] = errno.errorcode.get(e.errno, str(e.errno))
                fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.mkdir("refused-at", dir_fd=fd)  # mkdirat(2)
                    out["mkdirat"] = "made"
                except OSError as e:
                    out["mkdirat"] = errno.errorcode.get(e.errno, str(e.errno))
                return out

            got = in_child(body)
        finally:
            for name in ("refused", "refused-at"):
                if os.path.isdir(os.path.join(base, name)):
                    os.rmdir(os.path.join(base, name))
            os.rmdir(base)
        if got["mkdir"] != "EPERM" or got["mkdirat"] != "EPERM":
            raise CaseFailed(f"under your filter mkdir gave {got['mkdir']} and mkdirat gave {got['mkdirat']}, "
                             "expected EPERM for both")

    return [
        Case("x86_64: mkdir and mkdirat get ERRNO(EPERM), everything else is allowed", per_arch("x86_64", True)),
        Case("aarch64 (no mkdir syscall there): mkdirat gets ERRNO(EPERM)", per_arch("aarch64", False)),
        Case("loaded in a forked child: mkdir and mkdirat fail with EPERM", loaded),
    ]


register(Exercise(
    id="10.no_mkdir", title="A seccomp profile that refuses mkdir",
    function="no_mkdir_profile", signature="def no_mkdir_profile() -> dict",
    cases=_no_mkdir_cases,
    reference=lambda: no_mkdir_profile,
))


# -- the earlier escapes, with the container's powers ---------------------------------------

def as_the_container(pid: int, fn, *, timeout: float = 10.0):
    """``fn()`` in a forked child that enters container ``pid`` as ``docker exec`` does; its JSON-able result.

    The child joins the container's mount namespace and its root (opened
    first: after setns the path /proc/PID/root may name another process),
    then takes the container's powers in the init's order: the default
    seccomp filter for its capabilities (when the init has a filter, Seccomp: 2),
    the bounding set of the init (CapBnd), and capset to it. So ``fn`` can do
    what the container's own root could, and no more. Lesson 03's helper
    entered with all of the host's capabilities.
    """
    from .. import procfs
    from ..security import capabilities, seccomp_cache
    from ..syscalls import CloneFlags, linux

    kernel = linux()
    fields = procfs.status(pid)
    bounding = procfs.cap_mask(fields, "CapBnd")
    program = None
    if fields.get("Seccomp", "0") != "0":
        program = seccomp_cache.program_for("default", capabilities.names_of(bounding))
    root_fd = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY)
    ns_fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
    try:
        def body():
            kernel.setns(ns_fd, CloneFlags.NEWNS)
            os.fchdir(root_fd)
            os.chroot(".")
            if program is not None:
                kernel.seccomp_set_mode_filter(program)   # still root with CAP_SYS_ADMIN: no no_new_privs needed
            capabilities.apply_bounding(kernel, bounding)
            capabilities.apply_sets(kernel, bounding, root=True)
            return fn()

        return in_child(body, timeout=timeout)
    finally:
        os.close(root_fd)
        os.close(ns_fd)


# -- the quizzes: answer keys kept out of the notebook --------------------------------------

QUIZZES = {
    "10.caps": {
        "question": "A default container's root runs `ip link set lo down`. What happens?",
        "right": {
            "EPERM: CAP_NET_ADMIN is not among docker's 14":
                "Changing a network device needs CAP_NET_ADMIN, which docker's default set leaves out "
                "(--cap-add NET_ADMIN gives it back, in the container's own network namespace).",
        },
        "wrong": {
            "it works: root can do anything":
                "Root in a container holds only the capabilities it was given: uid 0 alone opens nothing.",
            "the seccomp filter kills the process":
                "The profile refuses calls with EPERM, it kills nothing; and the netlink call is allowed.",
            "the devices cgroup refuses it":
                "The devices cgroup checks opening device nodes; a link is not a device node.",
        },
        "hint": "which capability guards network configuration?",
    },
    "10.layers": {
        "question": "What stops a container's root from opening a disk node it made? (tick all that apply)",
        "right": {
            "the devices cgroup (or its eBPF program on cgroup v2)":
                "The kernel checks every open of a device node against the cgroup's allow list, and that "
                "refuses a block device.",
        },
        "wrong": {
            "the seccomp filter refuses mknod": "docker's profile allows mknod: the node can be made.",
            "CAP_MKNOD is dropped": "CAP_MKNOD is one of docker's 14: making the node works.",
            "the mount namespace hides /dev/vda":
                "A hidden /dev entry is no protection: mknod makes a new node with the same numbers.",
        },
        "multiple": True,
        "hint": "the node was made: what is checked when it is opened?",
    },
    "10.escapes": {
        "question": "Under --no-pivot, what stops lesson 03's chroot breakout in a confined container?",
        "right": {
            "nothing in docker's defaults: CAP_SYS_CHROOT is kept, so only pivot_root (or --cap-drop "
            "SYS_CHROOT) stops it":
                "Confinement is layers: docker's profile allows chroot to a holder of CAP_SYS_CHROOT, and "
                "docker keeps that capability. pivot_root plus unmounting the old root (lesson 04) leaves "
                "nothing to climb to; dropping SYS_CHROOT makes chroot itself fail.",
        },
        "wrong": {
            "the seccomp filter refuses chroot": "It allows chroot to a process that holds CAP_SYS_CHROOT.",
            "the masked paths": "Masks hide a few /proc and /sys files; the breakout needs none of them.",
            "the read-only /proc/sys": "The breakout writes no sysctl: it only calls chroot and chdir.",
        },
        "hint": "is CAP_SYS_CHROOT among the 14?",
    },
}
