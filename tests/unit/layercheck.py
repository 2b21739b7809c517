"""The layer checker: every import of a package, read with ``ast``, against a layer table.

``check(package_dir, table)`` returns a list of problems, one line each, and an
empty list when the package keeps to its table. ``tests/unit/test_layers.py``
runs it on ``minictr/`` with ``minictr.layers.LAYERS``, on ``bench/`` with one
layer (so: cycles only), and on fake packages with deliberate violations, to
show that it fails.

What counts as an import of module B by module A (A's source, parsed, never run):

- ``import B``, ``from B import x``, ``from . import B``, ``from .B import x``,
  at the top of the file or inside a function, a class, an ``if`` or a ``try``;
- ``importlib.import_module("B")`` or ``__import__("B")`` with a literal
  argument (a relative one resolved with a literal ``package=``), and with an
  f-string whose literal start names modules (``f"pkg.labs.l{n}"``: every
  module whose name starts with ``pkg.labs.l``);
- any other string literal that is exactly the dotted name of one of the
  package's modules (``SUBCOMMAND_MODULES = ("pkg.cli_images", ...)`` that a
  loop hands to ``import_module``, or ``_import("pkg.process", "exit_status")``).
  Docstrings do not count. (A module name computed at run time from
  something else, say a directory listing, is not seen: write the names out.)

``from pkg.sub import name`` is an edge to ``pkg.sub.name`` when that is a
module, and to ``pkg.sub`` (its ``__init__``) otherwise. The parent packages
that Python runs first on any import are not counted: only what the source names.

An import under ``if TYPE_CHECKING:`` never runs: it names a type for the
annotations. It still counts for the layers (a type from a higher layer is a
dependency on it), but not for cycles (that is how two modules of one layer
name each other's types without importing each other).

The table: ``(row, layer, job)`` rows, names written without the package's
own (``"config"`` for ``pkg.config``, ``"__init__"`` for ``pkg`` itself), so
the table's strings are not module names. A row is an exact module name, or
a prefix ending in ``*``: ``"cli_*"`` covers every module whose name starts
with ``pkg.cli_``, and ``"image.*"`` covers the package ``pkg.image`` as well.
The exact row wins, then the longest prefix.
Problems reported:

- a module that no row covers;
- an exact row whose module does not exist (prefix rows may name a package
  that is still to come);
- an upward import: A imports B and B's layer is above A's;
- a cycle, at any layer: each strongly connected group of modules, with the
  imports that close it;
- a module docstring that starts with a layer (``"L2: ..."``) other than its row's.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

IMPORT_FUNCS = {"import_module", "__import__"}


def module_files(package_dir: Path) -> dict[str, Path]:
    """``{dotted name: file}`` for every ``.py`` file of the package (``__init__.py`` is the package's name)."""
    package_dir = Path(package_dir)
    top = package_dir.name
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(package_dir).with_suffix("")
        if "__pycache__" in rel.parts:
            continue
        parts = [top, *rel.parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _docstring_nodes(tree: ast.AST) -> set[int]:
    """ids of the Constant nodes that are docstrings (of the module, a class or a function)."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                ids.add(id(body[0].value))
    return ids


def _resolve_relative(name: str, level: int, current: str, is_package: bool) -> str:
    """``from ..x import y`` in module ``current``: the absolute name of ``..x``."""
    if level == 0:
        return name
    base = current.split(".")
    if not is_package:
        base = base[:-1]  # a module's own package
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of every node in the body of an ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and (getattr(node.test, "id", None) == "TYPE_CHECKING"
                                         or getattr(node.test, "attr", None) == "TYPE_CHECKING"):
            ids.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return ids


def imports_of(path: Path, modname: str, modules: set[str]) -> list[tuple[str, int, bool]]:
    """``[(imported module, line, type only)]``: every edge from ``modname`` (in file ``path``) to a
    module in ``modules``; ``type only`` for an import under ``if TYPE_CHECKING:``."""
    tree = ast.parse(Path(path).read_text(), filename=str(path))
    is_package = Path(path).name == "__init__.py"
    top = modname.split(".")[0]
    docstrings, typed = _docstring_nodes(tree), _type_checking_nodes(tree)
    edges: set[tuple[str, int, bool]] = set()

    def add(name: str, node: ast.AST) -> None:
        if name != modname:
            edges.add((name, node.lineno, id(node) in typed))

    def target(name: str, node: ast.AST) -> None:
        """An import of ``name``: the nearest enclosing module of the package, if any."""
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name and name.split(".")[0] == top:
            add(name, node)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target(alias.name, node)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(node.module or "", node.level, modname, is_package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                target(sub if sub in modules else base, node)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            if fname not in IMPORT_FUNCS:
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                name, level = arg.value, len(arg.value) - len(arg.value.lstrip("."))
                if level:
                    pkg = next((k.value.value for k in node.keywords if k.arg == "package"
                                and isinstance(k.value, ast.Constant)), None)
                    name = _resolve_relative(name[level:], level, pkg or modname, pkg is not None or is_package)
                target(name, node)
            elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
                prefix = arg.values[0].value
                for m in sorted(modules):
                    if m.startswith(prefix) and m != prefix.rstrip("."):
                        add(m, node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if node.value in modules and "." in node.value:
                add(node.value, node)
    return sorted(edges, key=lambda e: (e[1], e[0]))


def row_name(modname: str) -> str:
    """A module's name as the table writes it: without the package's name; the package itself is ``__init__``."""
    top, dot, rest = modname.partition(".")
    return rest if dot else "__init__"


def layer_of(modname: str, table) -> tuple[int, str] | None:
    """``(layer, row)`` for a module: its exact row, else its longest ``*`` row, else None."""
    name = row_name(modname)
    best = None
    for row, layer, _job in table:
        if row == name:
            return layer, row
        if row.endswith("*"):
            stem = row[:-1]
            covers = name.startswith(stem) or (stem.endswith(".") and name == stem[:-1])
            if covers and (best is None or len(row) > len(best[1])):
                best = (layer, row)
    return best


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    group = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        group.append(w)
                        if w == v:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return sorted(groups)


def graph_of(package_dir: Path) -> tuple[dict[str, Path], dict[str, list[tuple[str, int]]]]:
    """The package's modules and, for each, its edges ``[(imported module, line)]``."""
    files = module_files(package_dir)
    names = set(files)
    return files, {m: imports_of(p, m, names) for m, p in files.items()}


def check(package_dir: Path, table, allow: dict[tuple[str, str], str] | None = None,
          table_where: str = "the layer table") -> list[str]:
    """Every problem with ``package_dir``'s imports under ``table``, one line each ([] when none).

    ``allow`` maps a known edge ``(importer, imported)`` to the reason it is
    tolerated for now: it is left out of the cycle search (and of the upward
    check). An allowed edge that no longer exists is itself a problem, so the
    list cannot outlive its reason.
    """
    allow = dict(allow or {})
    package_dir = Path(package_dir)
    root = package_dir.parent
    files, edges = graph_of(package_dir)
    problems = []

    def where(mod: str, line: int | None = None) -> str:
        rel = files[mod].relative_to(root)
        return f"{rel}:{line}" if line else str(rel)

    for mod in sorted(files):
        if layer_of(mod, table) is None:
            need = max((layer_of(b, table) or (0, ""))[0] for b, _l, _t in edges[mod]) if edges[mod] else 0
            problems.append(f"{where(mod)}: {mod} is not in {table_where}: add the row "
                            f"({row_name(mod)!r}, {need}, \"<its one job>\") (its imports put it at L{need} "
                            "or above)")
    top = package_dir.name
    for row, _layer, _job in table:
        if not row.endswith("*") and (top if row == "__init__" else f"{top}.{row}") not in files:
            problems.append(f"{table_where}: the row {row!r} names no module: delete or rename that row")
    for mod in sorted(files):
        said = re.match(r"L(\d+):", ast.get_docstring(ast.parse(files[mod].read_text())) or "")
        la = layer_of(mod, table)
        if said and la and int(said.group(1)) != la[0]:
            problems.append(f"{where(mod)}: the docstring says L{said.group(1)}, and the row {la[1]!r} of "
                            f"{table_where} says L{la[0]}: make them agree")

    seen_allowed = set()
    for a in sorted(files):
        la = layer_of(a, table)
        for b, line, type_only in edges[a]:
            lb = layer_of(b, table)
            if (a, b) in allow:
                seen_allowed.add((a, b))
                continue
            if la and lb and lb[0] > la[0]:
                problems.append(f"{where(a, line)}: upward import{' (for a type)' if type_only else ''}: "
                                f"{a} (L{la[0]}, row {la[1]!r}) imports {b} (L{lb[0]}, row {lb[1]!r})")
    for pair in sorted(set(allow) - seen_allowed):
        problems.append(f"allowed edge {pair[0]} -> {pair[1]} no longer exists: delete it from the allow list")

    graph = {a: {b for b, _l, type_only in edges[a] if not type_only and (a, b) not in allow} for a in files}
    for group in _cycles(graph):
        members = set(group)
        closing = {}
        for a in group:
            for b, line, type_only in edges[a]:
                if b in members and not type_only and (a, b) not in allow:
                    closing.setdefault((a, b), f"{where(a, line)} {a} -> {b}")
        problems.append(f"import cycle between {', '.join(group)}: " + "; ".join(closing.values()))
    return problems
