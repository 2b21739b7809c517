"""L3: ``minictr doctor``: can this machine run the lessons, and if not, why?

A container is a process plus kernel features, so the first lesson asks the
kernel what it offers to *us*: are we root, with CAP_SYS_ADMIN? Does a seccomp
filter stand in the way? Can we make each kind of namespace? Which cgroup
layout is there, and may we make groups in it? Does overlayfs mount? Are we
ourselves inside a container (Binder, JupyterHub, docker without
``--privileged``), where most of this is forbidden?

Each check is a small function returning a ``Check``: a name, a status
(``ok``, ``warn``: a later or optional part is degraded, ``fail``: a lesson
cannot run), a one-line detail, a one-line fix, and the lessons it blocks.
``run_checks(lessons=...)`` returns them as data (lesson 00 shows them as a
table); ``minictr doctor`` prints them and exits 0 when every lesson can run,
1 otherwise.

Which lessons a failing check blocks comes from the lessons' ``LESSON``
records (``minictr.labs.lessons()``), passed in by the caller: whether a
lesson needs root, the tools it runs (each looked up on $PATH), the
namespace kinds, cgroup controllers and filesystems it uses. This module
never imports the labs, and holds no list of lessons of its own. Without
records (``lessons=()``) the checks run the same, blocking no lesson by
number, and the tools check is left out.

Every reader takes the path it reads as a parameter (``/proc/self/status``,
``/proc/sys``, the cgroupfs root...), so the unit tests feed it fake files.
Every probe that changes a process (unshare, mount) runs in a *forked child*
(``minictr.child``) that exits right after: never in the calling process,
which may be a Jupyter kernel that must not end up in a new namespace for good.

About 570 lines, more than the package's usual 400: it is a list of small,
independent checks that share one ``Check`` record and one verdict; split by
topic, the answer to "can this machine run the lessons" would be spread over
several modules.

The confinement checks (seccomp filters loading, no_new_privs, the capability
range and bounding set, the device allow list) are in ``doctor_sec``;
``minictr doctor`` shows both.

Man pages: capabilities(7), proc(5) (/proc/PID/status: CapEff, Seccomp,
NoNewPrivs), seccomp(2), namespaces(7), unshare(2), user_namespaces(7),
cgroups(7), https://docs.kernel.org/filesystems/overlayfs.html.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Mapping, Sequence

from . import child, procfs

OK, WARN, FAIL = "ok", "warn", "fail"
_EPERM = os.strerror(1)  # "Operation not permitted", as the probes report it

#: capability number -> name (capabilities(7), <linux/capability.h>)
CAP_NAMES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
CAP_SYS_ADMIN = 21
#: What the runtime and the lessons use: files and owners, users, chroot, devices, network, signals.
NEEDED_CAPS = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID", "NET_ADMIN",
               "SYS_CHROOT", "MKNOD", "SYS_ADMIN")

PRIVILEGED_FIX = ("run as root (sudo .venv/bin/python -m minictr doctor), or in a container started with "
                  "--privileged --cgroupns=host, or use the lab VM")


@dataclass(frozen=True)
class Check:
    name: str
    status: str          # "ok" | "warn" | "fail"
    detail: str
    fix: str = ""
    lessons: tuple[str, ...] = ()   # the lessons that cannot run (fail) or lose a part (warn)


# --------------------------------------------------------------------------
# The lessons' needs, from their LESSON records (minictr.labs.lesson.Lesson).
# --------------------------------------------------------------------------

def lessons_where(lessons: Iterable, need: Callable) -> tuple[str, ...]:
    """The numbers of the lessons whose record satisfies ``need(record)``, in order."""
    return tuple(sorted(lesson.number for lesson in lessons if need(lesson)))


def root_lessons(lessons: Iterable) -> tuple[str, ...]:
    """The lessons that need real root: ``privilege="root"`` (the others run rootless too)."""
    return lessons_where(lessons, lambda lesson: lesson.needs_root and getattr(lesson, "privilege", "root") == "root")


def namespace_lessons(lessons: Iterable, kind: str) -> tuple[str, ...]:
    return lessons_where(lessons, lambda lesson: kind in lesson.namespaces)


def controller_lessons(lessons: Iterable, controllers: Iterable[str]) -> tuple[str, ...]:
    wanted = set(controllers)
    return lessons_where(lessons, lambda lesson: wanted & set(lesson.controllers))


# --------------------------------------------------------------------------
# /proc/self/status: who we are.
# --------------------------------------------------------------------------

def read_status(path: str = "/proc/self/status") -> dict[str, str]:
    """``Name: value`` lines of proc(5)'s status file, as a dict (``procfs.status``)."""
    return procfs.status(path=path)


