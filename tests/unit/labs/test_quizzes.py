"""The quizzes: answer keys live in minictr/labs/lNN.py, never in a notebook.

``answer_key_leaks(path)`` is the check: it reads a notebook's sources and names
every place that shows a key (a Quiz built with ``answer=``/``explanation=``, an
assert on the key, or the text of a right option). It runs on every lesson
notebook, and is shown to fail on notebooks with a key planted in tmp_path.
The tables themselves are checked too: every quiz builds, every option has its
own explanation, the shuffle is deterministic, and the text form lists the
options and how to answer without saying which is right.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from minictr import labs
from minictr.labs.quizzes import quiz_spec, quizzes
from minictr.widgets import Quiz

REPO = Path(__file__).resolve().parents[3]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb"))

# What gives a key away in a notebook's code: the key given to the widget, or read back from it.
KEY_PATTERNS = [
    (re.compile(r"[(,]\s*(answer|correct|explanations?|right|wrong)\s*=(?!=)"), "a keyword argument that gives a key"),
    (re.compile(r"[\"'](answer|correct|explanations?|right|wrong)[\"']\s*:"), "a dict entry that gives a key"),
    (re.compile(r"\bQuiz\s*\(\s*['\"]"), "a Quiz built from literals in the notebook (use Quiz.lab(id))"),
    (re.compile(r"\.(answer|_key)\s*(==|!=|\bin\b)"), "an assert or test on the key"),
    (re.compile(r"\._key\b"), "the widget's private key"),
    (re.compile(r"\bquiz_spec\b|\bQUIZZES\b|\bquizzes\s*\("), "the lesson's quiz table read in the notebook"),
]
QUIZ_LAB = re.compile(r"""Quiz\.lab\(\s*["']([^"']+)["']\s*\)""")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _right_options(number: str) -> dict[str, str]:
    """Every right option's text of lesson ``number`` (long enough to be telling), mapped to its quiz id."""
    found = {}
    if number in labs.lesson_modules():
        for quiz_id, spec in quizzes(number).items():
            q = Quiz.from_spec(quiz_id, spec)
            for i in q._key:
                if len(q.options[i]) >= 12:
                    found[q.options[i]] = quiz_id
    return found


def answer_key_leaks(path: Path, right_options: dict[str, str] | None = None) -> list[str]:
    """Where notebook ``path`` shows a quiz's answer; empty when it shows none."""
    right_options = _right_options(path.name[:2]) if right_options is None else right_options
    leaks = []
    for n, cell in enumerate(_cells(path)):
        src = _source(cell)
        if cell.get("cell_type") == "code":
            for pattern, what in KEY_PATTERNS:
                m = pattern.search(src)
                if m:
                    leaks.append(f"{path.name} cell {n}: {what}: {m.group(0)!r}")
        for text, quiz_id in right_options.items():
            if text.lower() in src.lower():
                leaks.append(f"{path.name} cell {n}: the right option of {quiz_id} is written out: {text[:40]!r}")
    return leaks


def _notebook(tmp_path: Path, *sources: str) -> Path:
    path = tmp_path / "00-planted.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": s, "metadata": {}, "outputs": []}
                                          for s in sources], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


# -- the notebooks ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_no_notebook_shows_an_answer_key(path):
    assert answer_key_leaks(path) == []


@pytest.mark.parametrize("planted", [
    'Quiz("Q?", ["a", "b"], answer=1, explanation="b")',
    'q = Quiz("Why?", ["x", "y"], 1, "because")',
    "quiz = Quiz.lab('00.where-containers-live')\nassert quiz.answer == {1}",
    "print(quiz._key)",
    "from minictr.labs.quizzes import quiz_spec\nquiz_spec('00.where-containers-live')",
    'quizzes = {"q": {"question": "Q?", "right": {"a": "A"}}}',
    "# the answer: nowhere: a container is a process with its own namespaces, root and cgroup",
])
def test_the_check_fails_on_a_planted_key(tmp_path, planted):
    path = _notebook(tmp_path, "from minictr.widgets import Quiz", planted)
    leaks = answer_key_leaks(path)
    assert leaks and all("00-planted.ipynb cell 1" in leak for leak in leaks), leaks


def test_the_check_passes_a_clean_quiz_cell(tmp_path):
    path = _notebook(tmp_path, 'from minictr.widgets import Quiz\n\nquiz = Quiz.lab("00.where-containers-live")\nquiz',
                     'print(quiz.feedback if quiz.checked else "no answer yet")')
    assert answer_key_leaks(path) == []


def test_every_notebook_quiz_exists_and_every_quiz_is_shown():
    shown = set()
    for path in NOTEBOOKS:
        number = path.name[:2]
        ids = [m.group(1) for cell in _cells(path) for m in QUIZ_LAB.finditer(_source(cell))]
        assert all(i.startswith(number + ".") for i in ids), (path.name, ids)
        for quiz_id in ids:
            quiz_spec(quiz_id)            # raises LookupError if the lesson lacks it
        assert len(ids) == len(set(ids)), f"{path.name} shows a quiz twice"
        shown.update(ids)
    declared = {i for n in labs.lesson_modules() for i in quizzes(n)}
    lessons_with_notebooks = {p.name[:2] for p in NOTEBOOKS}
    declared = {i for i in declared if i[:2] in lessons_with_notebooks}
    assert declared - shown == set(), "quizzes declared but never shown"


