"""Lesson 12 (minictr/labs/l12.py): the reference passes every case, every case fails some wrong
answer (with its diagnosis), the quizzes build from the lab module, and nothing is left behind."""

from __future__ import annotations

import os

import pytest
from lab_contract import LessonContract, diagnosis, needs_root

from minictr.labs import checks, l12
from minictr.syscalls import linux


pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


def _wait_and_exit_in_parent():
    child = os.fork()
    if child:
        _, status = os.waitpid(child, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def mnt_first_lazily(pid, kinds):
    """Opens each link just before its setns, in the order given (mnt first): /proc is the container's then."""
    kernel = linux()
    for kind in kinds:
        fd = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY)
        kernel.setns(fd, 0)
        os.close(fd)
    if "pid" in kinds:
        _wait_and_exit_in_parent()


def no_fork(pid, kinds):
    """The right order, but no fork after setns(pid)."""
    kernel = linux()
    fds = [os.open(f"/proc/{pid}/ns/{k}", os.O_RDONLY) for k in sorted(kinds, key=l12.ORDER.index)]
    for fd in fds:
        kernel.setns(fd, 0)
        os.close(fd)


def only_three(pid, kinds):
    """Ignores most of the list: joins uts, net, ipc (and forks anyway)."""
    kernel = linux()
    for kind in ("ipc", "uts", "net"):
        fd = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY)
        kernel.setns(fd, 0)
        os.close(fd)


def everything_always(pid, kinds):
    """Joins all six whatever it is asked."""
    l12.enter(pid, list(l12.ALL))


def both_return(pid, kinds):
    """Forks after setns(pid) but the parent returns too: two answers."""
    no_fork(pid, kinds)
    if "pid" in kinds:
        os.fork()


WRONG = [mnt_first_lazily, no_fork, only_three, everything_always, both_return]


class TestContract(LessonContract):
    lesson = "12"
    wrong = {'12.enter': WRONG}
    min_outcomes = 3


@pytest.mark.parametrize("wrong, says", [
    (mnt_first_lazily, "join mnt last"), (no_fork, "setns(pid) moves only"), (only_three, "not joined: mnt"),
    (everything_always, "no more"), (both_return, "two answers came back"),
])
def test_enter_diagnoses_the_mistake(capsys, wrong, says):
    assert says in diagnosis("12.enter", wrong, capsys)


def test_no_container_is_left(capsys):
    needs_root("12.enter")
    from minictr import state

    checks.check("12.enter", no_fork)
    assert [s.name for s in state.list_states() if s.name.startswith("lesson12-check")] == []


def test_the_lesson_record():
    assert l12.LESSON.number == "12" and l12.LESSON.needs_root and "pid" in l12.LESSON.namespaces


def test_the_order_is_user_first_and_mnt_last():
    assert l12.ORDER[0] == "user" and l12.ORDER[-1] == "mnt" and l12.ORDER.index("pid") < l12.ORDER.index("mnt")


