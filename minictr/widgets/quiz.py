"""Quiz: a multiple-choice question with feedback and an explanation (lessons 00-09).

State as data: ``selected``, ``checked``, ``correct``, ``feedback``; change it
through the widgets (``quiz.radio.value = ...``, ``quiz.button.click()``) or
``select()``, and assert on the data.
"""

from __future__ import annotations

import html
from typing import Callable, Iterable, Sequence

from ._display import _Displayable, _ipywidgets

__all__ = ["Quiz"]


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