def caps_of(hexmask: str) -> set[str]:
    """``000001ffffffffff`` -> {"CHOWN", ..., "CHECKPOINT_RESTORE"}."""
    mask = procfs.cap_mask({"mask": hexmask}, "mask")
    return {name for bit, name in enumerate(CAP_NAMES) if mask >> bit & 1}


def check_root(euid: int | None = None, lessons: Sequence = ()) -> Check:
    euid = os.geteuid() if euid is None else euid
    if euid == 0:
        return Check("root", OK, "running as uid 0")
    return Check("root", FAIL, f"running as uid {euid}: namespaces, mounts and cgroups need root "
                 "(rootless mode runs some lessons: see the rootless checks)",
                 "run it with sudo: sudo .venv/bin/python -m minictr doctor (or use the lab VM)",
                 root_lessons(lessons))


def check_sys_admin(status: Mapping[str, str], lessons: Sequence = ()) -> Check:
    eff = caps_of(status.get("CapEff", "0"))
    if "SYS_ADMIN" in eff:
        return Check("CAP_SYS_ADMIN", OK, "in the effective set (CapEff)")
    return Check("CAP_SYS_ADMIN", FAIL, "missing from the effective set: no unshare, mount or pivot_root",
                 PRIVILEGED_FIX, root_lessons(lessons))


def check_capabilities(status: Mapping[str, str], lessons: Sequence = ()) -> Check:
    eff = caps_of(status.get("CapEff", "0"))
    bnd = caps_of(status.get("CapBnd", "0"))
    missing = [c for c in NEEDED_CAPS if c not in eff and c != "SYS_ADMIN"]
    lost = sorted(set(CAP_NAMES) - bnd, key=CAP_NAMES.index)
    note = f"; not in the bounding set: {', '.join('CAP_' + c for c in lost)}" if lost else ""
    if not missing:
        return Check("capabilities", OK, f"all {len(NEEDED_CAPS)} the lessons use are effective{note}")
    return Check("capabilities", WARN if "SYS_ADMIN" in eff else FAIL,
                 f"missing: {', '.join('CAP_' + c for c in missing)}{note}", PRIVILEGED_FIX,
                 root_lessons(lessons))


def check_seccomp(status: Mapping[str, str], lessons: Sequence = ()) -> Check:
    mode = status.get("Seccomp", "")
    filters = status.get("Seccomp_filters", "?")
    if mode in ("", "0"):
        return Check("seccomp", OK, "no seccomp filter" if mode else "kernel without seccomp")
    if mode == "2":
        # docker's default profile blocks unshare, mount, pivot_root...: the namespace probes tell.
        return Check("seccomp", WARN, f"a seccomp filter is on ({filters} filters): it may block unshare and mount",
                     "run the outer container with --security-opt seccomp=unconfined (or --privileged)")
    return Check("seccomp", FAIL, f"strict seccomp mode ({mode}): only read, write and exit are allowed",
                 "run minictr outside this sandbox", lessons_where(lessons, lambda lesson: True))


def check_no_new_privs(status: Mapping[str, str]) -> Check:
    nnp = status.get("NoNewPrivs", "0")
    if nnp == "0":
        return Check("no_new_privs", OK, "off: setuid programs work")
    return Check("no_new_privs", WARN, "on: setuid programs (su, ping) cannot gain privileges here",
                 "start the lab from a shell without no_new_privs (not from a hardened service)")


# --------------------------------------------------------------------------
# Forked probes.
# --------------------------------------------------------------------------

def in_child(fn: Callable[[], str], timeout: float = 10.0) -> tuple[bool, str]:
    """Run ``fn`` in a forked child (``child.call``); return (it returned, its message or the error).

    The child is a throwaway: whatever it unshares or mounts dies with it. A
    MinictrError comes back as its message without its hint (the check brings
    its own fix), an OSError as ``strerror: filename``.
    """
    try:
        return True, str(child.call(fn, timeout=timeout))[:4000]
    except child.ChildFailed as e:
        return False, (e.plain or e.line)[:4000] if e.exc_type else "the probe died"


