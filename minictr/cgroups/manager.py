"""One ``CgroupManager`` for a container, whatever the host's cgroup layout.

A manager holds one group per hierarchy it uses: a single v2 group on a pure
v2 host; one v1 group per controller tree on a v1 host; and on a hybrid host
both, each controller being used in the tree where it is enabled. The rest of
minictr only ever sees this class::

    mgr = cgroups.create(container_id, resources)   # <own path>/minictr/<id>
    mgr.join_files()         # the child writes "0" into each, before it unshares its cgroup namespace
    mgr.add(pid)             # or: the parent moves a process in (slower, see process.py)
    ...
    mgr.oom_killed(); mgr.stats()
    mgr.destroy()            # kill leftovers, wait for tasks to drain, rmdir

``open(id)`` finds the groups of a container created by another process
(a CLI that was killed), and ``leftovers()`` lists the containers whose groups
are still there, for ``gc``.
"""

from __future__ import annotations

import errno
import os
import time

from ..config import Resources, is_name
from ..errors import CgroupError, CgroupsUnavailable, ConfigError, ControllerMissing
from .detect import V1_CONTROLLERS, V2_CONTROLLERS, Hierarchy, Layout, detect
from .fs import CgroupFS
from .v1 import V1Group

#: How deep below a mount point ``open``/``leftovers`` look for ``minictr/`` dirs.
SEARCH_DEPTH = 5


def needed_controllers(r: Resources) -> set[str]:
    """The controllers the limits in ``r`` cannot do without."""
    need = set()
    if r.memory is not None or r.memory_swap is not None:
        need.add("memory")
    if r.pids_limit is not None:
        need.add("pids")
    if r.cpus is not None or r.cpu_shares is not None:
        need.add("cpu")
    if r.cpuset_cpus is not None:
        need.add("cpuset")
    return need


def _check_id(container_id: str) -> str:
    if not is_name(container_id or ""):
        raise ConfigError("container id", container_id, "cannot be used as a cgroup name",
                          hint="use letters, digits, '_', '.' and '-'")
    return container_id


