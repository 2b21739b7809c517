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
