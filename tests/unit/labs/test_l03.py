"""Lesson 03 (minictr/labs/l03.py): the chroot breakout exercise and run_chrooted."""

from __future__ import annotations

import os

import pytest
from lab_contract import LessonContract, needs_root

from minictr.labs import checks, l03

pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


def _escape(climbs: int, back_inside: bool = False):
    os.makedirs("/.out", exist_ok=True)
    os.chroot("/.out")
    if back_inside:
        os.chdir("/")                                        # back inside the new root: no escape
    for _ in range(climbs):
        os.chdir("..")
    os.chroot(".")
    return sorted(os.listdir("/"))


def _climb_five():
    return _escape(5)                                        # too few climbs for a deep chroot


def _chdir_root_first():
    return _escape(100, back_inside=True)


WRONG = [
    lambda: sorted(os.listdir("/")),                         # never left the chroot
    _climb_five,
    _chdir_root_first,
]


class TestContract(LessonContract):
    lesson = "03"
    wrong = {'03.breakout': WRONG}


def test_the_lesson_record():
    assert l03.LESSON.number == "03" and l03.LESSON.needs_root and "mnt" in l03.LESSON.namespaces


@pytest.mark.root
def test_run_chrooted_runs_in_the_chroot_and_cleans_up():
    needs_root("03.breakout")
    assert sorted(l03.run_chrooted(lambda: os.listdir("/"))) == [
        "bin", "etc", "tmp", "you-are-in-the-chroot"]
    assert l03.run_chrooted(lambda: os.getcwd(), cwd="/tmp") == "/tmp"
    # the kernel process itself is untouched
    assert os.path.exists("/proc/self")


def test_the_diagnosis_of_chdir_to_the_new_root_and_of_too_few_climbs():
    needs_root('03.breakout', " (chroot)")
    result = checks.run_checks("03.breakout", _chdir_root_first)
    assert len(result.failures) == 2
    assert all(o.why.startswith("returned [], not the host's /") for o in result.failures)
    assert all("os.chdir('/') (or into that directory) after os.chroot()" in o.why for o in result.failures)
    deep = {o.case: o.why for o in checks.run_checks("03.breakout", _climb_five).failures}
    assert "climbed too few levels" in deep["escape a chroot 30 directories deep"]
