"""Gauge and MemoryGauge (lesson 07): a bar that fills towards a cgroup limit.

Man pages: cgroups(7); the kernel's cgroup-v1/memory.rst and cgroup-v2.rst
(memory.usage_in_bytes, memory.current).
"""

from __future__ import annotations

import html
from typing import Callable

from ._display import _Displayable, _ipywidgets

__all__ = ["Gauge", "MemoryGauge"]


class Gauge(_Displayable):
    """A bar that fills towards a limit: memory against ``--memory``, pids against ``--pids-limit``.

    Feed it numbers with ``update(value)`` (or ``MemoryGauge.feed(stats)``);
    the bar, the text beside it and the colour follow (green, orange past
    ``warn`` of the limit, red at the limit). State as data: ``value``,
    ``maximum``, ``fraction`` (0..1, None without a limit), ``peak``, and
    ``history``, a list of ``(seconds since the first update, value)`` that a
    notebook can plot afterwards.

    ``finish()`` says the work is over: a finished download turns green (full
    is the goal there, not a warning); ``finish(oom_killed=True)`` ends a
    memory gauge holding its peak, red, marked "OOM-killed" (the last reading
    after a kill is an empty group, which says nothing). ``outcome`` is
    ``None`` while it runs, then ``"done"`` or ``"oom-killed"``.
    """

    def __init__(self, description: str, maximum: float | None, *, unit: Callable[[float], str] = str,
                 warn: float = 0.8):
        self.description = description
        self.maximum = maximum
        self.unit = unit
        self.warn = warn
        self.value: float = 0
        self.peak: float = 0
        self.history: list[tuple[float, float]] = []
        self.outcome: str | None = None
        self._t0: float | None = None
        w = _ipywidgets()
        self.bar = w.FloatProgress(value=0, min=0, max=float(maximum or 1), description=description,
                                   bar_style="success", layout=w.Layout(width="60%"))
        self.label = w.HTML()
        self.widget = w.HBox([self.bar, self.label])
        self.widget.add_class("minictr-gauge")
        self._draw()

    @property
    def fraction(self) -> float | None:
        if not self.maximum:
            return None
        return min(1.0, self.value / self.maximum)

    @property
    def state(self) -> str:
        """``"ok"``, ``"warn"``, ``"full"``, or after ``finish()`` ``"done"``/``"oom-killed"``: what the colour says."""
        if self.outcome:
            return self.outcome
        f = self.fraction
        if f is None or f < self.warn:
            return "ok"
        return "full" if f >= 0.999 else "warn"

    def update(self, value: float, *, at: float | None = None) -> "Gauge":
        """Show a new reading. ``at`` is its time (time.monotonic()); now when left out."""
        import time

        now = time.monotonic() if at is None else at
        if self._t0 is None:
            self._t0 = now
        self.value = value
        self.peak = max(self.peak, value)
        self.history.append((now - self._t0, value))
        self._draw()
        return self

    def finish(self, *, oom_killed: bool = False) -> "Gauge":
        """The work is over: green when done, or held at its peak and marked when OOM-killed."""
        self.outcome = "oom-killed" if oom_killed else "done"
        if oom_killed:
            self.value = self.peak       # hold the peak: the bar shows how far it got
        elif not self.maximum:
            self.maximum = self.value or 1   # a finished download without a known size: a full bar
            self.bar.max = float(self.maximum)
        self._draw()
        return self

    def text(self) -> str:
        """value / limit (percent), peak, and the outcome: what the label beside the bar says."""
        limit = self.unit(self.maximum) if self.maximum else "no limit"
        pct = f" ({100 * self.fraction:.0f}%)" if self.fraction is not None else ""
        end = {"done": ", done", "oom-killed": ", OOM-killed at its peak"}.get(self.outcome or "", "")
        return f"{self.unit(self.value)} / {limit}{pct}, peak {self.unit(self.peak)}{end}"

    def _draw(self) -> None:
        self.bar.value = float(min(self.value, self.maximum)) if self.maximum else 0.0
        self.bar.bar_style = {"ok": "success", "warn": "warning", "full": "danger", "done": "success",
                              "oom-killed": "danger"}[self.state]
        self.label.value = html.escape(self.text())

    def summary(self) -> str:
        return f"gauge {self.description}: {self.text()}"


class MemoryGauge(Gauge):
    """A ``Gauge`` in bytes, fed with ``minictr.cgroups.Stats`` readings::

        gauge = MemoryGauge(32 << 20)
        for s in cgroups.sample(mgr, 0.05):
            gauge.feed(s)
    """

    def __init__(self, limit: int | None, description: str = "memory", **kw):
        from ..cgroups import format_bytes

        super().__init__(description, limit, unit=format_bytes, **kw)

    def feed(self, stats) -> "MemoryGauge":
        if stats.memory_limit and not self.maximum:
            self.maximum = stats.memory_limit
            self.bar.max = float(stats.memory_limit)
        self.update(stats.memory_usage, at=stats.time or None)
        return self
