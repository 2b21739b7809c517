"""The lesson notebooks also run when the learner has solved the exercise.

CI runs the notebooks unsolved (strict nbval), so the exercise checks fall back
to minictr's reference. Here each notebook runs with its exercise cell replaced
by the written solution from ``lessons/NN-topic.md``: the check must then accept
the learner's function, and every later cell, which now uses that function,
must still run without an error. Each notebook runs against a private store and
runtime dir (the ``mc`` fixture checks that nothing is left behind).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("0[0-4]-*.ipynb"))
SOLUTION_RE = re.compile(r"^```python solution=(\S+)\n(.*?)^```", re.S | re.M)


def written_solution(notebook: Path) -> tuple[str, str]:
    """(exercise id, code) of the solution in the lesson text with the notebook's name."""
    text = (REPO / "lessons" / (notebook.stem + ".md")).read_text()
    found = SOLUTION_RE.findall(text)
    assert len(found) == 1, f"{notebook.stem}.md should hold exactly one written solution, found {len(found)}"
    return found[0]


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_with_the_exercise_solved(notebook, mc, monkeypatch):
    from minictr.exercises import get, has_root

    if not has_root():
        pytest.skip("the notebooks need root and CAP_SYS_ADMIN (namespaces, mount, chroot)")
    import nbformat
    from nbclient import NotebookClient

    exercise_id, code = written_solution(notebook)
    function = get(exercise_id).function
    nb = nbformat.read(notebook, as_version=4)
    stubs = [c for c in nb.cells if c.cell_type == "code" and "raise NotImplementedError" in c.source]
    assert len(stubs) == 1, f"{notebook.name} should have exactly one exercise stub"
    stubs[0].source = code

    # The kernel inherits this environment: a private store, and minictr from this checkout.
    monkeypatch.setenv("MINICTR_ROOT", mc.env["MINICTR_ROOT"])
    monkeypatch.setenv("MINICTR_RUNTIME_DIR", mc.env["MINICTR_RUNTIME_DIR"])
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(notebook.parent)}}).execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert errors == []
    stdout = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
    assert re.search(rf"\[{re.escape(exercise_id)}\] all \d+ checks passed: using your {function}\.", stdout), stdout
