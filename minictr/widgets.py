"""Widgets for the notebooks: a quiz, a namespace explorer, a filesystem view, a process tree.

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

Man pages: namespaces(7) (the /proc/PID/ns links), proc(5) (/proc/PID/root,
/proc/PID/status and its NSpid line), pid_namespaces(7).
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

__all__ = ["Quiz", "NamespaceExplorer", "NsRow", "FilesystemView", "FsRow", "ProcessTree", "ProcRow"]


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


__all__ += ["Gauge", "MemoryGauge", "ImageNode", "image_tree", "ImageTree"]  # lessons 07 and 08


# -- Gauge (lesson 07) ------------------------------------------------------------------

class Gauge(_Displayable):
    """A bar that fills towards a limit: memory against ``--memory``, pids against ``--pids-limit``.

    Feed it numbers with ``update(value)`` (or ``MemoryGauge.feed(stats)``);
    the bar, the text beside it and the colour follow (green, orange past
    ``warn`` of the limit, red at the limit). State as data: ``value``,
    ``maximum``, ``fraction`` (0..1, None without a limit), ``peak``, and
    ``history``, a list of ``(seconds since the first update, value)`` that a
    notebook can plot afterwards.
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
        """``"ok"``, ``"warn"`` or ``"full"``: what the colour says."""
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

    def _draw(self) -> None:
        self.bar.value = float(min(self.value, self.maximum)) if self.maximum else 0.0
        self.bar.bar_style = {"ok": "success", "warn": "warning", "full": "danger"}[self.state]
        limit = self.unit(self.maximum) if self.maximum else "no limit"
        pct = f" ({100 * self.fraction:.0f}%)" if self.fraction is not None else ""
        self.label.value = html.escape(f"{self.unit(self.value)} / {limit}{pct}, peak {self.unit(self.peak)}")

    def summary(self) -> str:
        return f"gauge: {self.description}" + (f" (limit {self.unit(self.maximum)})" if self.maximum else "")


class MemoryGauge(Gauge):
    """A ``Gauge`` in bytes, fed with ``minictr.cgroups.Stats`` readings::

        gauge = MemoryGauge(32 << 20)
        for s in cgroups.sample(mgr, 0.05):
            gauge.feed(s)
    """

    def __init__(self, limit: int | None, description: str = "memory", **kw):
        from .cgroups import format_bytes

        super().__init__(description, limit, unit=format_bytes, **kw)

    def feed(self, stats) -> "MemoryGauge":
        if stats.memory_limit and not self.maximum:
            self.maximum = stats.memory_limit
            self.bar.max = float(stats.memory_limit)
        self.update(stats.memory_usage, at=stats.time or None)
        return self


# -- ImageTree (lesson 08) ------------------------------------------------------------

@dataclass
class ImageNode:
    """One blob of an image: the index, a manifest, a config or a layer."""

    kind: str                  # "index", "manifest", "config", "layer"
    label: str                 # one line: "manifest busybox:latest (479 B)"
    digest: str = ""
    media_type: str = ""
    size: int = 0
    content: object = None     # the parsed JSON (None for a layer: it is a tarball)
    children: list = None      # list[ImageNode]

    def __post_init__(self):
        if self.children is None:
            self.children = []

    def walk(self, path: tuple[int, ...] = ()):
        """(path, node) for this node and every node below it, depth first."""
        yield path, self
        for i, c in enumerate(self.children):
            yield from c.walk(path + (i,))


def _read_blob(layout: str, digest: str) -> bytes:
    algo, hexpart = digest.split(":", 1)
    with open(os.path.join(layout, "blobs", algo, hexpart), "rb") as f:
        return f.read()


def _size(n: int) -> str:
    from .cgroups import format_bytes

    return format_bytes(n) if n >= 1024 else f"{n}B"


