"""A pretend cgroupfs in an ordinary directory, for unit tests and the lesson.

``build_v2``, ``build_v1`` and ``build_hybrid`` lay out a host's
``/sys/fs/cgroup`` and its ``/proc/self/cgroup`` under a temporary directory.
``FakeCgroupFS`` then plays the kernel's part on that tree, enough to catch
real mistakes without root:

- ``mkdir`` fills a new group with the interface files of its controllers
  (on v2: the parent's ``cgroup.subtree_control``; cpuset starts empty on v1);
- a write to a missing interface file fails with ENOENT, as on the kernel;
- ``cgroup.subtree_control`` follows cgroup-v2.rst ("Enabling and Disabling",
  "No Internal Process Constraint", "Threads"): it only takes controllers of
  ``cgroup.controllers`` (ENOENT otherwise); enabling one creates its interface
  files in every existing child (and adds it to their ``cgroup.controllers``),
  disabling one removes them, and disabling one that a child still enables in
  its own ``subtree_control`` is EBUSY. A non-root group that has processes
  refuses (EBUSY) a *domain* controller (memory, io ...); a threaded one (cpu,
  cpuset, perf_event, pids) is allowed there while the group can still become
  a thread root (no populated children, no domain controller enabled), as the
  kernel's ``cgroup_vet_subtree_control_enable`` does. ``cgroup.procs``
  refuses the reverse: a process may not join a non-root group whose
  ``subtree_control`` is not empty, unless that group could be a thread root;
- ``rmdir`` fails with EBUSY while the group has processes or children, and
  ``busy_rmdirs`` makes it fail a few more times, like tasks still draining;
- signals and ``cgroup.kill`` never reach real processes: they are recorded
  in ``killed`` and take the pid out of its group.

``fail`` makes it fail on demand, as ``syscalls.FakeSyscalls`` does: it maps an
operation (``mkdir``, ``rmdir``, ``read``, ``write``) to an errno, and every
such call then raises what the real ``CgroupFS`` would (a ``CgroupError`` from
mkdir and write, with a hint; an ``OSError`` from rmdir and read)::

    root, proc, fs = build_v2(tmp)
    fs.fail["mkdir"] = errno.EROFS          # a cgroupfs mounted read-only
"""

from __future__ import annotations

import errno
import os
import shutil

from .fs import CgroupFS

_HUGE = "9223372036854771712"

