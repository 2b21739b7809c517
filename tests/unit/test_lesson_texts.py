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


READINGS = LESSONS + [REPO / "lessons" / "README.md"]
FOUR_STEPS = ("extract the image", "create namespaces", "change the root", "run the process")


def _existing() -> set[str]:
    return {p.stem[:2] for p in LESSONS}


@pytest.mark.parametrize("text", READINGS + [REPO / "README.md"], ids=lambda p: p.name)
def test_references_point_only_at_lessons_and_files_a_learner_has(text):
    body = text.read_text()
    missing = sorted({n for n in re.findall(r"\blesson (\d\d)\b", body) if n not in _existing()})
    assert missing == [], f"{text.name} refers to lessons that do not exist: {missing}"
    links = re.findall(r"\]\((?!https?:|#|mailto:)([^)#\s]+)", body)
    broken = [link for link in links if not (text.parent / link).exists()]
    assert broken == [], f"{text.name} links to files a learner does not have: {broken}"
    assert "NOTES.md" not in body


@pytest.mark.parametrize("text", READINGS, ids=lambda p: p.name)
def test_no_host_specific_details(text):
    body = text.read_text()
    for word in ("process_api", "PID 1 is not systemd", "e6327748"):
        assert word not in body, f"{text.name} describes one host: {word!r}"


@pytest.mark.parametrize("name", ["00-a-container-is-a-process.md", "09-putting-it-together.md", "README.md"])
def test_one_framing_of_docker_run(name):
    body = (REPO / "lessons" / name).read_text()
    assert all(step in body for step in FOUR_STEPS), f"{name} lacks one of the four steps {FOUR_STEPS}"
    for other in ("three steps", "five steps", "3 steps", "5 steps"):
        assert other not in body.lower(), f"{name} says {other!r}: docker run is four steps everywhere"


def test_the_readme_says_what_to_do_when_ctrl_c_does_not_stop_a_container():
    body = (REPO / "README.md").read_text()
    assert "Ctrl-C and PID 1" in body and "--init" in body and "minictr rm -f" in body
