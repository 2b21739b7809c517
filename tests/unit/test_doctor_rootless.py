"""doctor for an ordinary user: the rootless checks, on fake files (read-only; no sysctl is changed)."""

import os

from minictr import doctor_rootless as dr
from minictr.cgroups.fake import build_hybrid
from minictr.labs import Lesson, lessons

LESSONS = lessons()


def test_lesson_records_say_which_lessons_run_rootless():
    privileges = {lesson.number: lesson.privilege for lesson in LESSONS}
    assert {privileges[n] for n in ("00", "01", "02")} == {"either"}   # doctor, a first run, processes, tarballs
    assert privileges["07"] == "root" and privileges["05"] == "root"   # cgroup writes, veths
    assert dr.rootless_lessons(LESSONS)[:3] == ("00", "01", "02")


def test_a_bad_privilege_is_refused():
    import pytest
    with pytest.raises(ValueError, match="privilege must be one of root, rootless, either"):
        Lesson("99", "x", False, privilege="sometimes")


def test_apparmors_restriction_is_named_with_its_fix_and_blocks_the_rootless_lessons():
    files = {"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1\n"}
    c = dr.check_rootless_userns(files.get, 1000, LESSONS)
    assert c.status == "fail" and "AppArmor" in c.detail and "apparmor_restrict_unprivileged_userns=0" in c.fix
    assert {"00", "01", "02"} <= set(c.lessons)
    assert dr.check_rootless_userns({}.get, 1000, LESSONS).status == "ok"


def test_missing_subuid_lines_say_how_to_add_them(tmp_path):
    (tmp_path / "subuid").write_text("alice:100000:65536\n")
    (tmp_path / "subgid").write_text("")
    c = dr.check_subids("alice", 1000, str(tmp_path / "subuid"), str(tmp_path / "subgid"))
    assert c.status == "warn" and "subgid" in c.detail and "usermod --add-subuids" in c.fix and "alice" in c.fix
    (tmp_path / "subgid").write_text("alice:100000:65536\n")
    assert dr.check_subids("alice", 1000, str(tmp_path / "subuid"), str(tmp_path / "subgid")).status == "ok"


def test_tools_are_looked_up_on_the_path_given(tmp_path):
    assert dr.check_newuidmap(str(tmp_path)).status == "warn"
    assert "apt-get install uidmap" in dr.check_newuidmap(str(tmp_path)).fix
    assert dr.check_slirp(str(tmp_path)).status == "warn"
    for tool in ("newuidmap", "newgidmap", "slirp4netns"):
        (tmp_path / tool).write_text("#!/bin/sh\n")
        os.chmod(tmp_path / tool, 0o755)
    assert dr.check_newuidmap(str(tmp_path)).status == "ok" and dr.check_slirp(str(tmp_path)).status == "ok"


def test_no_delegation_on_a_hybrid_host_says_what_to_enable(tmp_path):
    root, proc, _fs = build_hybrid(str(tmp_path))
    c = dr.check_delegation(root, proc, 1000, [Lesson("77", "limits", False, controllers=("memory",),
                                                        privilege="either")])
    assert c.status == "warn" and "hybrid" in c.detail and "Delegate=" in c.fix and c.lessons == ("77",)


def test_overlay_needs_5_11():
    assert dr.check_rootless_overlay("5.10.0-30-amd64").status == "warn"
    assert dr.check_rootless_overlay("6.1.0").status == "ok"


def test_the_lessons_verdict_lists_what_runs_and_what_needs_root():
    c = dr.check_lessons(LESSONS)
    assert c.status == "ok" and c.detail.startswith("lessons 00, 01, 02 run as you;") and "07" in c.detail
    c = dr.check_lessons(LESSONS, blocked=("00", "01", "02"))
    assert c.status == "fail" and "00" in c.lessons


def test_run_checks_reads_the_files_it_is_given(tmp_path):
    sysctl = tmp_path / "sys"
    (sysctl / "kernel").mkdir(parents=True)
    (sysctl / "kernel" / "unprivileged_userns_clone").write_text("0\n")
    root, proc, _fs = build_hybrid(str(tmp_path / "cg"))
    checks = dr.run_checks(lessons=LESSONS, sysctl=str(sysctl), cgroup_root=root, proc_self_cgroup=proc,
                           path=str(tmp_path), euid=4321, subuid=str(tmp_path / "none"), subgid=str(tmp_path / "none"),
                           release="6.1.0")
    by_name = {c.name: c for c in checks}
    assert by_name["rootless userns"].status == "fail"
    assert "unprivileged_userns_clone" in by_name["rootless userns"].detail
    assert by_name["rootless lessons"].status == "fail"  # the refusal blocks every rootless lesson
