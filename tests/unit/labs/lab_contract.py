"""What every lesson's exercise tests check, written once: ``LessonContract``.

For each exercise of lesson NN (``tests/unit/labs/test_lNN.py`` subclasses it):

- the reference passes every case;
- a stub (NotImplementedError) counts as not written;
- no wrong answer passes, and every case fails at least one of them (so no case is dead);
- the lesson text has a written solution for it.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from minictr.labs import checks

REPO = Path(__file__).resolve().parents[3]


def needs_root(exercise_id: str, why: str = "") -> None:
    if checks.get(exercise_id).needs_root and not checks.has_root():
        pytest.skip(f"the checks of {exercise_id} need root{why}; run the tests as root")


def diagnosis(exercise_id: str, answer, capsys) -> str:
    """What ``check(exercise_id, answer)`` prints, as the notebook shows it (skips where the checks need root)."""
    needs_root(exercise_id)
    checks.check(exercise_id, answer)
    return capsys.readouterr().out


def assert_reference_passes(exercise_id: str, min_outcomes: int = 1) -> None:
    result = checks.run_checks(exercise_id, checks.get(exercise_id).reference())
    assert result.failures == []
    assert result.passed and len(result.outcomes) >= min_outcomes


def written_solutions(lesson: str) -> set[str]:
    """The exercise ids with a ```python solution=ID block in lessons/NN-*.md."""
    block = re.compile(r"^```python solution=(?P<id>\S+)[ \t]*$", re.M)
    return {m.group("id") for md in (REPO / "lessons").glob(f"{lesson}-*.md") for m in block.finditer(md.read_text())}


class LessonContract:
    """The contract every lesson's exercises keep, written once.

    A lesson's test module says which wrong answers it has and inherits the rest::

        class TestContract(LessonContract):
            lesson = "07"
            wrong = {"07.confine": [confine_pid_first, confine_v1_only]}

    Each wrong answer is run once through ``checks.run_checks``, the runner the notebook's
    ``check`` uses, so an error in it counts as a failed case, as it does for a learner.
    """

    lesson: str = ""
    wrong: dict[str, list] = {}
    min_outcomes = 1  # the reference must pass at least this many cases

    def pytest_generate_tests(self, metafunc):
        if "exercise_id" in metafunc.fixturenames:
            metafunc.parametrize("exercise_id", sorted(self.wrong))

    def test_the_wrong_answers_cover_every_exercise_of_the_lesson(self):
        assert sorted(self.wrong) == [i for i in checks.ids() if i.startswith(self.lesson + ".")]

    def test_the_reference_passes_every_case(self, exercise_id):
        needs_root(exercise_id)
        assert_reference_passes(exercise_id, self.min_outcomes)

    def test_a_stub_is_not_written(self, exercise_id):
        needs_root(exercise_id)
        def stub(*args, **kwargs):
            raise NotImplementedError
        assert checks.run_checks(exercise_id, stub).not_written

    def test_no_wrong_answer_passes_and_every_case_fails_one(self, exercise_id):
        needs_root(exercise_id)
        failed_cases: set[str] = set()
        for fn in self.wrong[exercise_id]:
            result = checks.run_checks(exercise_id, fn)
            assert not result.passed, f"{getattr(fn, '__name__', fn)} passed"
            failed_cases |= {o.case for o in result.failures}
        names = {c.name for c in checks.solution_cases(exercise_id)}
        assert names - failed_cases == set(), "cases that no wrong answer fails"

    def test_every_exercise_has_a_written_solution(self, exercise_id):
        assert exercise_id in written_solutions(self.lesson)

    def test_the_lesson_record_has_its_number(self):
        module = importlib.import_module(f"minictr.labs.l{self.lesson}")
        assert module.LESSON.number == self.lesson
