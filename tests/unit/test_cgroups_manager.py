"""create / add / oom_killed / stats / destroy / open / leftovers on fake cgroupfs trees."""

import errno
import os

import pytest

from minictr import cgroups
from minictr.cgroups.fake import build_hybrid, build_v1, build_v2
from minictr.config import Resources
from minictr.errors import CgroupError, CgroupsUnavailable, ConfigError, ControllerMissing

CID = "c0ffee" * 10 + "abcd"
LIMITS = Resources(memory=32 << 20, pids_limit=10, cpus=0.5, cpu_shares=512, cpuset_cpus="1")


def read(path):
    with open(path) as f:
        return f.read().strip()


def make(host, *args, **kw):
    root, proc, fs = host
    return cgroups.create(*args, root=root, proc_self_cgroup=proc, fs=fs, **kw)


def all_minictr_dirs(root):
    return [d for d, _dirs, _ in os.walk(root) if os.path.basename(d) == "minictr"]


# -- pure v2 ----------------------------------------------------------------

def test_v2_writes_limits_and_enables_controllers_down_the_path(tmp_path):
    host = build_v2(str(tmp_path), own_path="/work.slice")
    root = host[0]
    mgr = make(host, CID, LIMITS)
    group = os.path.join(root, "work.slice", "minictr", CID)
    assert [g.path for g in mgr.groups] == [group]
    assert read(os.path.join(root, "work.slice", "cgroup.subtree_control")) == "cpu cpuset memory pids"
    assert read(os.path.join(root, "work.slice", "minictr", "cgroup.subtree_control")) == "cpu cpuset memory pids"
    assert read(os.path.join(group, "memory.max")) == str(32 << 20)
    assert read(os.path.join(group, "memory.swap.max")) == str(32 << 20)  # docker: swap = memory by default
    assert read(os.path.join(group, "pids.max")) == "10"
    assert read(os.path.join(group, "cpu.max")) == "50000 100000"
    assert read(os.path.join(group, "cpu.weight")) == "20"
    assert read(os.path.join(group, "cpuset.cpus")) == "1"
    assert mgr.paths["memory"] == group


def test_v2_a_parent_remade_by_another_create_still_hands_the_controllers_down(tmp_path):
    """The race seen on a pure v2 host: between our mkdir of minictr/ and of our group, another
    container's destroy removes minictr/ and a third create remakes it, not yet enabling anything."""
    from minictr.cgroups.fake import FakeCgroupFS

    root, proc, fs = build_v2(str(tmp_path), own_path="/work.slice")
    parent = os.path.join(root, "work.slice", "minictr")

    class Interleaved(FakeCgroupFS):
        def mkdir(self, path):
            if os.path.basename(path) == CID:     # just before our group: the other two act
                fs.rmdir(parent)
                fs.mkdir(parent)                  # remade, with an empty cgroup.subtree_control
            return fs.mkdir(path)

        def __getattr__(self, name):
            return getattr(fs, name)

    racy = Interleaved.__new__(Interleaved)
    racy.__dict__.update(fs.__dict__)
    mgr = cgroups.create(CID, LIMITS, root=root, proc_self_cgroup=proc, fs=racy)
    group = os.path.join(parent, CID)
    assert [g.path for g in mgr.groups] == [group]
    assert read(os.path.join(group, "memory.max")) == str(32 << 20)
    assert read(os.path.join(parent, "cgroup.subtree_control")) == "cpu cpuset memory pids"


def test_v2_memory_swap_is_translated_to_swap_only(tmp_path):
    host = build_v2(str(tmp_path))
    g = make(host, CID, Resources(memory=32 << 20, memory_swap=48 << 20)).groups[0]
    assert read(os.path.join(g.path, "memory.swap.max")) == str(16 << 20)
    host2 = build_v2(str(tmp_path / "b"))
    g2 = make(host2, CID, Resources(memory=32 << 20, memory_swap=-1)).groups[0]
    assert read(os.path.join(g2.path, "memory.swap.max")) == "max"


