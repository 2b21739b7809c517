"""Rootless limits: only in a cgroup v2 subtree delegated to the user, on fake trees."""

import os

import pytest

from minictr import cgroups
from minictr.cgroups import delegation
from minictr.cgroups.fake import build_hybrid, build_v2
from minictr.config import Resources
from minictr.errors import CgroupError

USER = 1000
SERVICE = "/user.slice/user-1000.slice/user@1000.service"


def delegate(root: str, group: str, uid: int = USER) -> None:
    """What systemd's Delegate=yes does: the unit's dir and its three files become the user's."""
    d = os.path.join(root, group.lstrip("/"))
    for path in (d, os.path.join(d, "cgroup.procs"), os.path.join(d, "cgroup.subtree_control"),
                 os.path.join(d, "cgroup.threads")):
        if os.path.exists(path):
            os.chown(path, uid, uid)


def test_a_delegated_subtree_is_found_with_its_controllers(tmp_path):
    root, proc, fs = build_v2(str(tmp_path), controllers=("memory", "pids"), own_path=SERVICE + "/app.slice/x.scope")
    for group in (SERVICE, SERVICE + "/app.slice", SERVICE + "/app.slice/x.scope"):
        delegate(root, group)
    found, why = delegation.find(root, proc, euid=USER)
    assert why == "" and found.dir == os.path.join(root, SERVICE.lstrip("/"))
    assert found.controllers == {"memory", "pids"}
    assert delegation.check_limits(Resources(memory=64 << 20, pids_limit=10), root=root,
                                   proc_self_cgroup=proc, euid=USER) is not None


def test_a_controller_that_is_not_delegated_is_refused_by_name(tmp_path):
    root, proc, fs = build_v2(str(tmp_path), controllers=("memory", "pids"), own_path=SERVICE)
    delegate(root, SERVICE)
    with pytest.raises(CgroupError) as info:
        delegation.check_limits(Resources(cpus=0.5), root=root, proc_self_cgroup=proc, euid=USER)
    text = str(info.value)
    assert "--cpus" in text and "the cpu controller is not delegated" in text and "Delegate=" in text


def test_without_delegation_a_limit_is_refused_with_what_to_enable(tmp_path):
    root, proc, fs = build_v2(str(tmp_path), own_path=SERVICE)  # all root's
    with pytest.raises(CgroupError) as info:
        delegation.check_limits(Resources(memory=64 << 20), root=root, proc_self_cgroup=proc, euid=USER)
    text = str(info.value)
    assert "--memory cannot be honoured rootless" in text and "no cgroup v2 subtree is delegated to uid 1000" in text
    assert "Delegate=" in text and "\n" not in text


def test_a_hybrid_host_says_its_v2_tree_holds_too_little(tmp_path):
    root, proc, fs = build_hybrid(str(tmp_path))
    with pytest.raises(CgroupError, match="hybrid: its cgroup v2 tree holds hugetlb") as info:
        delegation.check_limits(Resources(pids_limit=5), root=root, proc_self_cgroup=proc, euid=USER)
    assert "--pids-limit" in str(info.value)


def test_the_real_host_gives_a_delegated_group_or_the_reason_why_not():
    # On this CI host (hybrid, no delegation) it is the reason; on a pure-v2 machine whose systemd
    # delegates to USER, the group: never neither, never both.
    found, why = delegation.find(euid=USER)
    assert (found is None) == bool(why)
    if found is None:
        assert str(USER) in why or "cgroup" in why
    else:
        assert os.stat(found.dir).st_uid == USER


def test_in_a_delegated_subtree_the_container_group_goes_below_it(tmp_path):
    own = SERVICE + "/app.slice/x.scope"
    root, proc, fs = build_v2(str(tmp_path), controllers=("memory", "pids"), own_path=own, own_procs=(77,))
    for group in (SERVICE, SERVICE + "/app.slice", own):
        delegate(root, group)
    mgr = cgroups.create("c" * 64, Resources(memory=64 << 20), root=root, proc_self_cgroup=proc, fs=fs)
    try:
        (group,) = mgr.groups
        assert group.path.startswith(os.path.join(root, SERVICE.lstrip("/")) + "/")
        assert fs.read(os.path.join(group.path, "memory.max")).strip() == str(64 << 20)
    finally:
        mgr.destroy()


def test_a_delegated_group_that_holds_processes_itself_is_refused_with_the_rule(tmp_path):
    # a service with Delegate=yes whose own processes sit in its delegated group (no subgroup of its own)
    service = "/system.slice/jupyter-alice.service"
    root, proc, fs = build_v2(str(tmp_path), controllers=("memory", "pids"), own_path=service, own_procs=(42,))
    delegate(root, service)
    found, why = delegation.find(root, proc, euid=USER)
    assert found is not None and found.base is None
    with pytest.raises(CgroupError) as info:
        delegation.check_limits(Resources(memory=64 << 20), root=root, proc_self_cgroup=proc, euid=USER)
    assert "no-internal-process" in str(info.value) and "DelegateSubgroup=" in str(info.value)


def test_below_a_busy_scope_the_base_is_the_nearest_empty_group_in_the_delegation(tmp_path):
    own = SERVICE + "/app.slice/x.scope"
    root, proc, fs = build_v2(str(tmp_path), controllers=("memory", "pids"), own_path=own, own_procs=(7,))
    for group in (SERVICE, SERVICE + "/app.slice", own):
        delegate(root, group)
    found, _why = delegation.find(root, proc, euid=USER)
    assert found.base == os.path.join(root, (SERVICE + "/app.slice").lstrip("/"))
