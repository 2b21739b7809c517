"""Run a program in a leaf of its own inside a delegated cgroup: systemd's DelegateSubgroup=, by hand.

SystemdSpawner starts each participant's server in a unit with ``Delegate=yes``:
the user owns the unit's cgroup v2 group. But the server (and every kernel it
starts) is *in* that group, and cgroup v2's no-internal-process rule says a group
with processes of its own cannot hand controllers to children: minictr could
make no limited group for a container there, and refuses limit flags with that
reason. systemd 254 added ``DelegateSubgroup=`` to start the unit's process one
level down; Debian 12 has systemd 252. So the spawner's command is::

    python workshop/subgroup.py jupyterhub-singleuser ...

which moves itself into ``<unit's group>/server`` and then execs the server. Its
children inherit the leaf; the unit's own group is left empty, and minictr puts
containers' groups beside the leaf (``<unit's group>/minictr/<id>``).

Where the group is not ours (no delegation, cgroup v1, not systemd) it execs the
program unchanged: limits are then refused by minictr with their reason.

Man pages: cgroups(7); systemd.resource-control(5) (Delegate=, DelegateSubgroup=);
Documentation/admin-guide/cgroup-v2.rst ("No Internal Process Constraint", "Delegation").
"""

from __future__ import annotations

import os
import sys

LEAF = "server"


def own_group(root: str = "/sys/fs/cgroup", proc_self_cgroup: str = "/proc/self/cgroup") -> str | None:
    """This process's cgroup v2 directory, or None on a host without a pure v2 line for it."""
    try:
        with open(proc_self_cgroup) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    if len(lines) != 1 or not lines[0].startswith("0::"):
        return None   # cgroup v1 or hybrid: no delegation to use
    return os.path.join(root, lines[0][3:].lstrip("/"))


def move_into_leaf(group: str, pid: int, uid: int) -> str | None:
    """Move ``pid`` into ``group/LEAF`` when ``group`` is delegated to ``uid``; return the leaf, or None."""
    try:
        if os.stat(os.path.join(group, "cgroup.procs")).st_uid != uid:
            return None   # not delegated to us: nothing we may change
    except OSError:
        return None
    leaf = os.path.join(group, LEAF)
    os.makedirs(leaf, exist_ok=True)
    # Why a write to the leaf's cgroup.procs moves us: in a delegated subtree the user may move
    # their own processes between groups whose common ancestor's cgroup.procs they own (the unit's).
    with open(os.path.join(leaf, "cgroup.procs"), "w") as f:
        f.write(str(pid))
    return leaf


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: {os.path.basename(sys.argv[0])} PROGRAM [ARG...]\n\n"
              "Run PROGRAM in a leaf group of its own inside this unit's delegated cgroup v2 group,\n"
              "so the group itself holds no process and can have limited children (minictr's).")
        sys.exit(0 if argv else 2)
    group = own_group()
    if group is not None:
        try:
            move_into_leaf(group, os.getpid(), os.geteuid())
        except OSError as e:   # a refusal here only costs the limits, never the server
            print(f"subgroup: staying in {group}: {e.strerror}", file=sys.stderr)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
