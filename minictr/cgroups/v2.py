"""A container's group in a cgroup v2 tree: one directory for every controller.

The rules that matter (Documentation/admin-guide/cgroup-v2.rst):

- **Controllers are enabled top-down.** A group can use a controller only if
  its parent lists it in ``cgroup.subtree_control``; so for
  ``<base>/minictr/<id>`` we write ``+memory +pids ...`` into the
  ``subtree_control`` of ``<base>`` and of ``<base>/minictr``.
- **No internal processes.** A non-root group that has processes of its own
  cannot enable controllers for its children (the write fails with EBUSY).
  When our own group has processes (a shell's session scope, say), or does
  not offer a controller a limit needs, we put ``minictr/`` higher up: in the
  nearest ancestor without processes that offers them, at worst in the root,
  which is exempt from the rule (docker's cgroupfs driver uses the root too).
- **Files.** ``memory.max``, ``memory.swap.max`` (swap only, not memory+swap as
  on v1), ``pids.max``, ``cpu.max`` ("QUOTA PERIOD"), ``cpu.weight``
  (1..10000), ``cpuset.cpus``; ``memory.events`` counts ``oom_kill``;
  ``cgroup.kill`` (Linux 5.14) kills every process in the group at once.
"""

from __future__ import annotations

import os

from ..config import Resources
from ..errors import ControllerMissing
from . import units
from .detect import V2_CONTROLLERS, Hierarchy
from .fs import CgroupFS, Group, make_levels, wait_for

SIGKILL = 9


def pick_base(fs: CgroupFS, h: Hierarchy, enable: bool, need: frozenset[str] | set[str] = frozenset()) -> str:
    """Where ``minictr/`` goes in this tree.

    Our own group when it can take it; otherwise the nearest ancestor that
    (1) has no processes of its own, since we must enable controllers in it,
    and (2) offers every controller in ``need`` in its cgroup.controllers
    (systemd often delegates only memory and pids to a user's slice). The
    root always qualifies: it is exempt from the rule and offers everything.
    """
    base = os.path.normpath(h.own_dir)
    if not enable:
        return base
    mount = os.path.normpath(h.mount)

    def usable(group: str) -> bool:
        if group != mount and fs.procs(group):
            return False
        try:
            offered = set(fs.read(os.path.join(group, "cgroup.controllers")).split())
        except FileNotFoundError:
            return False
        return set(need) <= offered

    while base != mount and not usable(base):
        base = os.path.dirname(base)
    return base