#: kind -> (fail or warn when missing, fix). Which lessons it blocks: their records' ``namespaces``.
#: user and time are only a warning: no lesson before the rootless one needs them.
NAMESPACE_PROBES: dict[str, tuple[str, str]] = {
    "mnt": (FAIL, PRIVILEGED_FIX),
    "uts": (FAIL, PRIVILEGED_FIX),
    "ipc": (FAIL, PRIVILEGED_FIX),
    "net": (FAIL, PRIVILEGED_FIX),
    "pid": (FAIL, PRIVILEGED_FIX),
    "cgroup": (FAIL, PRIVILEGED_FIX),
    "user": (WARN, "enable user namespaces: sysctl -w user.max_user_namespaces=15000"),
    "time": (WARN, "needs Linux 5.6+ built with CONFIG_TIME_NS"),
}


def _probe_body(kind: str, sc) -> Callable[[], str]:
    from .syscalls import CloneFlags, MountFlags

    flag = {"mnt": CloneFlags.NEWNS, "uts": CloneFlags.NEWUTS, "ipc": CloneFlags.NEWIPC,
            "net": CloneFlags.NEWNET, "pid": CloneFlags.NEWPID, "cgroup": CloneFlags.NEWCGROUP,
            "user": CloneFlags.NEWUSER, "time": CloneFlags.NEWTIME}[kind]

    def body() -> str:
        sc.unshare(flag)
        if kind == "mnt":
            # Why: on systemd hosts / is shared; a container must stop propagation first.
            sc.mount(None, "/", None, MountFlags.REC | MountFlags.PRIVATE)
            return "unshare and a private / work"
        if kind == "uts":
            sc.sethostname("doctor-probe")
            return "unshare and sethostname work"
        if kind == "net":
            sc.set_link_up("lo")
            return "unshare and lo up work"
        if kind == "pid":
            # unshare(CLONE_NEWPID) moves only our *children*: the first one is PID 1.
            pid = os.fork()
            if pid == 0:
                os._exit(0 if os.getpid() == 1 else 1)
            _, st = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(st) != 0:
                raise RuntimeError("the first child in the new pid namespace is not PID 1")
            return "unshare works; the first child is PID 1"
        return "unshare works"

    return body


def probe_namespace(kind: str, sc=None, proc: str = "/proc", lessons: Sequence = ()) -> Check:
    """unshare one namespace kind in a forked child (and use it a little)."""
    bad, fix = NAMESPACE_PROBES[kind]
    blocked = namespace_lessons(lessons, kind)
    name = f"{kind} namespace"
    if not os.path.exists(os.path.join(proc, "self/ns", kind)):
        return Check(name, bad, f"the kernel has no {kind} namespaces (no {proc}/self/ns/{kind})",
                     "use a newer kernel (the lab VM has one)", blocked)
    if sc is None:
        from . import syscalls
        sc = syscalls.linux()  # load libc before fork, not in the child
    ok, msg = in_child(_probe_body(kind, sc))
    if ok:
        return Check(name, OK, msg)
    if _EPERM in msg:  # the kernel has it, we may not use it
        fix = PRIVILEGED_FIX
    return Check(name, bad, msg, fix, blocked)


# --------------------------------------------------------------------------
# cgroups, overlayfs, user namespaces, kernel.
# --------------------------------------------------------------------------

#: The controllers minictr itself uses (--memory, --pids-limit, --cpus).
CONTROLLERS = ("memory", "pids", "cpu")


def check_cgroups(root: str = "/sys/fs/cgroup", proc_self_cgroup: str = "/proc/self/cgroup",
                  probe: bool = True, lessons: Sequence = ()) -> list[Check]:
    """The layout (from cgroups.detect: one detector in minictr), its controllers, and a probe group.

    A missing controller fails when a lesson needs it (its record's
    ``controllers``) and is a warning otherwise.
    """
    from . import cgroups

    layout = cgroups.detect(root, proc_self_cgroup)
    users = lessons_where(lessons, lambda lesson: lesson.controllers or "cgroup" in lesson.namespaces)
    if layout.kind == "none":
        return [Check("cgroups", FAIL, f"no cgroup hierarchy under {root}",
                      "mount cgroupfs (mount -t cgroup2 none /sys/fs/cgroup), or use the lab VM", users)]
    where = ", ".join(f"{c} v{layout.controllers[c].version}" for c in CONTROLLERS
                      if c in layout.controllers)
    out = [Check("cgroups", OK, f"{layout.kind} ({where})")]
    wanted = list(CONTROLLERS) + sorted({c for lesson in lessons for c in lesson.controllers} - set(CONTROLLERS))
    missing = [c for c in wanted if c not in layout.controllers]
    if missing:
        blocked = controller_lessons(lessons, missing)
        out.append(Check("cgroup controllers", FAIL if blocked else WARN,
                         f"no {', '.join(missing)} controller",
                         "boot with the controller enabled (e.g. cgroup_enable=memory), or use the lab VM", blocked))
    if probe:
        out.append(_probe_cgroup_writable(layout, controller_lessons(lessons, wanted)))
    return out


