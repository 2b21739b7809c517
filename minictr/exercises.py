"""The names the lesson notebooks import from ``minictr.exercises``: a re-export only.

The check framework lives in ``minictr/labs/checks.py``, and each lesson's
exercises and tools in ``minictr/labs/lNN.py``. The notebooks were written
against ``from minictr.exercises import check, require_root, trace_pivot,
format_call``, and strict nbval compares their stored outputs, so these names
stay importable from here. New code imports from ``minictr.labs``.

Man pages: see minictr/labs/checks.py.
"""

from __future__ import annotations

from .labs.checks import (
    Case, CaseFailed, Exercise, Outcome, Result, check, get, has_root, ids, register,
    require_root, run_checks, solution_cases,
)
from .labs.l03 import run_chrooted
from .labs.l04 import PIVOT_NEW_ROOT, format_call, trace_pivot

__all__ = [
    "Case", "CaseFailed", "Exercise", "Outcome", "Result", "check", "register", "get", "ids",
    "solution_cases", "run_checks", "require_root", "has_root", "run_chrooted", "trace_pivot",
    "format_call", "PIVOT_NEW_ROOT",
]
