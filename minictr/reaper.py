"""L2: collect what dead processes left: orphaned containers and the leftovers of killed starts.

Run by ``ps -a``, ``rm`` and ``image prune`` (``container.gc``). Two kinds:

- **orphans**: a container whose init and supervisor (the ``run`` CLI or its
  small supervisor) are both dead. Its cgroup is removed and it is marked
  stopped (137 if it ran, 125 if it never did); an ``--rm`` one is removed.
  A start killed at any moment after its first step is one of these: the
  very first thing ``prepare`` does is save a "creating" state naming its
  process (PID and start time) as the supervisor.
- **leftovers without a state**: state dirs no container owns
  (``state.leftover_dirs``: a creator killed during its first save, a removal
  killed half-way) and storage dirs (``$MINICTR_ROOT/containers/<id>``) whose
  state dir (named in their ``.state`` file, whichever runtime dir it is in)
  is gone. The storage dir is made only after the state exists, and removed
  before it (``prepare``, ``remove_leftovers``), so one without
  the other is a leftover.

Man pages: proc(5) (/proc/PID/stat field 22, the start time).
"""

from __future__ import annotations

import os
import time

from . import state
from .fsutil import remove_tree


def _store_root() -> str:
    from .image.quick import store_root
    return store_root()


def destroy_cgroup(container_id: str) -> None:
    from . import cgroups
    mgr = cgroups.open(container_id)
    if mgr is not None:
        mgr.destroy()


def network_down(st: state.State) -> None:
    """Undo the container's network (ports, veth, address; the bridge with its last user). Idempotent."""
    if st.network and not st.network.get("down") and st.network.get("network") == "slirp4netns":
        from .network import slirp
        slirp.stop(st.network)
    elif st.network and not st.network.get("down") and st.network.get("network") not in ("none", "host"):
        from .network import attach
        attach.detach(st.network, st.id)


def remove_leftovers(st: state.State, cgroup_gone: bool = False) -> None:
    """Remove a finished container's cgroup, storage dir and state, in that order."""
    # cgroup_gone: this process destroyed the cgroup itself, so there is no
    # need to search the cgroup trees for it (a walk of every hierarchy).
    if not cgroup_gone:
        destroy_cgroup(st.id)
    network_down(st)
    if st.bundle:
        remove_tree(st.bundle, ignore_errors=True)
        uid_map = (st.config or {}).get("uid_map")
        if uid_map and os.path.lexists(st.bundle) and os.geteuid() != 0:
            # Rootless: files made inside as a subordinate id are not the user's to delete
            # here; inside a user namespace with the same maps they are (userns.remove_inside).
            from .userns import remove_inside
            remove_inside(st.bundle, tuple(map(tuple, uid_map)), tuple(map(tuple, st.config.get("gid_map") or ())))
    st.remove()


def gc() -> list[str]:
    """Finish containers whose supervisor died (a SIGKILLed CLI): returns their ids.

    A container is orphaned when neither its init nor the process that
    supervised it is alive. Its cgroup is removed and it is marked stopped;
    an ``--rm`` container is removed entirely.
    """
    done = gc_leftovers()
    for st in state.list_states():
        if st.status == "stopped" or st.is_alive():
            continue
        sup_alive = state.process_start(st.supervisor_pid) == st.supervisor_start if st.supervisor_pid else False
        if sup_alive:
            continue
        from . import cgroups
        mgr = cgroups.open(st.id)
        if mgr is not None:
            st.oom_killed = st.oom_killed or mgr.oom_killed()
            mgr.destroy()
        if st.auto_remove:
            remove_leftovers(st)
        else:
            network_down(st)
            st.ports = []
            st.status, st.finished = "stopped", st.finished or time.time()
            if st.exit_code is None:
                st.exit_code = 137 if st.pid else 125
            st.save()
        done.append(st.id)
    _collect_addresses()
    return done


def _collect_addresses() -> None:
    """Free the network addresses of containers whose state is gone (removed by hand, or a crash)."""
    from .network.networks import networks_dir
    if os.path.isdir(networks_dir()):
        from .network import attach
        attach.collect({s.id for s in state.list_states()})


def gc_leftovers() -> list[str]:
    """Remove what killed starts left without a state: returns the container ids.

    State dirs no container owns, and storage dirs whose state is gone (see above).
    """
    done = []
    for cid, path in state.leftover_dirs():
        if state.is_id_like(cid):
            destroy_cgroup(cid)
        remove_tree(path, ignore_errors=True)
        done.append(cid)
    base = os.path.join(_store_root(), "containers")
    try:
        names = os.listdir(base)
    except OSError:
        names = []
    for name in names:
        path = os.path.join(base, name)
        if name.startswith(".new-"):  # a storage dir being made: its maker's owner tag says if it lives
            cid, _, owner = name[5:].partition("-")
            pid, _, start = owner.partition(".")
            if pid.isdigit() and start.isdigit() and state.process_start(int(pid)) == int(start):
                continue
        else:
            cid = name
            try:
                with open(os.path.join(path, ".state")) as f:
                    state_dir = f.read()
            except OSError:
                continue  # made by an older minictr: whose it is cannot be told
            if os.path.isdir(state_dir) or _being_made(state_dir):
                continue
        remove_tree(path, ignore_errors=True)
        if cid not in done:
            done.append(cid)
    return done


def _being_made(state_dir: str) -> bool:
    """Is a ``.new-<id>-...`` of this state dir there (its first save, in progress)?"""
    parent, cid = os.path.split(state_dir)
    try:
        return any(n.startswith(f".new-{cid}-") for n in os.listdir(parent))
    except OSError:
        return False