def _probe_cgroup_writable(layout, lessons: tuple[str, ...] = ()) -> Check:
    """mkdir + rmdir a group next to where minictr puts its own, in each tree we would use."""
    needed = {layout.controllers[c].mount for c in CONTROLLERS if c in layout.controllers}
    probe_name = f"minictr-doctor-{os.getpid()}"
    bad_needed, bad_other, good = [], [], 0
    for h in layout.hierarchies:
        d = os.path.join(h.own_dir, probe_name)
        try:
            os.mkdir(d)
        except OSError as e:
            (bad_needed if h.mount in needed else bad_other).append(f"{h.own_dir}: {os.strerror(e.errno)}")
            continue
        os.rmdir(d)  # an empty group: rmdir removes it (cgroups(7))
        good += 1
    fix = "run as root with cgroupfs mounted read-write (docker: --privileged --cgroupns=host)"
    if bad_needed:
        return Check("cgroups writable", FAIL, "cannot make a group in " + "; ".join(bad_needed), fix, lessons)
    if bad_other:
        return Check("cgroups writable", WARN, "cannot make a group in " + "; ".join(bad_other), fix)
    return Check("cgroups writable", OK, f"made and removed a probe group in each of {good} trees")


def check_overlay(filesystems: str = "/proc/filesystems", sc=None, workdir: str | None = None,
                  probe: bool = True, lessons: Sequence = ()) -> Check:
    """overlayfs listed, and a real mount with a whiteout and an opaque dir, in a forked child.

    Only a warning: without overlayfs minictr copies layers. The lessons that
    mount it themselves (their records' ``filesystems``) lose that part.
    """
    users = lessons_where(lessons, lambda lesson: "overlay" in lesson.filesystems)
    try:
        with open(filesystems) as f:
            listed = any(line.split()[-1:] == ["overlay"] for line in f)
    except OSError:
        listed = False
    fix = "modprobe overlay (or use the lab VM); until then minictr copies layers (MINICTR_NO_OVERLAY=1)"
    if not probe:
        return Check("overlayfs", OK if listed else WARN,
                     "listed in " + filesystems if listed else f"not in {filesystems}", "" if listed else fix,
                     () if listed else users)
    if sc is None:
        from . import syscalls
        sc = syscalls.linux()
    top = tempfile.mkdtemp(prefix="minictr-doctor-", dir=workdir)
    try:
        ok, msg = in_child(_overlay_body(top, sc))
    finally:
        import shutil
        shutil.rmtree(top, ignore_errors=True)
    if ok:
        return Check("overlayfs", OK, msg)
    note = "" if listed else f" (not in {filesystems})"
    if _EPERM in msg:  # mknod, trusted.* xattrs and mount need root
        fix = PRIVILEGED_FIX + "; until then minictr copies layers"
    return Check("overlayfs", WARN, f"test mount failed: {msg}{note}", fix, users)


