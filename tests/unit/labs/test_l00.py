"""Lesson 00 (minictr/labs/l00.py): the ns_differences exercise and its LESSON record."""

from __future__ import annotations

import os

import pytest
from lab_contract import (assert_every_case_fails_a_wrong_answer, assert_no_wrong_answer_passes,
                          assert_reference_passes, needs_root, written_solutions)

from minictr.labs import checks, l00
from minictr.labs.checks import check

pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


def _all_kinds(a, b):
    return set(os.listdir(f"/proc/{a}/ns"))


WRONG = [lambda a, b: set(), _all_kinds, lambda a, b: ["uts"]]


def test_reference_passes_every_case():
    needs_root('00.ns_differences')
    assert_reference_passes('00.ns_differences', min_outcomes=1)


def test_every_case_fails_a_wrong_answer():
    needs_root('00.ns_differences')
    assert_every_case_fails_a_wrong_answer('00.ns_differences', WRONG)


def test_no_wrong_answer_passes():
    needs_root('00.ns_differences')
    assert_no_wrong_answer_passes('00.ns_differences', WRONG)


def test_the_lesson_record():
    assert l00.LESSON.number == "00" and not l00.LESSON.needs_root


def test_the_written_solution_exists():
    assert "00.ns_differences" in written_solutions("00")


def test_check_none_uses_the_reference(capsys):
    fn = check("00.ns_differences")
    assert fn is checks.get("00.ns_differences").reference()
    assert capsys.readouterr().out == (
        "[00.ns_differences] no function given: using the reference minictr.labs.l00.ns_differences.\n")
