"""Lesson 03 (minictr/labs/l03.py): the chroot breakout exercise and run_chrooted."""

from __future__ import annotations

import os

import pytest
from lab_contract import (assert_every_case_fails_a_wrong_answer, assert_no_wrong_answer_passes,
                          assert_reference_passes, needs_root, written_solutions)

from minictr.labs import l03

pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


def _climb_five():
    os.makedirs("/.out", exist_ok=True)
    os.chroot("/.out")
    for _ in range(5):
        os.chdir("..")
    os.chroot(".")
    return sorted(os.listdir("/"))


WRONG = [
    lambda: sorted(os.listdir("/")),                         # never left the chroot
    _climb_five,
]


def test_reference_passes_every_case():
    needs_root('03.breakout', " (chroot)")
    assert_reference_passes('03.breakout', min_outcomes=1)


def test_every_case_fails_a_wrong_answer():
    needs_root('03.breakout', " (chroot)")
    assert_every_case_fails_a_wrong_answer('03.breakout', WRONG)


def test_no_wrong_answer_passes():
    needs_root('03.breakout', " (chroot)")
    assert_no_wrong_answer_passes('03.breakout', WRONG)


def test_the_lesson_record():
    assert l03.LESSON.number == "03" and l03.LESSON.needs_root and "mnt" in l03.LESSON.namespaces


def test_the_written_solution_exists():
    assert "03.breakout" in written_solutions("03")


@pytest.mark.root
def test_run_chrooted_runs_in_the_chroot_and_cleans_up():
    needs_root("03.breakout")
    assert sorted(l03.run_chrooted(lambda: os.listdir("/"))) == [
        "bin", "etc", "tmp", "you-are-in-the-chroot"]
    assert l03.run_chrooted(lambda: os.getcwd(), cwd="/tmp") == "/tmp"
    # the kernel process itself is untouched
    assert os.path.exists("/proc/self")
