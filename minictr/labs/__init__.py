"""The lessons: one module per lesson, ``lNN.py``, and the check framework (``checks.py``).

A lesson is four files: ``notebooks/NN-*.ipynb`` (the lab), ``lessons/NN-*.md``
(the reading), ``minictr/labs/lNN.py`` and ``tests/unit/labs/test_lNN.py``.
``lNN.py`` holds the lesson's ``LESSON`` record (``lesson.Lesson``: its title,
whether it needs root, the tools, namespaces and cgroup controllers it uses),
its exercises (``kit.register(Exercise(...))``, ids starting with ``"NN."``)
and their reference answers. Nothing else lists the lessons:

- ``lessons()`` finds the ``lNN.py`` files by name and returns their records
  (doctor, the solved-notebook test and the layout test read it), reading
  each record as data without importing the lesson's code;
- ``checks.get("05.hostname")`` imports ``l05.py`` the first time it is asked
  for, so the runtime never pays for the lessons;
- ``layout_problems(root)`` says which of the four files a lesson lacks.

The runtime never imports this package: ``minictr doctor`` and the notebooks
hand ``lessons()`` to ``doctor.run_checks``.
"""

from __future__ import annotations

import os
import re

from .lesson import Lesson

__all__ = ["Lesson", "lessons", "lesson_modules", "layout_problems"]

_MODULE_RE = re.compile(r"^l(\d\d)\.py$")
_HERE = os.path.dirname(os.path.abspath(__file__))


def lesson_modules(directory: str | None = None) -> list[str]:
    """The lesson numbers that have an ``lNN.py`` in ``directory`` (this package), sorted."""
    return sorted(m.group(1) for m in map(_MODULE_RE.match, os.listdir(directory or _HERE)) if m)


def _read_record(path: str, number: str) -> Lesson:
    """The ``LESSON = Lesson(...)`` of one lesson file, read as data (ast), not imported.

    Reading instead of importing keeps ``minictr doctor`` from loading every
    lesson's code (and the lessons, which import the CLI, from forming an
    import cycle with it). So a LESSON's arguments must be literals.
    """
    import ast

    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in tree.body:
        if (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["LESSON"]
                and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", None) == "Lesson"):
            try:
                args = [ast.literal_eval(a) for a in node.value.args]
                kwargs = {k.arg: ast.literal_eval(k.value) for k in node.value.keywords}
                record = Lesson(*args, **kwargs)
            except (ValueError, TypeError) as e:
                raise ValueError(f"{path}: LESSON = Lesson(...) takes literal arguments only ({e})") from None
            if record.number != number:
                raise ValueError(f"{path}: LESSON says number={record.number!r}, the file name says {number!r}")
            return record
    raise ValueError(f"{path} must define LESSON = Lesson(number={number!r}, ...)")


def lessons(directory: str | None = None) -> list[Lesson]:
    """The ``LESSON`` record of every ``lNN.py`` in ``directory`` (default: this package), in order."""
    directory = directory or _HERE
    return [_read_record(os.path.join(directory, f"l{n}.py"), n) for n in lesson_modules(directory)]


def layout_problems(root: str, directory: str | None = None) -> list[str]:
    """What breaks "a lesson is four files" under the checkout ``root``; ``[]`` when all is well.

    Each ``LESSON`` needs ``notebooks/NN-*.ipynb``, ``lessons/NN-*.md`` (with
    the notebook's name) and ``tests/unit/labs/test_lNN.py``; each numbered
    notebook and reading needs a ``LESSON``. ``directory`` defaults to
    ``root/minictr/labs``.
    """
    directory = directory or os.path.join(root, "minictr", "labs")
    numbered = re.compile(r"^(\d\d)-.+\.(ipynb|md)$")

    def stems(sub: str, ext: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        try:
            names = sorted(os.listdir(os.path.join(root, sub)))
        except FileNotFoundError:
            names = []
        for n in names:
            m = numbered.match(n)
            if m and m.group(2) == ext:
                found.setdefault(m.group(1), []).append(n[: -len(ext) - 1])
        return found

    notebooks, readings = stems("notebooks", "ipynb"), stems("lessons", "md")
    known = [lesson.number for lesson in lessons(directory)]
    problems = []
    for number in known:
        nb, md = notebooks.get(number, []), readings.get(number, [])
        if len(nb) != 1:
            problems.append(f"lesson {number}: {len(nb)} notebooks/{number}-*.ipynb, expected 1")
        if len(md) != 1:
            problems.append(f"lesson {number}: {len(md)} lessons/{number}-*.md, expected 1")
        if len(nb) == 1 and len(md) == 1 and nb != md:
            problems.append(f"lesson {number}: the notebook {nb[0]} and the reading {md[0]} differ in name")
        if not os.path.exists(os.path.join(root, "tests", "unit", "labs", f"test_l{number}.py")):
            problems.append(f"lesson {number}: no tests/unit/labs/test_l{number}.py")
    for number in sorted(set(notebooks) | set(readings)):
        if number not in known:
            problems.append(f"lesson {number}: a notebook or reading but no minictr/labs/l{number}.py with a LESSON")
    return problems
