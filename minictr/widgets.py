"""Widgets for the notebooks: a quiz, a namespace explorer and a filesystem view.

The runtime never imports this module; it imports ``ipywidgets`` itself, lazily,
when a widget is made. Each widget keeps its *state* as plain Python data
(``Quiz.correct``, ``NamespaceExplorer.differences``, ``FilesystemView.rows``)
and draws it with ipywidgets, so it can be tested in plain pytest: change the
state through the widgets (``quiz.radio.value = ...``, ``quiz.button.click()``)
and assert on the data, and a notebook cell can assert on it the same way
right after the cell that shows it (strict nbval does not compare live
widgets).

Shown in a notebook, each widget's ``text/plain`` form is one deterministic
line (nbval compares that line, never the widget's model id).

Man pages: namespaces(7) (the /proc/PID/ns links), proc(5) (/proc/PID/root).
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

__all__ = ["Quiz", "NamespaceExplorer", "NsRow", "FilesystemView", "FsRow"]


def _ipywidgets():
    import ipywidgets  # the lab extra: pip install '.[lab]'

    return ipywidgets


class _Displayable:
    """Show ``self.widget`` in a notebook, with a stable one-line text/plain."""

    widget = None

    def summary(self) -> str:
        return type(self).__name__

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        data = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude, **kwargs) or {})
        data["text/plain"] = self.summary()
        return data

    def __repr__(self) -> str:
        return self.summary()


# -- Quiz ------------------------------------------------------------------------------

class Quiz(_Displayable):
    """A multiple-choice question with feedback and an explanation.

    ``answer`` is the index of the right option, or a collection of indices
    when several options are right (then the learner ticks boxes and presses
    "Check"). With one answer, choosing an option checks it at once::

        q = Quiz("Which call changes the root of a whole mount namespace?",
                 ["chroot", "pivot_root", "unshare"], 1,
                 "pivot_root moves the mounts; chroot only changes one process's idea of /.")
        q            # shows it
        q.select(1); q.correct   # True

    State: ``selected`` (tuple of indices), ``checked``, ``correct`` (None until
    checked), ``feedback`` (the text shown under the options).
    """

    def __init__(self, question: str, options: Sequence[str], answer: int | Iterable[int],
                 explanation: str, *, hint: str = ""):
        if isinstance(answer, int):
            self.multiple = False
            self.answer = frozenset({answer})
        else:
            self.multiple = True
            self.answer = frozenset(answer)
        self.question = question
        self.options = list(options)
        if not self.options or not all(0 <= i < len(self.options) for i in self.answer) or not self.answer:
            raise ValueError(f"answer {sorted(self.answer)} does not index the {len(self.options)} options")
        self.explanation = explanation
        self.hint = hint
        self.selected: tuple[int, ...] = ()
        self.checked = False
        self.correct: bool | None = None
        self.feedback = ""
        self._callbacks: list[Callable[[Quiz], None]] = []
        self._build()

    def _build(self) -> None:
        w = _ipywidgets()
        self.question_html = w.HTML(f"<b>{html.escape(self.question)}</b>")
        self.feedback_html = w.HTML("")
        self.feedback_html.add_class("minictr-quiz-feedback")
        if self.multiple:
            self.radio = None
            self.checkboxes = [w.Checkbox(value=False, description=o, indent=False,
                                          layout=w.Layout(width="auto")) for o in self.options]
            self.button = w.Button(description="Check", button_style="primary")
            self.button.on_click(lambda _b: self.check())
            choices = w.VBox(self.checkboxes)
            self.instructions = w.HTML("<i>Tick every right answer, then press Check.</i>")
            children = [self.question_html, self.instructions, choices, self.button, self.feedback_html]
        else:
            self.checkboxes = []
            self.button = None
            self.radio = w.RadioButtons(options=self.options, value=None, layout=w.Layout(width="auto"))
            self.radio.observe(self._on_radio, names="value")
            children = [self.question_html, self.radio, self.feedback_html]
        self.widget = w.VBox(children)
        self.widget.add_class("minictr-quiz")

    def _on_radio(self, change) -> None:
        if change["new"] is None:
            return
        self.selected = (self.options.index(change["new"]),)
        self.check()

    def select(self, *indices: int) -> "Quiz":
        """Choose options by index, as a click would, and check (one-answer quizzes check on choice)."""
        for i in indices:
            if not 0 <= i < len(self.options):
                raise IndexError(f"option {i} does not exist (there are {len(self.options)})")
        if self.multiple:
            for i, box in enumerate(self.checkboxes):
                box.value = i in indices
            self.check()
        else:
            if len(indices) != 1:
                raise ValueError("this quiz has one answer: select exactly one option")
            if self.radio.value == self.options[indices[0]]:
                self.check()  # choosing the same option again still checks
            self.radio.value = self.options[indices[0]]
        return self

    def check(self) -> bool:
        """Compare the selection with the answer; set ``correct`` and ``feedback``. Returns ``correct``."""
        if self.multiple:
            self.selected = tuple(i for i, box in enumerate(self.checkboxes) if box.value)
        chosen = frozenset(self.selected)
        self.checked = True
        self.correct = chosen == self.answer
        if self.correct:
            self.feedback = f"Correct. {self.explanation}"
        elif not chosen:
            self.feedback = "Choose an answer first."
        elif self.multiple:
            missing, wrong = len(self.answer - chosen), len(chosen - self.answer)
            parts = []
            if wrong:
                parts.append(f"{wrong} of your choices {'is' if wrong == 1 else 'are'} wrong")
            if missing:
                parts.append(f"{missing} right answer{'' if missing == 1 else 's'} {'is' if missing == 1 else 'are'} missing")
            self.feedback = f"Not quite: {' and '.join(parts)}. Try again." + (f" Hint: {self.hint}" if self.hint else "")
        else:
            self.feedback = (f"Not quite: {self.options[next(iter(chosen))]!r} is not it. Try again."
                             + (f" Hint: {self.hint}" if self.hint else ""))
        color = "#1a7f37" if self.correct else "#b35900"
        self.feedback_html.value = f'<span style="color:{color}">{html.escape(self.feedback)}</span>'
        for cb in self._callbacks:
            cb(self)
        return self.correct

    def on_check(self, callback: Callable[["Quiz"], None]) -> None:
        """Call ``callback(quiz)`` after every check."""
        self._callbacks.append(callback)

    def summary(self) -> str:
        return f"Quiz: {self.question}"


# -- NamespaceExplorer -----------------------------------------------------------------------

@dataclass(frozen=True)
class NsRow:
    kind: str          # as named in /proc/PID/ns: mnt, uts, pid_for_children, ...
    a: str             # "uts:[4026531838]", or "?" when it cannot be read
    b: str

    @property
    def same(self) -> bool:
        return self.a == self.b and self.a != "?"


def _read_ns(pid) -> dict[str, str]:
    out = {}
    try:
        kinds = os.listdir(f"/proc/{pid}/ns")
    except OSError:
        return out
    for kind in kinds:
        try:
            out[kind] = os.readlink(f"/proc/{pid}/ns/{kind}")
        except OSError:
            out[kind] = "?"
    return out


def _root_id(pid) -> tuple[int, int] | None:
    try:
        st = os.stat(f"/proc/{pid}/root/")
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


class NamespaceExplorer(_Displayable):
    """The /proc/PID/ns links of two processes side by side, differences highlighted.

    There is no container object in the kernel: a container is a process whose
    links here point at other namespaces than the host's. ``rows`` has one
    ``NsRow`` per kind; ``differences`` is the set of kinds that differ;
    ``same_root`` says whether both processes see the same ``/`` (compared by
    device and inode of /proc/PID/root). ``refresh()`` reads them again (the
    Refresh button does the same).
    """

    def __init__(self, pid_a="self", pid_b="self", *, label_a: str | None = None, label_b: str | None = None):
        self.pid_a, self.pid_b = pid_a, pid_b
        self.label_a = label_a or ("this process" if pid_a == "self" else f"PID {pid_a}")
        self.label_b = label_b or ("this process" if pid_b == "self" else f"PID {pid_b}")
        self.rows: list[NsRow] = []
        self.differences: set[str] = set()
        self.same_root: bool | None = None
        w = _ipywidgets()
        self.table = w.HTML()
        self.button = w.Button(description="Refresh", icon="refresh")
        self.button.on_click(lambda _b: self.refresh())
        self.widget = w.VBox([self.table, self.button])
        self.widget.add_class("minictr-ns-explorer")
        self.refresh()

    def refresh(self) -> "NamespaceExplorer":
        a, b = _read_ns(self.pid_a), _read_ns(self.pid_b)
        self.rows = [NsRow(k, a.get(k, "?"), b.get(k, "?")) for k in sorted(set(a) | set(b))]
        self.differences = {r.kind for r in self.rows if not r.same and "?" not in (r.a, r.b)}
        ra, rb = _root_id(self.pid_a), _root_id(self.pid_b)
        self.same_root = None if ra is None or rb is None else ra == rb
        self.table.value = self._html()
        return self

    @property
    def readable(self) -> bool:
        """Whether both processes' links could be read (they exist and we may look)."""
        return bool(self.rows) and all("?" not in (r.a, r.b) for r in self.rows)

    def _html(self) -> str:
        esc = html.escape
        head = (f"<tr><th style='text-align:left'>namespace</th><th style='text-align:left'>{esc(self.label_a)}</th>"
                f"<th style='text-align:left'>{esc(self.label_b)}</th><th></th></tr>")
        body = []
        for r in self.rows:
            style = "" if r.same else " style='background:#fff3cd'"
            mark = "same" if r.same else "<b>different</b>"
            body.append(f"<tr{style}><td>{esc(r.kind)}</td><td><code>{esc(r.a)}</code></td>"
                        f"<td><code>{esc(r.b)}</code></td><td>{mark}</td></tr>")
        root = {True: "same", False: "<b>different</b>", None: "?"}[self.same_root]
        style = "" if self.same_root else " style='background:#fff3cd'"
        body.append(f"<tr{style}><td>root (/)</td><td colspan=2><code>/proc/PID/root</code></td><td>{root}</td></tr>")
        return f"<table class='minictr-ns-table'>{head}{''.join(body)}</table>"

    def summary(self) -> str:
        if not self.readable:
            return f"namespaces of {self.label_a} and {self.label_b}: cannot read them all (is the process gone?)"
        diff = ", ".join(sorted(self.differences)) or "none"
        root = {True: "same root", False: "different root", None: "root unknown"}[self.same_root]
        return (f"namespaces of {self.label_a} vs {self.label_b}: {len(self.differences)} of {len(self.rows)} "
                f"differ ({diff}); {root}")


