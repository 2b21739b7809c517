"""Lesson 00 (minictr/labs/l00.py): the ns_differences exercise and its LESSON record."""

from __future__ import annotations

import os

import pytest
from lab_contract import LessonContract, needs_root

from minictr.labs import checks, l00
from minictr.labs.checks import check

pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


def _all_kinds(a, b):
    return set(os.listdir(f"/proc/{a}/ns"))


SEVEN = ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts")


def _fixed_list(a, b):
    """The kinds of namespaces(7)'s table, hard-coded: misses pid_for_children, time, time_for_children."""
    return {k for k in SEVEN if os.readlink(f"/proc/{a}/ns/{k}") != os.readlink(f"/proc/{b}/ns/{k}")}


WRONG = [lambda a, b: set(), _all_kinds, lambda a, b: ["uts"], _fixed_list]


class TestContract(LessonContract):
    lesson = "00"
    wrong = {'00.ns_differences': WRONG}


def test_the_lesson_record():
    assert l00.LESSON.number == "00" and l00.LESSON.needs_root  # its lab runs containers


def test_check_none_uses_the_reference(capsys):
    fn = check("00.ns_differences")
    assert fn is checks.get("00.ns_differences").reference()
    assert capsys.readouterr().out == (
        "[00.ns_differences] no function given: using the reference minictr.labs.l00.ns_differences.\n")


def test_a_hard_coded_list_of_kinds_fails_with_the_reason():
    needs_root('00.ns_differences')
    if not checks.has_root():
        pytest.skip("the pid/time child needs root")
    result = checks.run_checks("00.ns_differences", _fixed_list)
    assert [o.case for o in result.failures] == ["a child whose children get new pid and time namespaces"]
    why = result.failures[0].why
    assert "missing ['pid_for_children', 'time_for_children']" in why
    assert "list /proc/PID/ns instead of naming the kinds" in why