def test_v2_no_internal_process_rule_moves_minictr_up(tmp_path):
    # our own group holds processes (a shell's scope): controllers cannot be
    # enabled in it, so minictr/ goes into the parent, which has none
    host = build_v2(str(tmp_path), own_path="/user.slice/session-1.scope", own_procs=(4242,))
    root = host[0]
    mgr = make(host, CID, Resources(memory=64 << 20))
    assert mgr.groups[0].path == os.path.join(root, "user.slice", "minictr", CID)
    assert not os.path.exists(os.path.join(root, "user.slice", "session-1.scope", "minictr"))
    assert read(os.path.join(mgr.groups[0].path, "memory.max")) == str(64 << 20)


def test_v2_root_group_is_exempt_from_the_rule(tmp_path):
    host = build_v2(str(tmp_path), own_path="/", own_procs=(1, 77))
    mgr = make(host, CID, Resources(pids_limit=5))
    assert mgr.groups[0].path == os.path.join(host[0], "minictr", CID)
    assert read(os.path.join(mgr.groups[0].path, "pids.max")) == "5"


def test_v2_missing_controller_is_a_clear_error_and_leaves_nothing(tmp_path):
    host = build_v2(str(tmp_path), controllers=("cpu", "memory"), own_path="/a")
    with pytest.raises(ControllerMissing, match="pids"):
        make(host, CID, Resources(pids_limit=10))
    assert all_minictr_dirs(host[0]) == []


def test_v2_controller_not_delegated_to_our_group_goes_up(tmp_path):
    # the root offers pids, but nobody enabled it on the way down to /a/b (as systemd
    # leaves cpu out of a user's slice): minictr/ goes where pids is offered
    host = build_v2(str(tmp_path), own_path="/a/b", enabled_down=False)
    root = host[0]
    mgr = make(host, CID, Resources(pids_limit=10))
    assert mgr.groups[0].path == os.path.join(root, "minictr", CID)
    assert read(os.path.join(mgr.groups[0].path, "pids.max")) == "10"
    assert read(os.path.join(root, "a", "cgroup.subtree_control")) == ""  # systemd's groups untouched


def test_v2_own_group_used_when_it_offers_what_is_needed(tmp_path):
    host = build_v2(str(tmp_path), own_path="/a/b")
    mgr = make(host, CID, Resources(pids_limit=10, cpus=1.0))
    assert mgr.groups[0].path == os.path.join(host[0], "a", "b", "minictr", CID)