# -- FilesystemView -------------------------------------------------------------------------

@dataclass(frozen=True)
class FsRow:
    name: str
    in_a: bool
    in_b: bool
    kind_a: str = ""   # "dir", "file", "link -> target", "" when absent
    kind_b: str = ""


def _entries(top: str) -> dict[str, str] | None:
    try:
        names = os.listdir(top)
    except OSError:
        return None
    out = {}
    for n in names:
        p = os.path.join(top, n)
        try:
            if os.path.islink(p):
                out[n] = "link -> " + os.readlink(p)
            elif os.path.isdir(p):
                out[n] = "dir"
            else:
                out[n] = "file"
        except OSError:
            out[n] = "?"
    return out


class FilesystemView(_Displayable):
    """Two roots side by side: the host's ``/`` and a container's (``/proc/PID/root``) or a rootfs.

    ``rows`` lists every name in ``path`` under either root; ``only_in_a``,
    ``only_in_b`` and ``in_both`` are sets of names. ``cd(path)`` (or the
    path box) looks at another directory, the same in both.
    """

    def __init__(self, root_a: str = "/", root_b: str = "/", *, path: str = "/",
                 label_a: str | None = None, label_b: str | None = None):
        self.root_a, self.root_b = root_a, root_b
        self.label_a = label_a or root_a
        self.label_b = label_b or root_b
        self.path = "/"
        self.rows: list[FsRow] = []
        self.missing: set[str] = set()   # "a"/"b": roots where path does not exist
        w = _ipywidgets()
        self.path_box = w.Text(value=path, description="path", continuous_update=False)
        self.path_box.observe(lambda ch: self.cd(ch["new"]), names="value")
        self.table = w.HTML()
        self.widget = w.VBox([self.path_box, self.table])
        self.widget.add_class("minictr-fs-view")
        self.cd(path)

    def _under(self, root: str) -> str:
        return os.path.join(root, self.path.lstrip("/"))

    def cd(self, path: str) -> "FilesystemView":
        self.path = "/" + path.strip("/") if path.strip("/") else "/"
        if self.path_box.value != self.path:
            self.path_box.value = self.path  # the observer calls cd again, with the same path
        return self.refresh()

    def refresh(self) -> "FilesystemView":
        a, b = _entries(self._under(self.root_a)), _entries(self._under(self.root_b))
        self.missing = {side for side, ents in (("a", a), ("b", b)) if ents is None}
        a, b = a or {}, b or {}
        self.rows = [FsRow(n, n in a, n in b, a.get(n, ""), b.get(n, "")) for n in sorted(set(a) | set(b))]
        self.table.value = self._html()
        return self

    @property
    def only_in_a(self) -> set[str]:
        return {r.name for r in self.rows if r.in_a and not r.in_b}

    @property
    def only_in_b(self) -> set[str]:
        return {r.name for r in self.rows if r.in_b and not r.in_a}

    @property
    def in_both(self) -> set[str]:
        return {r.name for r in self.rows if r.in_a and r.in_b}

    def _html(self) -> str:
        esc = html.escape
        head = (f"<tr><th style='text-align:left'>{esc(self.label_a)}: {esc(self.path)}</th>"
                f"<th style='text-align:left'>{esc(self.label_b)}: {esc(self.path)}</th></tr>")
        body = []
        for r in self.rows:
            style = "" if r.in_a and r.in_b else " style='background:#fff3cd'"
            cell_a = f"<code>{esc(r.name)}</code> <small>{esc(r.kind_a)}</small>" if r.in_a else ""
            cell_b = f"<code>{esc(r.name)}</code> <small>{esc(r.kind_b)}</small>" if r.in_b else ""
            body.append(f"<tr{style}><td>{cell_a}</td><td>{cell_b}</td></tr>")
        for side in sorted(self.missing):
            body.append(f"<tr><td colspan=2><i>{esc(self.path)} does not exist under "
                        f"{esc(self.label_a if side == 'a' else self.label_b)}</i></td></tr>")
        return f"<table class='minictr-fs-table'>{head}{''.join(body)}</table>"

    def summary(self) -> str:
        # Only what does not depend on the host's own files, so the line is the same on every machine.
        return f"filesystem view of {self.path}: {self.label_a} beside {self.label_b}"
