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


SPOILER = "<details>\n<summary>Solution (try the exercise first)</summary>\n"


def unhidden(text: str) -> list[str]:
    """The ids of solution blocks that are not inside a <details> marked as a solution spoiler."""
    out = []
    for m in BLOCK.finditer(text):
        before = text[:m.start()]
        opened = before.rfind(SPOILER)
        closed = before.rfind("</details>")
        after_close = text.find("</details>", m.end())
        if opened < 0 or closed > opened or after_close < 0:
            out.append(m.group("id"))
    return out


def test_the_spoiler_parser():
    block = "```python solution=01.decode_status\npass\n```\n"
    assert unhidden("text\n" + block) == ["01.decode_status"]
    assert unhidden(SPOILER + "\n" + block + "\n</details>\n") == []
    assert unhidden(SPOILER + "\n</details>\n" + block) == ["01.decode_status"]      # after it closed
    assert unhidden("<details>\n<summary>More</summary>\n" + block + "</details>\n") == ["01.decode_status"]


@pytest.mark.parametrize("md", sorted(LESSONS.glob("*.md")), ids=lambda p: p.name)
def test_every_solution_is_behind_a_spoiler(md):
    assert unhidden(md.read_text()) == [], f"{md.name}: wrap each solution block in {SPOILER!r} ... </details>"


@pytest.mark.parametrize("md", sorted(LESSONS.glob("[0-9][0-9]-*.md")), ids=lambda p: p.name)
def test_every_reading_says_what_to_read_before_and_after_the_lab(md):
    head = md.read_text()[:1500]
    assert "**Before the lab**" in head and "**After it**" in head
