"""Lesson 01 (minictr/labs/l01.py): the decode_status exercise, and what check() prints."""

from __future__ import annotations

import os

import pytest
from lab_contract import LessonContract

from minictr.labs import checks, l01
from minictr.labs.checks import check, run_checks

pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)

WRONG = [
    lambda s: s >> 8,
    lambda s: os.waitstatus_to_exitcode(s),
    lambda s: 128 + (s & 0xFF) if s & 0xFF else s >> 8,      # forgets the core-dump bit
    lambda s: s,
    lambda s: 1,
]


class TestContract(LessonContract):
    lesson = "01"
    wrong = {'01.decode_status': WRONG}


def test_the_lesson_record():
    assert l01.LESSON.number == "01" and l01.LESSON.needs_root  # its lab runs containers


def _stub(*args):
    raise NotImplementedError


def test_check_stub_falls_back_with_a_clear_message(capsys):
    fn = check("01.decode_status", _stub)
    from minictr.process import exit_status
    assert fn(0x8B) == exit_status(0x8B) == 139 and fn.yours is _stub
    assert capsys.readouterr().out == (
        "[01.decode_status] decode is not written yet (it raises NotImplementedError).\n"
        "Using the reference minictr.process.exit_status instead, so the rest of the notebook runs.\n")


def test_check_passing_returns_the_learners_function(capsys):
    def decode(status):
        return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)

    assert check("01.decode_status", decode) is decode
    assert capsys.readouterr().out == "[01.decode_status] all 10 checks passed: using your decode.\n"


def test_check_failure_names_the_case_and_why(capsys):
    fn = check("01.decode_status", lambda s: s >> 8)
    from minictr.process import exit_status
    assert fn(9) == exit_status(9) == 137 and fn.__name__ == "exit_status"
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "[01.decode_status] 5 of 10 checks failed:"
    assert out[1] == ("  x killed by SIGKILL: decode(0x0009) returned 0, expected 137: "
                      "killed by signal 9: the convention is 128+9")
    assert out[-2].startswith("Using the reference minictr.process.exit_status instead. Fix decode")
    assert out[-1] == ("(Yours is still decode.yours; run_checks('01.decode_status', decode) checks yours, "
                       "not the reference.)")


def test_after_a_failed_check_the_learners_function_is_still_checked(capsys):
    def decode(status):
        return status >> 8

    decode = check("01.decode_status", decode)        # what the notebook cell does
    assert decode(9) == 137                           # the rest of the notebook runs on the reference
    assert decode.yours(9) == 0                       # the learner's own is still there
    assert len(run_checks("01.decode_status", decode).failures) == 5   # used to report 0
    capsys.readouterr()
    again = check("01.decode_status", decode)         # running the check cell again re-checks theirs
    assert "5 of 10 checks failed" in capsys.readouterr().out
    assert again.yours is decode.yours and checks.yours(again) is decode.yours
    assert check("01.decode_status", None) is checks.get("01.decode_status").reference()


def test_learner_exception_is_reported_not_raised():
    def boom(status):
        raise KeyError("oops")

    result = run_checks("01.decode_status", boom)
    assert not result.passed
    assert result.failures[0].why == "your function raised KeyError: 'oops'"
