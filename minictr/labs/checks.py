"""The check framework of the lesson notebooks: ``check``, ``run_checks`` and the lesson loader.

A notebook's exercise cell has the learner write one function; the next cell
calls::

    decode = check("01.decode_status", decode)

``check`` runs the exercise's cases against the learner's function and prints
(deterministic text, so strict nbval can compare it) which case failed and why.
If every case passes it returns the learner's function; otherwise, or if the
function is missing or still raises ``NotImplementedError``, it says so and
returns minictr's own reference, so the rest of the notebook still runs. The
notebooks are committed unsolved and CI runs them that way.

The cell rebinds the learner's name (``decode = check(..., decode)``), so after
a failure the reference it returns is a *fallback*: a function that calls the
reference and keeps the learner's own as ``decode.yours``. ``check`` and
``run_checks`` unwrap a fallback, so running the check cell again, or
``run_checks("01.decode_status", decode)``, checks the learner's function
again, never the reference.

Each lesson's exercises, cases and reference answers live in its own module,
``minictr/labs/lNN.py``, built from ``minictr.labs.kit`` (``register(Exercise(...))``,
``Case``, ``CaseFailed``, ``in_child``); ``get(id)``
imports that module the first time an id of lesson NN is asked for.
``solution_cases(id)`` returns an exercise's cases; ``run_checks(id, fn)``
returns the outcome as data without printing. Where ``MINICTR_CHECK_LOG`` is set (a
workshop's hub sets it), ``check`` also appends the outcome to that file
(``minictr/labs/progress.py``), so the instructor can see who is stuck where. Each ``Case.run(fn)`` raises
``CaseFailed(why)`` when the answer is wrong; any other exception escaping it
is the learner's function failing.

The lesson texts hold written solutions in fenced blocks whose info string is
``python solution=ID``; tests/unit/test_lesson_solutions.py runs each of them
against its exercise, so they cannot rot.

Man pages: fork(2), capabilities(7), namespaces(7), mount_namespaces(7).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from ..errors import MinictrError
from .kit import (
    CAP_SYS_ADMIN, Case, CaseFailed, ChildInNamespaces, Exercise, _cap_sys_admin, exc_line, has_root,
    in_child, lazy, private_mount_namespace, register, registered, rmtree,
)
from .lesson import Lesson

__all__ = [
    "Case", "CaseFailed", "Exercise", "Lesson", "Outcome", "Result", "check", "yours", "register", "get", "ids",
    "solution_cases", "run_checks", "require_root", "has_root", "in_child", "lazy", "exc_line",
    "private_mount_namespace", "ChildInNamespaces", "rmtree", "CAP_SYS_ADMIN",
]


@dataclass(frozen=True)
class Outcome:
    case: str
    passed: bool
    why: str = ""


@dataclass
class Result:
    """What ``run_checks`` found. ``passed`` only when every case passed."""

    exercise: Exercise
    outcomes: list[Outcome] = field(default_factory=list)
    not_written: bool = False          # None, or raised NotImplementedError
    skipped_no_root: bool = False      # the cases need root and we are not

    @property
    def passed(self) -> bool:
        return not (self.not_written or self.skipped_no_root) and all(o.passed for o in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.passed]


_MAX_SHOWN = 8  # failures printed by check(); run_checks() has them all


def _load_lesson(exercise_id: str) -> None:
    """Lesson NN's exercises live in ``minictr/labs/lNN.py``, registered when first asked for."""
    import importlib

    lesson = exercise_id.split(".", 1)[0]
    if lesson.isdigit():
        try:
            importlib.import_module(f"minictr.labs.l{lesson}")
        except ModuleNotFoundError as e:
            if e.name != f"minictr.labs.l{lesson}":
                raise


def get(exercise_id: str) -> Exercise:
    if exercise_id not in registered():
        _load_lesson(exercise_id)
    try:
        return registered()[exercise_id]
    except KeyError:
        known = ", ".join(sorted(registered()))
        raise MinictrError(f"no exercise {exercise_id!r}", hint=f"known exercises: {known}") from None


def ids() -> list[str]:
    """Every exercise id of every lesson (each ``minictr/labs/lNN.py`` is imported)."""
    from . import lesson_modules

    for number in lesson_modules():
        _load_lesson(number + ".")
    return sorted(registered())


def solution_cases(exercise_id: str) -> list[Case]:
    """The check cases of one exercise (what ``check`` runs)."""
    return get(exercise_id).cases()


