"""`make test` runs pytest on two workers (pytest-xdist, --dist loadfile). The top conftest.py gives
each lesson a lock, so that two files that run the same lesson notebook (strict nbval, the browser
walk, the solved runs) never run it at the same time, while different lessons do run side by side.

Checked on a small generated project that uses the real conftest.py: two files whose tests run
lesson "11" (a Path parameter, as tests/browser and test_lessons_solved have), and one that runs
lesson "12", and a test marked ``alone`` (it runs while the other worker waits); each test writes
when it starts and ends."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

TEST = '''
import os, time
from pathlib import Path
import pytest

{mark}
@pytest.mark.parametrize("nb", [Path("notebooks/{lesson}-x.ipynb")])
def test_runs_a_lesson(nb):
    with open(os.environ["SPANS"], "a") as f:
        f.write(f"{name} start {{time.monotonic()}}\\n")
    time.sleep(1.0)
    with open(os.environ["SPANS"], "a") as f:
        f.write(f"{name} end {{time.monotonic()}}\\n")
'''


def spans(path: Path) -> dict[str, tuple[float, float]]:
    found: dict[str, list[float]] = {}
    for line in path.read_text().splitlines():
        name, _what, when = line.split()
        found.setdefault(name, []).append(float(when))
    return {name: (min(t), max(t)) for name, t in found.items()}


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_the_same_lesson_never_runs_twice_at_once_and_others_do(tmp_path):
    shutil.copy(REPO / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    alone: runs alone\n")
    for name, lesson, mark in (("a", "11", ""), ("b", "11", ""), ("c", "12", ""), ("d", "12", ""),
                               ("e", "xx", "@pytest.mark.alone"), ("f", "yy", "")):
        (tmp_path / f"test_{name}.py").write_text(TEST.format(lesson=lesson, name=name, mark=mark))
    # c's clean-up fails (as a test that leaves a container behind does): its locks must go all the same
    with open(tmp_path / "test_c.py", "a") as f:
        f.write("\n@pytest.fixture(autouse=True)\ndef failing_cleanup():\n    yield\n"
                "    raise AssertionError('state left behind')\n")
    out = tmp_path / "spans.txt"
    (tmp_path / "tmp").mkdir()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                        "--dist", "loadfile", "test_a.py", "test_b.py", "test_c.py", "test_d.py",
                        "test_e.py", "test_f.py"],
                       cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "SPANS": str(out), "PYTHONPATH": str(REPO),
                                                   "TMPDIR": str(tmp_path / "tmp")},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "1 passed" not in r.stdout and "6 passed, 1 error" in r.stdout, r.stdout + r.stderr
    s = spans(out)
    assert sorted(s) == ["a", "b", "c", "d", "e", "f"]
    assert not overlap(s["a"], s["b"]), s   # both run lesson 11: one waited for the other
    assert not overlap(s["c"], s["d"]), s
    # two workers, four 1 s tests: the locks did not serialise everything (different lessons overlapped)
    assert any(overlap(s[x], s[y]) for x in "ab" for y in "cd"), s
    # e is marked alone: nothing else ran meanwhile
    assert [x for x in "abcdf" if overlap(s[x], s["e"])] == [], s
    assert list((tmp_path / "tmp").glob("minictr-test-locks-*")) == []   # the controller removed its lock dir
