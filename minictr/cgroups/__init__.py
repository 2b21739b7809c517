"""L1: cgroups, the "how much" half of a container (namespaces are the "what you see").

A cgroup is a directory in a cgroup filesystem; the processes listed in its
``cgroup.procs`` share the limits written in its other files. minictr puts each
container in ``<own path>/minictr/<id>`` and works on all three kinds of host:
pure cgroup v2, pure v1, and the hybrid of this CI machine.

=================  ============================================================
module             job
=================  ============================================================
detect.py          which trees exist, which controller lives where, our own paths
v2.py / v1.py      one container group in a v2 tree / in a v1 tree
manager.py         ``CgroupManager``: create, add, oom_killed, stats, destroy;
                   ``open`` and ``leftovers`` for groups made by another process
units.py           docker's units (``32m``, ``0-1``) -> the kernel's numbers
stats.py           ``Stats``, CPU % and ``sample()`` for the lesson's gauge
fs.py fake.py      cgroupfs reads/writes, and a fake on a tmp tree for tests
=================  ============================================================

Man pages and specs: cgroups(7), cgroup_namespaces(7), the kernel's
Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/, and the OCI runtime
spec's config-linux.md ("Control groups") for how runc and crun do the same.
"""

from .detect import Hierarchy, Layout, detect
from .manager import CgroupManager, create, leftovers, needed_controllers, open


def __getattr__(name: str):
    """``cgroups.Stats``, ``sample``, the percentages and the units: imported on first use
    (PEP 562), as ``run`` without limits needs none of them."""
    if name in ("Stats", "cpu_percent", "memory_percent", "sample"):
        from . import stats
        return getattr(stats, name)
    if name in ("format_bytes", "parse_bytes"):
        from . import units
        return getattr(units, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "Hierarchy", "Layout", "detect", "CgroupManager", "create", "open", "leftovers",
    "needed_controllers", "Stats", "cpu_percent", "memory_percent", "sample", "format_bytes",
    "parse_bytes",
]
