"""A lesson is four files, and nothing else lists the lessons.

``notebooks/NN-*.ipynb``, ``lessons/NN-*.md``, ``minictr/labs/lNN.py`` (with its
``LESSON`` record) and ``tests/unit/labs/test_lNN.py``. Here a throwaway lesson
99 is built in tmp_path: discovery (``labs.lessons``), doctor's verdict on what a
failing check blocks, and the layout check all pick it up with no edit anywhere
else; and the layout check fails as soon as one of the four files is missing.
The real repository passes the same check, and its two lesson tables (README.md,
lessons/README.md) list exactly the lessons that exist.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

import pytest

from minictr import doctor, labs
from minictr.cgroups import fake as cgfake
from minictr.labs.lesson import Lesson
from minictr.syscalls import FakeSyscalls

REPO = Path(__file__).resolve().parents[3]

L99 = '''"""Lesson 99: a throwaway lesson made by a test."""

from minictr.labs.lesson import Lesson

LESSON = Lesson("99", "A throwaway lesson", needs_root=True, tools=("no-such-tool-minictr-99",),
                namespaces=("uts",), controllers=("memory",), filesystems=("overlay",))
'''

FOUR = {
    "notebook": "notebooks/99-a-throwaway-lesson.ipynb",
    "reading": "lessons/99-a-throwaway-lesson.md",
    "module": "minictr/labs/l99.py",
    "test": "tests/unit/labs/test_l99.py",
}


def make_lesson(root: Path) -> None:
    for what, rel in FOUR.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(L99 if what == "module" else "{}\n" if what == "notebook" else "# 99\n")


def labs_dir(root: Path) -> str:
    return str(root / "minictr" / "labs")


def test_discovery_finds_the_new_lesson(tmp_path):
    make_lesson(tmp_path)
    [lesson] = labs.lessons(labs_dir(tmp_path))
    assert lesson == Lesson("99", "A throwaway lesson", True, ("no-such-tool-minictr-99",), ("uts",), ("memory",),
                            ("overlay",))
    assert labs.lesson_modules(labs_dir(tmp_path)) == ["99"]


@pytest.mark.parametrize("body", ["LESSON = None\n",
                                  'from minictr.labs.lesson import Lesson\nLESSON = Lesson("98", "x", False)\n'])
def test_a_module_without_its_record_is_refused(tmp_path, body):
    (tmp_path / "minictr" / "labs").mkdir(parents=True)
    (tmp_path / FOUR["module"]).write_text(body)
    with pytest.raises(ValueError, match=r"l99.py(: LESSON says number='98', the file name says '99'| must define LESSON = Lesson\(number='99')"):
        labs.lessons(labs_dir(tmp_path))


def test_doctor_blocks_the_new_lesson_from_its_record(tmp_path):
    make_lesson(tmp_path)
    lessons = labs.lessons(labs_dir(tmp_path))
    # needs_root
    assert doctor.check_root(1000, lessons).lessons == ("99",)
    # tools, looked up on an empty $PATH
    (tmp_path / "bin").mkdir()
    checks = doctor.run_checks(lessons=lessons, probes=False, path=str(tmp_path / "bin"))
    tools = next(c for c in checks if c.name == "tools")
    assert tools.status == "fail" and "no-such-tool-minictr-99 (lesson 99)" in tools.detail
    assert "99" in doctor.blocked_lessons(checks)
    # namespaces
    c = doctor.probe_namespace("uts", FakeSyscalls(fail={"unshare": errno.EPERM}), lessons=lessons)
    assert c.status == "fail" and c.lessons == ("99",)
    assert doctor.probe_namespace("pid", FakeSyscalls(fail={"unshare": errno.EPERM}), lessons=lessons).lessons == ()
    # controllers
    root, proc_self_cgroup, _fs = cgfake.build_v2(str(tmp_path / "cg"), controllers=("cpu", "pids"))
    by = {c.name: c for c in doctor.check_cgroups(root, proc_self_cgroup, probe=False, lessons=lessons)}
    assert by["cgroup controllers"].status == "fail" and by["cgroup controllers"].lessons == ("99",)
    # filesystems
    fs = tmp_path / "filesystems"
    fs.write_text("nodev\ttmpfs\n")
    assert doctor.check_overlay(str(fs), probe=False, lessons=lessons).lessons == ("99",)


def test_the_layout_check_accepts_the_four_files(tmp_path):
    make_lesson(tmp_path)
    assert labs.layout_problems(str(tmp_path)) == []


@pytest.mark.parametrize("missing", sorted(FOUR))
def test_the_layout_check_fails_without_one_of_the_four(tmp_path, missing):
    make_lesson(tmp_path)
    (tmp_path / FOUR[missing]).unlink()
    problems = labs.layout_problems(str(tmp_path))
    assert len(problems) == 1 and problems[0].startswith("lesson 99: ")
    hint = {"notebook": "notebooks/99-*.ipynb", "reading": "lessons/99-*.md", "module": "minictr/labs/l99.py",
            "test": "tests/unit/labs/test_l99.py"}[missing]
    assert hint in problems[0]


def test_the_layout_check_fails_on_names_that_differ(tmp_path):
    make_lesson(tmp_path)
    (tmp_path / FOUR["reading"]).rename(tmp_path / "lessons" / "99-another-name.md")
    assert labs.layout_problems(str(tmp_path)) == [
        "lesson 99: the notebook 99-a-throwaway-lesson and the reading 99-another-name differ in name"]


def test_the_repository_has_four_files_per_lesson():
    assert labs.layout_problems(str(REPO)) == []
    numbers = [lesson.number for lesson in labs.lessons()]
    assert numbers == sorted(numbers) and numbers[:10] == [f"{i:02d}" for i in range(10)]


def _table_rows(text: str) -> list[tuple[str, str, str]]:
    """``| 05 | [Title](path.md) | ...`` rows: (number, title, link)."""
    return re.findall(r"^\| (\d\d) \| \[([^\]]+)\]\(([^)]+)\) \|", text, re.M)


def test_the_readme_tables_list_exactly_the_lessons():
    lessons = labs.lessons()
    readings = {p.stem[:2]: p.name for p in (REPO / "lessons").glob("[0-9][0-9]-*.md")}
    top = _table_rows((REPO / "README.md").read_text())
    assert [(n, t) for n, t, _ in top] == [(lesson.number, lesson.title) for lesson in lessons]
    assert [link for _, _, link in top] == [f"lessons/{readings[lesson.number]}" for lesson in lessons]
    syllabus = _table_rows((REPO / "lessons" / "README.md").read_text())
    assert [(n, link) for n, _, link in syllabus] == [(lesson.number, readings[lesson.number]) for lesson in lessons]
