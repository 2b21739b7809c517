"""Every lesson text has the parts a learner and an instructor rely on.

A lesson is two files, ``lessons/NN-topic.md`` (the reading) and
``notebooks/NN-topic.ipynb`` (the lab). The text must name its objectives and
time, explain with at least one diagram, give the instructor notes, hold the
exercise solution (run by test_lesson_solutions.py), say how runc and crun do
the same thing, and point to further reading. The syllabus in
``lessons/README.md`` links every lesson that exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LESSONS = sorted((REPO / "lessons").glob("[0-9][0-9]-*.md"))

#: regular expressions, one per required "## " heading
REQUIRED_HEADINGS = ("## Objectives", "## Background", "## Instructor notes", "## Exercise solutions?",
                     "## How runc and crun do it", "## Further reading")


def test_there_are_lessons():
    from minictr import labs

    assert [p.stem[:2] for p in LESSONS] == [lesson.number for lesson in labs.lessons()]


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_text_has_every_part(lesson):
    text = lesson.read_text()
    missing = [h for h in REQUIRED_HEADINGS if not re.search(rf"^{h}$", text, re.M)]
    assert missing == [], f"{lesson.name} lacks {missing}"
    assert re.search(r"Time: \*\*\d+ minutes\*\*", text), f"{lesson.name} does not say how long it takes"
    assert re.search(r"^```\n", text, re.M), f"{lesson.name} has no diagram (a plain fenced block)"
    assert re.search(r"^```python solution=\d\d\.\w+$", text, re.M), f"{lesson.name} has no written solution"
    assert re.search(r"\b[a-z_0-9]+\([1-8]\)", text), f"{lesson.name} cites no man page"


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_text_links_its_notebook_and_the_syllabus_links_it(lesson):
    notebook = REPO / "notebooks" / (lesson.stem + ".ipynb")
    assert notebook.exists(), f"no lab notebook {notebook.name} for {lesson.name}"
    assert f"../notebooks/{notebook.name}" in lesson.read_text()
    assert f"({lesson.name})" in (REPO / "lessons" / "README.md").read_text()
