"""L3: doctor's confinement checks: what this host supports of what ``minictr run`` takes away (lesson 10).

A default container gets docker's 14 capabilities, a seccomp filter, masked
paths and a device allow list (``minictr.security``). Each needs something of
the host, checked here:

- **seccomp filters**: the ``Seccomp:`` line of ``/proc/self/status`` (the
  kernel has CONFIG_SECCOMP), then a real load in a forked child: docker's
  default profile as minictr compiles it, plus a filter refusing getpgid(2),
  which must then fail with EPERM;
- **no_new_privs**: ``prctl(PR_SET_NO_NEW_PRIVS)`` in a forked child, seen as
  ``NoNewPrivs: 1`` (``--security-opt no-new-privileges``);
- **capability range**: ``/proc/sys/kernel/cap_last_cap`` against the names
  minictr knows (``security.capabilities.NAMES``);
- **bounding set**: which capabilities this host's root lacks (a CI host may
  lack CAP_SYS_RESOURCE): a default container needs all 14, and
  ``--privileged`` gets only what is there;
- **device allow list**: the v1 ``devices`` controller, or, without it, the
  eBPF ``BPF_CGROUP_DEVICE`` program loading with bpf(2) (cgroup v2).

Every probe runs in a forked child (``doctor.in_child``): a filter or
no_new_privs never reaches the caller, which may be a Jupyter kernel. The
lessons a failure blocks are those whose ``LESSON`` record says
``confines=True``.

Man pages: seccomp(2), prctl(2), capabilities(7), proc(5) (cap_last_cap,
NoNewPrivs, Seccomp), bpf(2), cgroups(7).
"""

from __future__ import annotations

import errno
import os
from typing import Mapping, Sequence

from . import procfs
from .doctor import FAIL, OK, WARN, Check, in_child, lessons_where

__all__ = ["confinement_lessons", "check_seccomp_support", "check_no_new_privs_support", "check_cap_range",
           "check_bounding_set", "check_devices", "run_checks"]


def confinement_lessons(lessons: Sequence) -> tuple[str, ...]:
    """The lessons whose records say their experiments rely on the runtime's confinement."""
    return lessons_where(lessons, lambda lesson: getattr(lesson, "confines", False))


def _kernel(sc):
    if sc is None:
        from . import syscalls
        sc = syscalls.linux()   # load libc before the fork, not in the child
    return sc


def check_seccomp_support(status: Mapping[str, str], sc=None, probe: bool = True, lessons: Sequence = (),
                          arch: str | None = None) -> Check:
    """The kernel has seccomp filters, minictr compiles for this arch, and a filter loads and refuses."""
    blocked = confinement_lessons(lessons)
    if "Seccomp" not in status:
        return Check("seccomp filters", FAIL, "the kernel has no seccomp (no Seccomp: line in /proc/self/status)",
                     "use a kernel built with CONFIG_SECCOMP_FILTER (every distribution's is), or run "
                     "containers with --security-opt seccomp=unconfined", blocked)
    from .errors import ConfigError
    from .security import capabilities, seccomp, seccomp_profile
    from .security.seccomp_cache import DEFAULT_PROFILE

    arch = arch or os.uname().machine
    try:
        default = seccomp.compile(seccomp_profile.load(DEFAULT_PROFILE), capabilities.DEFAULT, arch)
        refuse = seccomp.compile(seccomp_profile.parse({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM}]}), (), arch)
    except ConfigError as e:
        return Check("seccomp filters", FAIL, e.message, "run containers with --security-opt seccomp=unconfined",
                     blocked)
    size = f"docker's default profile compiles to {len(default) // 8} instructions"
    if not probe:
        return Check("seccomp filters", OK, size)
    sc = _kernel(sc)

    def body() -> str:
        sc.set_no_new_privs()                 # so that loading needs no privilege
        try:
            sc.seccomp_set_mode_filter(default)
            sc.seccomp_set_mode_filter(refuse)    # filters stack: every one must allow a call
        except OSError as e:
            raise RuntimeError(f"seccomp(SECCOMP_SET_MODE_FILTER): {os.strerror(e.errno)}") from None
        try:
            os.getpgid(0)
        except PermissionError:
            return f"{size}; loaded, with a filter refusing getpgid: EPERM"
        raise RuntimeError("a loaded filter did not refuse getpgid")

    ok, msg = in_child(body)
    if ok:
        return Check("seccomp filters", OK, msg)
    return Check("seccomp filters", FAIL, f"a filter does not load: {msg}",
                 "check the kernel's CONFIG_SECCOMP_FILTER, or run containers with --security-opt "
                 "seccomp=unconfined", blocked)


def check_no_new_privs_support(sc=None, probe: bool = True, status_path: str = "/proc/self/status",
                               lessons: Sequence = ()) -> Check:
    """prctl(PR_SET_NO_NEW_PRIVS) works, in a forked child (``--security-opt no-new-privileges``)."""
    if not probe:
        return Check("no_new_privs support", OK, "not probed")
    sc = _kernel(sc)

    def body() -> str:
        sc.set_no_new_privs()
        value = procfs.status(path=status_path).get("NoNewPrivs")
        if value != "1":
            raise RuntimeError(f"prctl(PR_SET_NO_NEW_PRIVS) returned, but NoNewPrivs is {value}")
        return "prctl(PR_SET_NO_NEW_PRIVS) works (--security-opt no-new-privileges)"

    ok, msg = in_child(body)
    if ok:
        return Check("no_new_privs support", OK, msg)
    return Check("no_new_privs support", WARN, f"{msg}: --security-opt no-new-privileges cannot work",
                 "use Linux 3.5 or later", confinement_lessons(lessons))


