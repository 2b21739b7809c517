"""The exercise checks: the reference passes every case, every case fails some wrong answer,
and check() says what happened and falls back to the reference."""

from __future__ import annotations

import os

import pytest

from minictr import exercises
from minictr.errors import MinictrError, UnsafeLayerEntry
from minictr.exercises import CaseFailed, check, run_checks, solution_cases
from minictr.syscalls import MountFlags as MS
from minictr.syscalls import UmountFlags as MNT

IDS = ["00.ns_differences", "01.decode_status", "02.member_filter", "03.breakout", "04.pivot_sequence"]
ROOT_ONLY = {"03.breakout"}


pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


def needs_root(exercise_id):
    if exercise_id in ROOT_ONLY and not exercises.has_root():
        pytest.skip("the checks of this exercise need root (chroot); run the tests as root")


# -- wrong answers: each case must fail at least one of them ----------------------------

def _all_kinds(a, b):
    return set(os.listdir(f"/proc/{a}/ns"))


WRONG = {
    "00.ns_differences": [lambda a, b: set(), _all_kinds, lambda a, b: ["uts"]],
    "01.decode_status": [
        lambda s: s >> 8,
        lambda s: os.waitstatus_to_exitcode(s),
        lambda s: 128 + (s & 0xFF) if s & 0xFF else s >> 8,      # forgets the core-dump bit
        lambda s: s,
        lambda s: 1,
    ],
    "02.member_filter": [
        lambda m, d: True,
        lambda m, d: False,
        lambda m, d: None,
        lambda m, d: not (m.ischr() or m.isblk()),
    ],
    "03.breakout": [
        lambda: sorted(os.listdir("/")),                         # never left the chroot
        "climb_five",
    ],
    "04.pivot_sequence": ["no_private", "no_bind", "bare_pivot", "no_umount", "umount_no_detach",
                          "cwd_left_behind", "private_after_bind", "no_mkdir"],
}


def _climb_five():
    os.makedirs("/.out", exist_ok=True)
    os.chroot("/.out")
    for _ in range(5):
        os.chdir("..")
    os.chroot(".")
    return sorted(os.listdir("/"))


def _pivot_variant(kind):
    def enter_root(sys, new_root):
        if kind != "no_private" and kind != "private_after_bind":
            sys.mount(None, "/", None, MS.REC | MS.PRIVATE)
        if kind != "no_bind" and kind != "bare_pivot":
            sys.mount(new_root, new_root, None, MS.BIND | MS.REC)
        if kind == "private_after_bind":
            sys.mount(None, "/", None, MS.REC | MS.PRIVATE)
        put_old = new_root + "/.old"
        if kind != "no_mkdir":
            os.mkdir(put_old)
        sys.pivot_root(new_root, put_old)
        if kind != "cwd_left_behind":
            os.chdir("/")
        if kind == "umount_no_detach":
            sys.umount2("/.old", 0)
        elif kind != "no_umount":
            sys.umount2("/.old", MNT.DETACH)
    return enter_root


def _wrong_answers(exercise_id):
    out = []
    for w in WRONG[exercise_id]:
        if w == "climb_five":
            out.append(_climb_five)
        elif isinstance(w, str):
            out.append(_pivot_variant(w))
        else:
            out.append(w)
    return out


def _fails(case, fn) -> bool:
    try:
        case.run(fn)
    except CaseFailed:
        return True
    return False


@pytest.mark.parametrize("exercise_id", IDS)
def test_reference_passes_every_case(exercise_id):
    needs_root(exercise_id)
    ref = exercises.get(exercise_id).reference()
    result = run_checks(exercise_id, ref)
    assert result.failures == []
    assert result.passed and len(result.outcomes) >= 1


@pytest.mark.parametrize("exercise_id", IDS)
def test_every_case_fails_a_wrong_answer(exercise_id):
    needs_root(exercise_id)
    wrong = _wrong_answers(exercise_id)
    for case in solution_cases(exercise_id):
        assert any(_fails(case, fn) for fn in wrong), f"no wrong answer fails case {case.name!r}"


