"""The lessons: one module per lesson, ``lNN.py``, and the check framework (``checks.py``).

A lesson is four files: ``notebooks/NN-*.ipynb`` (the lab), ``lessons/NN-*.md``
(the reading), ``minictr/labs/lNN.py`` and ``tests/unit/labs/test_lNN.py``.
``lNN.py`` holds the lesson's ``LESSON`` record (``lesson.Lesson``: its title,
whether it needs root, the tools, namespaces and cgroup controllers it uses),
its exercises (``checks.register(Exercise(...))``, ids starting with ``"NN."``)
and their reference answers. Nothing else lists the lessons:

- ``lessons()`` finds the ``lNN.py`` files by name and returns their records
  (doctor, the solved-notebook test and the layout test read it);
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


def _load(directory: str | None, number: str):
    import importlib

    if directory is None or os.path.abspath(directory) == _HERE:
        return importlib.import_module(f"minictr.labs.l{number}")
    import importlib.util
    import sys

    # A lesson package elsewhere (a test's throwaway one): load the file under a name of its own.
    name = f"_minictr_lessons_{abs(hash(os.path.abspath(directory)))}_l{number}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(directory, f"l{number}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def lessons(directory: str | None = None) -> list[Lesson]:
    """The ``LESSON`` record of every ``lNN.py`` in ``directory`` (default: this package), in order."""
    out = []
    for number in lesson_modules(directory):
        module = _load(directory, number)
        record = getattr(module, "LESSON", None)
        if not isinstance(record, Lesson) or record.number != number:
            raise ValueError(f"l{number}.py must define LESSON = Lesson(number={number!r}, ...)")
        out.append(record)
    return out


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