class CgroupManager:
    """The groups of one container. ``groups`` is a list of V1Group / V2Group."""

    def __init__(self, container_id: str, layout: Layout, groups: list, fs: CgroupFS,
                 resources: Resources | None = None):
        self.id = container_id
        self.layout = layout
        self.groups = groups
        self.fs = fs
        self.resources = resources

    def __repr__(self) -> str:
        return f"<CgroupManager {self.id[:12]} {self.layout.kind} {len(self.groups)} groups>"

    @property
    def paths(self) -> dict[str, str]:
        """controller -> the container's group directory (the unified tree as "unified")."""
        out = {}
        for g in self.groups:
            for c in g.hierarchy.controllers if g.version == 1 else (g.controllers or ("unified",)):
                out[c] = g.path
        return out

    def join_files(self) -> tuple[str, ...]:
        """The files a process writes "0" into to join every group itself.

        v1: each group's ``tasks`` (moves the writing thread only, without the
        global lock that ``cgroup.procs`` takes; see process.py). v2: ``cgroup.procs``.
        """
        return tuple(g.join_file for g in self.groups)

    def add(self, pid: int) -> None:
        """Move ``pid`` into every group. Call it before the process unshares
        CLONE_NEWCGROUP, so that its cgroup namespace is rooted at our group."""
        for g in self.groups:
            g.add(pid)

    def pids(self) -> list[int]:
        """Every process in the container's groups (each once)."""
        seen: dict[int, None] = {}
        for g in self.groups:
            for p in g.pids():
                seen.setdefault(p)
        return list(seen)

    def kill(self) -> None:
        """SIGKILL everything in the container (cgroup.kill where the host has it)."""
        for g in sorted(self.groups, key=lambda g: -g.version):  # v2 first: cgroup.kill is atomic
            g.kill()

    def freeze(self, frozen: bool = True) -> None:
        """Freeze (``frozen=True``) or thaw every process of the container: ``pause`` and ``resume``.

        With the v1 freezer where the container has one (a hybrid host), else cgroup v2's
        ``cgroup.freeze``. Raises CgroupError when neither is there.
        """
        v1 = [g for g in self.groups if g.version == 1 and "freezer" in g.controllers]
        done = [g.freeze(frozen) for g in (v1 or [g for g in self.groups if g.version == 2])]
        if not any(done):
            raise CgroupError(f"container {self.id} has no freezer cgroup",
                              hint="pause needs the v1 freezer controller or cgroup v2 (Linux 5.2+)")

    def frozen(self) -> bool:
        """Is the container frozen now (``pause``)? Read from the freezer, not remembered."""
        for g in self.groups:
            if g.version == 1 and "freezer" in g.controllers:
                return self.fs.read(os.path.join(g.path, "freezer.state")).strip() != "THAWED"
        for g in self.groups:
            if g.version == 2 and self.fs.exists(os.path.join(g.path, "cgroup.freeze")):
                return self.fs.read(os.path.join(g.path, "cgroup.freeze")).strip() == "1"
        return False

    def oom_killed(self) -> bool:
        """True if the kernel's OOM killer killed a process of this container."""
        return any(g.oom_killed() for g in self.groups if "memory" in g.controllers)

    def stats(self) -> "Stats":
        """One reading of CPU time, memory and pids (see ``minictr.cgroups.stats``)."""
        from .stats import Stats
        merged: dict = {}
        for g in sorted(self.groups, key=lambda g: g.version):  # v1 first: cpuacct beats v2's cpu.stat
            for key, value in g.stats().items():
                merged.setdefault(key, value)
        return Stats(time=time.monotonic(), **merged)

    def destroy(self, timeout: float = 5.0) -> None:
        """Remove the groups: kill what is left, retry while tasks drain, then rmdir.

        Bounded by ``timeout`` seconds; raises CgroupError naming the groups that
        would not go. Safe to call twice.
        """
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            left = self._rmdir_all()
            if not left:
                break
            if time.monotonic() > deadline:
                raise CgroupError(f"cgroup {left[0]} is still busy after {timeout:g}s",
                                  hint="a process in it may be stuck in the kernel; try `minictr rm -f` later")
            if self.pids():
                self.kill()
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        for g in self.groups:  # the shared minictr/ parent goes once no container uses it
            if os.path.basename(os.path.dirname(g.path)) != "minictr":
                continue  # a cgroupsPath's parent is the caller's (podman's libpod_parent): left alone, as runc
            try:
                self.fs.rmdir(os.path.dirname(g.path))
            except OSError:
                pass  # another container's group is still in it (ENOTEMPTY/EBUSY), or gone

    def _rmdir_all(self) -> list[str]:
        """rmdir every group, deepest first. Returns the ones still there.

        A group the container made no groups in goes with one rmdir; only when
        that fails do we walk its subtree (a listing of cgroupfs directories
        costs more than the rmdir itself).
        """
        left = []
        for g in self.groups:
            if self._rmdir(g.path, left, walk=False):
                continue
            for path in g.groups():
                self._rmdir(path, left, walk=True)
        return left

    def _rmdir(self, path: str, left: list[str], walk: bool) -> bool:
        try:
            self.fs.rmdir(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            if e.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                raise CgroupError(f"cannot remove cgroup {path}: {os.strerror(e.errno)}") from None
            if walk:
                left.append(path)
            return False
        return True


def _uses(h: Hierarchy) -> bool:
    """Might a container have a group in this tree? (Where ``open`` and ``leftovers`` look.)"""
    if h.version == 2:
        return True
    return any(c in V1_CONTROLLERS for c in h.controllers)


def _joins(h: Hierarchy, layout: Layout) -> bool:
    """Does a new container get a group in this tree?

    Every v1 tree of a controller we use, and the v2 tree on a pure v2 host.
    On a hybrid host the v2 tree ("unified") usually holds none of our
    controllers (here: only hugetlb), and joining it would cost the
    container's start an RCU grace period (a v2 group can only be joined
    through cgroup.procs; see process.py), so it is joined only when one of
    our controllers lives there.
    """
    if h.version == 1:
        return _uses(h)
    return layout.kind == "v2" or any(layout.controllers.get(c) is h for c in V2_CONTROLLERS)


def create(container_id: str, resources: Resources = Resources(), *, root: str = "/sys/fs/cgroup",
           proc_self_cgroup: str = "/proc/self/cgroup", fs: CgroupFS | None = None,
           path: str = "") -> CgroupManager:
    """Make ``<own path>/minictr/<id>`` in every tree we use and write the limits.

    ``path`` (config.json's ``linux.cgroupsPath``, as runc reads it for cgroupfs) puts the
    group elsewhere: an absolute path is from each tree's root, a relative one from our own
    group (``/libpod_parent/libpod-<id>`` is podman's).

    Raises ControllerMissing when a limit needs a controller the host lacks,
    CgroupsUnavailable when there are no cgroups at all and limits were asked
    for, CgroupError for a write the kernel refused. Leaves nothing behind
    when it fails.
    """
    _check_id(container_id)
    if path:
        _check_path(path)
    fs = fs or CgroupFS()
    layout = detect(root, proc_self_cgroup)
    need = needed_controllers(resources)
    if layout.kind == "none":
        if need:
            raise CgroupsUnavailable(f"no cgroup hierarchy found under {root}",
                                     hint="mount cgroupfs, or run without resource limits")
        return CgroupManager(container_id, layout, [], fs, resources)
    missing = sorted(c for c in need if c not in layout.controllers)
    if missing:
        raise ControllerMissing(f"this host has no {', '.join(missing)} cgroup controller",
                                hint="drop that limit, or see `minictr doctor`")
    mgr = CgroupManager(container_id, layout, [], fs, resources)
    try:
        for h in layout.hierarchies:
            if not _joins(h, layout):
                continue
            at = _at(h, path) if path else ""
            if h.version == 1:
                mgr.groups.append(_retry_vanished(lambda: V1Group.create(fs, h, container_id, at=at)))
            else:
                # on hybrid, only the controllers actually bound to this tree (often none)
                want = tuple(c for c in V2_CONTROLLERS if layout.controllers.get(c) is h)
                mine = {c for c in need if c in want}
                from .v2 import V2Group  # (not imported on a v1 host)
                mgr.groups.append(_retry_vanished(lambda: V2Group.create(fs, h, container_id, mine, want, at=at)))
        for g in mgr.groups:
            g.apply(resources)
    except BaseException:
        try:
            mgr.destroy(timeout=1.0)
        except CgroupError:
            pass
        raise
    return mgr


def _check_path(path: str) -> None:
    parts = path.split("/")
    if ".." in parts or "." in parts or "\0" in path or not path.strip("/"):
        raise ConfigError("linux.cgroupsPath", path, "must name a group below a tree's root, without . or ..",
                          hint='e.g. "/mybox" or "/libpod_parent/libpod-ID"')


def _at(h: Hierarchy, path: str) -> str:
    """Where ``path`` (cgroupsPath) is in tree ``h``: from its root if absolute, else from our group."""
    base = h.mount if path.startswith("/") else h.own_dir
    return os.path.normpath(os.path.join(base, path.strip("/")))


#: errnos meaning "the group is gone or going": ENOENT once removed, ENODEV while the kernel tears it down
_VANISHED = (errno.ENOENT, errno.ENODEV)


def _retry_vanished(make, attempts: int = 8):
    """Run ``make`` again if the shared ``minictr/`` dir vanished under it: another
    container's destroy() removed it, empty, between our mkdir and our next step."""
    for i in range(attempts):
        try:
            return make()
        except (OSError, CgroupError) as e:  # CgroupError carries the write's errno
            if getattr(e, "errno", None) not in _VANISHED or i == attempts - 1:
                raise
            time.sleep(0.001 * (i + 1))


def _candidate_dirs(fs: CgroupFS, h: Hierarchy, layout: Layout):
    """``minictr/`` dirs in a tree: the one under our own base first, then (lazily,
    only if the caller keeps asking) any found by a walk a few levels deep."""
    enable = h.version == 2 and any(layout.controllers.get(c) is h for c in V2_CONTROLLERS)
    if h.version == 2:
        from .v2 import pick_base
        own = os.path.join(pick_base(fs, h, enable), "minictr")
    else:
        own = os.path.join(h.own_dir, "minictr")
    if fs.exists(own):
        yield own
    level = [h.mount]
    for _ in range(SEARCH_DEPTH):
        nxt = []
        for d in level:
            for name in fs.listdir(d):
                sub = os.path.join(d, name)
                if name != "minictr":
                    nxt.append(sub)
                elif os.path.normpath(sub) != os.path.normpath(own):
                    yield sub
        level = nxt


def _groups_for(fs: CgroupFS, layout: Layout, container_id: str, known=()) -> list:
    groups = []
    for h in layout.hierarchies:
        if not _uses(h):
            continue
        # paths recorded when the groups were made (all of them): no search (see open)
        here = [p for p in known if p.startswith(h.mount.rstrip("/") + "/")]
        paths = here if known else (os.path.join(d, container_id) for d in _candidate_dirs(fs, h, layout))
        for path in paths:
            parent = os.path.dirname(path)
            if fs.exists(path):
                if h.version == 1:
                    groups.append(V1Group(fs, h, path))
                else:
                    enabled = tuple(fs.read(os.path.join(parent, "cgroup.subtree_control")).split())
                    from .v2 import V2Group
                    groups.append(V2Group(fs, h, path, tuple(c.lstrip("+") for c in enabled)))
                break
    return groups


def open(container_id: str, *, root: str = "/sys/fs/cgroup", proc_self_cgroup: str = "/proc/self/cgroup",
         fs: CgroupFS | None = None, known=()) -> CgroupManager | None:
    """The manager of an existing container's groups, or None if it has none.

    Works from any process: it looks under our own path first, then walks each
    tree (a few levels deep) for ``minictr/<id>``, since the process that made
    the groups may have sat elsewhere. ``known``: every group dir (``mgr.paths``' values)
    recorded when they were made; then no tree is searched (the OCI runtime's later calls
    come from other processes, in other cgroups, than its ``create``).
    """
    _check_id(container_id)
    fs = fs or CgroupFS()
    layout = detect(root, proc_self_cgroup)
    groups = _groups_for(fs, layout, container_id, known)
    return CgroupManager(container_id, layout, groups, fs) if groups else None


def leftovers(*, root: str = "/sys/fs/cgroup", proc_self_cgroup: str = "/proc/self/cgroup",
              fs: CgroupFS | None = None, include_running: bool = False) -> list[str]:
    """Ids of containers whose groups still exist.

    By default only those with no process left: their groups can be removed
    without harming anyone (another minictr, or another test, may be running
    containers right now). ``include_running=True`` lists them all.
    """
    fs = fs or CgroupFS()
    layout = detect(root, proc_self_cgroup)
    ids: dict[str, None] = {}
    for h in layout.hierarchies:
        if not _uses(h):
            continue
        for parent in _candidate_dirs(fs, h, layout):
            for name in fs.listdir(parent):
                if is_name(name):
                    ids.setdefault(name)
    if include_running:
        return sorted(ids)
    out = []
    for cid in ids:
        groups = _groups_for(fs, layout, cid)
        if not any(g.pids() for g in groups):
            out.append(cid)
    return sorted(out)