@pytest.mark.parametrize("exercise_id", IDS)
def test_no_wrong_answer_passes(exercise_id):
    needs_root(exercise_id)
    for fn in _wrong_answers(exercise_id):
        assert not run_checks(exercise_id, fn).passed


def test_pivot_accepts_the_dot_dot_variant_and_the_put_old_variant():
    def dot(sys, new_root):
        sys.mount(None, "/", None, MS.REC | MS.SLAVE)
        sys.mount(new_root, new_root, None, MS.BIND)
        sys.chdir(new_root)
        sys.pivot_root(".", ".")
        sys.umount2(".", MNT.DETACH)

    assert run_checks("04.pivot_sequence", dot).passed
    assert run_checks("04.pivot_sequence", _pivot_variant("correct")).passed


def test_pivot_trace_records_without_touching_the_machine():
    calls = exercises.trace_pivot(_pivot_variant("correct"))
    names = [c[0] for c in calls]
    assert names == ["mount", "mount", "mkdir", "pivot_root", "chdir", "umount2"]
    assert not os.path.exists(exercises.PIVOT_NEW_ROOT + "/.old")
    assert exercises.format_call(calls[0]) == "mount(None, '/', None, MS_REC|MS_PRIVATE, None)"
    assert exercises.format_call(calls[-1]) == "umount2('/.old', MNT_DETACH)"


def test_member_filter_refusing_a_contained_case_is_accepted_but_not_an_honest_one():
    def refuse_absolute(m, d):
        if m.name.startswith("/"):
            raise UnsafeLayerEntry(m.name, "absolute")
        return exercises.get("02.member_filter").reference()(m, d)

    assert run_checks("02.member_filter", refuse_absolute).passed

    def refuse_symlinks(m, d):
        if m.issym():
            raise UnsafeLayerEntry(m.name, "symlink")
        return exercises.get("02.member_filter").reference()(m, d)

    result = run_checks("02.member_filter", refuse_symlinks)
    assert [o.case for o in result.failures] == [
        "benign: a small rootfs (dirs, setuid file, symlinks, hard link, fifo)"]
    assert "you refused the honest member 'bin/sh'" in result.failures[0].why


def test_member_filter_wrong_exception_type_is_named():
    def wrong(m, d):
        if ".." in m.name:
            raise ValueError("dotdot")
        return True

    result = run_checks("02.member_filter", wrong)
    why = {o.case: o.why for o in result.failures}
    assert why["corpus: dotdot-name"] == ("your function raised ValueError: dotdot for '../sentinel/pwned'; "
                                          "raise minictr.errors.UnsafeLayerEntry to refuse a member")
    assert all("/tmp" not in w for w in why.values()), "temporary paths leak into the messages"


# -- check(): what it prints and returns --------------------------------------------------

def _stub(*args):
    raise NotImplementedError


def test_check_stub_falls_back_with_a_clear_message(capsys):
    fn = check("01.decode_status", _stub)
    from minictr.process import exit_status
    assert fn is exit_status
    assert capsys.readouterr().out == (
        "[01.decode_status] decode is not written yet (it raises NotImplementedError).\n"
        "Using the reference minictr.process.exit_status instead, so the rest of the notebook runs.\n")


def test_check_none_uses_the_reference(capsys):
    fn = check("04.pivot_sequence")
    assert fn is exercises.get("04.pivot_sequence").reference()
    assert capsys.readouterr().out == (
        "[04.pivot_sequence] no function given: using the reference minictr.reference.enter_root.\n")


def test_check_passing_returns_the_learners_function(capsys):
    def decode(status):
        return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)

    assert check("01.decode_status", decode) is decode
    assert capsys.readouterr().out == "[01.decode_status] all 10 checks passed: using your decode.\n"