def _overlay_body(top: str, sc) -> Callable[[], str]:
    def body() -> str:
        import stat

        from .syscalls import CloneFlags, MountFlags

        lower, upper, work, merged = (os.path.join(top, n) for n in ("lower", "upper", "work", "merged"))
        for d in (lower, upper, work, merged, os.path.join(lower, "opaque")):
            os.makedirs(d, exist_ok=True)
        base = os.path.join(top, "base")
        os.makedirs(os.path.join(base, "opaque"))
        for p in ("gone", "opaque/hidden"):
            with open(os.path.join(base, p), "w") as f:
                f.write("lower\n")
        # The whiteout and opaque forms that tarball.extract(whiteouts="overlay") writes.
        os.mknod(os.path.join(lower, "gone"), stat.S_IFCHR | 0o600, os.makedev(0, 0))
        os.setxattr(os.path.join(lower, "opaque"), "trusted.overlay.opaque", b"y")
        sc.unshare(CloneFlags.NEWNS)
        sc.mount(None, "/", None, MountFlags.REC | MountFlags.PRIVATE)
        sc.mount("overlay", merged, "overlay", 0,
                 f"lowerdir={lower}:{base},upperdir={upper},workdir={work}")
        with open(os.path.join(merged, "written"), "w") as f:
            f.write("x")
        if not os.path.exists(os.path.join(upper, "written")):
            raise RuntimeError("a write did not land in upperdir")
        if os.path.lexists(os.path.join(merged, "gone")):
            raise RuntimeError("a whiteout (char 0:0) did not hide the lower file")
        if os.listdir(os.path.join(merged, "opaque")):
            raise RuntimeError("an opaque dir (trusted.overlay.opaque=y) did not hide the lower files")
        return "mounts, writes to upperdir, honours whiteouts and opaque dirs"
    return body


def check_userns(sysctl: str = "/proc/sys", sc=None, probe: bool = True, lessons: Sequence = ()) -> Check:
    """Whether *unprivileged* users may make user namespaces (rootless, later lessons).

    The sysctls say what is forbidden; the probe (a forked child that drops to
    uid 65534 when we are root, then unshares a user namespace) says it works."""
    def read(rel: str) -> str | None:
        try:
            with open(os.path.join(sysctl, rel)) as f:
                return f.read().strip()
        except OSError:
            return None

    maxns = read("user/max_user_namespaces")
    clone = read("kernel/unprivileged_userns_clone")  # Debian and Ubuntu kernels only
    apparmor = read("kernel/apparmor_restrict_unprivileged_userns")  # Ubuntu 23.10+
    lessons = namespace_lessons(lessons, "user")
    if maxns == "0":
        return Check("unprivileged userns", WARN, "user.max_user_namespaces is 0",
                     "sysctl -w user.max_user_namespaces=15000", lessons)
    if clone == "0":
        return Check("unprivileged userns", WARN, "kernel.unprivileged_userns_clone is 0",
                     "sysctl -w kernel.unprivileged_userns_clone=1", lessons)
    if apparmor == "1":
        return Check("unprivileged userns", WARN, "AppArmor restricts unprivileged user namespaces",
                     "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0", lessons)
    parts = [f"max_user_namespaces={maxns}" if maxns is not None else "no max_user_namespaces"]
    if clone is not None:
        parts.append(f"unprivileged_userns_clone={clone}")
    if probe:
        if sc is None:
            from . import syscalls
            sc = syscalls.linux()
        ok, msg = in_child(_userns_body(sc))
        if not ok:
            return Check("unprivileged userns", WARN, f"sysctls allow it ({', '.join(parts)}) but: {msg}",
                         "check the LSM (AppArmor/SELinux) policy for user namespaces", lessons)
        parts.append(msg)
    return Check("unprivileged userns", OK, "allowed (" + ", ".join(parts) + ")")


def _userns_body(sc) -> Callable[[], str]:
    def body() -> str:
        from .syscalls import CloneFlags

        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        uid = os.getuid()
        sc.unshare(CloneFlags.NEWUSER)
        return f"uid {uid} made one"
    return body


def kernel_version(release: str) -> tuple[int, int]:
    """``6.18.44-fc-v657`` -> (6, 18)."""
    nums = []
    for piece in release.split("-")[0].split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        nums.append(int(digits) if digits else 0)
    return (nums + [0, 0])[0], (nums + [0, 0])[1]


def check_kernel(release: str | None = None, lessons: Sequence = ()) -> Check:
    release = os.uname().release if release is None else release
    v = kernel_version(release)
    if v < (4, 6):
        return Check("kernel", FAIL, f"Linux {release}: older than 4.6 (no cgroup namespaces)",
                     "use a newer kernel, or the lab VM", namespace_lessons(lessons, "cgroup"))
    if v < (5, 6):
        return Check("kernel", WARN, f"Linux {release}: older than 5.6 (no time namespaces)",
                     "use a newer kernel for the later lessons", namespace_lessons(lessons, "time"))
    return Check("kernel", OK, f"Linux {release}")


