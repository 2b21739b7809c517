"""Which cgroup hierarchies does this host have, and where is *this* process in them?

There are three kinds of host (cgroups(7), Documentation/admin-guide/cgroup-v2.rst):

- **v2** (most laptops today): one cgroup2 tree mounted at the root,
  ``/sys/fs/cgroup/cgroup.controllers`` lists its controllers, and
  ``/proc/self/cgroup`` has a single line ``0::/some/path``.
- **v1** (older hosts): one tree per controller (or per group of co-mounted
  controllers), ``/sys/fs/cgroup/memory``, ``/sys/fs/cgroup/cpu,cpuacct`` ...,
  and one ``/proc/self/cgroup`` line each: ``4:memory:/some/path``.
- **hybrid** (this CI machine, many workshop VMs): v1 trees, plus a cgroup2
  tree at ``/sys/fs/cgroup/unified`` that holds only the controllers no v1
  tree took (here: hugetlb). A controller is bound to one tree at most, so for
  each controller we use the tree where it is actually enabled.

The path of this process is read *per hierarchy*: on this machine the memory
controller's path is ``/process_api/<hash>`` while the others are ``/``.

Everything takes the cgroupfs root and the ``/proc/self/cgroup`` path as
parameters, so the unit tests describe a host as a small directory tree.
"""

from __future__ import annotations

import os

from ..record import Record

#: Controllers a container joins on v1 (one group per hierarchy). freezer is
#: there so that killing a fork bomb can freeze it first; devices holds the
#: container's device allow list (minictr.security.devices).
V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "cpuset", "freezer", "devices")
#: Controllers minictr enables on v2 when the parent offers them.
V2_CONTROLLERS = ("cpu", "cpuset", "memory", "pids")


class Hierarchy(Record):
    """One mounted cgroup tree.

    ``mount`` is where it is mounted, ``own_path`` where this process sits in
    it (from /proc/self/cgroup, always starting with ``/``), ``controllers``
    the controllers it carries (v1: the co-mounted ones; v2: cgroup.controllers
    of its root).
    """

    version: int
    mount: str
    own_path: str
    controllers: tuple

    @property
    def own_dir(self) -> str:
        """The directory of this process's own group in this tree."""
        return os.path.normpath(os.path.join(self.mount, self.own_path.lstrip("/")))


class Layout:
    """What ``detect()`` found. ``kind`` is "v2", "v1", "hybrid" or "none".

    (A plain class and a ``Record`` here, not dataclasses: this module is on
    the ``minictr run`` path; see record.py.)
    """

    def __init__(self, kind: str, root: str, hierarchies: tuple = (), controllers: dict | None = None):
        self.kind = kind
        self.root = root
        self.hierarchies = tuple(hierarchies)
        #: controller name -> the hierarchy that carries it
        self.controllers: dict[str, Hierarchy] = dict(controllers or {})

    def __repr__(self) -> str:
        return f"Layout(kind={self.kind!r}, root={self.root!r}, controllers={sorted(self.controllers)})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Layout) and (self.kind, self.root, self.hierarchies, self.controllers) == \
            (other.kind, other.root, other.hierarchies, other.controllers)

    def backend(self, controller: str) -> str | None:
        """``"v1"``, ``"v2"`` or None when the host has no such controller."""
        h = self.controllers.get(controller)
        return None if h is None else f"v{h.version}"

    def path(self, controller: str) -> str | None:
        """Directory of this process's own group for ``controller``."""
        h = self.controllers.get(controller)
        return None if h is None else h.own_dir

    @property
    def unified(self) -> Hierarchy | None:
        """The cgroup2 tree, if there is one (pure v2 or the hybrid's ``unified``)."""
        return next((h for h in self.hierarchies if h.version == 2), None)

    def describe(self) -> str:
        """One line per controller, for ``doctor`` and the lesson."""
        lines = [f"cgroups: {self.kind} (root {self.root})"]
        for name in sorted(self.controllers):
            h = self.controllers[name]
            lines.append(f"  {name:8} v{h.version}  {h.own_dir}")
        return "\n".join(lines)


def parse_proc_cgroup(text: str) -> list[tuple[int, tuple[str, ...], str]]:
    """Lines of /proc/PID/cgroup -> [(hierarchy id, controllers, path)].

    ``0::/x`` is the v2 line (no controllers). ``1:name=systemd:/`` is a named
    v1 tree without controllers; it keeps its ``name=`` entry.
    """
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        hid, ctrls, path = line.split(":", 2)
        out.append((int(hid), tuple(c for c in ctrls.split(",") if c), path or "/"))
    return out


def _is_v2(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "cgroup.controllers"))


def _read_words(path: str) -> tuple[str, ...]:
    try:
        with open(path) as f:
            return tuple(f.read().split())
    except OSError:
        return ()


def _comounts(root: str, ctrls: tuple[str, ...]) -> list[str]:
    """Entries of ``root`` naming the same controllers in another order."""
    if len(ctrls) < 2:
        return []
    try:
        return [n for n in os.listdir(root) if set(n.split(",")) == set(ctrls)]
    except OSError:
        return []


def detect(root: str = "/sys/fs/cgroup", proc_self_cgroup: str = "/proc/self/cgroup") -> Layout:
    """Look at ``root`` and ``proc_self_cgroup`` and say what kind of host this is.

    Never raises for a missing or odd tree: that is ``Layout(kind="none")``,
    and ``create()`` turns it into a clear error when limits were asked for.
    """
    root = os.fspath(root)
    try:
        with open(proc_self_cgroup) as f:
            entries = parse_proc_cgroup(f.read())
    except OSError:
        entries = []
    v2_path = next((p for hid, ctrls, p in entries if hid == 0 and not ctrls), "/")

    if _is_v2(root):  # pure v2: the root itself is a cgroup2 mount
        h = Hierarchy(2, root, v2_path, _read_words(os.path.join(root, "cgroup.controllers")))
        return Layout("v2", root, (h,), {c: h for c in h.controllers})

    hierarchies: list[Hierarchy] = []
    controllers: dict[str, Hierarchy] = {}
    for hid, ctrls, path in entries:
        if hid == 0 or not ctrls or any(c.startswith("name=") for c in ctrls):
            continue  # the v2 line, or a named tree (name=systemd) with no controllers
        # A co-mounted tree is mounted at "cpu,cpuacct" (some distros: "cpuacct,cpu"),
        # usually with "cpu" and "cpuacct" symlinks next to it; accept any of those.
        for candidate in (",".join(ctrls), *ctrls, *_comounts(root, ctrls)):
            mount = os.path.join(root, candidate)
            if os.path.isfile(os.path.join(mount, "cgroup.procs")) and not _is_v2(mount):
                h = Hierarchy(1, mount, path, ctrls)
                hierarchies.append(h)
                controllers.update({c: h for c in ctrls})
                break

    unified_mount = os.path.join(root, "unified")
    if _is_v2(unified_mount):
        offered = _read_words(os.path.join(unified_mount, "cgroup.controllers"))
        h = Hierarchy(2, unified_mount, v2_path, offered)
        hierarchies.append(h)
        for c in offered:
            controllers.setdefault(c, h)  # a controller bound to v1 is never offered by v2 anyway

    if not hierarchies:
        return Layout("none", root)
    kind = "hybrid" if any(h.version == 2 for h in hierarchies) else "v1"
    if kind == "hybrid" and all(h.version == 2 for h in hierarchies):
        kind = "v2"
    return Layout(kind, root, tuple(hierarchies), controllers)