def test_check_failure_names_the_case_and_why(capsys):
    fn = check("01.decode_status", lambda s: s >> 8)
    from minictr.process import exit_status
    assert fn is exit_status
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "[01.decode_status] 5 of 10 checks failed:"
    assert out[1] == ("  x killed by SIGKILL: decode(0x0009) returned 0, expected 137: "
                      "killed by signal 9: the convention is 128+9")
    assert out[-1].startswith("Using the reference minictr.process.exit_status instead. Fix decode")


def test_check_output_is_deterministic(capsys):
    check("02.member_filter", lambda m, d: True)
    first = capsys.readouterr().out
    check("02.member_filter", lambda m, d: True)
    assert capsys.readouterr().out == first
    failed = run_checks("02.member_filter", lambda m, d: True).failures
    assert len(failed) > 8 and f"... and {len(failed) - 8} more" in first  # only the first 8 are shown


def test_learner_exception_is_reported_not_raised():
    def boom(status):
        raise KeyError("oops")

    result = run_checks("01.decode_status", boom)
    assert not result.passed
    assert result.failures[0].why == "your function raised KeyError: 'oops'"


def test_forked_learner_errors_and_timeouts_come_back_as_failures():
    def boom(sys, new_root):
        raise RuntimeError("in the child")

    result = run_checks("04.pivot_sequence", boom)
    assert result.failures[0].why == "your function raised RuntimeError: in the child"

    def slow(sys, new_root):
        import time
        time.sleep(30)

    with pytest.raises(CaseFailed, match="did not finish within 0.5 seconds"):
        exercises.trace_pivot(slow, timeout=0.5)


def test_stub_in_a_forked_case_counts_as_not_written():
    result = run_checks("04.pivot_sequence", _stub)
    assert result.not_written and result.outcomes == []


# -- the registry and the root probe --------------------------------------------------------

def test_register_and_get():
    ex = exercises.Exercise(
        id="99.double", title="Double a number", function="double", signature="def double(x) -> int",
        cases=lambda: [exercises.Case("2 -> 4", lambda fn: None if fn(2) == 4 else (_ for _ in ()).throw(
            CaseFailed("double(2) is not 4")))],
        reference=lambda: (lambda x: 2 * x),
    )
    exercises.register(ex)
    try:
        assert run_checks("99.double", lambda x: x * 2).passed
        assert run_checks("99.double", lambda x: x + 1).failures[0].why == "double(2) is not 4"
        assert "99.double" in exercises.ids()
    finally:
        exercises._REGISTRY.pop("99.double")
    with pytest.raises(MinictrError, match="no exercise '99.double'") as e:
        exercises.get("99.double")
    assert "01.decode_status" in e.value.hint


def test_require_root_explains_what_is_missing(tmp_path, capsys):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nCapEff:\t0000000000000000\n")
    assert exercises.require_root(status_path=str(status)) is False
    out = capsys.readouterr().out
    assert out.startswith("needs root: this notebook creates namespaces")
    assert "make lab-kernel" in out and "minictr doctor" in out
    if os.geteuid() == 0:
        assert "runs as root but without CAP_SYS_ADMIN" in out
        status.write_text("CapEff:\t000001ffffffffff\n")
        assert exercises.require_root("lesson 04", status_path=str(status)) is True
        assert capsys.readouterr().out == (
            "ok: running as root with CAP_SYS_ADMIN, so the experiments in lesson 04 can run.\n")


@pytest.mark.root
def test_run_chrooted_runs_in_the_chroot_and_cleans_up():
    needs_root("03.breakout")
    assert sorted(exercises.run_chrooted(lambda: os.listdir("/"))) == [
        "bin", "etc", "tmp", "you-are-in-the-chroot"]
    assert exercises.run_chrooted(lambda: os.getcwd(), cwd="/tmp") == "/tmp"
    # the kernel process itself is untouched
    assert os.path.exists("/proc/self")
