"""Widgets tested through their state: change them as a click would, assert on the data."""

from __future__ import annotations

import os

import pytest

from minictr import widgets
from minictr.widgets import FilesystemView, NamespaceExplorer, Quiz


# -- Quiz --------------------------------------------------------------------------------

def test_single_answer_quiz_checks_on_choice():
    q = Quiz("Which call changes the root of a mount namespace?", ["chroot", "pivot_root", "unshare"], 1,
             "pivot_root moves the mounts.", hint="think of mounts")
    assert (q.checked, q.correct, q.feedback) == (False, None, "")
    q.radio.value = 0                                # what a click on "chroot" does
    assert q.checked and q.correct is False and q.selected == (0,)
    assert q.feedback == "Not quite: 'chroot' is not it. Try again. Hint: think of mounts"
    q.select(1)
    assert q.correct is True
    assert q.feedback == "Correct. pivot_root moves the mounts."
    assert "Correct. pivot_root moves the mounts." in q.feedback_html.value


def test_selecting_the_same_option_again_checks_again():
    seen = []
    q = Quiz("Q?", ["a", "b"], 0, "A.")
    q.on_check(lambda quiz: seen.append(quiz.correct))
    q.select(0)
    q.select(0)
    assert seen == [True, True]


def test_multiple_answer_quiz_checks_on_the_button():
    q = Quiz("Which exist inside a container image?",
             ["application binaries", "application dependencies", "operating system", "Linux kernel"],
             [0, 1, 2], "Everything but the kernel: every container shares the host's.")
    assert q.multiple and q.button is not None and len(q.checkboxes) == 4
    q.checkboxes[0].value = True
    q.checkboxes[3].value = True
    assert not q.checked                             # ticking alone does not check
    q.button.click()
    assert q.correct is False and q.selected == (0, 3)
    assert q.feedback == "Not quite: 1 of your choices is wrong and 2 right answers are missing. Try again."
    q.select(0, 1, 2)
    assert q.correct is True and q.feedback.startswith("Correct. Everything but the kernel")


def test_empty_choice_and_bad_indices():
    q = Quiz("Q?", ["a", "b", "c"], [0, 2], "A and C.")
    q.button.click()
    assert q.correct is False and q.feedback == "Choose an answer first."
    with pytest.raises(IndexError):
        q.select(5)
    with pytest.raises(ValueError):
        Quiz("Q?", ["a"], 3, "no such option")
    with pytest.raises(ValueError):
        Quiz("Q?", ["a", "b"], 0, "x").select(0, 1)


def test_quiz_text_plain_lists_the_options_and_how_to_answer():
    q = Quiz("Is a `container` a process?", ["yes", "no"], 0, "Yes.")
    bundle = q._repr_mimebundle_()
    assert bundle["text/plain"] == ("Quiz: Is a container a process?\n  0. yes\n  1. no\n"
                                    "Click an answer, or from code: quiz.answer(i)")
    assert "<code>container</code>" in q.question_html.value      # backticks render as code
    long = Quiz("Q?", ["a " * 60, "b"], 0, "A.")
    assert all(len(line) <= 95 for line in repr(long).splitlines())         # fits a laptop's window
    q.answer(1)
    assert repr(q).endswith("\nNot quite: 'no' is not it. Try again.")
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "minictr-quiz" in q.widget._dom_classes


# -- NamespaceExplorer ----------------------------------------------------------------------

def test_explorer_of_a_process_with_itself_has_no_differences():
    ex = NamespaceExplorer("self", os.getpid(), label_a="me", label_b="me again")
    assert ex.readable and ex.differences == set() and ex.same_root is True
    kinds = {r.kind for r in ex.rows}
    assert {"mnt", "uts", "ipc", "net", "pid"} <= kinds
    assert all(r.same for r in ex.rows)
    assert repr(ex) == f"namespaces of me vs me again: 0 of {len(ex.rows)} differ; same root\n  different: none"


def test_explorer_says_the_container_exited_and_keeps_its_last_reading():
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        ex = NamespaceExplorer("self", child.pid, label_a="me", label_b="the container")
        before = list(ex.rows)
        assert ex.readable and not ex.exited
    finally:
        child.kill()
    child.wait()
    ex.button.click()                                 # Refresh, as a click would
    assert ex.exited == {"b"} and not ex.readable
    assert ex.rows == before and all(r.same for r in ex.rows)     # not "?" rows marked different
    assert "?" not in ex.table.value and "different" not in ex.table.value
    assert "the container (exited)" in ex.table.value
    assert repr(ex) == (f"namespaces of me vs the container: the container has exited\n"
                        f"  the last reading: 0 of {len(before)} differed: none")
    gone = NamespaceExplorer("self", child.pid, label_b="the container")
    assert gone.rows == [] and repr(gone).endswith("the container has exited, nothing to compare")


def test_explorer_sees_a_zombie_as_exited():
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    for _ in range(200):                              # it exits; nobody has waited for it yet: a zombie
        with open(f"/proc/{child.pid}/stat") as f:
            if f.read().rpartition(")")[2].split()[0] == "Z":
                break
        import time
        time.sleep(0.01)
    try:
        assert NamespaceExplorer("self", child.pid).exited == {"b"}
    finally:
        child.wait()


