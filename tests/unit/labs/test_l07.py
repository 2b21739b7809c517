"""Lesson 07 (minictr/labs/l07.py): the reference passes every case, every case fails some wrong
answer, and nothing is left behind."""

from __future__ import annotations

import os

import pytest
from lab_contract import LessonContract

from minictr.labs import checks, l07



pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


def _v2(fs, group):
    return fs.exists(os.path.join(os.path.dirname(group), "cgroup.controllers"))


def confine_pid_first(fs, group, pid, memory):
    fs.mkdir(group)
    fs.write(os.path.join(group, "cgroup.procs"), pid)
    fs.write(os.path.join(group, "memory.max" if _v2(fs, group) else "memory.limit_in_bytes"), memory)


def confine_v1_only(fs, group, pid, memory):
    fs.mkdir(group)
    fs.write(os.path.join(group, "memory.limit_in_bytes"), memory)
    fs.write(os.path.join(group, "cgroup.procs"), pid)


def confine_no_subtree_control(fs, group, pid, memory):
    fs.mkdir(group)
    fs.write(os.path.join(group, "memory.max" if _v2(fs, group) else "memory.limit_in_bytes"), memory)
    fs.write(os.path.join(group, "cgroup.procs"), pid)


def confine_pid_in_parent(fs, group, pid, memory):
    if _v2(fs, group):
        fs.write(os.path.join(os.path.dirname(group), "cgroup.subtree_control"), "+memory")
    fs.mkdir(group)
    fs.write(os.path.join(group, "memory.max" if _v2(fs, group) else "memory.limit_in_bytes"), memory)
    if not _v2(fs, group):
        fs.write(os.path.join(os.path.dirname(group), "cgroup.procs"), pid)


def confine_megabytes(fs, group, pid, memory):
    if _v2(fs, group):
        fs.write(os.path.join(os.path.dirname(group), "cgroup.subtree_control"), "+memory")
    fs.mkdir(group)
    fs.write(os.path.join(group, "memory.max" if _v2(fs, group) else "memory.limit_in_bytes"), f"{memory >> 20}M")
    fs.write(os.path.join(group, "cgroup.procs"), pid)


WRONG = {
    "07.confine": [confine_pid_first, confine_v1_only, confine_no_subtree_control, confine_pid_in_parent,
                   confine_megabytes],
}


class TestContract(LessonContract):
    lesson = "07"
    wrong = WRONG
    min_outcomes = 3


def test_the_lesson_record():
    assert l07.LESSON.number == "07" and l07.LESSON.needs_root


def test_confine_failure_says_why(capsys):
    checks.check("07.confine", confine_pid_first)
    out = capsys.readouterr().out
    assert "3 of 3 checks failed" in out and "write the limit first" in out


def confine_enable_after_mkdir(fs, group, pid, memory):
    """Right on the kernel: the child's memory.max appears when the parent enables memory."""
    fs.mkdir(group)
    if _v2(fs, group):
        fs.write(os.path.join(os.path.dirname(group), "cgroup.subtree_control"), "+memory")
    fs.write(os.path.join(group, "memory.max" if _v2(fs, group) else "memory.limit_in_bytes"), memory)
    fs.write(os.path.join(group, "cgroup.procs"), pid)


def test_enabling_memory_after_making_the_group_passes_as_on_the_kernel():
    result = checks.run_checks("07.confine", confine_enable_after_mkdir)
    assert result.failures == [] and result.passed
