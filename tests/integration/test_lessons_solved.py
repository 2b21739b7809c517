"""Every lesson notebook also runs when the learner has solved its exercises.

CI runs the notebooks unsolved (strict nbval), so the exercise checks fall back
to minictr's reference. Here each notebook runs with every exercise stub (the
cell that raises NotImplementedError) replaced by the written solution from
``lessons/NN-topic.md`` that defines the same function: every check must then
accept the learner's function, and every later cell, which now uses it, must
still run without an error. Each notebook runs against a private store and
runtime dir (the ``mc`` fixture checks that nothing is left behind).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from minictr import labs

REPO = Path(__file__).resolve().parents[2]
#: The lessons come from their LESSON records (minictr/labs/lNN.py), not from a count.
LESSONS = labs.lessons()
NOTEBOOKS = [next((REPO / "notebooks").glob(f"{lesson.number}-*.ipynb")) for lesson in LESSONS
             if any((REPO / "notebooks").glob(f"{lesson.number}-*.ipynb"))]
SOLUTION_RE = re.compile(r"^```python solution=(\S+)\n(.*?)^```", re.S | re.M)
DEF_RE = re.compile(r"^def (\w+)\(", re.M)


def written_solutions(notebook: Path) -> dict[str, tuple[str, str]]:
    """{function name: (exercise id, code)} from the lesson text with the notebook's name."""
    from minictr.labs.checks import get

    text = (REPO / "lessons" / (notebook.stem + ".md")).read_text()
    return {get(ex_id).function: (ex_id, code) for ex_id, code in SOLUTION_RE.findall(text)}


def test_every_lesson_has_a_notebook():
    """Each LESSON has its notebook, reading and test, and each numbered notebook and reading has a LESSON."""
    assert [p.stem[:2] for p in NOTEBOOKS] == [lesson.number for lesson in LESSONS]
    assert labs.layout_problems(str(REPO)) == []


def test_every_lesson_layout_matches_the_records():
    on_disk = sorted(p.stem[:2] for p in (REPO / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    readings = sorted(p.stem[:2] for p in (REPO / "lessons").glob("[0-9][0-9]-*.md"))
    assert on_disk == readings == [lesson.number for lesson in LESSONS]


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_with_the_exercises_solved(notebook, mc, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    solutions = written_solutions(notebook)
    nb = nbformat.read(notebook, as_version=4)
    stubs = [c for c in nb.cells if c.cell_type == "code" and "raise NotImplementedError" in c.source]
    assert stubs, f"{notebook.name} has no exercise stub"
    assert sorted(DEF_RE.findall("\n".join(c.source for c in stubs))) == sorted(solutions)
    for cell in stubs:
        cell.source = solutions[DEF_RE.findall(cell.source)[0]][1]

    # The kernel inherits this environment: a private store, and minictr from this checkout.
    monkeypatch.setenv("MINICTR_ROOT", mc.env["MINICTR_ROOT"])
    monkeypatch.setenv("MINICTR_RUNTIME_DIR", mc.env["MINICTR_RUNTIME_DIR"])
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    NotebookClient(nb, timeout=180, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(notebook.parent)}}).execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert errors == []
    stdout = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
    for function, (exercise_id, _code) in solutions.items():
        assert re.search(rf"\[{re.escape(exercise_id)}\] all \d+ checks passed: using your {function}\.", stdout), stdout
