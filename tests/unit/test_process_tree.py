"""widgets.ProcessTree (minictr/widgets/proctree.py) through its state: a fake /proc with two PID namespaces, and real children."""

from __future__ import annotations

import os
import signal
import time

from minictr.widgets import ProcessTree


def fake_proc(root, procs):
    """procs: (pid, ppid, name, state, nspid, pid_ns)."""
    for pid, ppid, name, state, nspid, ns in procs:
        d = root / str(pid)
        (d / "ns").mkdir(parents=True)
        (d / "status").write_text(f"Name:\t{name}\nState:\t{state}\nTgid:\t{pid}\nPid:\t{pid}\nPPid:\t{ppid}\n"
                                  f"NSpid:\t{' '.join(map(str, nspid))}\n")
        os.symlink(ns, d / "ns" / "pid")
    (root / "self").mkdir()   # not a PID: ignored
    return str(root)


HOST, BOX1, BOX2 = "pid:[4026531836]", "pid:[4026532177]", "pid:[4026532200]"
TREE = [
    (100, 1, "ipykernel", "S (sleeping)", (100,), HOST),
    (200, 100, "sleep", "S (sleeping)", (200, 1), BOX1),
    (201, 200, "sh", "Z (zombie)", (201, 2), BOX1),
    (300, 100, "python", "S (sleeping)", (300, 1), BOX2),
    (301, 300, "sleep", "S (sleeping)", (301, 2), BOX2),
    (400, 1, "unrelated", "S (sleeping)", (400,), HOST),
]


def test_rows_are_the_tree_depth_first(tmp_path):
    t = ProcessTree(100, proc=fake_proc(tmp_path, TREE))
    assert [(r.pid, r.depth) for r in t.rows] == [(100, 0), (200, 1), (201, 2), (300, 1), (301, 2)]
    assert 400 not in {r.pid for r in t.rows}


def test_grouped_by_pid_namespace_with_inner_pids(tmp_path):
    t = ProcessTree(100, proc=fake_proc(tmp_path, TREE))
    assert list(t.groups) == [HOST, BOX1, BOX2]
    assert [(r.pid, r.inner_pid, r.level) for r in t.groups[BOX1]] == [(200, 1, 1), (201, 2, 1)]
    assert [r.pid for r in t.in_namespace_of(301)] == [300, 301]
    assert t.in_namespace_of(999) == []


def test_zombies_and_summary(tmp_path):
    t = ProcessTree(100, proc=fake_proc(tmp_path, TREE), label="the kernel", names={})
    assert [r.pid for r in t.zombies] == [201]
    assert repr(t) == "process tree of the kernel: 5 processes in 3 PID namespaces, 1 zombie"
    assert "f8d7da" in t.table.value     # the zombie is highlighted
    assert "4026532177" in t.table.value


def test_each_container_is_named(tmp_path):
    t = ProcessTree(100, proc=fake_proc(tmp_path, TREE), label="the kernel", names={200: "web", 300: "db"})
    assert [t.title(ns) for ns in t.groups] == ["the host's PID namespace", "container web", "container db"]
    assert "container web" in t.table.value and "level(s) down" not in t.table.value
    assert repr(t) == "process tree of the kernel: 5 processes in 3 PID namespaces, 1 zombie\n  containers: db, web"
    anonymous = ProcessTree(100, proc=fake_proc(tmp_path / "b", TREE), names={200: "web"})
    assert anonymous.title(BOX2) == "a PID namespace not made by minictr (its top process: host PID 300)"


def test_names_come_from_minictrs_state_by_default(tmp_path, monkeypatch):
    from minictr import state

    monkeypatch.setenv("MINICTR_RUNTIME_DIR", str(tmp_path / "run"))
    state.State(id="a" * 64, name="lesson06-web", image="busybox", command=["sh"], status="running", pid=200).save(create=True)
    t = ProcessTree(100, proc=fake_proc(tmp_path / "proc", TREE))
    assert t.title(BOX1) == "container lesson06-web"


def test_refresh_and_the_button_read_proc_again(tmp_path):
    proc = fake_proc(tmp_path, TREE)
    t = ProcessTree(100, proc=proc)
    status = tmp_path / "201" / "status"
    status.write_text(status.read_text().replace("Z (zombie)", "S (sleeping)"))
    assert len(t.zombies) == 1
    t.button.click()
    assert t.zombies == []
    for f in (tmp_path / "301").iterdir():
        if f.is_file():
            f.unlink()
    (tmp_path / "301" / "ns" / "pid").unlink()
    (tmp_path / "301" / "ns").rmdir()
    (tmp_path / "301").rmdir()
    t.refresh()
    assert [r.pid for r in t.rows] == [100, 200, 201, 300]


def test_a_missing_root_gives_no_rows(tmp_path):
    t = ProcessTree(12345, proc=fake_proc(tmp_path, TREE))
    assert t.rows == [] and t.groups == {} and "no process" in t.table.value


def test_real_children_and_a_real_zombie():
    """This process's own children, one of them a zombie until we reap it."""
    sleeper = os.fork()
    if sleeper == 0:
        time.sleep(30)
        os._exit(0)
    ghost = os.fork()
    if ghost == 0:
        os._exit(0)
    try:
        deadline = time.monotonic() + 5
        t = ProcessTree()
        while not t.zombies and time.monotonic() < deadline:
            time.sleep(0.01)
            t.refresh()
        me = t.rows[0]
        assert me.pid == os.getpid() and me.depth == 0
        kids = {r.pid: r for r in t.rows if r.ppid == os.getpid()}
        assert {sleeper, ghost} <= set(kids)
        assert [r.pid for r in t.zombies] == [ghost]
        assert kids[sleeper].pid_ns == me.pid_ns and kids[sleeper].nspid[0] == sleeper
    finally:
        os.kill(sleeper, signal.SIGKILL)
        os.waitpid(sleeper, 0)
        os.waitpid(ghost, 0)