def test_the_cell_after_a_quiz_does_not_reveal_it():
    for path in NOTEBOOKS:
        cells = _cells(path)
        for n, cell in enumerate(cells[:-1]):
            if QUIZ_LAB.search(_source(cell)):
                after = _source(cells[n + 1])
                assert not re.search(r"\.(answer|_key)\s*(==|!=|\bin\b)|\b_key\b|explanations?\b", after), \
                    f"{path.name} cell {n + 1} reveals the quiz above it: {after!r}"


def test_lesson_07_has_quizzes_on_memory_pids_cpu_and_the_cgroup_namespace():
    assert {"07.oom", "07.pids-limit", "07.cpu-quota", "07.cgroupns"} <= set(quizzes("07"))


# -- the tables ------------------------------------------------------------------------------

ALL_IDS = [i for n in labs.lesson_modules() for i in quizzes(n)]


@pytest.mark.parametrize("quiz_id", ALL_IDS)
def test_every_quiz_builds_and_every_option_explains_itself(quiz_id):
    spec = quiz_spec(quiz_id)
    assert spec["right"] and spec["wrong"] and spec["question"].strip()
    q = Quiz.lab(quiz_id)
    assert len(q.options) == len(set(q.options)) >= 2
    assert all(why.strip() for why in q.explanations), "every option needs its own explanation"
    assert q.multiple == (len(spec["right"]) > 1 or bool(spec.get("multiple")))
    text = q.summary()
    flat = " ".join(text.split())                # the text form wraps at 95 characters
    assert all(len(line) <= 95 for line in text.splitlines())
    for i, option in enumerate(q.options):
        assert f"  {i}. " in text and " ".join(option.replace("`", "").split()) in flat
    assert "quiz.answer(" in text
    assert "Correct" not in text and " ".join(q.explanation.split()) not in flat
    assert all(" ".join(why.split()) not in flat for why in q.explanations)
    assert "`" not in text                   # no raw markdown backticks


@pytest.mark.parametrize("quiz_id", ALL_IDS)
def test_the_shuffle_is_deterministic_and_the_key_follows_it(quiz_id):
    a, b = Quiz.lab(quiz_id), Quiz.lab(quiz_id)
    assert a.options == b.options and a._key == b._key
    right = set(quiz_spec(quiz_id)["right"])
    assert {a.options[i] for i in a._key} == right
    right_indices = sorted(a._key)
    a.answer(*right_indices) if a.multiple else a.answer(right_indices[0])
    assert a.correct is True and a.feedback.startswith("Correct.")


def test_the_right_option_is_not_always_first():
    first = [Quiz.lab(i)._key == {0} for i in ALL_IDS]
    assert sum(first) <= len(first) // 2


def test_a_wrong_choice_gets_its_own_explanation():
    q = Quiz.lab("01.oom-exit-code")
    wrong = q.options.index("-9")
    q.answer(wrong)
    assert q.correct is False
    assert q.feedback == ("Not quite: '-9': That is how Python's subprocess reports a signal (returncode -9); "
                          "exit codes are 0-255. Try again.")
    assert " ".join(q.summary().split()).endswith(q.feedback) and "  0. " in q.summary()


def test_an_unknown_id_names_the_known_ones():
    with pytest.raises(LookupError, match="lesson 07 has no quiz '07.nope'; it has: .*07.oom"):
        Quiz.lab("07.nope")
    with pytest.raises(LookupError, match="must look like 'NN.name'"):
        Quiz.lab("oom")
    with pytest.raises(LookupError, match="no lesson 98"):
        Quiz.lab("98.x")


def test_a_table_must_be_a_literal_with_the_lessons_prefix(tmp_path):
    (tmp_path / "l98.py").write_text('QUIZZES = {"98.a": {"question": "Q?", "right": {"a": "A."}, '
                                     '"wrong": {"b": "B."}}}\n')
    assert quiz_spec("98.a", str(tmp_path))["right"] == {"a": "A."}
    (tmp_path / "l97.py").write_text('QUIZZES = {"98.a": {}}\n')
    with pytest.raises(ValueError, match="must start with '97.'"):
        quizzes("97", str(tmp_path))
    (tmp_path / "l96.py").write_text('QUIZZES = {"96.a": make()}\n')
    with pytest.raises(ValueError, match="must be a literal"):
        quizzes("96", str(tmp_path))


def test_a_lesson_may_declare_a_quiz_in_the_constructors_own_terms(tmp_path):
    (tmp_path / "l95.py").write_text('QUIZZES = {"95.a": {"question": "Q?", "options": ["a", "b", "c"], '
                                     '"answer": 2, "explanation": "C."}}\n')
    q = Quiz.from_spec("95.a", quiz_spec("95.a", str(tmp_path)))
    q.answer(q.options.index("c"))
    assert q.correct is True and q.feedback == "Correct. C."
