"""Lesson 09 (minictr/labs/l09.py): the reference passes every case, every case fails some wrong
answer, and nothing is left behind."""

from __future__ import annotations

import pytest
from lab_contract import LessonContract

from minictr.labs import checks, l09



pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


def _flags_after_image(n, p):
    """Right flags, wrong place: after IMAGE they are the container's command."""
    return ["--name", n, "busybox", "-m", "32m", "--pids-limit", "20", "--hostname", "web",
            "httpd", "-f", "-p", str(p)]


WRONG = {
    "09.challenge": [
        lambda n, p: ["busybox", "httpd", "-p", str(p)],
        lambda n, p: ["--name", n, "--memory", "1g", "--pids-limit", "20", "-h", "x", "busybox", "httpd", "-f",
                      "-p", str(p)],
        lambda n, p: ["--name", n, "--memory", "32m", "--pids-limit", "0", "-h", "x", "busybox", "httpd", "-f",
                      "-p", str(p)],
        lambda n, p: ["--name", n, "--memory", "32m", "--pids-limit", "20", "busybox", "httpd", "-f", "-p", "80"],
        lambda n, p: ["--name", "other", "--memory", "32m", "--pids-limit", "20", "-h", "x", "alpine", "httpd",
                      "-f", "-p", str(p)],
        _flags_after_image,
    ],
}


class TestContract(LessonContract):
    lesson = "09"
    wrong = WRONG
    min_outcomes = 3


def test_the_lesson_record():
    assert l09.LESSON.number == "09" and l09.LESSON.needs_root


def test_flags_after_the_image_are_named():
    result = checks.run_checks("09.challenge", _flags_after_image)
    assert len(result.failures) == len(result.outcomes) == 5
    why = result.failures[0].why
    assert why.startswith("flags go before IMAGE: ['-m', '--pids-limit', '--hostname'] come after the image "
                          "'busybox'"), why

    def long_flag_late(n, p):
        return ["--name", n, "-m", "32m", "--pids-limit", "20", "busybox", "httpd", "-f", "-p", str(p),
                "--hostname", "web"]

    assert "['--hostname'] come after the image" in checks.run_checks("09.challenge", long_flag_late).failures[0].why
    assert checks.run_checks("09.challenge", l09.challenge_args).passed  # httpd's own -p, -h, -f are fine
