"""Quiz: a multiple-choice question with feedback for every option (lessons 00-09).

A lesson's quizzes live in its lab module (``minictr/labs/lNN.py``, the
``QUIZZES`` table, see ``minictr.labs.quizzes``), out of the learner's sight;
the notebook builds one by id::

    quiz = Quiz.lab("02.inside-an-image")
    quiz                 # shows it (text form: the options and how to answer)
    quiz.answer(2)       # answer from code, as a click would

The options are shuffled with a seed made from the quiz's id, so the order is
the same on every run (strict nbval compares the text form). Each option
carries its own explanation: a wrong choice says why it is wrong.

State as data: ``selected`` (tuple of indices), ``checked``, ``correct`` (None
until checked), ``feedback`` (the text shown under the options); change it
through the widgets (``quiz.radio.value = ...``, ``quiz.button.click()``) or
``answer()``, and assert on the data.
"""

from __future__ import annotations

import html
import re
from typing import Callable, Iterable, Mapping, Sequence

from ._display import _Displayable, _ipywidgets

__all__ = ["Quiz"]

_CODE = re.compile(r"`([^`]+)`")
WIDTH = 95   # the text form fits a laptop-wide notebook
_LINE = "line-height:1.4"


def _inline_html(text: str) -> str:
    """Escape ``text`` for HTML and render its `backticks` as <code>."""
    return _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(text))


def _plain(text: str) -> str:
    """The text without markdown backticks (for the radio labels and the text form)."""
    return _CODE.sub(lambda m: m.group(1), text)


def _shuffled_order(n: int, seed: str) -> list[int]:
    """A permutation of range(n), the same for the same seed on every host and run."""
    import random
    import zlib

    order = list(range(n))
    random.Random(zlib.crc32(seed.encode())).shuffle(order)
    return order


