"""The fake cgroupfs follows the kernel's cgroup v2 rules (cgroup-v2.rst), not stricter ones.

Each test is a sequence of writes the kernel accepts or refuses; the fake must agree.
"""

from __future__ import annotations

import errno
import os

import pytest

from minictr.cgroups import fake
from minictr.errors import CgroupError


def read(path):
    with open(path) as f:
        return f.read().split()


@pytest.fixture
def lab(tmp_path):
    root, _proc, fs = fake.build_v2(str(tmp_path), own_path="/lab", enabled_down=True)
    return os.path.join(root, "lab"), fs


def _errno(e: CgroupError) -> int:
    return getattr(e.__cause__, "errno", None) or getattr(e, "errno", None)


def test_enabling_a_controller_after_the_child_exists_creates_its_files(lab):
    parent, fs = lab
    child = os.path.join(parent, "c")
    fs.mkdir(child)
    assert not os.path.exists(os.path.join(child, "memory.max"))
    fs.write(os.path.join(parent, "cgroup.subtree_control"), "+memory")   # the kernel accepts this
    assert read(os.path.join(child, "cgroup.controllers")) == ["memory"]
    fs.write(os.path.join(child, "memory.max"), 1 << 25)
    fs.write(os.path.join(child, "cgroup.procs"), 4242)
    assert fs.procs(child) == [4242]


def test_disabling_removes_the_files_unless_a_child_hands_it_down(lab):
    parent, fs = lab
    child, grandchild = os.path.join(parent, "c"), os.path.join(parent, "c", "g")
    fs.write(os.path.join(parent, "cgroup.subtree_control"), "+memory +pids")
    fs.mkdir(child)
    fs.write(os.path.join(child, "cgroup.subtree_control"), "+memory")
    fs.mkdir(grandchild)
    with pytest.raises(CgroupError) as e:      # c still enables memory for g: EBUSY
        fs.write(os.path.join(parent, "cgroup.subtree_control"), "-memory")
    assert "busy" in str(e.value).lower() or _errno(e.value) == errno.EBUSY
    fs.write(os.path.join(parent, "cgroup.subtree_control"), "-pids")
    assert not os.path.exists(os.path.join(child, "pids.max"))
    assert read(os.path.join(child, "cgroup.controllers")) == ["memory"]


def test_a_controller_the_parent_does_not_hand_down_is_refused(lab):
    parent, fs = lab
    child = os.path.join(parent, "c")
    fs.mkdir(child)
    with pytest.raises(CgroupError):           # ENOENT: memory is not in c's cgroup.controllers
        fs.write(os.path.join(child, "cgroup.subtree_control"), "+memory")
    fs.write(os.path.join(child, "cgroup.subtree_control"), "-memory")  # disabling what is off: a no-op


def test_no_internal_processes_for_domain_controllers(lab):
    parent, fs = lab
    fs.set_procs(parent, [7])
    with pytest.raises(CgroupError):           # memory is a domain controller: EBUSY beside a process
        fs.write(os.path.join(parent, "cgroup.subtree_control"), "+memory")
    fs.write(os.path.join(parent, "cgroup.subtree_control"), "+pids")  # threaded: allowed (a thread root)
    assert read(os.path.join(parent, "cgroup.subtree_control")) == ["pids"]


def test_no_process_joins_a_group_that_hands_a_domain_controller_down(lab):
    parent, fs = lab
    fs.write(os.path.join(parent, "cgroup.subtree_control"), "+memory")
    with pytest.raises(CgroupError):
        fs.write(os.path.join(parent, "cgroup.procs"), 7)
    fs.write(os.path.join(parent, "cgroup.subtree_control"), "-memory +pids")
    fs.write(os.path.join(parent, "cgroup.procs"), 7)  # only threaded controllers: it may
    assert fs.procs(parent) == [7]


def test_the_root_group_is_exempt(tmp_path):
    root, _proc, fs = fake.build_v2(str(tmp_path))
    fs.set_procs(root, [1])
    fs.write(os.path.join(root, "cgroup.subtree_control"), "+memory")
    assert "memory" in read(os.path.join(root, "cgroup.subtree_control"))
