"""Lesson 15 (minictr/labs/l15.py): the reference passes every case, every case fails some wrong
answer, each usual mistake gets its diagnosis, the helpers behave as the notebook says, and
nothing is left behind."""

from __future__ import annotations

import os

import pytest
from lab_contract import LessonContract, diagnosis, needs_root

from minictr.labs import checks, l15
from minictr.labs.kit import in_child


pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _maps_in_order(where, uid_map, gid_map):
    """The reference's three writes, in its order, into ``where`` (/proc/PID), with these two maps."""
    _write(f"{where}/uid_map", uid_map)
    _write(f"{where}/setgroups", "deny")
    _write(f"{where}/gid_map", gid_map)


def maps_swapped(pid, uid, gid, proc="/proc"):
    _maps_in_order(f"{proc}/{pid}", f"{uid} 0 1\n", f"{gid} 0 1\n")


def maps_range(pid, uid, gid, proc="/proc"):
    _maps_in_order(f"{proc}/{pid}", f"0 {uid} 65536\n", f"0 {gid} 65536\n")


def maps_gid_is_uid(pid, uid, gid, proc="/proc"):
    _maps_in_order(f"{proc}/{pid}", f"0 {uid} 1\n", f"0 {uid} 1\n")


def maps_no_deny(pid, uid, gid, proc="/proc"):
    _write(f"{proc}/{pid}/uid_map", f"0 {uid} 1\n")
    _write(f"{proc}/{pid}/gid_map", f"0 {gid} 1\n")


def maps_deny_after_gid_map(pid, uid, gid, proc="/proc"):
    _write(f"{proc}/{pid}/uid_map", f"0 {uid} 1\n")
    _write(f"{proc}/{pid}/gid_map", f"0 {gid} 1\n")
    _write(f"{proc}/{pid}/setgroups", "deny")


def maps_twice(pid, uid, gid, proc="/proc"):
    l15.write_maps(pid, uid, gid, proc)
    _write(f"{proc}/{pid}/uid_map", f"0 {uid} 1\n")   # "to be sure"


def maps_own(pid, uid, gid, proc="/proc"):
    _maps_in_order(f"{proc}/self", f"0 {uid} 1\n", f"0 {gid} 1\n")


def maps_real_proc(pid, uid, gid, proc="/proc"):
    l15.write_maps(pid, uid, gid)


def maps_three_args(pid, uid, gid):
    l15.write_maps(pid, uid, gid)


def map_swapped(uid, start, count):
    return f"{uid} 0 1\n{start} 1 {count}\n"


def map_overlap(uid, start, count):
    return f"0 {uid} 1\n0 {start} {count}\n"


def map_root_in_range(uid, start, count):
    return f"0 {start} {count}\n"


def map_one_short(uid, start, count):
    return f"0 {uid} 1\n1 {start} {count - 1}\n"


def map_hard_coded(uid, start, count):
    return "0 1234 1\n1 100000 65536\n"


def map_list(uid, start, count):
    return [(0, uid, 1), (1, start, count)]


WRONG = {
    "15.write_maps": [maps_swapped, maps_range, maps_gid_is_uid, maps_no_deny, maps_deny_after_gid_map,
                      maps_twice, maps_own, maps_three_args],
    "15.rootless_map": [map_swapped, map_overlap, map_root_in_range, map_one_short, map_hard_coded, map_list],
}


class TestContract(LessonContract):
    lesson = "15"
    wrong = WRONG
    min_outcomes = 3


@pytest.mark.parametrize("wrong, says", [
    (maps_swapped, "the first field is the id inside the namespace"),
    (maps_range, "may map exactly one, its own (count 1)"),
    (maps_gid_is_uid, "that is the uid; use gid (2345)"),
    (maps_no_deny, "write 'deny' to it before gid_map"),
    (maps_deny_after_gid_map, "write 'deny' to /proc/PID/setgroups *before* gid_map"),
    (maps_twice, "uid_map was written twice"),
    (maps_own, "/proc/self is the process that writes"),
    (maps_three_args, "take proc as a fourth parameter"),
])
def test_write_maps_diagnoses_the_mistake(capsys, wrong, says):
    assert says in diagnosis("15.write_maps", wrong, capsys)


def test_write_maps_ignoring_proc_is_named():
    """A function that writes the real /proc (not the one given) is told so, and harms nothing:
    as uid 1234, /proc/4242 is not its child (or does not exist)."""
    needs_root("15.write_maps")
    [watched, *_] = checks.solution_cases("15.write_maps")
    with pytest.raises(checks.CaseFailed, match="not under the proc given"):
        watched.run(maps_real_proc)


