"""What every widget shares: ipywidgets imported lazily, and a stable text/plain.

The runtime never imports ``ipywidgets``; a widget imports it when it is made
(the lab extra: ``pip install '.[lab]'``). Shown in a notebook, each widget's
``text/plain`` form is its ``summary()``: deterministic text, useful without a
browser (a quiz's options and how to answer, a gauge's value, limit and peak),
in lines of at most about 95 characters, which strict nbval compares (never the
widget's model id).
"""

from __future__ import annotations

def _ipywidgets():
    import ipywidgets  # the lab extra: pip install '.[lab]'

    return ipywidgets


class _Displayable:
    """Show ``self.widget`` in a notebook, with a stable text/plain (``summary()``)."""

    widget = None

    def summary(self) -> str:
        return type(self).__name__

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        data = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude, **kwargs) or {})
        data["text/plain"] = self.summary()
        return data

    def __repr__(self) -> str:
        return self.summary()
