"""detect() on fake hosts: pure v2, pure v1, the hybrid of this CI machine, none."""

import os

import pytest

from minictr.cgroups import detect
from minictr.cgroups.detect import parse_proc_cgroup
from minictr.cgroups.fake import build_hybrid, build_v1, build_v2


def test_parse_proc_cgroup():
    text = "9:name=systemd:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/\n0::/user.slice/x.scope\n"
    assert parse_proc_cgroup(text) == [
        (9, ("name=systemd",), "/"), (4, ("memory",), "/process_api/abc"),
        (2, ("cpu", "cpuacct"), "/"), (0, (), "/user.slice/x.scope"),
    ]


def test_pure_v2(tmp_path):
    root, proc, _ = build_v2(str(tmp_path), own_path="/user.slice/session-1.scope")
    layout = detect(root, proc)
    assert layout.kind == "v2"
    assert len(layout.hierarchies) == 1
    assert {layout.backend(c) for c in ("cpu", "memory", "pids", "cpuset", "io")} == {"v2"}
    assert layout.path("memory") == os.path.join(root, "user.slice", "session-1.scope")
    assert layout.backend("freezer") is None and layout.path("freezer") is None


def test_pure_v1_with_comounted_cpu_cpuacct(tmp_path):
    root, proc, _ = build_v1(str(tmp_path), paths={"memory": "/a/b"})
    layout = detect(root, proc)
    assert layout.kind == "v1"
    assert layout.unified is None
    assert layout.backend("memory") == layout.backend("cpuacct") == "v1"
    assert layout.controllers["cpu"] is layout.controllers["cpuacct"]
    assert layout.controllers["cpu"].mount == os.path.join(root, "cpu,cpuacct")
    assert layout.path("memory") == os.path.join(root, "memory", "a", "b")
    assert layout.path("pids") == os.path.join(root, "pids")
    assert "name=systemd" not in layout.controllers


def test_v1_comount_found_without_symlinks(tmp_path):
    root, proc, _ = build_v1(str(tmp_path), symlinks=False)
    assert detect(root, proc).controllers["cpuacct"].mount == os.path.join(root, "cpu,cpuacct")


def test_v1_comount_in_another_order(tmp_path):
    root, proc, _ = build_v1(str(tmp_path), mounts=("cpuacct,cpu", "memory"), symlinks=False)
    with open(proc) as f:  # the kernel lists them in its own order
        text = f.read().replace("cpuacct,cpu", "cpu,cpuacct")
    with open(proc, "w") as f:
        f.write(text)
    layout = detect(root, proc)
    assert layout.controllers["cpu"].mount == os.path.join(root, "cpuacct,cpu")


def test_hybrid_like_this_machine(tmp_path):
    root, proc, _ = build_hybrid(str(tmp_path))
    layout = detect(root, proc)
    assert layout.kind == "hybrid"
    assert layout.backend("memory") == "v1"
    assert layout.backend("hugetlb") == "v2"
    assert layout.controllers["cpu"] is not layout.controllers["cpuacct"]  # separate trees here
    assert layout.path("memory") == os.path.join(root, "memory", "process_api", "e6327748")
    assert layout.path("cpu") == os.path.join(root, "cpu")
    assert layout.unified.mount == os.path.join(root, "unified")
    assert "hugetlb" in layout.describe() and "hybrid" in layout.describe()


def test_hybrid_v2_controller_used_where_enabled(tmp_path):
    # a hybrid host whose pids controller was left to the v2 tree
    root, proc, _ = build_v1(str(tmp_path), mounts=("cpu,cpuacct", "memory"), unified=("pids",))
    layout = detect(root, proc)
    assert layout.kind == "hybrid"
    assert layout.backend("pids") == "v2" and layout.backend("memory") == "v1"


def test_nothing_mounted(tmp_path):
    (tmp_path / "cg").mkdir()
    (tmp_path / "proc").write_text("0::/\n")
    layout = detect(str(tmp_path / "cg"), str(tmp_path / "proc"))
    assert layout.kind == "none" and layout.controllers == {}
    assert detect(str(tmp_path / "missing"), str(tmp_path / "missing-proc")).kind == "none"


def test_v1_line_without_mount_is_skipped(tmp_path):
    root, proc, _ = build_v1(str(tmp_path), mounts=("memory",))
    with open(proc, "a") as f:
        f.write("7:net_cls,net_prio:/\n")
    layout = detect(root, proc)
    assert set(layout.controllers) == {"memory"}