@pytest.mark.parametrize("wrong, says", [
    (map_swapped, "fields swapped"), (map_overlap, "the lines overlap: container id 0"),
    (map_root_in_range, "container root is host uid 100000, not yours"),
    (map_one_short, "65535 container ids after root, not 65536"), (map_hard_coded, "a hard-coded answer"),
    (map_list, "return the map's text"),
])
def test_rootless_map_diagnoses_the_mistake(capsys, wrong, says):
    assert says in diagnosis("15.rootless_map", wrong, capsys)


def test_the_kernel_refuses_overlapping_lines_even_from_root():
    needs_root("15.rootless_map")

    def as_root():
        return l15.userns_pair(lambda pid: l15.attempt(_write, f"/proc/{pid}/uid_map", map_overlap(1234, 100000, 10)),
                               lambda: os.getuid())

    assert in_child(as_root) == ["EINVAL", 65534]   # refused, so the child has no map: the overflow uid


def test_an_ordinary_user_maps_itself_and_no_more():
    """The rules the lesson teaches, on the real kernel: one line of one's own uid, and setgroups first."""
    needs_root("15.write_maps")
    uid, gid = l15.LEARNER_UID, l15.LEARNER_GID

    def as_learner():
        l15.become(uid, gid)

        def outside(pid):
            return [l15.attempt(_write, f"/proc/{pid}/uid_map", f"0 {uid} 2\n"),
                    l15.attempt(_write, f"/proc/{pid}/uid_map", f"0 {uid} 1\n"),
                    l15.attempt(_write, f"/proc/{pid}/gid_map", f"0 {gid} 1\n"),
                    l15.attempt(_write, f"/proc/{pid}/setgroups", "deny"),
                    l15.attempt(_write, f"/proc/{pid}/gid_map", f"0 {gid} 1\n")]

        return l15.userns_pair(outside, lambda: [os.getuid(), os.getgid(), os.geteuid() == 0])

    verdicts, inside = in_child(as_learner)
    assert verdicts == ["EPERM", "ok", "EPERM", "ok", "ok"]
    assert inside == [0, 0, True]


def test_userns_pair_raises_what_outside_raised_and_reaps_the_child():
    needs_root("15.write_maps")

    def body():
        def outside(pid):
            raise ValueError(f"no maps for {pid}")
        try:
            l15.userns_pair(outside, lambda: "ran")
        except ValueError as e:
            return str(e).startswith("no maps for ")
        return False

    assert in_child(body) is True


def test_parse_map_reads_the_kernels_padding():
    assert l15.parse_map("         0       1234          1\n         1     100000      65536\n") == [
        (0, 1234, 1), (1, 100000, 65536)]
    with pytest.raises(ValueError, match="2 fields"):
        l15.parse_map("0 1234\n")


def test_the_lesson_record():
    assert l15.LESSON.number == "15" and l15.LESSON.needs_root and "user" in l15.LESSON.namespaces
    assert {"newuidmap", "newgidmap"} <= set(l15.LESSON.tools)


def test_become_leaves_an_ordinary_user_that_owns_its_proc_files():
    needs_root("15.write_maps")

    def body():
        l15.become(l15.LEARNER_UID, l15.LEARNER_GID)
        st = os.stat(f"/proc/{os.getpid()}/uid_map")
        return [os.getresuid(), os.getresgid(), os.getgroups(), st.st_uid]

    uids, gids, groups, owner = in_child(body)
    assert uids == [1234] * 3 and gids == [2345] * 3 and groups == []
    assert owner == 1234   # dumpable again: without it /proc/PID would be root's


def test_reachable_mkdtemp_leaves_a_closed_tempdir_for_tmp(tmp_path, monkeypatch):
    import tempfile

    from minictr.labs.kit import reachable_mkdtemp

    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    monkeypatch.setattr(tempfile, "tempdir", str(closed))
    made = reachable_mkdtemp("minictr-l15-test-")
    try:
        assert os.path.dirname(made) == "/tmp"
    finally:
        os.rmdir(made)
    monkeypatch.setattr(tempfile, "tempdir", "/dev/shm")    # open all the way up: used as it is
    made = reachable_mkdtemp("minictr-l15-test-")
    try:
        assert os.path.dirname(made) == "/dev/shm"
    finally:
        os.rmdir(made)