class V2Group(Group):
    """``<base>/minictr/<id>`` in one cgroup2 tree, with ``controllers`` enabled."""

    version = 2

    def __init__(self, fs: CgroupFS, hierarchy: Hierarchy, path: str, controllers: tuple[str, ...]):
        super().__init__(fs, path)
        self.hierarchy = hierarchy
        self.controllers = controllers

    @classmethod
    def create(cls, fs: CgroupFS, h: Hierarchy, container_id: str, need: set[str],
               want: tuple[str, ...] = V2_CONTROLLERS, at: str = "") -> "V2Group":
        """Make the group and enable the controllers we want that the tree offers.

        ``need`` are controllers the limits cannot do without: ControllerMissing
        if the base group does not offer them. ``at``: the group (a cgroupsPath) instead
        of ``<base>/minictr/<id>``, its missing parents made, each handing the controllers down.
        """
        wanted = [c for c in want if c in h.controllers]
        if at:
            def hand_down(parent: str) -> None:
                offered = set(fs.read(os.path.join(parent, "cgroup.controllers")).split())
                missing = sorted(need - offered)
                if missing:
                    raise ControllerMissing(f"cgroup v2 controller {', '.join(missing)} is not available in {parent}",
                                            hint="enable it in the parent's cgroup.subtree_control")
                _enable(fs, parent, [c for c in wanted if c in offered])

            make_levels(fs, h.mount, at, before=hand_down)
            parent = os.path.dirname(at)
            enabled = tuple(w.lstrip("+") for w in fs.read(os.path.join(parent, "cgroup.subtree_control")).split())
            return cls(fs, h, at, tuple(c for c in wanted if c in enabled))
        base = pick_base(fs, h, enable=bool(wanted), need=need)
        offered = set(fs.read(os.path.join(base, "cgroup.controllers")).split())
        missing = sorted(need - offered)
        if missing:
            raise ControllerMissing(
                f"cgroup v2 controller {', '.join(missing)} is not available in {base}",
                hint="enable it in the parent's cgroup.subtree_control (or, with systemd, Delegate=yes)")
        enable = [c for c in wanted if c in offered]
        parent = os.path.join(base, "minictr")
        path = os.path.join(parent, container_id)
        if enable:
            _enable(fs, base, enable)
        fs.mkdir(parent)
        if enable:
            _enable(fs, parent, enable)
        fs.mkdir(path)
        if enable:
            # Again, now that our group exists: between the two mkdirs another container's
            # destroy may have removed the shared parent and a third create remade it, not yet
            # handing the controllers down. With our group in it the parent cannot go away, and
            # enabling a controller above an existing child is allowed (cgroup-v2.rst,
            # "Enabling and Disabling"): its interface files then appear in our group.
            _enable(fs, parent, enable)
        return cls(fs, h, path, tuple(enable))

    # -- limits --------------------------------------------------------
    def apply(self, r: Resources) -> None:
        j = os.path.join
        has = self.controllers.__contains__  # on hybrid this tree may carry none of them
        if r.memory is not None and has("memory"):
            self.fs.write(j(self.path, "memory.max"), r.memory)
            swap_file = j(self.path, "memory.swap.max")
            # docker's --memory-swap is memory+swap; v2's knob is swap alone.
            if r.memory_swap is None:
                swap = r.memory  # docker's default: as much swap as memory
            elif r.memory_swap == -1:
                swap = "max"
            else:
                swap = r.memory_swap - r.memory
            if self.fs.exists(swap_file):
                self.fs.write(swap_file, swap)
            elif r.memory_swap not in (None, -1, r.memory):
                raise ControllerMissing(f"no {swap_file}: this kernel does not account swap",
                                        hint="drop --memory-swap, or boot with swap accounting")
        if r.pids_limit is not None and has("pids"):
            self.fs.write(j(self.path, "pids.max"), r.pids_limit)
        if r.cpus is not None and has("cpu"):
            self.fs.write(j(self.path, "cpu.max"), f"{units.cpu_quota(r.cpus)} {units.CPU_PERIOD_US}")
        if r.cpu_shares is not None and has("cpu"):
            self.fs.write(j(self.path, "cpu.weight"), units.shares_to_weight(r.cpu_shares))
        if r.cpuset_cpus is not None and has("cpuset"):
            self.fs.write(j(self.path, "cpuset.cpus"), r.cpuset_cpus)

    # -- tasks: join_file, add, groups and pids come from fs.Group ------

    def kill(self) -> None:
        """SIGKILL every process in the group, at once where cgroup.kill exists."""
        kill_file = os.path.join(self.path, "cgroup.kill")
        if self.fs.exists(kill_file):
            self.fs.write(kill_file, 1)
            return
        for pid in self.pids():  # before Linux 5.14: one by one
            self.fs.signal(pid, SIGKILL)

    def freeze(self, frozen: bool) -> bool:
        """Freeze or thaw the group (``cgroup.freeze``, Linux 5.2): True if the file is there.

        Done when ``cgroup.events`` says ``frozen`` 1 (or 0) (cgroup-v2.rst, "Core Interface Files").
        """
        path = os.path.join(self.path, "cgroup.freeze")
        if not self.fs.exists(path):
            return False
        self.fs.write(path, 1 if frozen else 0)
        events = os.path.join(self.path, "cgroup.events")
        wait_for(lambda: self.fs.read_keys(events).get("frozen", int(frozen)) == int(frozen), events,
                  f"frozen {int(frozen)}")
        return True

    # -- what happened -------------------------------------------------
    def oom_killed(self) -> bool:
        events = self.fs.read_keys(os.path.join(self.path, "memory.events"))
        return events.get("oom_kill", 0) > 0

    def stats(self) -> dict:
        j = os.path.join
        out: dict = {}
        cpu = self.fs.read_keys(j(self.path, "cpu.stat"))
        if "usage_usec" in cpu:
            out["cpu_usage_ns"] = cpu["usage_usec"] * 1000
        if "memory" in self.controllers:
            usage = self.fs.read_int(j(self.path, "memory.current"), 0) or 0
            # like docker: page cache that could be dropped at once is not "used"
            inactive = self.fs.read_keys(j(self.path, "memory.stat")).get("inactive_file", 0)
            out["memory_usage"] = max(0, usage - inactive)
            out["memory_limit"] = self.fs.read_int(j(self.path, "memory.max"), None)
        if "pids" in self.controllers:
            out["pids"] = self.fs.read_int(j(self.path, "pids.current"), 0)
        return out


def _enable(fs: CgroupFS, group: str, controllers: list[str]) -> None:
    """Add ``controllers`` to ``group``'s cgroup.subtree_control (only the missing ones)."""
    path = os.path.join(group, "cgroup.subtree_control")
    have = {w.lstrip("+") for w in fs.read(path).split()}
    todo = [c for c in controllers if c not in have]
    if todo:
        # one write for all: "+cpu +memory +pids"
        fs.write(path, " ".join("+" + c for c in todo))