def image_tree(layout: str, ref: str | None = None) -> ImageNode:
    """Read an OCI image layout (``index.json`` and ``blobs/``) into ``ImageNode``s.

    index -> manifests (only ``ref``'s when given: the name in the
    ``org.opencontainers.image.ref.name`` annotation) -> config and layers.
    Nested indexes (multi-platform images) are followed.
    """
    import json

    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)

    def manifest_node(desc: dict) -> ImageNode:
        data = json.loads(_read_blob(layout, desc["digest"]))
        name = (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name", "")
        media = desc.get("mediaType") or data.get("mediaType", "")
        if "index" in media or "manifest.list" in media:
            node = ImageNode("index", f"index {name} ({_size(desc.get('size', 0))})".replace("  ", " "),
                             desc["digest"], media, desc.get("size", 0), data)
            node.children = [manifest_node(d) for d in data.get("manifests", [])]
            return node
        node = ImageNode("manifest", f"manifest {name} ({_size(desc.get('size', 0))})".replace("  ", " "),
                         desc["digest"], media, desc.get("size", 0), data)
        c = data["config"]
        cfg = json.loads(_read_blob(layout, c["digest"]))
        node.children.append(ImageNode("config", f"config ({_size(c.get('size', 0))})", c["digest"],
                                       c.get("mediaType", ""), c.get("size", 0), cfg))
        for i, layer in enumerate(data.get("layers", [])):
            node.children.append(ImageNode("layer", f"layer {i} ({_size(layer.get('size', 0))})",
                                           layer["digest"], layer.get("mediaType", ""), layer.get("size", 0)))
        return node

    manifests = index.get("manifests", [])
    if ref is not None:
        manifests = [d for d in manifests
                     if (d.get("annotations") or {}).get("org.opencontainers.image.ref.name") == ref]
        if not manifests:
            from .errors import ImageNotFound

            raise ImageNotFound(f"no image {ref!r} in the layout {layout}",
                                hint="the name is the org.opencontainers.image.ref.name annotation in index.json")
    root = ImageNode("index", "index.json", "", index.get("mediaType", ""), 0, index)
    root.children = [manifest_node(d) for d in manifests]
    return root


class ImageTree(_Displayable):
    """An OCI image as a tree you can click through: index -> manifest -> config and layers.

    ``ImageTree(layout_dir, ref)`` reads an OCI image layout (minictr's store
    is one: ``image.store_root()``). ``root`` is the ``ImageNode`` tree,
    ``nodes`` lists ``(path, node)`` depth first, ``select(i)`` (or the list
    box) picks ``nodes[i]``, and ``selected``/``detail`` tell which node is
    shown and the text shown for it (its descriptor and, except for layers,
    its JSON).
    """

    def __init__(self, layout: str, ref: str | None = None):
        self.layout = str(layout)
        self.ref = ref
        self.root = image_tree(self.layout, ref)
        self.nodes = list(self.root.walk())
        self.selected: ImageNode | None = None
        self.detail = ""
        w = _ipywidgets()
        options = [("    " * len(p) + n.label, i) for i, (p, n) in enumerate(self.nodes)]
        self.list = w.Select(options=options, value=None, rows=min(12, len(options)),
                             layout=w.Layout(width="45%"))
        self.list.observe(lambda ch: ch["new"] is not None and self.select(ch["new"]), names="value")
        self.view = w.HTML()
        self.widget = w.HBox([self.list, self.view])
        self.widget.add_class("minictr-image-tree")
        self.select(0)

    def find(self, kind: str) -> list[ImageNode]:
        return [n for _p, n in self.nodes if n.kind == kind]

    def select(self, i: int) -> "ImageTree":
        import json

        _path, node = self.nodes[i]
        self.selected = node
        lines = [f"{node.kind}: {node.label}"]
        if node.digest:
            lines.append(f"digest: {node.digest}")
        if node.media_type:
            lines.append(f"mediaType: {node.media_type}")
        if node.content is not None:
            lines.append(json.dumps(node.content, indent=2, sort_keys=True))
        else:
            lines.append(f"a tarball of files: blobs/{node.digest.replace(':', '/')}")
        self.detail = "\n".join(lines)
        self.view.value = f"<pre style='font-size:85%'>{html.escape(self.detail)}</pre>"
        if self.list.value != i:
            self.list.value = i
        return self

    def summary(self) -> str:
        kinds = [n.kind for _p, n in self.nodes]
        return (f"image tree{' of ' + self.ref if self.ref else ''}: {kinds.count('manifest')} manifest(s), "
                f"{kinds.count('config')} config(s), {kinds.count('layer')} layer(s)")


# -- ProcessTree --------------------------------------------------------------------------------

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
    try:
        with open(f"{proc}/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


class ProcessTree(_Displayable):
    """A process and its descendants, grouped by PID namespace.

    The ``NSpid`` line of /proc/PID/status lists a process's PID in every PID
    namespace it belongs to, outermost first: ``NSpid: 23456 1`` is PID 23456
    on the host and PID 1 inside its container. ``rows`` lists the tree
    depth-first (``ProcRow``); ``groups`` maps each PID namespace to its rows,
    in order of appearance; ``zombies`` are the rows in state Z. ``refresh()``
    (or the button) reads /proc again. ``proc`` is for tests (a fake /proc).
    """

    def __init__(self, root_pid: int | None = None, *, proc: str = "/proc", label: str | None = None):
        self.root_pid = os.getpid() if root_pid is None else int(root_pid)
        self.proc = proc
        self.label = label or f"PID {self.root_pid}"
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

    def _html(self) -> str:
        esc = html.escape
        if not self.rows:
            return f"<i>no process {self.root_pid}</i>"
        parts = []
        for i, (ns, rows) in enumerate(self.groups.items()):
            level = rows[0].level
            title = "the host's PID namespace" if level == 0 else f"a PID namespace {level} level(s) down"
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
        return (f"process tree of {self.label}: {len(self.rows)} processes in {len(self.groups)} PID namespaces, "
                f"{z} zombie{'' if z == 1 else 's'}")
