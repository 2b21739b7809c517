"""The layers are true: every import of minictr goes downward (or sideways), and none goes in a circle.

The table is ``minictr/layers.py``; the checker is ``layercheck.py`` next to
this file. The second half of this file shows the checker failing on a fake
package with deliberate violations, so a passing first half means something.
"""

from pathlib import Path

import layercheck  # tests/unit/layercheck.py (pytest puts this directory on the path)
import pytest

import minictr
from minictr import layers

REPO = Path(__file__).resolve().parents[2]

#: Edges that close a cycle which another branch removes, tolerated until it
#: lands. The lead deletes each entry when that branch is merged; the test
#: itself says so once the edge is gone ("allowed edge ... no longer exists").
KNOWN_CYCLE_EDGES: dict[tuple[str, str], str] = {
    # Empty: every edge goes downward, and there is no cycle. An entry here, with a
    # reason, would let one known edge through while it is being fixed.
}


def test_every_import_of_minictr_keeps_to_the_layer_table():
    problems = layercheck.check(REPO / "minictr", layers.LAYERS, allow=KNOWN_CYCLE_EDGES,
                                table_where="minictr/layers.py LAYERS")
    assert problems == [], "\n" + "\n".join(problems)


def test_bench_has_no_import_cycle():
    assert layercheck.check(REPO / "bench", (("*", 0, "the benchmark"),)) == []


def test_the_package_docstring_and_the_readme_show_the_same_table():
    assert layers.table_text("    ") in minictr.__doc__, \
        "minictr/__init__.py's docstring differs from minictr/layers.py: paste layers.table_text('    ')"
    readme = (REPO / "README.md").read_text()
    assert f"```text\n{layers.table_text()}\n```" in readme, \
        "README.md's layer table differs from minictr/layers.py: paste layers.table_text() there"


def test_every_layer_has_a_name_and_rows():
    used = {layer for _row, layer, _job in layers.LAYERS}
    assert used == set(layers.LAYER_NAMES)
    rows = [row for row, _l, _j in layers.LAYERS]
    assert len(rows) == len(set(rows)), "a row is listed twice"
    assert all(job and len(job) < 80 for _r, _l, job in layers.LAYERS)


def test_the_known_cycle_edges_still_close_a_cycle():
    """Each tolerated edge is real, and really is the only thing that hides its cycle."""
    _files, edges = layercheck.graph_of(REPO / "minictr")
    for a, b in KNOWN_CYCLE_EDGES:
        assert b in {m for m, _line, _t in edges[a]}, f"{a} -> {b} is gone: delete it from KNOWN_CYCLE_EDGES"
    problems = layercheck.check(REPO / "minictr", layers.LAYERS, table_where="minictr/layers.py LAYERS")
    for a, _b in KNOWN_CYCLE_EDGES:
        assert any(p.startswith("import cycle") and a in p for p in problems)


# ---------------------------------------------------------------- the checker fails on violations

def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


FAKE_TABLE = (
    ("__init__", 0, "the package"),
    ("low", 0, "imports high inside a function: upward"),
    ("high", 1, "imports low: fine"),
    ("a", 1, "imports b through importlib"),
    ("b", 1, "imports a: a cycle at one layer"),
    ("sub.*", 1, "a subpackage"),
    ("later.*", 1, "a package that is still to come: no problem"),
    ("gone", 0, "a module that was deleted"),
)


@pytest.fixture
def fake(tmp_path):
    return write(tmp_path, {
        "pkg/__init__.py": '"""The fake package."""\n',
        "pkg/low.py": '"""L0: low."""\n\n\ndef f():\n    from . import high\n    return high\n',
        "pkg/high.py": '"""L1: high."""\nfrom .low import f\n',
        "pkg/a.py": 'import importlib\n\n\ndef load():\n    return importlib.import_module("pkg.b")\n',
        "pkg/b.py": '"""L2: says the wrong layer."""\nfrom .a import load\n',
        "pkg/sub/__init__.py": "",
        "pkg/sub/deep.py": "from ..high import f\n",
        "pkg/orphan.py": "from . import a\n",
    })


def test_the_checker_reports_each_violation(fake):
    problems = layercheck.check(fake, FAKE_TABLE)
    text = "\n".join(problems)
    # an upward import inside a function, with file:line and both layers
    assert "pkg/low.py:5: upward import: pkg.low (L0, row 'low') imports pkg.high (L1, row 'high')" in problems
    # a cycle through importlib, at one layer, with the lines that close it
    assert "import cycle between pkg.a, pkg.b: pkg/a.py:5 pkg.a -> pkg.b; pkg/b.py:2 pkg.b -> pkg.a" in problems
    # a module missing from the table: the message says which row to add
    assert "pkg/orphan.py: pkg.orphan is not in the layer table: add the row ('orphan', 1, " in text
    # a row for a module that is gone; a * row for a package still to come is fine
    assert "the layer table: the row 'gone' names no module: delete or rename that row" in problems
    assert "later" not in text
    # a docstring that names another layer than the table
    assert "pkg/b.py: the docstring says L2, and the row 'b' of the layer table says L1: make them agree" in problems
    # the upward import closes a cycle too (high imports low)
    assert "import cycle between pkg.high, pkg.low: pkg/high.py:2 pkg.high -> pkg.low; " \
           "pkg/low.py:5 pkg.low -> pkg.high" in problems
    # the subpackage's relative import of a lower layer is fine
    assert "deep" not in text
    assert len(problems) == 6, text


