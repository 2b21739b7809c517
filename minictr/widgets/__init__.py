"""Widgets for the notebooks, one module per widget.

module        names                                    lessons
quiz          Quiz                                     00-09
nsexplorer    NamespaceExplorer, NsRow                 00, 05, 09
fsview        FilesystemView, FsRow                    00
proctree      ProcessTree, ProcRow                     06
gauge         Gauge, MemoryGauge                       07, 08
imagetree     ImageTree, ImageNode, image_tree         08
_display      what they share: lazy ipywidgets and the one-line text/plain

``from minictr.widgets import Quiz`` imports only ``quiz`` (and ``_display``):
this package loads a widget's module when one of its names is first asked for
(PEP 562 ``__getattr__``). The runtime never imports this package; each widget
imports ``ipywidgets`` itself, lazily, when one is made.

Each widget keeps its *state* as plain Python data (``Quiz.correct``,
``NamespaceExplorer.differences``, ``FilesystemView.rows``) and draws it with
ipywidgets, so it can be tested in plain pytest: change the state through the
widgets (``quiz.radio.value = ...``, ``quiz.button.click()``) and assert on the
data, and a notebook cell can assert on it the same way right after the cell
that shows it (strict nbval does not compare live widgets). Shown in a
notebook, each widget's ``text/plain`` form is deterministic text that is
useful without a browser (nbval compares it, never the widget's model id).
A quiz's answer key is in its lesson's ``minictr/labs/lNN.py`` (``QUIZZES``):
``Quiz.lab("07.oom")`` builds it.

Man pages: namespaces(7), proc(5), pid_namespaces(7), cgroups(7).
"""

# Every public name and the module that defines it.
_HOME = {
    "Quiz": "quiz",
    "NamespaceExplorer": "nsexplorer", "NsRow": "nsexplorer",
    "FilesystemView": "fsview", "FsRow": "fsview",
    "ProcessTree": "proctree", "ProcRow": "proctree",
    "Gauge": "gauge", "MemoryGauge": "gauge",
    "ImageTree": "imagetree", "ImageNode": "imagetree", "image_tree": "imagetree",
}

__all__ = list(_HOME)


def __getattr__(name: str):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value   # asked once: the next lookup does not come here
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