def test_v2_add_oom_stats(tmp_path):
    host = build_v2(str(tmp_path))
    fs = host[2]
    mgr = make(host, CID, Resources(memory=32 << 20))
    mgr.add(1234)
    g = mgr.groups[0].path
    assert fs.procs(g) == [1234] and mgr.pids() == [1234]
    assert not mgr.oom_killed()
    fs.set_value(os.path.join(g, "memory.events"), "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n")
    assert mgr.oom_killed()
    fs.set_value(os.path.join(g, "cpu.stat"), "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
    fs.set_value(os.path.join(g, "memory.current"), str(10 << 20))
    fs.set_value(os.path.join(g, "memory.stat"), f"anon 1\ninactive_file {2 << 20}\n")
    fs.set_value(os.path.join(g, "pids.current"), "3")
    s = mgr.stats()
    assert (s.cpu_usage_ns, s.memory_usage, s.memory_limit, s.pids) == (1_500_000, 8 << 20, 32 << 20, 3)


def test_v2_unlimited_memory_reads_as_none(tmp_path):
    mgr = make(build_v2(str(tmp_path)), CID)
    assert mgr.stats().memory_limit is None


def test_v2_destroy_kills_with_cgroup_kill_and_removes_everything(tmp_path):
    host = build_v2(str(tmp_path), own_path="/w")
    fs = host[2]
    mgr = make(host, CID, LIMITS)
    mgr.add(111)
    mgr.add(222)
    mgr.destroy()
    assert sorted(fs.killed) == [(111, 9), (222, 9)]
    assert ("%s/cgroup.kill" % mgr.groups[0].path, "1") in fs.writes
    assert all_minictr_dirs(host[0]) == []
    mgr.destroy()  # twice is fine


def test_v2_destroy_without_cgroup_kill_signals_each_pid(tmp_path):
    host = build_v2(str(tmp_path))
    fs = host[2]
    mgr = make(host, CID)
    os.remove(os.path.join(mgr.groups[0].path, "cgroup.kill"))  # a kernel before 5.14
    mgr.add(5)
    mgr.destroy()
    assert fs.killed == [(5, 9)]
    assert all_minictr_dirs(host[0]) == []


# -- pure v1 ----------------------------------------------------------------

def test_v1_one_group_per_tree_and_files_written(tmp_path):
    host = build_v1(str(tmp_path), paths={"memory": "/sess/abc"})
    root = host[0]
    mgr = make(host, CID, LIMITS)
    j = os.path.join
    mem = j(root, "memory", "sess", "abc", "minictr", CID)
    cpu = j(root, "cpu,cpuacct", "minictr", CID)
    assert mgr.paths["memory"] == mem
    assert mgr.paths["cpu"] == mgr.paths["cpuacct"] == cpu
    assert {g.path for g in mgr.groups} == {mem, cpu, j(root, "pids", "minictr", CID),
                                           j(root, "cpuset", "minictr", CID), j(root, "freezer", "minictr", CID),
                                           j(root, "devices", "minictr", CID)}  # devices: the allow list
    assert read(j(mem, "memory.limit_in_bytes")) == str(32 << 20)
    assert read(j(mem, "memory.memsw.limit_in_bytes")) == str(64 << 20)  # docker: twice --memory
    assert read(j(root, "pids", "minictr", CID, "pids.max")) == "10"
    assert read(j(cpu, "cpu.cfs_period_us")) == "100000"
    assert read(j(cpu, "cpu.cfs_quota_us")) == "50000"
    assert read(j(cpu, "cpu.shares")) == "512"
    assert read(j(root, "cpuset", "minictr", CID, "cpuset.cpus")) == "1"


def test_v1_cpuset_inherits_cpus_and_mems_so_tasks_can_join(tmp_path):
    host = build_v1(str(tmp_path))
    mgr = make(host, CID)  # no cpuset limit: still must be filled, or adding a task fails with ENOSPC
    cs = mgr.paths["cpuset"]
    assert read(os.path.join(cs, "cpuset.cpus")) == "0-1"
    assert read(os.path.join(cs, "cpuset.mems")) == "0"
    assert read(os.path.join(os.path.dirname(cs), "cpuset.mems")) == "0"
    mgr.add(99)
    assert host[2].procs(cs) == [99]


def test_v1_swap_settings(tmp_path):
    g = make(build_v1(str(tmp_path / "a")), CID, Resources(memory=32 << 20, memory_swap=-1)).paths["memory"]
    assert read(os.path.join(g, "memory.memsw.limit_in_bytes")) == "-1"
    g = make(build_v1(str(tmp_path / "b")), CID, Resources(memory=32 << 20, memory_swap=32 << 20)).paths["memory"]
    assert read(os.path.join(g, "memory.memsw.limit_in_bytes")) == str(32 << 20)


def test_v1_swap_limit_without_swap_accounting(tmp_path):
    host = build_v1(str(tmp_path), memsw=False)
    with pytest.raises(ControllerMissing, match="does not account swap"):
        make(host, CID, Resources(memory=32 << 20, memory_swap=64 << 20))
    assert all_minictr_dirs(host[0]) == []
    # without an explicit --memory-swap the default simply does not apply
    mgr = make(host, CID, Resources(memory=32 << 20))
    assert read(os.path.join(mgr.paths["memory"], "memory.limit_in_bytes")) == str(32 << 20)


def test_v1_oom_from_oom_control_and_failcnt_fallback(tmp_path):
    host = build_v1(str(tmp_path))
    fs = host[2]
    mgr = make(host, CID, Resources(memory=32 << 20))
    mem = mgr.paths["memory"]
    fs.set_value(os.path.join(mem, "memory.failcnt"), "7")  # the limit was hit, nobody was killed
    assert not mgr.oom_killed()
    fs.set_value(os.path.join(mem, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert mgr.oom_killed()
    fs.set_value(os.path.join(mem, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\n")  # before 4.13
    assert mgr.oom_killed()


def test_v1_stats(tmp_path):
    host = build_v1(str(tmp_path))
    fs = host[2]
    mgr = make(host, CID, Resources(memory=64 << 20))
    fs.set_value(os.path.join(mgr.paths["cpuacct"], "cpuacct.usage"), "123456789")
    fs.set_value(os.path.join(mgr.paths["memory"], "memory.usage_in_bytes"), str(5 << 20))
    fs.set_value(os.path.join(mgr.paths["memory"], "memory.stat"), f"total_inactive_file {1 << 20}\n")
    fs.set_value(os.path.join(mgr.paths["pids"], "pids.current"), "4")
    s = mgr.stats()
    assert (s.cpu_usage_ns, s.memory_usage, s.memory_limit, s.pids) == (123456789, 4 << 20, 64 << 20, 4)
    assert make(build_v1(str(tmp_path / "b")), CID).stats().memory_limit is None


def test_v1_destroy_freezes_kills_thaws(tmp_path):
    host = build_v1(str(tmp_path))
    fs = host[2]
    mgr = make(host, CID, LIMITS)
    mgr.add(31)
    mgr.destroy()
    assert (31, 9) in fs.killed
    freezer = [v for p, v in fs.writes if p.endswith("freezer.state")]
    assert freezer[:2] == ["FROZEN", "THAWED"]
    assert all_minictr_dirs(host[0]) == []


# -- hybrid (this CI machine) ----------------------------------------------

def test_hybrid_uses_v1_controllers_and_skips_a_unified_tree_without_ours(tmp_path):
    host = build_hybrid(str(tmp_path))
    root = host[0]
    mgr = make(host, CID, LIMITS)
    j = os.path.join
    assert mgr.paths["memory"] == j(root, "memory", "process_api", "e6327748", "minictr", CID)
    assert mgr.paths["cpu"] == j(root, "cpu", "minictr", CID)
    assert mgr.paths["cpuacct"] == j(root, "cpuacct", "minictr", CID)
    # the unified tree carries none of our controllers: no group there (joining it costs a grace period)
    assert "unified" not in mgr.paths and not os.path.exists(j(root, "unified", "minictr"))
    assert all(f.endswith("/tasks") for f in mgr.join_files())
    assert read(j(mgr.paths["cpu"], "cpu.cfs_quota_us")) == "50000"
    assert read(j(mgr.paths["memory"], "memory.limit_in_bytes")) == str(32 << 20)
    mgr.add(7)
    assert all(7 in host[2].procs(g.path) for g in mgr.groups)
    mgr.destroy()
    assert all_minictr_dirs(root) == []


# -- cleanup ----------------------------------------------------------------

def test_destroy_retries_while_tasks_drain(tmp_path):
    host = build_v2(str(tmp_path), busy_rmdirs=3)
    mgr = make(host, CID)
    mgr.destroy()
    assert all_minictr_dirs(host[0]) == []
    assert host[2].killed == []  # nothing to kill: it only had to wait


def test_destroy_is_bounded(tmp_path):
    host = build_v2(str(tmp_path), busy_rmdirs=10**9)
    mgr = make(host, CID)
    with pytest.raises(CgroupError, match="still busy after 0.05s"):
        mgr.destroy(timeout=0.05)
    host[2].busy_rmdirs = 0
    mgr.destroy()
    assert all_minictr_dirs(host[0]) == []


def test_destroy_removes_subgroups_the_container_made(tmp_path):
    host = build_v2(str(tmp_path))
    mgr = make(host, CID)
    host[2].mkdir(os.path.join(mgr.groups[0].path, "inner"))
    mgr.destroy()
    assert all_minictr_dirs(host[0]) == []


def test_destroy_keeps_the_shared_parent_for_other_containers(tmp_path):
    host = build_hybrid(str(tmp_path))
    a = make(host, CID)
    b = make(host, "other-container")
    a.destroy()
    assert os.path.isdir(b.paths["memory"])
    b.destroy()
    assert all_minictr_dirs(host[0]) == []


def test_no_cgroups_no_limits_is_a_noop_manager(tmp_path):
    (tmp_path / "cg").mkdir()
    (tmp_path / "proc").write_text("0::/\n")
    mgr = cgroups.create(CID, Resources(), root=str(tmp_path / "cg"), proc_self_cgroup=str(tmp_path / "proc"))
    assert mgr.groups == [] and mgr.pids() == [] and not mgr.oom_killed()
    mgr.add(1)
    mgr.destroy()
    with pytest.raises(CgroupsUnavailable):
        cgroups.create(CID, Resources(memory=64 << 20), root=str(tmp_path / "cg"),
                       proc_self_cgroup=str(tmp_path / "proc"))


def test_controller_missing_on_v1(tmp_path):
    host = build_v1(str(tmp_path), mounts=("memory",))
    with pytest.raises(ControllerMissing, match="no pids cgroup controller"):
        make(host, CID, Resources(pids_limit=3))


@pytest.mark.parametrize("bad", ["", "..", "a/b", "-x", "x" * 200])
def test_bad_ids_are_refused(tmp_path, bad):
    with pytest.raises(ConfigError):
        make(build_v2(str(tmp_path)), bad)


# -- open / leftovers -------------------------------------------------------

def test_open_finds_groups_made_from_another_cgroup(tmp_path):
    host = build_hybrid(str(tmp_path))
    root, proc, fs = host
    mgr = make(host, CID, Resources(memory=32 << 20))
    # a later `minictr rm` runs in another memory cgroup (another process_api hash)
    fs.mkdir(os.path.join(root, "memory", "process_api", "ffff"))
    other_proc = tmp_path / "other-proc"
    other_proc.write_text(open(proc).read().replace("e6327748", "ffff"))
    found = cgroups.open(CID, root=root, proc_self_cgroup=str(other_proc), fs=fs)
    assert found.paths == mgr.paths
    found.destroy()
    assert all_minictr_dirs(root) == []
    assert cgroups.open(CID, root=root, proc_self_cgroup=proc, fs=fs) is None


def test_open_v2_reads_enabled_controllers(tmp_path):
    host = build_v2(str(tmp_path))
    make(host, CID, Resources(memory=32 << 20))
    found = cgroups.open(CID, root=host[0], proc_self_cgroup=host[1], fs=host[2])
    assert set(found.groups[0].controllers) == {"cpu", "cpuset", "memory", "pids"}
    assert found.stats().memory_limit == 32 << 20
    found.destroy()


def test_leftovers_lists_only_empty_groups_by_default(tmp_path):
    host = build_v1(str(tmp_path))
    root, proc, fs = host
    dead = make(host, "dead1")
    live = make(host, "live1")
    live.add(4321)
    assert cgroups.leftovers(root=root, proc_self_cgroup=proc, fs=fs) == ["dead1"]
    assert cgroups.leftovers(root=root, proc_self_cgroup=proc, fs=fs, include_running=True) == ["dead1", "live1"]
    dead.destroy()
    live.destroy()
    assert cgroups.leftovers(root=root, proc_self_cgroup=proc, fs=fs, include_running=True) == []


# -- sampling ---------------------------------------------------------------

def test_sample_until_the_container_is_empty(tmp_path):
    host = build_v2(str(tmp_path))
    fs = host[2]
    mgr = make(host, CID, Resources(memory=32 << 20))
    mgr.add(1)
    usage = iter([1 << 20, 2 << 20, 3 << 20])

    def fake_sleep(_):
        n = next(usage, None)
        if n is None:
            fs.set_procs(mgr.groups[0].path, [])
        else:
            fs.set_value(os.path.join(mgr.groups[0].path, "memory.current"), str(n))

    seen = [s.memory_usage for s in cgroups.sample(mgr, 0.01, sleep=fake_sleep)]
    assert seen == [0, 1 << 20, 2 << 20, 3 << 20, 3 << 20]
    mgr.destroy()


def test_sample_for_a_duration_and_cpu_percent(tmp_path):
    mgr = make(build_v2(str(tmp_path)), CID)
    mgr.add(1)
    readings = list(cgroups.sample(mgr, 0.01, duration=0.05))
    assert len(readings) >= 2 and readings[-1].time - readings[0].time >= 0.05
    a = cgroups.Stats(cpu_usage_ns=0, time=10.0)
    b = cgroups.Stats(cpu_usage_ns=500_000_000, time=11.0)
    assert cgroups.cpu_percent(a, b) == pytest.approx(50.0)
    assert cgroups.cpu_percent(b, b) == 0.0
    assert cgroups.memory_percent(cgroups.Stats(memory_usage=16, memory_limit=64)) == 25.0
    assert cgroups.memory_percent(cgroups.Stats(memory_usage=16), total=32) == 50.0
    host = mgr.fs
    host.set_procs(mgr.groups[0].path, [])
    mgr.destroy()


def test_read_only_cgroupfs_is_a_clear_error(tmp_path):
    host = build_v2(str(tmp_path))
    host[2].fail["mkdir"] = errno.EROFS                  # the fake refuses, as a read-only mount would
    with pytest.raises(CgroupsUnavailable, match="read-only") as e:
        make(host, CID, Resources(memory=32 << 20))
    assert "--privileged" in str(e.value)


def test_mkdir_refused_names_the_path(tmp_path):
    host = build_v2(str(tmp_path))
    host[2].fail["mkdir"] = errno.EACCES
    with pytest.raises(CgroupError, match=r"cannot create cgroup .*minictr: Permission denied") as e:
        make(host, CID)
    assert "needs root" in str(e.value)


def test_hybrid_joins_the_unified_tree_when_one_of_our_controllers_lives_there(tmp_path):
    host = build_hybrid(str(tmp_path), mounts=("cpu", "cpuacct", "memory", "freezer"), unified=("pids",))
    mgr = make(host, CID, Resources(pids_limit=5))
    assert mgr.paths["pids"] == os.path.join(host[0], "unified", "minictr", CID)
    assert read(os.path.join(mgr.paths["pids"], "pids.max")) == "5"
    assert mgr.join_files()[-1].endswith("unified/minictr/" + CID + "/cgroup.procs")
    mgr.destroy()
    assert all_minictr_dirs(host[0]) == []


def test_the_fake_cgroupfs_fails_on_demand_as_the_real_one_would(tmp_path):
    root, _proc, fs = build_v2(str(tmp_path), fail={"read": errno.EACCES})
    group = os.path.join(root, "g")
    fs.mkdir(group)                                       # fail is checked at each call, not at set-up
    with pytest.raises(PermissionError):
        fs.read(os.path.join(group, "cgroup.freeze"))
    fs.fail = {"write": errno.EINVAL, "rmdir": errno.EBUSY}
    assert fs.read(os.path.join(group, "cgroup.freeze")).strip() == "0"
    with pytest.raises(CgroupError, match=r"cannot write '2' to .*cgroup.freeze: Invalid argument") as e:
        fs.write(os.path.join(group, "cgroup.freeze"), "2")
    assert e.value.errno == errno.EINVAL and fs.writes == []
    with pytest.raises(OSError) as e:
        fs.rmdir(group)
    assert e.value.errno == errno.EBUSY and os.path.isdir(group)
    del fs.fail["rmdir"]
    fs.rmdir(group)
    assert not os.path.exists(group)


# -- pause / resume (the OCI runtime's freezer) --------------------------------

def test_freeze_uses_the_v1_freezer_on_a_hybrid_host_and_thaws_again(tmp_path):
    host = build_hybrid(str(tmp_path))
    mgr = make(host, CID)
    freezer = [g for g in mgr.groups if "freezer" in g.controllers][0]
    state = os.path.join(freezer.path, "freezer.state")
    assert not mgr.frozen()
    mgr.freeze(True)
    assert read(state) == "FROZEN" and mgr.frozen()
    mgr.freeze(False)
    assert read(state) == "THAWED" and not mgr.frozen()
    # only the freezer tree is written, never the unified tree's cgroup.freeze
    assert not [p for p, _ in host[2].writes if p.endswith("cgroup.freeze")]


def test_freeze_on_pure_v2_writes_cgroup_freeze_and_waits_for_the_event(tmp_path):
    host = build_v2(str(tmp_path))
    mgr = make(host, CID)
    group = mgr.groups[0].path
    mgr.freeze(True)
    assert read(os.path.join(group, "cgroup.freeze")) == "1" and "frozen 1" in read(os.path.join(group, "cgroup.events"))
    assert mgr.frozen()
    mgr.freeze(False)
    assert "frozen 0" in read(os.path.join(group, "cgroup.events")) and not mgr.frozen()


def test_freeze_without_any_freezer_is_one_clear_error(tmp_path):
    host = build_v1(str(tmp_path), mounts=("memory", "pids"))
    mgr = make(host, CID)
    with pytest.raises(CgroupError, match="no freezer") as info:
        mgr.freeze(True)
    assert "freezer" in info.value.hint


def test_open_with_the_paths_recorded_at_create_searches_no_tree(tmp_path):
    """The OCI runtime records ``mgr.paths`` at create; its delete (another process, another cgroup)
    opens them directly, without walking the trees, and finds the same groups."""
    from minictr.cgroups.fake import FakeCgroupFS

    root, proc, host_fs = build_hybrid(str(tmp_path))

    class Counting(FakeCgroupFS):
        listings = 0

        def listdir(self, path):
            Counting.listings += 1
            return super().listdir(path)

    fs = host_fs
    mgr = make((root, proc, fs), CID, Resources(memory=32 << 20))
    fs.__class__ = Counting  # the same fake tree, now counting its listings
    fs.mkdir(os.path.join(root, "memory", "process_api", "ffff"))
    other_proc = tmp_path / "other-proc"
    other_proc.write_text(open(proc).read().replace("e6327748", "ffff"))
    known = sorted(set(mgr.paths.values()))
    Counting.listings = 0
    found = cgroups.open(CID, root=root, proc_self_cgroup=str(other_proc), fs=fs, known=known)
    assert found.paths == mgr.paths and Counting.listings == 0
    found.destroy()
    Counting.listings = 0
    assert cgroups.open(CID, root=root, proc_self_cgroup=str(other_proc), fs=fs, known=known) is None
    assert Counting.listings == 0  # gone where it was recorded: not searched for elsewhere


# -- config.json's linux.cgroupsPath --------------------------------------------------

def test_a_cgroups_path_from_the_root_makes_its_parents_in_every_v1_tree(tmp_path):
    host = build_hybrid(str(tmp_path))
    root = host[0]
    mgr = make(host, CID, Resources(pids_limit=7), path="/libpod_parent/libpod-" + CID)
    for ctrl in ("pids", "memory", "cpuset"):
        assert mgr.paths[ctrl] == os.path.join(root, ctrl, "libpod_parent", "libpod-" + CID)
    assert read(os.path.join(mgr.paths["pids"], "pids.max")) == "7"
    # cpuset: every level made got cpus and mems, or no task could join
    assert read(os.path.join(root, "cpuset", "libpod_parent", "cpuset.cpus")) != ""
    assert all_minictr_dirs(root) == []
    mgr.destroy()
    assert not os.path.exists(mgr.paths["pids"])
    assert os.path.isdir(os.path.join(root, "pids", "libpod_parent"))  # the caller's parent stays, as runc leaves it


def test_a_relative_cgroups_path_is_below_our_own_group(tmp_path):
    host = build_hybrid(str(tmp_path))
    root, proc, _ = host
    mgr = make(host, CID, path="sub/box")
    own_memory = [line.split(":")[2] for line in open(proc).read().splitlines() if ":memory:" in line][0]
    assert mgr.paths["memory"] == os.path.normpath(os.path.join(root, "memory", own_memory.strip("/"), "sub", "box"))


def test_a_cgroups_path_on_v2_hands_the_controllers_down_each_level(tmp_path):
    host = build_v2(str(tmp_path), own_path="/work.slice")
    root = host[0]
    mgr = make(host, CID, Resources(memory=32 << 20), path="/pods/box")
    group = os.path.join(root, "pods", "box")
    assert [g.path for g in mgr.groups] == [group]
    assert "memory" in read(os.path.join(root, "cgroup.subtree_control")).split()
    assert "memory" in read(os.path.join(root, "pods", "cgroup.subtree_control")).split()
    assert read(os.path.join(group, "memory.max")) == str(32 << 20)
    found = cgroups.open(CID, root=root, proc_self_cgroup=host[1], fs=host[2], known=[group])
    assert found.paths == mgr.paths


@pytest.mark.parametrize("bad", ["/a/../b", "..", "/", "./x", "a/./b"])
def test_a_cgroups_path_that_climbs_is_refused(tmp_path, bad):
    host = build_hybrid(str(tmp_path))
    with pytest.raises(ConfigError, match="cgroupsPath"):
        make(host, CID, path=bad)
