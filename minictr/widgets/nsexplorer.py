"""NamespaceExplorer: the /proc/PID/ns links of two processes side by side.

Man pages: namespaces(7) (the /proc/PID/ns links), proc(5) (/proc/PID/root).
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass

from ._display import _Displayable, _ipywidgets

__all__ = ["NamespaceExplorer", "NsRow"]


@dataclass(frozen=True)
class NsRow:
    kind: str          # as named in /proc/PID/ns: mnt, uts, pid_for_children, ...
    a: str             # "uts:[4026531838]", or "?" when it cannot be read
    b: str

    @property
    def same(self) -> bool:
        return self.a == self.b and self.a != "?"


def _read_ns(pid) -> dict[str, str]:
    from .. import procfs
    return procfs.ns_ids(pid, missing="?")


def _alive(pid) -> bool:
    """Whether ``pid`` is a running process: /proc/PID/stat exists and its state is not Z (zombie) or X."""
    if pid == "self":
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


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
    Refresh button does the same). When a process has exited (or is a zombie,
    whose links cannot be read), ``exited`` names its side ("a", "b") and the
    widget keeps showing the last reading taken while both ran, marked so.
    """

    def __init__(self, pid_a="self", pid_b="self", *, label_a: str | None = None, label_b: str | None = None):
        self.pid_a, self.pid_b = pid_a, pid_b
        self.label_a = label_a or ("this process" if pid_a == "self" else f"PID {pid_a}")
        self.label_b = label_b or ("this process" if pid_b == "self" else f"PID {pid_b}")
        self.rows: list[NsRow] = []
        self.differences: set[str] = set()
        self.same_root: bool | None = None
        self.exited: set[str] = set()    # "a", "b": the sides whose process is gone
        w = _ipywidgets()
        self.table = w.HTML()
        self.button = w.Button(description="Refresh", icon="refresh")
        self.button.on_click(lambda _b: self.refresh())
        self.widget = w.VBox([self.table, self.button])
        self.widget.add_class("minictr-ns-explorer")
        self.refresh()

    def refresh(self) -> "NamespaceExplorer":
        self.exited = {side for side, pid in (("a", self.pid_a), ("b", self.pid_b)) if not _alive(pid)}
        if self.exited:
            # Keep the last reading: a gone process has no links, and "?" is not "different".
            self.table.value = self._html()
            return self
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
        return bool(self.rows) and not self.exited and all("?" not in (r.a, r.b) for r in self.rows)

    def _gone(self) -> str:
        """"the container has exited" (or both), "" while both run."""
        labels = [self.label_a if side == "a" else self.label_b for side in sorted(self.exited)]
        if not labels:
            return ""
        return f"{' and '.join(labels)} {'has' if len(labels) == 1 else 'have'} exited"

    def _html(self) -> str:
        esc = html.escape
        exited_a = " (exited)" if "a" in self.exited else ""
        exited_b = " (exited)" if "b" in self.exited else ""
        head = (f"<tr><th style='text-align:left'>namespace</th>"
                f"<th style='text-align:left'>{esc(self.label_a + exited_a)}</th>"
                f"<th style='text-align:left'>{esc(self.label_b + exited_b)}</th><th></th></tr>")
        body = []
        if self.exited:
            note = (f"{self._gone()}: the last reading, from before it exited" if self.rows
                    else f"{self._gone()}: nothing to compare")
            body.append(f"<tr><td colspan=4><i>{esc(note)}</i></td></tr>")
        for r in self.rows:
            style = "" if r.same else " style='background:#fff3cd'"
            mark = "same" if r.same else "<b>different</b>"
            body.append(f"<tr{style}><td>{esc(r.kind)}</td><td><code>{esc(r.a)}</code></td>"
                        f"<td><code>{esc(r.b)}</code></td><td>{mark}</td></tr>")
        root = {True: "same", False: "<b>different</b>", None: "?"}[self.same_root]
        style = "" if self.same_root else " style='background:#fff3cd'"
        if self.rows or not self.exited:
            body.append(f"<tr{style}><td>root (/)</td><td colspan=2><code>/proc/PID/root</code></td>"
                        f"<td>{root}</td></tr>")
        return f"<table class='minictr-ns-table'>{head}{''.join(body)}</table>"

    def summary(self) -> str:
        if self.exited:
            if not self.rows:
                return f"namespaces of {self.label_a} and {self.label_b}: {self._gone()}, nothing to compare"
            diff = ", ".join(sorted(self.differences)) or "none"
            return (f"namespaces of {self.label_a} vs {self.label_b}: {self._gone()}\n"
                    f"  the last reading: {len(self.differences)} of {len(self.rows)} differed: {diff}")
        if not self.readable:
            return f"namespaces of {self.label_a} and {self.label_b}: cannot read them all (is the process gone?)"
        diff = ", ".join(sorted(self.differences)) or "none"
        root = {True: "same root", False: "different root", None: "root unknown"}[self.same_root]
        return (f"namespaces of {self.label_a} vs {self.label_b}: {len(self.differences)} of {len(self.rows)} "
                f"differ; {root}\n  different: {diff}")