# -- FilesystemView -------------------------------------------------------------------------

@pytest.fixture
def two_roots(tmp_path):
    a, b = tmp_path / "host", tmp_path / "container"
    for d in ("bin", "etc", "home", "etc/ssl"):
        (a / d).mkdir(parents=True)
    for d in ("bin", "etc", "you-are-here"):
        (b / d).mkdir(parents=True)
    (a / "etc" / "hostname").write_text("host\n")
    (b / "etc" / "hostname").write_text("box\n")
    (b / "etc" / "mtab").symlink_to("/proc/self/mounts")
    return str(a), str(b)


def test_filesystem_view_compares_two_roots(two_roots):
    a, b = two_roots
    fv = FilesystemView(a, b, label_a="host", label_b="container")
    assert fv.path == "/"
    assert fv.in_both == {"bin", "etc"}
    assert fv.only_in_a == {"home"}
    assert fv.only_in_b == {"you-are-here"}
    assert fv.summary() == ("filesystem view of /: host beside container\n  3 names under container, "
                            "1 of them not under host (first: you-are-here)")
    assert fv.report().splitlines() == [
        "/: 3 names under host, 3 under container, 2 under both",
        "  home                     host: dir              container: -",
        "  you-are-here             host: -                container: dir"]


def test_filesystem_view_filters_and_scrolls(two_roots):
    a, b = two_roots
    fv = FilesystemView(a, b, label_a="host", label_b="container")
    assert fv.table.layout.max_height and fv.table.layout.overflow == "auto"   # a fixed height that scrolls
    assert [r.name for r in fv.shown] == ["bin", "etc", "home", "you-are-here"]
    fv.filter_buttons.value = "only differences"     # what a click does
    assert [r.name for r in fv.shown] == ["home", "you-are-here"]
    assert "2 of 4 names shown" in fv.table.value and "<code>bin</code>" not in fv.table.value
    fv.show("only in b")
    assert fv.filter_buttons.value == "only in b" and [r.name for r in fv.shown] == ["you-are-here"]
    assert "only in container" in fv.table.value
    assert [o[0] for o in fv.filter_buttons.options] == ["all", "only differences", "only in container"]
    fv.cd("/etc")                                     # the filter stays while moving around
    assert [r.name for r in fv.shown] == ["mtab"]
    with pytest.raises(ValueError, match="not one of all, only differences, only in b"):
        fv.show("everything")


def test_filesystem_view_follows_the_path_box(two_roots):
    a, b = two_roots
    fv = FilesystemView(a, b)
    fv.path_box.value = "etc/"                       # typing a path in the box
    assert fv.path == "/etc"
    assert fv.in_both == {"hostname"} and fv.only_in_a == {"ssl"} and fv.only_in_b == {"mtab"}
    row = next(r for r in fv.rows if r.name == "mtab")
    assert row.kind_b == "link -> /proc/self/mounts"
    fv.cd("/home")
    assert fv.path_box.value == "/home" and fv.missing == {"b"}
    assert "does not exist under" in fv.table.value


def test_widgets_module_is_not_imported_by_the_runtime():
    import subprocess
    import sys

    code = "import sys, minictr.cli, minictr.container; print('minictr.widgets' in sys.modules, 'ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.stdout.split() == ["False", "False"]
    assert widgets.__name__ == "minictr.widgets"


# -- the package: one module per widget, every public name re-exported ------------------------

def _modules():
    import pkgutil

    return [m.name for m in pkgutil.iter_modules(widgets.__path__) if not m.name.startswith("_")]


def test_all_lists_every_public_name_of_every_widget_module():
    import importlib
    import inspect

    seen = []
    for name in _modules():
        mod = importlib.import_module(f"minictr.widgets.{name}")
        defined = {n for n, v in vars(mod).items()
                   if not n.startswith("_") and (inspect.isclass(v) or inspect.isfunction(v))
                   and v.__module__ == mod.__name__}
        assert sorted(mod.__all__) == sorted(defined), name
        seen += mod.__all__
    assert sorted(widgets.__all__) == sorted(seen)
    assert len(seen) == len(set(seen))                     # one home per name
    for n in widgets.__all__:
        assert getattr(widgets, n) is getattr(importlib.import_module(getattr(widgets, n).__module__), n)
    assert set(widgets.__all__) <= set(dir(widgets))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        widgets.Nope


def test_a_name_imports_only_its_own_module():
    import subprocess
    import sys

    code = ("import sys, minictr.widgets; a = sorted(m for m in sys.modules if m.startswith('minictr.widgets.'));"
            "from minictr.widgets import Quiz; b = sorted(m for m in sys.modules if m.startswith('minictr.widgets.'));"
            "print(a, b, 'ipywidgets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.stdout.split("] ") == ["[", "['minictr.widgets._display', 'minictr.widgets.quiz'", "False\n"]