def require_root(what: str = "this notebook", *, status_path: str = "/proc/self/status",
                 lesson: str | None = None, refusal: Callable | None = None, euid: int | None = None) -> bool:
    """The probe cell at the top of a notebook: print whether the experiments can run.

    Returns True when they can. Prints one line when all is well, and an
    explanation with the fixes when not (it never raises: the learner can
    still read the notebook).

    ``lesson`` ("00") names the notebook's lesson: when its ``LESSON`` record says
    ``privilege="either"`` (or ``"rootless"``), an ordinary user whose host allows
    user namespaces passes too, since minictr then runs containers in a user
    namespace. That line is the same for root and for the ordinary user, so the
    notebook's stored output is too. ``refusal()`` returns ``(why, fix)`` when a host
    setting refuses user namespaces (default: ``userns.refusal``); ``euid`` defaults to ours.
    """
    euid = os.geteuid() if euid is None else euid
    privilege = _privilege(lesson) if lesson else "root"
    if lesson and what == "this notebook":
        what = f"lesson {lesson}"
    if privilege != "root":
        if refusal is None:
            from ..userns import refusal
        refused = refusal() if euid != 0 else None
        if (euid == 0 and _cap_sys_admin(status_path)) or (euid != 0 and refused is None):
            print(f"ok: the experiments in {what} can run here, as root or as an ordinary user "
                  "(in a user namespace).")
            return True
        if euid != 0:
            why, fix = refused
            print(f"needs a user namespace: as an ordinary user, {what} runs its containers in one;")
            print(f"  the host refuses it: {why}.")
            print("How to fix it, pick one:")
            print(f"  - {fix};")
            print("  - or run as root: `sudo make lab`.")
            print("Run `python -m minictr doctor` for the full list of what this machine can do.")
            return False
    if euid == 0 and _cap_sys_admin(status_path):
        print(f"ok: running as root with CAP_SYS_ADMIN, so the experiments in {what} can run.")
        return True
    if euid != 0:
        why = f"this kernel runs as uid {euid}, not root"
    else:
        why = "this kernel runs as root but without CAP_SYS_ADMIN (inside an unprivileged container?)"
    print(f"needs root: {what} creates namespaces, mounts and chroots, which need root and CAP_SYS_ADMIN;")
    print(f"  {why}.")
    print("How to fix it, pick one:")
    print("  - as root on a Linux machine or VM: `make lab` (it serves JupyterLab as root on 127.0.0.1);")
    print("  - with sudo: `make lab-kernel` once, then choose the kernel 'minictr (root via sudo)';")
    print("  - in JupyterHub, Binder or a docker container without --privileged: use the lab VM instead.")
    print("Run `python -m minictr doctor` for the full list of what this machine can do.")
    return False


def _privilege(lesson: str) -> str:
    """The ``privilege`` of lesson ``lesson``'s ``LESSON`` record ("root" if there is none)."""
    from . import lessons

    return {record.number: record.privilege for record in lessons()}.get(lesson, "root")


def yours(fn: Callable | None) -> Callable | None:
    """The learner's own function behind a fallback that ``check`` returned (else ``fn`` itself)."""
    while fn is not None and hasattr(fn, "__minictr_yours__"):
        fn = fn.__minictr_yours__
    return fn


def _fallback(ref: Callable, learner_fn: Callable) -> Callable:
    """A function that runs ``ref`` and keeps ``learner_fn`` reachable as ``.yours``."""
    import functools

    @functools.wraps(ref)
    def fallback(*args, **kwargs):
        return ref(*args, **kwargs)

    fallback.__minictr_yours__ = learner_fn
    fallback.yours = learner_fn
    return fallback


def run_checks(exercise_id: str, learner_fn: Callable | None) -> Result:
    """Run every case of an exercise against ``learner_fn`` and return what happened. Prints nothing.

    A fallback returned by ``check`` is unwrapped: its learner's function is checked.
    """
    learner_fn = yours(learner_fn)
    ex = get(exercise_id)
    result = Result(ex)
    if learner_fn is None:
        result.not_written = True
        return result
    if ex.needs_root and not has_root():
        result.skipped_no_root = True
        return result
    for case in ex.cases():
        try:
            case.run(learner_fn)
        except NotImplementedError:
            result.not_written = True
            result.outcomes.clear()
            return result
        except CaseFailed as e:
            result.outcomes.append(Outcome(case.name, False, str(e)))
        except Exception as e:  # the learner's function itself failed
            result.outcomes.append(Outcome(case.name, False, f"your function raised {exc_line(e)}"))
        else:
            result.outcomes.append(Outcome(case.name, True))
    return result


def check(exercise_id: str, learner_fn: Callable | None = None) -> Callable:
    """Check the learner's function; return it if it passes, else minictr's reference.

    Prints what happened in a few deterministic lines. When a function was
    given but did not pass, the reference comes back as a fallback that keeps
    the learner's function (``fn.yours``), so it can be called and checked again.
    """
    learner_fn = yours(learner_fn)
    result = run_checks(exercise_id, learner_fn)
    if os.environ.get("MINICTR_CHECK_LOG"):  # a workshop's hub sets it: labs/progress.py
        from .progress import record
        record(result)
    ex = result.exercise
    tag = f"[{ex.id}]"
    if result.passed:
        print(f"{tag} all {len(result.outcomes)} checks passed: using your {ex.function}.")
        return learner_fn
    ref = ex.reference()
    ref_name = f"{ref.__module__}.{ref.__qualname__}"
    if learner_fn is None:
        print(f"{tag} no function given: using the reference {ref_name}.")
    elif result.not_written:
        print(f"{tag} {ex.function} is not written yet (it raises NotImplementedError).")
        print(f"Using the reference {ref_name} instead, so the rest of the notebook runs.")
    elif result.skipped_no_root:
        print(f"{tag} these checks need root (see the probe cell at the top); your {ex.function} was not checked.")
        print(f"Using the reference {ref_name} instead.")
    else:
        failed = result.failures
        print(f"{tag} {len(failed)} of {len(result.outcomes)} checks failed:")
        for o in failed[:_MAX_SHOWN]:
            print(f"  x {o.case}: {o.why}")
        if len(failed) > _MAX_SHOWN:
            print(f"  ... and {len(failed) - _MAX_SHOWN} more (run_checks({ex.id!r}, fn).failures lists them all)")
        print(f"Using the reference {ref_name} instead. Fix {ex.function} and run its cell and this one again.")
        print(f"(Yours is still {ex.function}.yours; run_checks({ex.id!r}, {ex.function}) checks yours, "
              "not the reference.)")
    return ref if learner_fn is None else _fallback(ref, learner_fn)