def check_container(root: str = "/", environ: Mapping[str, str] | None = None,
                    status: Mapping[str, str] | None = None, proc1_cgroup: str = "/proc/1/cgroup",
                    lessons: Sequence = ()) -> Check:
    """Are we inside a container, and is it a privileged one?"""
    environ = os.environ if environ is None else environ
    status = read_status() if status is None else status
    signs = []
    if os.path.exists(os.path.join(root, ".dockerenv")):
        signs.append("/.dockerenv")
    if os.path.exists(os.path.join(root, "run/.containerenv")):
        signs.append("/run/.containerenv (podman)")
    if environ.get("container"):
        signs.append(f"container={environ['container']}")
    for var, what in (("BINDER_SERVICE_HOST", "Binder"), ("BINDER_LAUNCH_HOST", "Binder"),
                      ("JUPYTERHUB_API_URL", "JupyterHub"), ("KUBERNETES_SERVICE_HOST", "Kubernetes")):
        if environ.get(var) and what not in signs:
            signs.append(what)
    try:
        with open(proc1_cgroup) as f:
            text = f.read()
        for word in ("docker", "kubepods", "containerd", "libpod", "lxc"):
            if word in text:
                signs.append(f"{word} in {proc1_cgroup}")
                break
    except OSError:
        pass
    if not signs:
        return Check("container", OK, "no sign of an outer container: bare metal or a VM")
    # The bounding set, not the effective one: it is what even root gets in this
    # container (an ordinary user has an empty CapEff on any host).
    bnd = caps_of(status.get("CapBnd", "0"))
    filtered = status.get("Seccomp") == "2"
    where = ", ".join(signs)
    if "SYS_ADMIN" in bnd and not filtered:
        return Check("container", OK, f"inside a container ({where}), but a privileged one: "
                                      "CAP_SYS_ADMIN in the bounding set and no seccomp filter")
    why = ", ".join(w for w, bad in (("no CAP_SYS_ADMIN even for root", "SYS_ADMIN" not in bnd),
                                     ("a seccomp filter", filtered)) if bad)
    return Check("container", FAIL, f"inside an unprivileged container ({where}): {why}",
                 "Binder and JupyterHub cannot run these lessons; use the lab VM, or docker run "
                 "--privileged --cgroupns=host", root_lessons(lessons))


# --------------------------------------------------------------------------
# All of it.
# --------------------------------------------------------------------------

def check_tools(lessons: Sequence, path: str | None = None) -> Check:
    """Each host command the lessons run (their records' ``tools``), looked up on ``path`` ($PATH)."""
    import shutil

    needed: dict[str, list[str]] = {}
    for lesson in lessons:
        for tool in lesson.tools:
            needed.setdefault(tool, []).append(lesson.number)
    missing = {tool: numbers for tool, numbers in needed.items() if shutil.which(tool, path=path) is None}
    if not missing:
        return Check("tools", OK, f"all {len(needed)} on $PATH: {', '.join(sorted(needed))}")
    detail = "; ".join(f"{tool} (lesson{'s' if len(n) > 1 else ''} {', '.join(sorted(n))})"
                       for tool, n in sorted(missing.items()))
    return Check("tools", FAIL, f"not on $PATH: {detail}",
                 f"`make lab` (as root) installs every lesson's tools; or apt-get install the packages "
                 f"of {' '.join(sorted(missing))}, or use the lab VM",
                 tuple(sorted({n for numbers in missing.values() for n in numbers})))


def _kernel_module(name: str, sys_module: str, modules_dir: str) -> bool:
    """Is ``name`` loaded, built in, or loadable (listed in modules.dep)? True when it cannot be known
    (no /lib/modules for this kernel: a built-in module without parameters has no /sys/module entry)."""
    if os.path.isdir(os.path.join(sys_module, name)) or not os.path.isdir(modules_dir):
        return True
    for listing in ("modules.builtin", "modules.dep"):
        try:
            with open(os.path.join(modules_dir, listing)) as f:
                if f"/{name}.ko" in f.read():
                    return True
        except OSError:
            continue
    return False


