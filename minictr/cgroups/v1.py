"""A container's group in one cgroup v1 hierarchy (one tree per controller).

On v1 every controller (or set of co-mounted controllers) has its own tree,
so a container is a directory ``<own path>/minictr/<id>`` in *each* of them,
and the process is written into the ``cgroup.procs`` of each one
(Documentation/admin-guide/cgroup-v1/).

Traps this module deals with:

- **cpuset starts empty.** A new cpuset group has empty ``cpuset.cpus`` and
  ``cpuset.mems`` (unless ``cgroup.clone_children`` is set) and refuses tasks
  with ENOSPC; copy them from the parent at every level we create.
- **memory+swap.** ``memory.memsw.limit_in_bytes`` is memory *plus* swap
  (docker's ``--memory-swap`` has the same meaning) and must never be below
  ``memory.limit_in_bytes``; it exists only with swap accounting.
- **OOM.** ``memory.oom_control`` has an ``oom_kill`` counter since Linux
  4.13; before that, ``memory.failcnt`` only tells that the limit was hit.
- **No cgroup.kill.** To kill a fork bomb without racing its forks, freeze
  it (freezer.state FROZEN), SIGKILL every pid, then thaw so they can die.
"""

from __future__ import annotations

import os

from ..config import Resources
from ..errors import ControllerMissing
from .detect import Hierarchy
from .fs import CgroupFS, Group, make_levels, wait_for

SIGKILL = 9
#: v1 has no "max": an unlimited memory limit reads as a huge page-aligned number.
UNLIMITED = 1 << 62


class V1Group(Group):
    """``<own path>/minictr/<id>`` in one v1 hierarchy."""

    version = 1

    JOIN_FILE = "tasks"

    def __init__(self, fs: CgroupFS, hierarchy: Hierarchy, path: str):
        super().__init__(fs, path)
        self.hierarchy = hierarchy
        self.controllers = hierarchy.controllers

    @classmethod
    def create(cls, fs: CgroupFS, h: Hierarchy, container_id: str, at: str = "") -> "V1Group":
        """``<own>/minictr/<id>``, or the group ``at`` (a cgroupsPath) with its missing parents."""
        if at:
            made = make_levels(fs, h.mount, at)
            if "cpuset" in h.controllers:
                for group in made:
                    _inherit_cpuset(fs, group)
            return cls(fs, h, at)
        parent = os.path.join(h.own_dir, "minictr")
        path = os.path.join(parent, container_id)
        for group in (parent, path):
            fs.mkdir(group)
            if "cpuset" in h.controllers:
                _inherit_cpuset(fs, group)
        return cls(fs, h, path)

    def _has(self, controller: str) -> bool:
        return controller in self.controllers

    # -- limits --------------------------------------------------------
    def apply(self, r: Resources) -> None:
        j = os.path.join
        if self._has("memory") and r.memory is not None:
            self.fs.write(j(self.path, "memory.limit_in_bytes"), r.memory)
            memsw = j(self.path, "memory.memsw.limit_in_bytes")
            total = r.memory_swap if r.memory_swap is not None else 2 * r.memory  # docker's default
            if self.fs.exists(memsw):
                # written after memory.limit_in_bytes: the kernel wants memsw >= memory at all times
                self.fs.write(memsw, -1 if total == -1 else total)
            elif r.memory_swap not in (None, -1, r.memory):
                raise ControllerMissing(f"no {memsw}: this kernel does not account swap",
                                        hint="drop --memory-swap, or boot with swapaccount=1")
        if self._has("pids") and r.pids_limit is not None:
            self.fs.write(j(self.path, "pids.max"), r.pids_limit)
        if self._has("cpu") and r.cpus is not None:
            from . import units
            self.fs.write(j(self.path, "cpu.cfs_period_us"), units.CPU_PERIOD_US)
            self.fs.write(j(self.path, "cpu.cfs_quota_us"), units.cpu_quota(r.cpus))
        if self._has("cpu") and r.cpu_shares is not None:
            self.fs.write(j(self.path, "cpu.shares"), r.cpu_shares)
        if self._has("cpuset") and r.cpuset_cpus is not None:
            self.fs.write(j(self.path, "cpuset.cpus"), r.cpuset_cpus)

    # -- tasks: join_file, add, groups and pids come from fs.Group ------

    def kill(self) -> None:
        """Freeze (if this is the freezer tree), SIGKILL every pid, thaw."""
        state = os.path.join(self.path, "freezer.state")
        frozen = self._has("freezer") and self.fs.exists(state)
        if frozen:
            self.fs.write(state, "FROZEN")
        try:
            for pid in self.pids():
                self.fs.signal(pid, SIGKILL)
        finally:
            if frozen:
                self.fs.write(state, "THAWED")

    def freeze(self, frozen: bool) -> bool:
        """Freeze or thaw every task (the freezer tree only): True if this group has a freezer.

        ``freezer.state`` reads FREEZING until every task has stopped (cgroup-v1/freezer-subsystem.rst).
        """
        if not self._has("freezer"):
            return False
        path = os.path.join(self.path, "freezer.state")
        want = "FROZEN" if frozen else "THAWED"
        self.fs.write(path, want)
        wait_for(lambda: self.fs.read(path).strip() == want, path, want)
        return True

    # -- what happened -------------------------------------------------
    def oom_killed(self) -> bool:
        if not self._has("memory"):
            return False
        ctl = self.fs.read_keys(os.path.join(self.path, "memory.oom_control"))
        if "oom_kill" in ctl:
            return ctl["oom_kill"] > 0
        # kernels before 4.13: the best we have is "the limit was hit"
        return (self.fs.read_int(os.path.join(self.path, "memory.failcnt"), 0) or 0) > 0

    def stats(self) -> dict:
        j = os.path.join
        out: dict = {}
        if self._has("cpuacct"):
            out["cpu_usage_ns"] = self.fs.read_int(j(self.path, "cpuacct.usage"), 0)
        if self._has("memory"):
            usage = self.fs.read_int(j(self.path, "memory.usage_in_bytes"), 0) or 0
            inactive = self.fs.read_keys(j(self.path, "memory.stat")).get("total_inactive_file", 0)
            out["memory_usage"] = max(0, usage - inactive)
            limit = self.fs.read_int(j(self.path, "memory.limit_in_bytes"), None)
            out["memory_limit"] = None if limit is None or limit >= UNLIMITED else limit
        if self._has("pids"):
            out["pids"] = self.fs.read_int(j(self.path, "pids.current"), 0)
        return out


def _inherit_cpuset(fs: CgroupFS, group: str) -> None:
    """Copy cpuset.cpus and cpuset.mems from the parent when still empty."""
    parent = os.path.dirname(os.path.normpath(group))
    for name in ("cpuset.cpus", "cpuset.mems"):
        if not fs.read(os.path.join(group, name)).strip():
            fs.write(os.path.join(group, name), fs.read(os.path.join(parent, name)).strip())

