"""Exercises of lessons 07-09 (minictr/labs/l07.py, l08.py, l09.py): the reference passes
every case, every case fails some wrong answer, and nothing is left behind."""

from __future__ import annotations

import os
import stat

import pytest

from minictr import exercises
from minictr.exercises import CaseFailed, run_checks, solution_cases

IDS = ["07.confine", "08.mount_layers", "08.whiteouts", "09.challenge"]


pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


def needs_root(exercise_id):
    if exercises.get(exercise_id).needs_root and not exercises.has_root():
        pytest.skip(f"the checks of {exercise_id} mount overlayfs in a child; run the tests as root")


# -- wrong answers -------------------------------------------------------------------------

def _v2(fs, group):
    return fs.exists(os.path.join(os.path.dirname(group), "cgroup.controllers"))


def confine_pid_first(fs, group, pid, memory):
    fs.mkdir(group)
    fs.write(os.path.join(group, "cgroup.procs"), pid)
    fs.write(os.path.join(group, "memory.max" if _v2(fs, group) else "memory.limit_in_bytes"), memory)


def confine_v1_only(fs, group, pid, memory):
    fs.mkdir(group)
    fs.write(os.path.join(group, "memory.limit_in_bytes"), memory)
    fs.write(os.path.join(group, "cgroup.procs"), pid)


def confine_no_subtree_control(fs, group, pid, memory):
    fs.mkdir(group)
    fs.write(os.path.join(group, "memory.max" if _v2(fs, group) else "memory.limit_in_bytes"), memory)
    fs.write(os.path.join(group, "cgroup.procs"), pid)


def confine_pid_in_parent(fs, group, pid, memory):
    if _v2(fs, group):
        fs.write(os.path.join(os.path.dirname(group), "cgroup.subtree_control"), "+memory")
    fs.mkdir(group)
    fs.write(os.path.join(group, "memory.max" if _v2(fs, group) else "memory.limit_in_bytes"), memory)
    if not _v2(fs, group):
        fs.write(os.path.join(os.path.dirname(group), "cgroup.procs"), pid)


def confine_megabytes(fs, group, pid, memory):
    if _v2(fs, group):
        fs.write(os.path.join(os.path.dirname(group), "cgroup.subtree_control"), "+memory")
    fs.mkdir(group)
    fs.write(os.path.join(group, "memory.max" if _v2(fs, group) else "memory.limit_in_bytes"), f"{memory >> 20}M")
    fs.write(os.path.join(group, "cgroup.procs"), pid)


def layers_bottom_first(sys, layers, upper, work, target):
    sys.mount("overlay", target, "overlay", 0, f"lowerdir={':'.join(layers)},upperdir={upper},workdir={work}")


def layers_read_only(sys, layers, upper, work, target):
    sys.mount("overlay", target, "overlay", 0, f"lowerdir={':'.join(reversed(layers))}")


def layers_top_two_only(sys, layers, upper, work, target):
    top = list(reversed(layers))[:2]
    sys.mount("overlay", target, "overlay", 0, f"lowerdir={':'.join(top)},upperdir={upper},workdir={work}")


def whiteouts_just_delete(layer):
    for d, _dn, fn in os.walk(layer):
        for n in fn:
            if n.startswith(".wh."):
                os.unlink(os.path.join(d, n))


def whiteouts_files_only(layer):
    for d, _dn, fn in os.walk(layer):
        for n in fn:
            if n.startswith(".wh.") and n != ".wh..wh..opq":
                os.unlink(os.path.join(d, n))
                os.mknod(os.path.join(d, n[4:]), stat.S_IFCHR | 0o600, os.makedev(0, 0))


def whiteouts_keep_markers(layer):
    for d, _dn, fn in os.walk(layer):
        for n in fn:
            if n == ".wh..wh..opq":
                os.setxattr(d, "trusted.overlay.opaque", b"y")
            elif n.startswith(".wh."):
                os.mknod(os.path.join(d, n[4:]), stat.S_IFCHR | 0o600, os.makedev(0, 0))


WRONG = {
    "07.confine": [confine_pid_first, confine_v1_only, confine_no_subtree_control, confine_pid_in_parent,
                   confine_megabytes],
    "08.mount_layers": [layers_bottom_first, layers_read_only, layers_top_two_only],
    "08.whiteouts": [whiteouts_just_delete, whiteouts_files_only, whiteouts_keep_markers],
    "09.challenge": [
        lambda n, p: ["busybox", "httpd", "-p", str(p)],
        lambda n, p: ["--name", n, "--memory", "1g", "--pids-limit", "20", "-h", "x", "busybox", "httpd", "-f",
                      "-p", str(p)],
        lambda n, p: ["--name", n, "--memory", "32m", "--pids-limit", "0", "-h", "x", "busybox", "httpd", "-f",
                      "-p", str(p)],
        lambda n, p: ["--name", n, "--memory", "32m", "--pids-limit", "20", "busybox", "httpd", "-f", "-p", "80"],
        lambda n, p: ["--name", "other", "--memory", "32m", "--pids-limit", "20", "-h", "x", "alpine", "httpd",
                      "-f", "-p", str(p)],
    ],
}


def _fails(case, fn) -> bool:
    try:
        case.run(fn)
    except CaseFailed:
        return True
    except Exception:
        return True  # the learner's function raising counts as a failure in run_checks too
    return False


@pytest.mark.parametrize("exercise_id", IDS)
def test_reference_passes_every_case(exercise_id):
    needs_root(exercise_id)
    result = run_checks(exercise_id, exercises.get(exercise_id).reference())
    assert result.failures == [] and result.passed and len(result.outcomes) >= 3


@pytest.mark.parametrize("exercise_id", IDS)
def test_every_case_fails_a_wrong_answer(exercise_id):
    needs_root(exercise_id)
    for case in solution_cases(exercise_id):
        assert any(_fails(case, fn) for fn in WRONG[exercise_id]), f"no wrong answer fails case {case.name!r}"


@pytest.mark.parametrize("exercise_id", IDS)
def test_no_wrong_answer_passes(exercise_id):
    needs_root(exercise_id)
    for fn in WRONG[exercise_id]:
        assert not run_checks(exercise_id, fn).passed, fn.__name__


def test_ids_lists_the_later_lessons():
    assert set(IDS) <= set(exercises.ids())


def test_confine_failure_says_why(capsys):
    exercises.check("07.confine", confine_pid_first)
    out = capsys.readouterr().out
    assert "3 of 3 checks failed" in out and "write the limit first" in out


def test_every_exercise_of_07_to_09_has_a_written_solution():
    import re
    from pathlib import Path

    block = re.compile(r"^```python solution=(?P<id>\S+)[ \t]*$", re.M)
    lessons = Path(__file__).resolve().parents[2] / "lessons"
    written = {m.group("id") for md in lessons.glob("0[789]-*.md") for m in block.finditer(md.read_text())}
    assert set(IDS) - written == set()
