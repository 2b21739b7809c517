"""FilesystemView: two roots side by side, the host's ``/`` and a container's.

Man pages: proc(5) (/proc/PID/root), pivot_root(2), chroot(2).
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass

from ._display import _Displayable, _ipywidgets

__all__ = ["FilesystemView", "FsRow"]


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


FILTERS = ("all", "only differences", "only in b")
HEIGHT = "360px"   # the table scrolls inside this height: /bin of a distribution has thousands of names


class FilesystemView(_Displayable):
    """Two roots side by side: the host's ``/`` and a container's (``/proc/PID/root``) or a rootfs.

    ``rows`` lists every name in ``path`` under either root; ``only_in_a``,
    ``only_in_b`` and ``in_both`` are sets of names. ``cd(path)`` (or the
    path box) looks at another directory, the same in both. ``show(filter)``
    (or the buttons) picks the rows drawn: ``"all"``, ``"only differences"``
    (a name under one root only, or of another kind) or ``"only in b"``
    (labelled "only in" ``label_b``); ``shown`` is that list. The table has a
    fixed height and scrolls.
    """

    def __init__(self, root_a: str = "/", root_b: str = "/", *, path: str = "/",
                 label_a: str | None = None, label_b: str | None = None):
        self.root_a, self.root_b = root_a, root_b
        self.label_a = label_a or root_a
        self.label_b = label_b or root_b
        self.path = "/"
        self.rows: list[FsRow] = []
        self.missing: set[str] = set()   # "a"/"b": roots where path does not exist
        self.filter = "all"
        w = _ipywidgets()
        self.path_box = w.Text(value=path, description="path", continuous_update=False)
        self.path_box.observe(lambda ch: self.cd(ch["new"]), names="value")
        self.filter_buttons = w.ToggleButtons(
            options=[("all", "all"), ("only differences", "only differences"),
                     (f"only in {self.label_b}", "only in b")], value="all")
        self.filter_buttons.observe(lambda ch: self.show(ch["new"]), names="value")
        self.table = w.HTML(layout=w.Layout(max_height=HEIGHT, overflow="auto"))
        self.widget = w.VBox([self.path_box, self.filter_buttons, self.table])
        self.widget.add_class("minictr-fs-view")
        self.cd(path)

    def _under(self, root: str) -> str:
        return os.path.join(root, self.path.lstrip("/"))

    def cd(self, path: str) -> "FilesystemView":
        self.path = "/" + path.strip("/") if path.strip("/") else "/"
        if self.path_box.value != self.path:
            self.path_box.value = self.path  # its observer calls cd() again, which refreshes
            return self
        return self.refresh()

    def refresh(self) -> "FilesystemView":
        a, b = _entries(self._under(self.root_a)), _entries(self._under(self.root_b))
        self.missing = {side for side, ents in (("a", a), ("b", b)) if ents is None}
        a, b = a or {}, b or {}
        self.rows = [FsRow(n, n in a, n in b, a.get(n, ""), b.get(n, "")) for n in sorted(set(a) | set(b))]
        self.table.value = self._html()
        return self

    def show(self, which: str) -> "FilesystemView":
        """Draw only some rows: one of ``FILTERS``."""
        if which not in FILTERS:
            raise ValueError(f"filter {which!r} is not one of {', '.join(FILTERS)}")
        self.filter = which
        if self.filter_buttons.value != which:
            self.filter_buttons.value = which   # its observer calls show() again
            return self
        self.table.value = self._html()
        return self

    @property
    def differing(self) -> list[FsRow]:
        """The rows under one root only, or of another kind under each (a dir here, a link there)."""
        return [r for r in self.rows if not (r.in_a and r.in_b) or r.kind_a != r.kind_b]

    @property
    def shown(self) -> list[FsRow]:
        if self.filter == "only differences":
            return self.differing
        if self.filter == "only in b":
            return [r for r in self.rows if r.in_b and not r.in_a]
        return list(self.rows)

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
        shown = self.shown
        if len(shown) != len(self.rows):
            body.append(f"<tr><td colspan=2><i>{len(shown)} of {len(self.rows)} names shown "
                        f"({esc(self.filter.replace('only in b', 'only in ' + self.label_b))})</i></td></tr>")
        for r in shown:
            style = "" if r.in_a and r.in_b and r.kind_a == r.kind_b else " style='background:#fff3cd'"
            cell_a = f"<code>{esc(r.name)}</code> <small>{esc(r.kind_a)}</small>" if r.in_a else ""
            cell_b = f"<code>{esc(r.name)}</code> <small>{esc(r.kind_b)}</small>" if r.in_b else ""
            body.append(f"<tr{style}><td>{cell_a}</td><td>{cell_b}</td></tr>")
        for side in sorted(self.missing):
            body.append(f"<tr><td colspan=2><i>{esc(self.path)} does not exist under "
                        f"{esc(self.label_a if side == 'a' else self.label_b)}</i></td></tr>")
        return f"<table class='minictr-fs-table'>{head}{''.join(body)}</table>"

    def summary(self) -> str:
        """Counts and the first names only under ``label_b``.

        The host's own count is left out, so the line is the same on every machine
        (``report()`` has everything).
        """
        only_b = sorted(self.only_in_b)
        first = f" (first: {', '.join(only_b[:5])}{', ...' if len(only_b) > 5 else ''})" if only_b else ""
        where = f"{self.path} does not exist under {self.label_b}" if "b" in self.missing else (
            f"{len(self.rows) - len(self.only_in_a)} names under {self.label_b}, "
            + (f"{len(only_b)} of them not under {self.label_a}{first}" if only_b
               else f"all of them under {self.label_a} too"))
        return f"filesystem view of {self.path}: {self.label_a} beside {self.label_b}\n  {where}"

    def report(self, limit: int = 10) -> str:
        """Everything the table says, as text: the counts on each side and the first differing names."""
        lines = [f"{self.path}: {len(self.rows) - len(self.only_in_b)} names under {self.label_a}, "
                 f"{len(self.rows) - len(self.only_in_a)} under {self.label_b}, {len(self.in_both)} under both"]
        for label, side in ((self.label_a, "a"), (self.label_b, "b")):
            if side in self.missing:
                lines.append(f"{self.path} does not exist under {label}")
        differing = self.differing
        for r in differing[:limit]:
            a = r.kind_a if r.in_a else "-"
            b = r.kind_b if r.in_b else "-"
            lines.append(f"  {r.name:24} {self.label_a}: {a:16} {self.label_b}: {b}")
        if len(differing) > limit:
            lines.append(f"  ... and {len(differing) - limit} more names that differ")
        return "\n".join(lines)