def check_network(sysctl: str = "/proc/sys", sys_module: str = "/sys/module", modules_dir: str | None = None,
                  path: str | None = None, probe: bool = True) -> Check:
    """What ``run``'s default bridge network needs (nft, nf_tables, bridge), and what it changes on the host.

    A warning, not a failure: lessons 00-09 need no bridge (``--network none``
    still works without any of it). ``probe`` runs ``nft list tables`` (it only
    reads) to see that nf_tables answers.
    """
    import shutil

    if modules_dir is None:
        modules_dir = f"/lib/modules/{os.uname().release}"
    try:
        with open(os.path.join(sysctl, "net/ipv4/ip_forward")) as f:
            forward = f.read().strip()
    except OSError:
        forward = "?"
    changes = (f"ip_forward is {forward} (minictr sets it to 1 for a bridge network; `minictr network rm "
               "bridge` writes the old value back); its nft table `ip minictr` and bridge minictr0 stay "
               "once made, as docker0 does, until `minictr network rm bridge`")
    missing = []
    nft = shutil.which("nft", path=path)
    if nft is None:
        missing.append("the nft command")
    elif probe:
        import subprocess
        r = subprocess.run([nft, "list", "tables"], capture_output=True, text=True)
        if r.returncode != 0:
            missing.append(f"nf_tables (nft list tables: {(r.stderr.strip().splitlines() or ['failed'])[-1]})")
    if shutil.which("ip", path=path) is None:
        missing.append("the ip command")
    for module in ("nf_tables", "bridge", "veth"):
        if not _kernel_module(module, sys_module, modules_dir):
            missing.append(f"the {module} kernel module")
    if missing:
        return Check("network", WARN, f"no bridge networking: missing {', '.join(missing)}; {changes}",
                     "apt-get install nftables iproute2, and a kernel with nf_tables, bridge and veth; "
                     "meanwhile use `run --network none`")
    return Check("network", OK, f"nft, nf_tables, bridge and veth are there; {changes}")


def run_checks(*, lessons: Sequence = (), probes: bool = True, status_path: str = "/proc/self/status",
               proc: str = "/proc", cgroup_root: str = "/sys/fs/cgroup", sc=None,
               path: str | None = None) -> list[Check]:
    """Every check, in the order the table shows them. ``probes=False`` skips the forks and mounts.

    ``lessons``: the lessons' ``LESSON`` records (``minictr.labs.lessons()``),
    which say what each failure blocks; with none, the tools check is left out.
    ``path`` is the $PATH the tools are looked up on.
    """
    status = read_status(status_path)
    checks = [
        check_root(lessons=lessons),
        check_sys_admin(status, lessons),
        check_capabilities(status, lessons),
        check_seccomp(status, lessons),
        check_no_new_privs(status),
        check_container(status=status, proc1_cgroup=os.path.join(proc, "1/cgroup"), lessons=lessons),
        check_kernel(lessons=lessons),
    ]
    if probes:
        checks += [probe_namespace(kind, sc, proc, lessons) for kind in NAMESPACE_PROBES]
    checks += check_cgroups(cgroup_root, os.path.join(proc, "self/cgroup"), probe=probes, lessons=lessons)
    checks.append(check_overlay(os.path.join(proc, "filesystems"), sc, probe=probes, lessons=lessons))
    checks.append(check_userns(os.path.join(proc, "sys"), sc, probe=probes, lessons=lessons))
    checks.append(check_network(os.path.join(proc, "sys"), path=path, probe=probes))
    if lessons:
        checks.append(check_tools(lessons, path))
    return checks


def all_lessons_can_run(checks: list[Check]) -> bool:
    return not any(c.status == FAIL for c in checks)


def blocked_lessons(checks: list[Check]) -> list[str]:
    return sorted({lesson for c in checks if c.status == FAIL for lesson in c.lessons})


def as_dict(checks: list[Check]) -> dict:
    return {"ok": all_lessons_can_run(checks), "blocked_lessons": blocked_lessons(checks),
            "checks": [asdict(c) | {"lessons": list(c.lessons)} for c in checks]}


def format_table(checks: list[Check]) -> str:
    """The aligned table ``minictr doctor`` prints; a fix line under each problem."""
    w = max(len(c.name) for c in checks)
    lines = [f"{'CHECK':{w}}  {'STATUS':6}  DETAIL"]
    shown: set[str] = set()
    for c in checks:
        lines.append(f"{c.name:{w}}  {c.status:6}  {c.detail}")
        if c.status != OK and c.fix:
            lines.append(f"{'':{w}}  {'':6}  fix: " + ("(as above)" if c.fix in shown else c.fix))
            shown.add(c.fix)
    blocked = blocked_lessons(checks)
    if blocked:
        lines.append(f"\nlessons that cannot run here: {', '.join(blocked)}")
    else:
        warns = sum(c.status == WARN for c in checks)
        lines.append("\nevery lesson can run here" + (f" ({warns} warnings)" if warns else ""))
    return "\n".join(lines)