V1_FILES = {
    "memory": {"memory.limit_in_bytes": _HUGE, "memory.memsw.limit_in_bytes": _HUGE,
               "memory.usage_in_bytes": "0", "memory.failcnt": "0",
               "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
               "memory.stat": "cache 0\nrss 0\ntotal_inactive_file 0\n"},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "cpu": {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1", "cpu.shares": "1024"},
    "cpuacct": {"cpuacct.usage": "0"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": "", "cpuset.effective_cpus": "", "cpuset.effective_mems": ""},
    "freezer": {"freezer.state": "THAWED"},
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm"},
}
V2_FILES = {
    "memory": {"memory.max": "max", "memory.swap.max": "max", "memory.current": "0",
               "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
               "memory.stat": "anon 0\nfile 0\ninactive_file 0\n"},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "cpu": {"cpu.max": "max 100000", "cpu.weight": "100"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": "", "cpuset.cpus.effective": "0-1"},
    "io": {"io.max": ""},
    "hugetlb": {"hugetlb.2MB.max": "max"},
}
#: The threaded controllers of cgroup-v2.rst ("Threads"); every other one is a domain controller.
THREADED = frozenset({"cpu", "cpuset", "perf_event", "pids"})
_V2_ORDER = ("cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc")  # as the kernel lists them
V2_CORE = {"cgroup.procs": "", "cgroup.subtree_control": "", "cgroup.events": "populated 0\nfrozen 0\n",
           "cgroup.freeze": "0", "cgroup.kill": "", "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"}


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


class FakeCgroupFS(CgroupFS):
    """cgroupfs rules on a tmp tree. ``mounts`` maps a mount dir to (version, controllers)."""

    def __init__(self, mounts: dict[str, tuple[int, tuple[str, ...]]], *, busy_rmdirs: int = 0,
                 memsw: bool = True, fail: dict[str, int] | None = None) -> None:
        self.mounts = {os.path.normpath(k): v for k, v in mounts.items()}
        self.fail = dict(fail or {})
        self.busy_rmdirs = busy_rmdirs
        self.memsw = memsw
        self.killed: list[tuple[int, int]] = []
        self.writes: list[tuple[str, str]] = []

    # -- helpers -------------------------------------------------------
    def mount_of(self, path: str) -> str:
        path = os.path.normpath(path)
        best = max((m for m in self.mounts if path == m or path.startswith(m + os.sep)), key=len, default=None)
        if best is None:
            raise AssertionError(f"{path} is not inside a fake cgroup mount")
        return best

    def _populate(self, group: str, is_root: bool = False) -> None:
        mount = self.mount_of(group)
        version, controllers = self.mounts[mount]
        if version == 1:
            _write(os.path.join(group, "cgroup.procs"), "")
            _write(os.path.join(group, "tasks"), "")
            for c in controllers:
                for name, value in V1_FILES.get(c, {}).items():
                    if name.startswith("memory.memsw") and not self.memsw:
                        continue
                    if is_root and c == "cpuset" and name in ("cpuset.cpus", "cpuset.mems"):
                        value = "0-1" if name == "cpuset.cpus" else "0"
                    _write(os.path.join(group, name), value)
            return
        offered = controllers if is_root else self._words(os.path.join(os.path.dirname(group),
                                                                       "cgroup.subtree_control"))
        for name, value in V2_CORE.items():
            _write(os.path.join(group, name), value)
        _write(os.path.join(group, "cgroup.controllers"), " ".join(offered))
        if not is_root:
            for c in offered:
                for name, value in V2_FILES.get(c, {}).items():
                    if name == "memory.swap.max" and not self.memsw:
                        continue
                    _write(os.path.join(group, name), value)

    def _words(self, path: str) -> list[str]:
        try:
            with open(path) as f:
                return f.read().split()
        except FileNotFoundError:
            return []

    def set_procs(self, group: str, pids: list[int]) -> None:
        """Test helper: put processes in a group (the kernel would do it on fork)."""
        _write(os.path.join(group, "cgroup.procs"), "".join(f"{p}\n" for p in pids))

    def set_value(self, path: str, text: str) -> None:
        """Test helper: what the kernel would report (memory.events, usage ...)."""
        _write(path, text)

    def _failure(self, op: str, path: str) -> OSError | None:
        """The error ``fail`` asks ``op`` to raise (OSError picks the subclass for the errno)."""
        if op not in self.fail:
            return None
        return OSError(self.fail[op], os.strerror(self.fail[op]), path)

    # -- the CgroupFS interface ---------------------------------------
    def read(self, path: str) -> str:
        e = self._failure("read", path)
        if e is not None:
            raise e
        return super().read(path)

    def write(self, path: str, value: str | int) -> None:
        e = self._failure("write", path)
        if e is not None:
            raise self._error(path, value, e)
        text = str(value)
        group, name = os.path.split(path)
        if not os.path.isfile(path):
            raise self._error(path, value, OSError(errno.ENOENT, os.strerror(errno.ENOENT)))
        self.writes.append((path, text))
        version = self.mounts[self.mount_of(group)][0]
        is_root = os.path.normpath(group) == self.mount_of(group)
        if name == "cgroup.subtree_control":
            self._subtree_control(group, path, value, text, is_root)
            return
        if name == "cgroup.procs":
            if (version == 2 and not is_root and self._words(os.path.join(group, "cgroup.subtree_control"))
                    and not self._can_be_thread_root(group)):
                raise self._error(path, value, OSError(errno.EBUSY, os.strerror(errno.EBUSY)))
            if version == 1 and "cpuset" in self.mounts[self.mount_of(group)][1]:
                if not self.read(os.path.join(group, "cpuset.cpus")).strip():
                    raise self._error(path, value, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
            pid = int(text)
            self._forget_pid(self.mount_of(group), pid)
            self.set_procs(group, self.procs(group) + [pid])
            return
        if name == "cgroup.freeze":  # the kernel freezes at once here (no task is ever stuck): events say so
            if text.strip() not in ("0", "1"):
                raise self._error(path, value, OSError(errno.EINVAL, os.strerror(errno.EINVAL)))
            _write(path, text.strip() + "\n")
            events = os.path.join(group, "cgroup.events")
            lines = [ln for ln in self.read(events).splitlines() if not ln.startswith("frozen ")]
            _write(events, "\n".join(lines + [f"frozen {text.strip()}"]) + "\n")
            return
        if name == "cgroup.kill" and text.strip() == "1":
            for dirpath, _dirs, _files in os.walk(group):
                for pid in self.procs(dirpath):
                    self.killed.append((pid, 9))
                self.set_procs(dirpath, [])
            return
        _write(path, text + "\n")

    def _subtree_control(self, group: str, path: str, value: str | int, text: str, is_root: bool) -> None:
        """A write to ``group/cgroup.subtree_control``: all tokens are vetted before any takes effect."""
        enabled = set(self._words(path))
        offered = set(self._words(os.path.join(group, "cgroup.controllers")))
        enable, disable = set(), set()
        for token in text.split():
            if token[:1] not in ("+", "-") or not token[1:]:
                raise self._error(path, value, OSError(errno.EINVAL, os.strerror(errno.EINVAL)))
            ctrl = token[1:]
            if ctrl not in _V2_ORDER and ctrl not in THREADED:  # no such controller at all
                raise self._error(path, value, OSError(errno.EINVAL, os.strerror(errno.EINVAL)))
            if token[0] == "+" and ctrl not in offered:  # not handed down by the parent
                raise self._error(path, value, OSError(errno.ENOENT, "no such controller"))
            (enable if token[0] == "+" else disable).add(ctrl)
            (disable if token[0] == "+" else enable).discard(ctrl)
        enable -= enabled
        disable &= enabled
        children = self._children(group)
        for child in children:  # a controller a child hands further down cannot be taken from it
            if disable & set(self._words(os.path.join(child, "cgroup.subtree_control"))):
                raise self._error(path, value, OSError(errno.EBUSY, os.strerror(errno.EBUSY)))
        if enable and not is_root:
            # The no-internal-process rule (cgroup_vet_subtree_control_enable): a domain
            # controller needs a group without processes; threaded controllers may sit
            # beside processes while the group can still become a thread root.
            domain = enable - THREADED
            if self.procs(group) and (domain or not self._can_be_thread_root(group)):
                raise self._error(path, value, OSError(errno.EBUSY, os.strerror(errno.EBUSY)))
        enabled = (enabled | enable) - disable
        _write(path, " ".join(sorted(enabled)))
        for child in children:  # the kernel creates and removes the children's interface files
            self._offer(child, enable, disable)

    def _children(self, group: str) -> list[str]:
        return sorted(os.path.join(group, d) for d in os.listdir(group)
                      if os.path.isdir(os.path.join(group, d)) and not os.path.islink(os.path.join(group, d)))

    def _offer(self, child: str, enable: set[str], disable: set[str]) -> None:
        """``child``'s parent now hands ``enable`` down and no longer ``disable``."""
        controllers_file = os.path.join(child, "cgroup.controllers")
        offered = (set(self._words(controllers_file)) | enable) - disable
        _write(controllers_file, " ".join(c for c in _V2_ORDER if c in offered))
        for ctrl in enable:
            for name, default in V2_FILES.get(ctrl, {}).items():
                if name == "memory.swap.max" and not self.memsw:
                    continue
                if not os.path.exists(os.path.join(child, name)):
                    _write(os.path.join(child, name), default)
        for ctrl in disable:
            for name in V2_FILES.get(ctrl, {}):
                try:
                    os.unlink(os.path.join(child, name))
                except FileNotFoundError:
                    pass

    def _populated(self, group: str) -> bool:
        return any(self.procs(d) for d, _dirs, files in os.walk(group) if "cgroup.procs" in files)

    def _can_be_thread_root(self, group: str) -> bool:
        """cgroup_can_be_thread_root(): no populated child, and no domain controller enabled below."""
        if any(self._populated(c) for c in self._children(group)):
            return False
        return not set(self._words(os.path.join(group, "cgroup.subtree_control"))) - THREADED

    def _forget_pid(self, mount: str, pid: int) -> None:
        for dirpath, _dirs, files in os.walk(mount):
            if "cgroup.procs" in files and pid in self.procs(dirpath):
                self.set_procs(dirpath, [p for p in self.procs(dirpath) if p != pid])

    def signal(self, pid: int, sig: int) -> None:
        self.killed.append((pid, sig))
        if sig == 9:
            for mount in self.mounts:
                self._forget_pid(mount, pid)

    def mkdir(self, path: str) -> bool:
        e = self._failure("mkdir", path)
        if isinstance(e, FileNotFoundError):
            raise e  # as the real one: the parent vanished, the caller retries
        if e is not None:
            raise self._mkdir_error(path, e)
        if not super().mkdir(path):
            return False
        self._populate(path)
        return True

    def rmdir(self, path: str) -> None:
        e = self._failure("rmdir", path)
        if e is not None:
            raise e
        if not os.path.isdir(path):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        if self.listdir(path) or self.procs(path):
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
        if self.busy_rmdirs > 0:
            self.busy_rmdirs -= 1
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
        shutil.rmtree(path)


def _proc_file(base: str, lines: list[str]) -> str:
    path = os.path.join(base, "proc-self-cgroup")
    _write(path, "\n".join(lines) + "\n")
    return path


def _mkgroups(fs: FakeCgroupFS, mount: str, own_path: str) -> str:
    fs._populate(mount, is_root=True)
    current = mount
    for part in [p for p in own_path.split("/") if p]:
        current = os.path.join(current, part)
        fs.mkdir(current)
    return current


def build_v2(base: str, *, controllers=("cpuset", "cpu", "io", "memory", "pids"), own_path: str = "/",
             enabled_down: bool = True, own_procs: tuple[int, ...] = (), **kw) -> tuple[str, str, FakeCgroupFS]:
    """A pure v2 host. Returns (cgroupfs root, proc-self-cgroup path, fs).

    ``enabled_down`` enables every controller in the subtree_control of the
    groups above ``own_path`` (what systemd does); ``own_procs`` puts
    processes in the own group.
    """
    root = os.path.join(base, "sys-fs-cgroup")
    os.makedirs(root)
    fs = FakeCgroupFS({root: (2, tuple(controllers))}, **kw)
    fs._populate(root, is_root=True)
    current = root
    for part in [p for p in own_path.split("/") if p]:
        if enabled_down:
            _write(os.path.join(current, "cgroup.subtree_control"), " ".join(controllers))
        current = os.path.join(current, part)
        fs.mkdir(current)
    if own_procs:
        fs.set_procs(current, list(own_procs))
    return root, _proc_file(base, [f"0::{own_path}"]), fs


def build_v1(base: str, *, mounts=("cpu,cpuacct", "cpuset", "memory", "pids", "freezer", "devices"),
             paths: dict[str, str] | None = None, symlinks: bool = True, unified: tuple[str, ...] | None = None,
             **kw) -> tuple[str, str, FakeCgroupFS]:
    """A v1 host (or hybrid with ``unified=("hugetlb",)``). Returns (root, proc path, fs).

    ``paths`` maps a controller to this process's path in its tree (default ``/``).
    Co-mounted trees get the usual ``cpu`` -> ``cpu,cpuacct`` symlinks.
    """
    paths = paths or {}
    root = os.path.join(base, "sys-fs-cgroup")
    os.makedirs(root)
    fs_mounts: dict[str, tuple[int, tuple[str, ...]]] = {}
    lines = []
    for hid, name in enumerate(mounts, start=1):
        ctrls = tuple(name.split(","))
        mount = os.path.join(root, name)
        os.makedirs(mount)
        fs_mounts[mount] = (1, ctrls)
        if symlinks and len(ctrls) > 1:
            for c in ctrls:
                os.symlink(name, os.path.join(root, c))
        lines.append(f"{hid}:{name}:{paths.get(ctrls[0], '/')}")
    lines.append(f"{len(mounts) + 1}:name=systemd:/")
    os.makedirs(os.path.join(root, "systemd"))
    if unified is not None:
        fs_mounts[os.path.join(root, "unified")] = (2, tuple(unified))
        os.makedirs(os.path.join(root, "unified"))
        lines.append(f"0::{paths.get('unified', '/')}")
    fs = FakeCgroupFS(fs_mounts, **kw)
    for mount, (_v, ctrls) in fs_mounts.items():
        own = paths.get("unified" if mount.endswith("unified") else ctrls[0], "/")
        _mkgroups(fs, mount, own)
    return root, _proc_file(base, list(reversed(lines))), fs


def build_hybrid(base: str, **kw) -> tuple[str, str, FakeCgroupFS]:
    """This CI machine: v1 trees (cpu and cpuacct apart), unified holding only hugetlb,
    and the memory controller's own path not ``/``."""
    kw.setdefault("mounts", ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"))
    kw.setdefault("paths", {"memory": "/process_api/e6327748"})
    kw.setdefault("unified", ("hugetlb",))
    return build_v1(base, **kw)

