"""The lessons' quizzes: each lesson's ``QUIZZES`` table in ``lNN.py``, read as data.

The answer key stays out of the notebook: a lesson declares its quizzes in its
lab module, and the notebook only names one (``Quiz.lab("07.pids-limit")``)::

    QUIZZES = {
        "07.pids-limit": {
            "question": "A container runs with `--pids-limit 20` ... What happens?",
            "right": {"fork() fails with EAGAIN ...": "why it is right"},
            "wrong": {"the kernel kills the container": "why it is wrong", ...},
            # optional: "hint": "...", "explanation": "...", "multiple": True
        },
    }

Ids start with the lesson's number and a dot. The options are shuffled by the
widget (``minictr.widgets.quiz``) with a seed made from the id. Like
``LESSON``, the table is read with ``ast.literal_eval`` (no import of the
lesson's code), so it must be a literal.
"""

from __future__ import annotations

import os

__all__ = ["quizzes", "quiz_spec"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def quizzes(number: str, directory: str | None = None) -> dict:
    """The ``QUIZZES`` table of lesson ``number`` ("07"); empty if it has none."""
    import ast

    path = os.path.join(directory or _HERE, f"l{number}.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["QUIZZES"]:
            try:
                table = ast.literal_eval(node.value)
            except ValueError as e:
                raise ValueError(f"{path}: QUIZZES must be a literal dict ({e})") from None
            bad = [k for k in table if not k.startswith(f"{number}.")]
            if bad:
                raise ValueError(f"{path}: quiz ids must start with {number + '.'!r}: {bad}")
            return table
    return {}


def quiz_spec(quiz_id: str, directory: str | None = None) -> dict:
    """One quiz's entry, by id ("02.inside-an-image"): LookupError naming the known ids if absent."""
    number = quiz_id.split(".", 1)[0]
    if not (len(number) == 2 and number.isdigit()) or "." not in quiz_id:
        raise LookupError(f"quiz id {quiz_id!r} must look like 'NN.name' (NN: the lesson's number)")
    try:
        table = quizzes(number, directory)
    except FileNotFoundError:
        raise LookupError(f"no lesson {number} for quiz {quiz_id!r} (no minictr/labs/l{number}.py)") from None
    if quiz_id not in table:
        raise LookupError(f"lesson {number} has no quiz {quiz_id!r}; it has: {', '.join(sorted(table)) or 'none'}")
    return table[quiz_id]
