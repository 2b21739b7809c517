"""minictr.procfs on fake /proc trees, and on this process."""

from __future__ import annotations

import os
import time

from minictr import procfs


def fake_proc(tmp_path, pid="42", *, status="", stat="", ns=None):
    d = tmp_path / "proc" / pid
    d.mkdir(parents=True)
    (d / "status").write_text(status)
    (d / "stat").write_text(stat)
    (d / "ns").mkdir()
    for kind, target in (ns or {}).items():
        os.symlink(target, d / "ns" / kind)
    return str(tmp_path / "proc")


def stat_line(comm: str, state: str = "S", start: int = 123456) -> str:
    # fields 3..52 after "pid (comm) ": state, then 18 numbers, then field 22 (starttime), then more
    after = [state] + [str(i) for i in range(4, 22)] + [str(start)] + ["0"] * 30
    return f"42 ({comm}) " + " ".join(after) + "\n"


def test_status_fields(tmp_path):
    proc = fake_proc(tmp_path, status="Name:\tpython3\nPPid:\t1\nCapEff:\t0000000000200001\nNSpid:\t42\t1\n")
    st = procfs.status(42, proc)
    assert st == {"Name": "python3", "PPid": "1", "CapEff": "0000000000200001", "NSpid": "42\t1"}
    assert procfs.status(43, proc) == {}
    assert procfs.status(path=os.path.join(proc, "42/status"))["Name"] == "python3"


def test_capability_masks(tmp_path):
    proc = fake_proc(tmp_path, status="CapEff:\t0000000000200001\nCapBnd:\tnot-hex\n")
    st = procfs.status(42, proc)
    assert procfs.cap_mask(st, "CapEff") == (1 << 21) | 1
    assert procfs.cap_mask(st, "CapBnd") == 0 and procfs.cap_mask(st, "CapAmb") == 0
    assert procfs.has_cap(21, 42, proc) and not procfs.has_cap(12, 42, proc)
    assert not procfs.has_cap(21, 43, proc)  # gone: no capabilities


def test_start_time_past_a_hostile_comm(tmp_path):
    for comm in ("sleep", "a) b", ") (Z 1 2 3", "x y z"):
        proc = fake_proc(tmp_path / comm.replace("/", "_"), stat=stat_line(comm))
        assert procfs.start_time(42, proc) == 123456, comm
        assert procfs.stat_fields(42, proc)[0] == "S"


def test_start_time_of_a_zombie_or_a_gone_process_is_none(tmp_path):
    proc = fake_proc(tmp_path, stat=stat_line("zombie", "Z"))
    assert procfs.start_time(42, proc) is None
    assert procfs.start_time(43, proc) is None
    assert procfs.stat_fields(43, proc) is None


def test_namespace_links(tmp_path):
    proc = fake_proc(tmp_path, ns={"uts": "uts:[4026531838]", "mnt": "mnt:[4026531841]"})
    assert procfs.ns_ids(42, proc) == {"uts": "uts:[4026531838]", "mnt": "mnt:[4026531841]"}
    assert procfs.ns_id(42, "uts", proc) == "uts:[4026531838]"
    assert procfs.ns_ids(43, proc) == {}


def test_this_process():
    assert procfs.status()["Pid"] == str(os.getpid())
    assert procfs.start_time(os.getpid()) == procfs.start_time("self") > 0
    links = procfs.ns_ids()
    assert links["mnt"].startswith("mnt:[") and links == procfs.ns_ids(os.getpid())


def test_alive_is_false_for_a_zombie_and_for_a_reaped_child():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    assert procfs.alive(os.getpid())
    deadline = time.monotonic() + 5
    while procfs.stat_fields(pid)[0] != "Z" and time.monotonic() < deadline:  # exited, not yet waited for
        time.sleep(0.005)
    assert not procfs.alive(pid)
    os.waitpid(pid, 0)
    assert not procfs.alive(pid)


def test_rss_kib_reads_vmrss(tmp_path):
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "status").write_text("Name:\tx\nVmRSS:\t   8612 kB\n")
    assert procfs.rss_kib(7, str(tmp_path)) == 8612


def test_pids_of_user_reads_the_owner_of_each_proc_dir(tmp_path):
    for pid in ("7", "8", "self"):
        (tmp_path / pid).mkdir()
    os.chown(tmp_path / "8", 4321, 4321)
    assert procfs.pids_of_user(4321, str(tmp_path)) == [8]
    assert os.getpid() in procfs.pids_of_user(os.getuid())
