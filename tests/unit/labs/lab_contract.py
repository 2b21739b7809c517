"""What every lesson's exercise tests check, shared by tests/unit/labs/test_lNN.py.

- the reference passes every case;
- every case fails at least one of the lesson's wrong answers (so no case is dead);
- no wrong answer passes;
- the lesson text has a written solution for each exercise.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from minictr.labs import checks

REPO = Path(__file__).resolve().parents[3]


def needs_root(exercise_id: str, why: str = "") -> None:
    if checks.get(exercise_id).needs_root and not checks.has_root():
        pytest.skip(f"the checks of {exercise_id} need root{why}; run the tests as root")


def fails(case, fn, *, errors_count: bool = False) -> bool:
    """Whether ``case`` fails ``fn``: a CaseFailed, or (``errors_count``) any exception, as run_checks counts it."""
    try:
        case.run(fn)
    except checks.CaseFailed:
        return True
    except Exception:
        if errors_count:
            return True
        raise
    return False


def assert_reference_passes(exercise_id: str, min_outcomes: int = 1) -> None:
    result = checks.run_checks(exercise_id, checks.get(exercise_id).reference())
    assert result.failures == []
    assert result.passed and len(result.outcomes) >= min_outcomes


def assert_every_case_fails_a_wrong_answer(exercise_id: str, wrong: list, *, errors_count: bool = False) -> None:
    for case in checks.solution_cases(exercise_id):
        assert any(fails(case, fn, errors_count=errors_count) for fn in wrong), \
            f"no wrong answer fails case {case.name!r}"


def assert_no_wrong_answer_passes(exercise_id: str, wrong: list) -> None:
    for fn in wrong:
        assert not checks.run_checks(exercise_id, fn).passed, getattr(fn, "__name__", fn)


def written_solutions(lesson: str) -> set[str]:
    """The exercise ids with a ```python solution=ID block in lessons/NN-*.md."""
    block = re.compile(r"^```python solution=(?P<id>\S+)[ \t]*$", re.M)
    return {m.group("id") for md in (REPO / "lessons").glob(f"{lesson}-*.md") for m in block.finditer(md.read_text())}
