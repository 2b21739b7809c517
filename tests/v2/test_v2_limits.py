"""Limits on a pure cgroup v2 host, through the minictr command: the files v2 has, where
the group goes, and OOM as 137 (Documentation/admin-guide/cgroup-v2.rst, cgroups(7))."""

import json
import os

from patience import HANG_S
from v2help import CGROUP_ROOT, group_of, read


def test_this_host_is_pure_v2(v2):
    assert v2.kind == "v2"
    assert [h.version for h in v2.hierarchies] == [2]
    with open("/proc/self/cgroup") as f:
        assert f.read().startswith("0::/")
    assert {"memory", "pids", "cpu"} <= set(v2.controllers)


def test_limits_are_written_in_the_containers_v2_group(v2, mc, rootfs_dir):
    p = mc.popen("run", "--name", "limited", "--memory", "32m", "--pids-limit", "20", "--cpus", "0.5",
                 rootfs_dir, "sleep", "60")
    try:
        st = mc.running_state("limited", where=lambda st: st.get("pid"))
        group = group_of(st["pid"])
        assert group.endswith("/minictr/" + st["id"]), group
        assert os.path.isfile(os.path.join(CGROUP_ROOT, group.lstrip("/"), "cgroup.controllers"))
        assert read(group, "memory.max") == str(32 << 20)
        assert read(group, "pids.max") == "20"
        assert read(group, "cpu.max") == "50000 100000"
        assert set(read(group, "cgroup.controllers").split()) >= {"memory", "pids", "cpu"}
        # no internal processes: the container's parent group, minictr/, holds none itself
        parent = os.path.dirname(group)
        assert read(parent, "cgroup.procs") == ""
        # and the limit is the kernel's, not a number in a file: memory.events counts nothing yet
        assert "oom_kill 0" in read(group, "memory.events").splitlines()
    finally:
        mc("rm", "-f", "limited")
        p.wait(timeout=HANG_S)
    assert not os.path.exists(os.path.join(CGROUP_ROOT, group.lstrip("/"))), "group left behind"


def test_oom_gives_137_and_the_message_on_v2(v2, mc, rootfs_dir):
    r = mc("run", "--name", "hog", "--memory", "32m", rootfs_dir, "dd", "if=/dev/zero", "of=/dev/null",
           "bs=100M", "count=1")
    assert r.returncode == 137, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "container hog was killed: out of memory (limit 32MiB)"
    (cid,) = mc.states()
    with open(mc.tmp / "run" / cid / "state.json") as f:
        assert json.load(f)["oom_killed"] is True
    assert mc("rm", "hog").returncode == 0


def test_the_container_sees_its_group_as_root(v2, mc, rootfs_dir):
    r = mc("run", "--rm", "--memory", "32m", rootfs_dir, "sh", "-c",
           "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["0::/", str(32 << 20)]

