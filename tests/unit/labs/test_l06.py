"""Lesson 06 (minictr/labs/l06.py): every check case passes the reference and fails some wrong
answer; the checks leave no hostname change, veth, process or temporary file behind.

These checks need root (a PID namespace): they skip only without it."""

from __future__ import annotations

import os

import pytest

from minictr.labs import checks, l06
from minictr.labs.checks import run_checks

IDS = ['06.init']


pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


@pytest.fixture(autouse=True)
def root_only():
    if not checks.has_root():
        pytest.skip("the checks of lesson 06 need root (a PID namespace); run the tests as root")


def test_the_lessons_register_their_exercises_when_asked():
    assert set(IDS) <= set(checks.ids())
    assert checks.get("06.init").function == "tiny_init"


@pytest.mark.parametrize("exercise_id", IDS)
def test_the_reference_passes_every_case(exercise_id):
    ex = checks.get(exercise_id)
    result = run_checks(exercise_id, ex.reference())
    assert result.failures == [] and result.passed


@pytest.mark.parametrize("exercise_id", IDS)
def test_a_stub_is_not_written(exercise_id):
    def stub(*args):
        raise NotImplementedError
    assert run_checks(exercise_id, stub).not_written


# -- wrong answers: every case fails at least one -------------------------------------------

def _init_naive(argv):
    pid = os.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _init_no_reap(argv):
    import signal
    pid = os.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    signal.signal(signal.SIGTERM, lambda s, f: os.kill(pid, s))
    status = os.waitpid(pid, 0)[1]
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _init_no_forward(argv):
    pid = os.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    while True:
        done, status = os.wait()
        if done == pid:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code


def _init_raw_status(argv):
    pid = os.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    return os.waitpid(pid, 0)[1]       # the wait status, not the exit code


WRONG = {
    "06.init": [_init_naive, _init_no_reap, _init_no_forward, _init_raw_status],
}


@pytest.mark.parametrize("exercise_id", IDS)
def test_every_case_fails_some_wrong_answer(exercise_id):
    failed_cases = set()
    for wrong in WRONG[exercise_id]:
        result = run_checks(exercise_id, wrong)
        assert not result.passed, f"{wrong.__name__} passed"
        failed_cases |= {o.case for o in result.failures}
    names = {c.name for c in checks.solution_cases(exercise_id)}
    assert failed_cases == names, f"cases no wrong answer fails: {names - failed_cases}"


def test_the_lesson_record():
    assert l06.LESSON.number == "06" and l06.LESSON.needs_root


def test_every_exercise_has_a_written_solution():
    from pathlib import Path
    texts = "".join(p.read_text() for p in (Path(__file__).resolve().parents[3] / "lessons").glob("06-*.md"))
    for exercise_id in IDS:
        assert f"```python solution={exercise_id}\n" in texts