def test_an_allowed_edge_hides_its_cycle_until_it_is_gone(fake):
    allow = {("pkg.a", "pkg.b"): "being fixed"}
    problems = layercheck.check(fake, FAKE_TABLE, allow=allow)
    assert not any(p.startswith("import cycle between pkg.a") for p in problems)
    (fake / "a.py").write_text("def load():\n    return None\n")
    problems = layercheck.check(fake, FAKE_TABLE, allow=allow)
    assert "allowed edge pkg.a -> pkg.b no longer exists: delete it from the allow list" in problems


def test_a_clean_fake_package_has_no_problems(fake):
    for name in ("orphan.py", "a.py"):
        (fake / name).unlink()
    (fake / "low.py").write_text('"""L0: low, fixed."""\n')
    (fake / "b.py").write_text('"""L1: b."""\n')
    table = tuple(r for r in FAKE_TABLE if r[0] not in ("gone", "a"))
    assert layercheck.check(fake, table) == []


def test_every_kind_of_import_is_an_edge(tmp_path):
    pkg = write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/x/__init__.py": "",
        "pkg/x/mod.py": (
            '"""pkg.t in a docstring is not an import."""\n'
            "import pkg.t1 as t1\n"                                    # 2: absolute
            "from pkg import t2\n"                                     # 3: a module from a package
            "from pkg.t3 import name\n"                                # 4: a name from a module
            "class C:\n"
            "    def m(self):\n"
            "        from ..t4 import y\n"                             # 7: relative, in a method
            "        from . import sib\n"                              # 8: a sibling
            "try:\n"
            "    __import__('pkg.t5')\n"                               # 10: __import__
            "except ImportError:\n"
            "    pass\n"
            "def g(n):\n"
            "    import importlib\n"
            "    importlib.import_module(f'pkg.lab.l{n}')\n"          # 15: an f-string prefix
            "    importlib.import_module('.t6', package='pkg')\n"     # 16: relative with package=
            "MODULES = ('pkg.t7', 'not a module', 'pkg.nope')\n"      # 17: module names as data
            "TYPE_CHECKING = False\n"
            "if TYPE_CHECKING:\n"
            "    from pkg.t8 import T\n"                              # 20: for a type only
        ),
        "pkg/x/sib.py": "", "pkg/t.py": "",
        **{f"pkg/t{i}.py": "" for i in range(1, 9)},
        "pkg/lab/__init__.py": "", "pkg/lab/l05.py": "", "pkg/lab/l06.py": "", "pkg/lab/other.py": "",
    })
    files, edges = layercheck.graph_of(pkg)
    assert [(m, line) for m, line, _t in edges["pkg.x.mod"]] == [
        ("pkg.t1", 2), ("pkg.t2", 3), ("pkg.t3", 4), ("pkg.t4", 7), ("pkg.x.sib", 8), ("pkg.t5", 10),
        ("pkg.lab.l05", 15), ("pkg.lab.l06", 15), ("pkg.t6", 16), ("pkg.t7", 17), ("pkg.t8", 20),
    ]
    assert [m for m, _line, type_only in edges["pkg.x.mod"] if type_only] == ["pkg.t8"]


def test_an_import_for_a_type_counts_for_the_layers_but_makes_no_cycle(tmp_path):
    pkg = write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/store.py": "def collect():\n    from .gc import referenced\n",
        "pkg/gc.py": "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from .store import Store\n    from .top import T\n",
        "pkg/top.py": "",
    })
    table = (("store", 1, ""), ("gc", 1, ""), ("top", 2, ""), ("__init__", 0, ""))
    assert layercheck.check(pkg, table) == [
        "pkg/gc.py:4: upward import (for a type): pkg.gc (L1, row 'gc') imports pkg.top (L2, row 'top')"]
    (pkg / "gc.py").write_text("from .store import Store\n")
    assert layercheck.check(pkg, table) == [
        "import cycle between pkg.gc, pkg.store: pkg/gc.py:1 pkg.gc -> pkg.store; pkg/store.py:2 pkg.store -> pkg.gc"]


def test_row_matching():
    table = (("__init__", 0, ""), ("image.*", 1, ""), ("cli_*", 4, ""), ("cli", 3, ""), ("image.store", 2, ""))
    assert layercheck.layer_of("pkg", table) == (0, "__init__")
    assert layercheck.layer_of("pkg.image", table) == (1, "image.*")
    assert layercheck.layer_of("pkg.image.oci", table) == (1, "image.*")
    assert layercheck.layer_of("pkg.image.store", table) == (2, "image.store")
    assert layercheck.layer_of("pkg.cli", table) == (3, "cli")
    assert layercheck.layer_of("pkg.cli_stats", table) == (4, "cli_*")
    assert layercheck.layer_of("pkg.images", table) is None
