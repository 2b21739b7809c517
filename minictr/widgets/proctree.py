"""ProcessTree: a process and its descendants, grouped by PID namespace.

Man pages: proc(5) (/proc/PID/status and its NSpid line), pid_namespaces(7).
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass

from ._display import _Displayable, _ipywidgets

__all__ = ["ProcessTree", "ProcRow"]


@dataclass(frozen=True)
class ProcRow:
    pid: int                 # the PID in the namespace of the /proc we read (the host's)
    ppid: int
    nspid: tuple[int, ...]   # NSpid: its PID in each PID namespace it is in, outermost first
    pid_ns: str              # "pid:[4026532177]", or "?" when it cannot be read
    name: str
    state: str               # "S (sleeping)", "Z (zombie)", ...
    depth: int = 0           # how deep in the tree shown (the first process is 0)

    @property
    def inner_pid(self) -> int:
        """Its PID inside its own (innermost) PID namespace: 1 for a container's init."""
        return self.nspid[-1]

    @property
    def level(self) -> int:
        """How many PID namespaces below the one /proc belongs to (0: the host's)."""
        return len(self.nspid) - 1

    @property
    def zombie(self) -> bool:
        return self.state.startswith("Z")


def _proc_status(proc: str, pid: int) -> dict[str, str] | None:
    from .. import procfs
    return procfs.status(pid, proc) or None  # {} when it is gone


class ProcessTree(_Displayable):
    """A process and its descendants, grouped by PID namespace.

    The ``NSpid`` line of /proc/PID/status lists a process's PID in every PID
    namespace it belongs to, outermost first: ``NSpid: 23456 1`` is PID 23456
    on the host and PID 1 inside its container. ``rows`` lists the tree
    depth-first (``ProcRow``); ``groups`` maps each PID namespace to its rows,
    in order of appearance; ``zombies`` are the rows in state Z. ``refresh()``
    (or the button) reads /proc again. ``proc`` is for tests (a fake /proc).

    Each PID namespace below the host's is named after its container
    (``names``: the container's name for the PID of its init, on the host);
    by default the names come from minictr's state directory (``minictr ps``);
    ``title(ns)`` is what the table says.
    """

    def __init__(self, root_pid: int | None = None, *, proc: str = "/proc", label: str | None = None,
                 names: dict[int, str] | None = None):
        self.root_pid = os.getpid() if root_pid is None else int(root_pid)
        self.proc = proc
        self.label = label or f"PID {self.root_pid}"
        self.names = names
        self.rows: list[ProcRow] = []
        self.groups: dict[str, list[ProcRow]] = {}
        w = _ipywidgets()
        self.table = w.HTML()
        self.button = w.Button(description="Refresh", icon="refresh")
        self.button.on_click(lambda _b: self.refresh())
        self.widget = w.VBox([self.table, self.button])
        self.widget.add_class("minictr-process-tree")
        self.refresh()

    def _read_all(self) -> dict[int, dict[str, str]]:
        out = {}
        try:
            names = os.listdir(self.proc)
        except OSError:
            return out
        for name in names:
            if name.isdigit():
                st = _proc_status(self.proc, int(name))
                if st is not None:
                    out[int(name)] = st
        return out

    def _row(self, pid: int, st: dict[str, str], depth: int) -> ProcRow:
        try:
            ns = os.readlink(f"{self.proc}/{pid}/ns/pid")
        except OSError:
            ns = "?"
        nspid = tuple(int(x) for x in st.get("NSpid", str(pid)).split()) or (pid,)
        return ProcRow(pid, int(st.get("PPid", "0") or 0), nspid, ns, st.get("Name", "?"), st.get("State", "?"), depth)

    def refresh(self) -> "ProcessTree":
        every = self._read_all()
        children: dict[int, list[int]] = {}
        for pid, st in every.items():
            children.setdefault(int(st.get("PPid", "0") or 0), []).append(pid)
        rows: list[ProcRow] = []
        if self.root_pid in every:
            stack = [(self.root_pid, 0)]
            while stack:
                pid, depth = stack.pop()
                rows.append(self._row(pid, every[pid], depth))
                for child in sorted(children.get(pid, []), reverse=True):
                    stack.append((child, depth + 1))
        self.rows = rows
        self.groups = {}
        for r in rows:
            self.groups.setdefault(r.pid_ns, []).append(r)
        self.table.value = self._html()
        return self

    @property
    def zombies(self) -> list[ProcRow]:
        return [r for r in self.rows if r.zombie]

    def in_namespace_of(self, pid: int) -> list[ProcRow]:
        """The rows in the same PID namespace as ``pid`` (a container's processes, say)."""
        ns = next((r.pid_ns for r in self.rows if r.pid == pid), None)
        return list(self.groups.get(ns, [])) if ns else []

    def _container_names(self) -> dict[int, str]:
        """The host PID of each container's init -> the container's name (``names``, or minictr's state)."""
        if self.names is not None:
            return dict(self.names)
        try:
            from minictr import state

            return {st.pid: st.name for st in state.list_states() if st.pid}
        except Exception:   # no state directory, or one we may not read: the tree still shows
            return {}

    def _titles(self) -> dict[str, str]:
        names = self._container_names()
        titles = {}
        for ns, rows in self.groups.items():
            level = rows[0].level
            if level == 0:
                titles[ns] = "the host's PID namespace"
                continue
            top = min(rows, key=lambda r: r.depth)
            owner = next((names[r.pid] for r in rows if r.pid in names), None)
            deeper = f", {level} levels down" if level > 1 else ""
            titles[ns] = (f"container {owner}{deeper}" if owner is not None
                          else f"a PID namespace not made by minictr (its top process: host PID {top.pid}{deeper})")
        return titles

    def title(self, ns: str) -> str:
        """What the table calls PID namespace ``ns``: "the host's PID namespace", "container web", ..."""
        return self._titles().get(ns, ns)

    def _html(self) -> str:
        esc = html.escape
        if not self.rows:
            return f"<i>no process {self.root_pid}</i>"
        parts = []
        titles = self._titles()
        for i, (ns, rows) in enumerate(self.groups.items()):
            title = titles[ns]
            parts.append(f"<div style='margin:4px 0'><b>{esc(title)}</b> <code>{esc(ns)}</code></div>")
            head = ("<tr><th style='text-align:left'>host PID</th><th style='text-align:left'>PID inside</th>"
                    "<th style='text-align:left'>process</th><th style='text-align:left'>state</th></tr>")
            body = []
            for r in rows:
                style = " style='background:#f8d7da'" if r.zombie else (
                    " style='background:#fff3cd'" if r.inner_pid == 1 and r.level else "")
                indent = "&nbsp;&nbsp;" * r.depth + ("└ " if r.depth else "")
                body.append(f"<tr{style}><td>{r.pid}</td><td>{r.inner_pid}</td>"
                            f"<td>{indent}<code>{esc(r.name)}</code></td><td>{esc(r.state)}</td></tr>")
            parts.append(f"<table class='minictr-proc-table'>{head}{''.join(body)}</table>")
        return "".join(parts)

    def summary(self) -> str:
        z = len(self.zombies)
        named = sorted(t[len("container "):].split(",")[0] for t in self._titles().values()
                       if t.startswith("container "))
        containers = f"\n  containers: {', '.join(named)}" if named else ""
        return (f"process tree of {self.label}: {len(self.rows)} processes in {len(self.groups)} PID namespaces, "
                f"{z} zombie{'' if z == 1 else 's'}{containers}")
