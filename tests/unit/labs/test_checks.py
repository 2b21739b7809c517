"""The check framework (minictr/labs/checks.py): the registry, the root probe, the forked child,
and the re-exports the notebooks import (minictr.exercises, minictr.reference)."""

from __future__ import annotations

import os

import pytest

from minictr.errors import MinictrError
from minictr.labs import checks, kit
from minictr.labs.checks import CaseFailed, run_checks

pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


def test_register_and_get():
    ex = checks.Exercise(
        id="99.double", title="Double a number", function="double", signature="def double(x) -> int",
        cases=lambda: [checks.Case("2 -> 4", lambda fn: None if fn(2) == 4 else (_ for _ in ()).throw(
            CaseFailed("double(2) is not 4")))],
        reference=lambda: (lambda x: 2 * x),
    )
    checks.register(ex)
    try:
        assert run_checks("99.double", lambda x: x * 2).passed
        assert run_checks("99.double", lambda x: x + 1).failures[0].why == "double(2) is not 4"
        assert "99.double" in checks.ids()
    finally:
        kit._REGISTRY.pop("99.double")  # the test's own exercise, so later tests do not see it
    with pytest.raises(MinictrError, match="no exercise '99.double'") as e:
        checks.get("99.double")
    assert "01.decode_status" in e.value.hint


def test_require_root_explains_what_is_missing(tmp_path, capsys):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nCapEff:\t0000000000000000\n")
    assert checks.require_root(status_path=str(status)) is False
    out = capsys.readouterr().out
    assert out.startswith("needs root: this notebook creates namespaces")
    assert "make lab-kernel" in out and "minictr doctor" in out
    if os.geteuid() == 0:
        assert "runs as root but without CAP_SYS_ADMIN" in out
        status.write_text("CapEff:\t000001ffffffffff\n")
        assert checks.require_root("lesson 04", status_path=str(status)) is True
        assert capsys.readouterr().out == (
            "ok: running as root with CAP_SYS_ADMIN, so the experiments in lesson 04 can run.\n")


def test_in_child_brings_results_and_errors_back():
    assert checks.in_child(lambda: os.getpid()) != os.getpid()
    with pytest.raises(NotImplementedError):
        checks.in_child(_raise(NotImplementedError))
    with pytest.raises(CaseFailed, match="your function raised KeyError: 'x'"):
        checks.in_child(_raise(KeyError("x")))
    with pytest.raises(CaseFailed, match="did not finish within 0.3 seconds"):
        checks.in_child(lambda: __import__("time").sleep(30), timeout=0.3)
    with pytest.raises(CaseFailed, match="died without an answer"):
        checks.in_child(lambda: os._exit(3))


def _raise(e):
    def body():
        raise e
    return body


def test_every_lesson_module_loads_on_first_use_and_registers_its_exercises():
    from minictr import labs

    numbers = [lesson.number for lesson in labs.lessons()]
    prefixes = {i.split(".")[0] for i in checks.ids()}
    assert prefixes <= set(numbers)
    for i in checks.ids():
        assert checks.get(i).id == i


def test_the_notebooks_imports_still_work():
    """Every name a notebook imports from minictr.exercises or minictr.reference (re-exports)."""
    from minictr import exercises, labs, reference
    from minictr.labs import l03, l04

    assert exercises.check is checks.check and exercises.trace_pivot is l04.trace_pivot
    assert exercises.format_call is l04.format_call and exercises.require_root is checks.require_root
    assert reference.breakout is l03.breakout
    assert exercises.run_chrooted is l03.run_chrooted and exercises.PIVOT_NEW_ROOT == l04.PIVOT_NEW_ROOT
    assert labs.lessons()  # the package itself


def test_require_root_lets_an_ordinary_user_run_a_lesson_that_runs_either_way(tmp_path, capsys):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nCapEff:\t000001ffffffffff\n")
    same = ("ok: the experiments in lesson 01 can run here, as root or as an ordinary user "
            "(in a user namespace).\n")
    assert checks.require_root(lesson="01", euid=1000, refusal=lambda: None, status_path=str(status)) is True
    assert capsys.readouterr().out == same
    # root prints the very same line, so the notebook's stored output does not depend on who runs it
    assert checks.require_root(lesson="01", euid=0, refusal=lambda: None, status_path=str(status)) is True
    assert capsys.readouterr().out == same


def test_require_root_names_the_host_setting_that_refuses_the_user_namespace(capsys):
    refused = ("kernel.unprivileged_userns_clone=0 forbids unprivileged user namespaces",
               "sysctl -w kernel.unprivileged_userns_clone=1")
    assert checks.require_root(lesson="00", euid=1000, refusal=lambda: refused) is False
    out = capsys.readouterr().out
    assert out.startswith("needs a user namespace: as an ordinary user, lesson 00 runs its containers in one;")
    assert "unprivileged_userns_clone=0 forbids" in out and "sysctl -w kernel.unprivileged_userns_clone=1" in out


def test_require_root_keeps_its_message_for_a_lesson_that_needs_root(capsys):
    assert checks.require_root(lesson="04", euid=1000, refusal=lambda: None) is False
    out = capsys.readouterr().out
    assert out.startswith("needs root: lesson 04 creates namespaces, mounts and chroots")
    assert "this kernel runs as uid 1000, not root" in out