def check_cap_range(path: str = "/proc/sys/kernel/cap_last_cap", lessons: Sequence = ()) -> Check:
    """The kernel's capabilities (0..cap_last_cap) against the names minictr knows."""
    from .security.capabilities import LAST_CAP, NAMES

    try:
        with open(path) as f:
            last = int(f.read().strip())
    except (OSError, ValueError) as e:
        return Check("capability range", WARN, f"cannot read {path}: {e}",
                     "mount /proc; minictr assumes the kernel knows capabilities 0.." + str(LAST_CAP))
    if last == LAST_CAP:
        return Check("capability range", OK, f"0..{last}, {NAMES[0]} to {NAMES[last]}: as minictr knows them")
    if last > LAST_CAP:
        return Check("capability range", WARN,
                     f"the kernel has capabilities up to {last}, minictr names them up to {LAST_CAP} "
                     f"({NAMES[LAST_CAP]}): containers lose the newer ones, --cap-add cannot name them",
                     "update minictr's capability table (security/capabilities.py)")
    return Check("capability range", WARN,
                 f"an older kernel: capabilities 0..{last}; {', '.join(NAMES[last + 1:])} do not exist here, "
                 "so --cap-add of them does nothing", "use a newer kernel for the whole table",
                 confinement_lessons(lessons) if last < max(NAMES.index(n) for n in _default()) else ())


def _default() -> tuple[str, ...]:
    from .security.capabilities import DEFAULT
    return DEFAULT


def check_bounding_set(status: Mapping[str, str], cap_last_cap: int | None = None, lessons: Sequence = ()) -> Check:
    """Which capabilities this host's root lacks, and what a default and a --privileged container then get."""
    from .security.capabilities import DEFAULT, NAMES

    bounding = procfs.cap_mask(status, "CapBnd")
    known = NAMES[: (cap_last_cap if cap_last_cap is not None else len(NAMES) - 1) + 1]
    missing = [n for i, n in enumerate(known) if not bounding >> i & 1]
    if not missing:
        return Check("bounding set", OK, f"all {len(known)} capabilities: --privileged containers get every one")
    lacking_default = [n for n in DEFAULT if n in missing]
    detail = (f"this host lacks {', '.join(missing)}: --privileged containers get the other "
              f"{len(known) - len(missing)}")
    if lacking_default:
        return Check("bounding set", FAIL, f"{detail}, and default containers lack {', '.join(lacking_default)} "
                     "of docker's 14", "run minictr as the host's full root (not in a container that dropped "
                     "capabilities), or use the lab VM", confinement_lessons(lessons))
    return Check("bounding set", WARN, f"{detail}; docker's 14 are all there",
                 "run as the host's full root for --privileged to mean everything")


def check_devices(layout=None, sc=None, probe: bool = True, lessons: Sequence = ()) -> Check:
    """The device allow list can be applied: the v1 devices controller, or the eBPF program on cgroup2."""
    from .security import devices

    if layout is None:
        from .cgroups.detect import detect
        layout = detect()
    blocked = confinement_lessons(lessons)
    h = layout.controllers.get("devices")
    if h is not None and h.version == 1:
        return Check("device allow list", OK, f"the v1 devices controller ({h.mount})")
    if layout.unified is None:
        return Check("device allow list", FAIL, "no devices controller and no cgroup2: a container could open any "
                     "device node it makes", "mount the v1 devices controller or cgroup2", blocked)
    program = devices.program(devices.DEFAULT)
    if not probe:
        return Check("device allow list", OK, f"cgroup v2: an eBPF program of {len(program) // 8} instructions "
                     "(not probed)")
    sc = _kernel(sc)

    def body() -> str:
        fd = sc.bpf_prog_load(devices.BPF_PROG_TYPE_CGROUP_DEVICE, program)
        os.close(fd)
        return f"cgroup v2: the eBPF BPF_CGROUP_DEVICE program loads ({len(program) // 8} instructions)"

    ok, msg = in_child(body)
    if ok:
        return Check("device allow list", OK, msg)
    return Check("device allow list", FAIL, f"cgroup v2, but the eBPF device program does not load: {msg}",
                 "a kernel with CONFIG_CGROUP_BPF, run as root", blocked)


def run_checks(status: Mapping[str, str], *, sc=None, probes: bool = True, proc: str = "/proc",
               cgroup_root: str = "/sys/fs/cgroup", lessons: Sequence = ()) -> list[Check]:
    """The confinement checks, in the order doctor's table shows them."""
    from .cgroups.detect import Layout, detect

    cap_path = os.path.join(proc, "sys/kernel/cap_last_cap")
    try:
        with open(cap_path) as f:
            last = int(f.read().strip())
    except (OSError, ValueError):
        last = None
    try:
        layout = detect(cgroup_root, os.path.join(proc, "self/cgroup"))
    except OSError:
        layout = Layout("none", cgroup_root)
    return [
        check_seccomp_support(status, sc, probes, lessons),
        check_no_new_privs_support(sc, probes, os.path.join(proc, "self/status"), lessons),
        check_cap_range(cap_path, lessons),
        check_bounding_set(status, last, lessons),
        check_devices(layout, sc, probes, lessons),
    ]
