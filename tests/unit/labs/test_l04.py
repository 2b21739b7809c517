"""Lesson 04 (minictr/labs/l04.py): the pivot_root sequence exercise, trace_pivot and format_call."""

from __future__ import annotations

import os

import pytest
from lab_contract import LessonContract

from minictr.labs import checks, l04
from minictr.labs.checks import CaseFailed, check, run_checks
from minictr.syscalls import MountFlags as MS
from minictr.syscalls import UmountFlags as MNT

pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


def _pivot_variant(kind):
    def enter_root(sys, new_root):
        if kind != "no_private" and kind != "private_after_bind":
            sys.mount(None, "/", None, MS.REC | MS.PRIVATE)
        if kind != "no_bind" and kind != "bare_pivot":
            sys.mount(new_root, new_root, None, MS.BIND | MS.REC)
        if kind == "private_after_bind":
            sys.mount(None, "/", None, MS.REC | MS.PRIVATE)
        put_old = new_root + "/.old"
        if kind != "no_mkdir":
            os.mkdir(put_old)
        sys.pivot_root(new_root, put_old)
        if kind != "cwd_left_behind":
            os.chdir("/")
        if kind == "umount_no_detach":
            sys.umount2("/.old", 0)
        elif kind != "no_umount":
            sys.umount2("/.old", MNT.DETACH)
    return enter_root


WRONG = [_pivot_variant(kind) for kind in ("no_private", "no_bind", "bare_pivot", "no_umount", "umount_no_detach",
                                           "cwd_left_behind", "private_after_bind", "no_mkdir")]


class TestContract(LessonContract):
    lesson = "04"
    wrong = {"04.pivot_sequence": WRONG}


def test_the_lesson_record():
    assert l04.LESSON.number == "04" and l04.LESSON.needs_root and "mnt" in l04.LESSON.namespaces


def _stub(*args):
    raise NotImplementedError


def test_pivot_accepts_the_dot_dot_variant_and_the_put_old_variant():
    def dot(sys, new_root):
        sys.mount(None, "/", None, MS.REC | MS.SLAVE)
        sys.mount(new_root, new_root, None, MS.BIND)
        sys.chdir(new_root)
        sys.pivot_root(".", ".")
        sys.umount2(".", MNT.DETACH)

    assert run_checks("04.pivot_sequence", dot).passed
    assert run_checks("04.pivot_sequence", _pivot_variant("correct")).passed


def test_pivot_trace_records_without_touching_the_machine():
    calls = l04.trace_pivot(_pivot_variant("correct"))
    names = [c[0] for c in calls]
    assert names == ["mount", "mount", "mkdir", "pivot_root", "chdir", "umount2"]
    assert not os.path.exists(l04.PIVOT_NEW_ROOT + "/.old")
    assert l04.format_call(calls[0]) == "mount(None, '/', None, MS_REC|MS_PRIVATE, None)"
    assert l04.format_call(calls[-1]) == "umount2('/.old', MNT_DETACH)"


def test_check_none_uses_the_reference(capsys):
    fn = check("04.pivot_sequence")
    assert fn is checks.get("04.pivot_sequence").reference()
    assert capsys.readouterr().out == (
        "[04.pivot_sequence] no function given: using the reference minictr.labs.l04.enter_root.\n")


def test_forked_learner_errors_and_timeouts_come_back_as_failures():
    def boom(sys, new_root):
        raise RuntimeError("in the child")

    result = run_checks("04.pivot_sequence", boom)
    assert result.failures[0].why == "your function raised RuntimeError: in the child"

    def slow(sys, new_root):
        import time
        time.sleep(30)

    with pytest.raises(CaseFailed, match="did not finish within 0.5 seconds"):
        l04.trace_pivot(slow, timeout=0.5)


def test_stub_in_a_forked_case_counts_as_not_written():
    result = run_checks("04.pivot_sequence", _stub)
    assert result.not_written and result.outcomes == []
