"""Every written solution in lessons/*.md passes its exercise's checks, so solutions cannot rot.

A solution is a fenced block whose info string is exactly ``python solution=ID``;
it defines the function the exercise names (``Exercise.function``).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from minictr.labs import checks as exercises

LESSONS = Path(__file__).resolve().parents[2] / "lessons"
BLOCK = re.compile(r"^```python solution=(?P<id>\S+)[ \t]*\n(?P<code>.*?)^```[ \t]*$", re.M | re.S)


def solutions() -> list[tuple[str, str, str]]:
    """(file name, exercise id, code) for every solution block."""
    out = []
    for md in sorted(LESSONS.glob("*.md")):
        for m in BLOCK.finditer(md.read_text()):
            out.append((md.name, m.group("id"), m.group("code")))
    return out


def test_the_marker_parser():
    text = "x\n```python solution=01.decode_status\ndef decode(s):\n    return 0\n```\n```python\nno\n```\n"
    found = [(m.group("id"), m.group("code")) for m in BLOCK.finditer(text)]
    assert found == [("01.decode_status", "def decode(s):\n    return 0\n")]


def test_every_lesson_exercise_has_a_written_solution():
    written = {ex_id for _, ex_id, _ in solutions()}
    lesson_exercises = set(exercises.ids())  # every lesson's, from minictr/labs/lNN.py
    assert lesson_exercises - written == set(), f"no solution in {LESSONS} for these exercises"


@pytest.mark.parametrize("md,exercise_id,code", solutions(), ids=lambda v: v if len(v) < 40 else "")
def test_written_solution_passes(md, exercise_id, code, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ex = exercises.get(exercise_id)   # an unknown id in a lesson fails here, with the known ones
    if ex.needs_root and not exercises.has_root():
        pytest.skip(f"{exercise_id}'s checks need root; run the tests as root")
    namespace: dict = {"__name__": f"solution_{exercise_id.replace('.', '_')}"}
    exec(compile(code, f"{md}:{exercise_id}", "exec"), namespace)
    fn = namespace.get(ex.function)
    assert callable(fn), f"the solution of {exercise_id} in {md} does not define {ex.function}()"
    result = exercises.run_checks(exercise_id, fn)
    assert result.failures == [] and result.passed