class Quiz(_Displayable):
    """A multiple-choice question with feedback and an explanation per option.

    ``answer`` is the index of the right option, or a collection of indices
    when several options are right (then the learner ticks boxes and presses
    "Check"); ``multiple=True`` asks for boxes even with one right option.
    ``explanations`` (one per option, optional) says why each option is right
    or wrong; ``seed`` shuffles the options (deterministically). Most callers
    use ``Quiz.lab(quiz_id)``, which reads all of this from the lesson's module::

        q = Quiz("Which call changes the root of a whole mount namespace?",
                 ["chroot", "pivot_root", "unshare"], 1,
                 "pivot_root moves the mounts; chroot only changes one process's idea of /.")
        q.answer(1).correct   # True
    """

    def __init__(self, question: str, options: Sequence[str], answer: int | Iterable[int],
                 explanation: str, *, hint: str = "", explanations: Sequence[str] | None = None,
                 seed: str | None = None, multiple: bool | None = None, quiz_id: str = ""):
        key = frozenset({answer}) if isinstance(answer, int) else frozenset(answer)
        options = list(options)
        if not options or not key or not all(0 <= i < len(options) for i in key):
            raise ValueError(f"answer {sorted(key)} does not index the {len(options)} options")
        why = list(explanations) if explanations is not None else [""] * len(options)
        if len(why) != len(options):
            raise ValueError(f"{len(why)} explanations for {len(options)} options")
        order = _shuffled_order(len(options), seed) if seed else list(range(len(options)))
        self.quiz_id = quiz_id
        self.question = question
        self.options = [options[i] for i in order]
        self.explanations = [why[i] for i in order]
        self._key = frozenset(order.index(i) for i in key)   # never shown: see summary()
        self.multiple = (len(key) > 1) if multiple is None else bool(multiple)
        self.explanation = explanation
        self.hint = hint
        self.selected: tuple[int, ...] = ()
        self.checked = False
        self.correct: bool | None = None
        self.feedback = ""
        self._callbacks: list[Callable[[Quiz], None]] = []
        self._build()

    @classmethod
    def lab(cls, quiz_id: str) -> "Quiz":
        """The quiz ``quiz_id`` ("02.inside-an-image") of a lesson's ``QUIZZES`` table, shuffled."""
        from minictr.labs.quizzes import quiz_spec

        return cls.from_spec(quiz_id, quiz_spec(quiz_id))

    @classmethod
    def from_spec(cls, quiz_id: str, spec: Mapping) -> "Quiz":
        """A quiz from its table entry: ``question``, ``right`` and ``wrong`` ({option: why}).

        Also accepts the constructor's own keys (``options``, ``answer``,
        ``explanation``, ``explanations``), as a lesson may declare it that way.
        """
        hint, multiple = spec.get("hint", ""), spec.get("multiple")
        if "options" in spec:
            return cls(spec["question"], spec["options"], spec["answer"], spec.get("explanation", ""),
                       hint=hint, explanations=spec.get("explanations"), seed=quiz_id,
                       multiple=multiple, quiz_id=quiz_id)
        right, wrong = dict(spec["right"]), dict(spec["wrong"])
        options = list(right) + list(wrong)
        explanation = spec.get("explanation") or " ".join(right.values())
        return cls(spec["question"], options, range(len(right)), explanation, hint=hint,
                   explanations=list(right.values()) + list(wrong.values()), seed=quiz_id,
                   multiple=len(right) > 1 if multiple is None else multiple, quiz_id=quiz_id)

    def _build(self) -> None:
        w = _ipywidgets()
        # ipywidgets' HTML sets a line height of one control (28px): long text would be double-spaced.
        self.question_html = w.HTML(f"<div style='{_LINE}'><b>{_inline_html(self.question)}</b></div>")
        self.feedback_html = w.HTML("")
        self.feedback_html.add_class("minictr-quiz-feedback")
        labels = [_plain(o) for o in self.options]
        if self.multiple:
            self.radio = None
            self.checkboxes = [w.Checkbox(value=False, description=o, indent=False,
                                          layout=w.Layout(width="auto", margin="0")) for o in labels]
            self.button = w.Button(description="Check", button_style="primary")
            self.button.on_click(lambda _b: self.check())
            choices = w.VBox(self.checkboxes, layout=w.Layout(grid_gap="0"))
            self.instructions = w.HTML("<i>Tick every right answer, then press Check.</i>")
            children = [self.question_html, self.instructions, choices, self.button, self.feedback_html]
        else:
            self.checkboxes = []
            self.button = None
            self.radio = w.RadioButtons(options=[(o, i) for i, o in enumerate(labels)], value=None,
                                        layout=w.Layout(width="auto"))
            self.radio.observe(self._on_radio, names="value")
            children = [self.question_html, self.radio, self.feedback_html]
        self.widget = w.VBox(children)
        self.widget.add_class("minictr-quiz")

    def _on_radio(self, change) -> None:
        if change["new"] is None:
            return
        self.selected = (change["new"],)
        self.check()

    def select(self, *indices: int) -> "Quiz":
        """Choose options by index, as a click would, and check (one-answer quizzes check on choice)."""
        for i in indices:
            if not 0 <= i < len(self.options):
                raise IndexError(f"option {i} does not exist (there are {len(self.options)}, numbered from 0)")
        if self.multiple:
            for i, box in enumerate(self.checkboxes):
                box.value = i in indices
            self.check()
        else:
            if len(indices) != 1:
                raise ValueError("this quiz has one answer: choose exactly one option")
            if self.radio.value == indices[0]:
                self.check()  # choosing the same option again still checks
            self.radio.value = indices[0]
        return self

    answer = select   # what the text form tells the learner to call

    def check(self) -> bool:
        """Compare the selection with the key; set ``correct`` and ``feedback``. Returns ``correct``."""
        if self.multiple:
            self.selected = tuple(i for i, box in enumerate(self.checkboxes) if box.value)
        chosen = frozenset(self.selected)
        self.checked = True
        self.correct = chosen == self._key
        hint = f" Hint: {self.hint}" if self.hint else ""
        if self.correct:
            self.feedback = f"Correct. {self.explanation}".rstrip()
        elif not chosen:
            self.feedback = "Choose an answer first."
        elif self.multiple:
            wrong = sorted(chosen - self._key)
            missing = len(self._key - chosen)
            parts = []
            if wrong:
                parts.append(f"{len(wrong)} of your choices {'is' if len(wrong) == 1 else 'are'} wrong")
            if missing:
                parts.append(f"{missing} right answer{'' if missing == 1 else 's'} "
                             f"{'is' if missing == 1 else 'are'} missing")
            whys = "".join(f" {_plain(self.options[i])!r}: {self.explanations[i]}"
                           for i in wrong if self.explanations[i])
            self.feedback = f"Not quite: {' and '.join(parts)}.{whys} Try again.{hint}"
        else:
            i = next(iter(chosen))
            why = f" {self.explanations[i]}" if self.explanations[i] else " is not it."
            self.feedback = f"Not quite: {_plain(self.options[i])!r}{':' if self.explanations[i] else ''}{why} Try again.{hint}"
        color = "#1a7f37" if self.correct else "#b35900"
        self.feedback_html.value = f"<div style='{_LINE}; color:{color}'>{_inline_html(self.feedback)}</div>"
        for cb in self._callbacks:
            cb(self)
        return self.correct

    def on_check(self, callback: Callable[["Quiz"], None]) -> None:
        """Call ``callback(quiz)`` after every check."""
        self._callbacks.append(callback)

    def summary(self) -> str:
        """The text form: the question, the numbered options, how to answer, and the feedback so far.

        It never says which option is right.
        """
        import textwrap

        lines = [textwrap.fill(f"Quiz: {_plain(self.question)}", WIDTH, subsequent_indent="  ")]
        lines += [textwrap.fill(f"  {i}. {_plain(o)}", WIDTH, subsequent_indent="     ")
                  for i, o in enumerate(self.options)]
        if self.multiple:
            lines.append("Tick every right answer and press Check, or from code: quiz.answer(i, j, ...)")
        else:
            lines.append("Click an answer, or from code: quiz.answer(i)")
        if self.checked:
            lines.append(textwrap.fill(self.feedback, WIDTH))
        return "\n".join(lines)
