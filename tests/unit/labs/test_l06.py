"""Lesson 06 (minictr/labs/l06.py): every check case passes the reference and fails some wrong
answer; the checks leave no hostname change, veth, process or temporary file behind.

These checks need root (a PID namespace): they skip only without it."""

from __future__ import annotations

import os

import pytest
from lab_contract import LessonContract

from minictr.labs import checks, l06



pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


@pytest.fixture(autouse=True)
def root_only():
    if not checks.has_root():
        pytest.skip("the checks of lesson 06 need root (a PID namespace); run the tests as root")


# -- wrong answers: every case fails at least one -------------------------------------------

def _spawn(argv):
    pid = os.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    return pid


def _shell_code(status):
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _init_naive(argv):
    pid = _spawn(argv)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _init_no_reap(argv):
    import signal
    pid = _spawn(argv)
    signal.signal(signal.SIGTERM, lambda s, f: os.kill(pid, s))
    return _shell_code(os.waitpid(pid, 0)[1])


def _init_no_forward(argv):
    pid = _spawn(argv)
    while True:
        done, status = os.wait()
        if done == pid:
            return _shell_code(status)


def _init_raw_status(argv):
    pid = _spawn(argv)
    return os.waitpid(pid, 0)[1]       # the wait status, not the exit code


WRONG = {
    "06.init": [_init_naive, _init_no_reap, _init_no_forward, _init_raw_status],
}


class TestContract(LessonContract):
    lesson = "06"
    wrong = WRONG


def test_the_lesson_record():
    assert l06.LESSON.number == "06" and l06.LESSON.needs_root


