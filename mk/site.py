"""Build the lesson site: the readings and the executed notebooks, as static HTML (Jupyter Book 1.x).

    .venv/bin/python mk/site.py                     # what `make site` runs: build/site/_build/html
    .venv/bin/python mk/site.py --out /tmp/site     # somewhere else (the browser test does this)
    .venv/bin/python mk/site.py --generate-only     # only write the book's sources, do not build

Nothing here lists the lessons. The book's sources are generated into
``OUT/src/`` at every build, from what exists:

- ``lessons/`` and ``notebooks/`` are copied there side by side, so the links
  between them (``../notebooks/NN-topic.ipynb`` in a reading, ``../lessons/NN-topic.md``
  in a notebook) resolve in the book as they do in the checkout;
- ``_toc.yml`` comes from the ``LESSON`` records (``minictr.labs.lessons()``):
  ``lessons/README.md`` is the home page, then one chapter per lesson (its
  reading, with its notebook as a section), then any other page in ``lessons/``;
- ``_config.yml`` says: never execute a notebook (``execute_notebooks: off``:
  the pages show the outputs stored in the notebooks, which strict nbval
  keeps honest), no repository buttons, no launch buttons.

Widgets: the notebooks keep no ipywidgets state (mk/nbtool.py drops it), and a
widget view without its state would render as an empty box. So each copied
notebook without widget state asks myst-nb (through its ``mystnb`` metadata)
never to pick the widget-view output, and its text/plain form is shown instead.
A notebook that does keep its widget state is rendered with it.

Offline: Jupyter Book 1.x (Sphinx, myst-nb, sphinx-book-theme) fetches nothing at
build time, and the theme ships its assets. The build runs with ``-W``
(``--warningiserror``), so a broken link between pages fails it. Jupyter Book 2
(mystmd) downloads its theme, which is why pyproject's ``site`` extra pins ``<2``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

CONFIG = {
    "title": "minictr: build a container runtime, lesson by lesson",
    "author": "the minictr authors",
    "copyright": "",
    "only_build_toc_files": True,
    "exclude_patterns": ["_build", "**.ipynb_checkpoints"],
    # The stored outputs are the point: never run a notebook (they need root and a kernel).
    "execute": {"execute_notebooks": "off"},
    # No dollarmath (a shell's $VAR is not maths, and MathJax would come from a CDN), and no
    # linkify (it made "LWN.net" a link): the readings write their links out, <https://...>.
    "parse": {"myst_enable_extensions": ["colon_fence"],
              "myst_url_schemes": ["mailto", "http", "https"]},
    "html": {"use_edit_page_button": False, "use_repository_button": False, "use_issues_button": False,
             "use_multitoc_numbering": False, "home_page_in_navbar": True},
    "launch_buttons": {"notebook_interface": "jupyterlab", "binderhub_url": "", "jupyterhub_url": "",
                       "thebe": False, "colab_url": "", "deepnote_url": ""},
    "repository": {"url": "", "path_to_book": "", "branch": "main"},
    "latex": {"use_jupyterbook_latex": False},
    "sphinx": {"config": {"html_show_copyright": False, "html_show_sphinx": False,
                          "html_last_updated_fmt": None}},
}


def lesson_pages(repo: Path = REPO) -> list[dict]:
    """One entry per LESSON record: number, title, reading and notebook (paths relative to ``repo``)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))    # this checkout's minictr reads the records (as data: ast)
    from minictr.labs import lessons

    pages = []
    for record in lessons(str(repo / "minictr" / "labs")):
        readings = sorted((repo / "lessons").glob(f"{record.number}-*.md"))
        notebooks = sorted((repo / "notebooks").glob(f"{record.number}-*.ipynb"))
        if len(readings) != 1 or len(notebooks) != 1:
            raise SystemExit(f"site: lesson {record.number} needs one lessons/{record.number}-*.md and one "
                             f"notebooks/{record.number}-*.ipynb (found {len(readings)} and {len(notebooks)}); "
                             "see tests/unit/labs/test_lesson_layout.py")
        pages.append({"number": record.number, "title": record.title,
                      "reading": readings[0].relative_to(repo).as_posix(),
                      "notebook": notebooks[0].relative_to(repo).as_posix()})
    return pages


def toc(pages: list[dict], extra: list[str]) -> dict:
    """The ``_toc.yml`` data: the home page, one chapter per lesson, then the other readings."""
    chapters = [{"file": p["reading"][:-len(".md")], "title": f"{p['number']}. {p['title']}",
                 "sections": [{"file": p["notebook"][:-len(".ipynb")], "title": f"Lab {p['number']} (notebook)"}]}
                for p in pages]
    parts = [{"caption": "Lessons", "chapters": chapters}]
    if extra:
        parts.append({"caption": "More", "chapters": [{"file": e[:-len(".md")]} for e in extra]})
    return {"format": "jb-book", "root": "lessons/README", "parts": parts}


def site_notebook(raw: bytes) -> bytes:
    """The notebook as the site renders it: without widget state, widget views fall back to text/plain."""
    nb = json.loads(raw)
    if ((nb.get("metadata", {}).get("widgets") or {}).get(WIDGET_STATE) or {}).get("state"):
        return raw
    nb.setdefault("metadata", {}).setdefault("mystnb", {})["mime_priority_overrides"] = [["*", WIDGET_VIEW, None]]
    return json.dumps(nb, indent=1, ensure_ascii=False).encode() + b"\n"


def _write(path: Path, data: bytes) -> None:
    """Write only what changed, so that Sphinx rebuilds only the pages that changed."""
    if not path.exists() or path.read_bytes() != data:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def generate(src: Path, repo: Path = REPO) -> list[dict]:
    """Write the book's sources into ``src``: copies of lessons/ and notebooks/, _toc.yml, _config.yml."""
    import yaml  # a dependency of jupyter-book

    pages = lesson_pages(repo)
    wanted: dict[Path, bytes] = {}
    for folder in ("lessons", "notebooks"):
        for path in sorted((repo / folder).rglob("*")):
            rel = path.relative_to(repo)
            if path.is_file() and ".ipynb_checkpoints" not in rel.parts and "__pycache__" not in rel.parts:
                data = path.read_bytes()
                wanted[rel] = site_notebook(data) if path.suffix == ".ipynb" else data
    listed = {"lessons/README.md"} | {p["reading"] for p in pages}
    extra = sorted(r.as_posix() for r in wanted if r.suffix == ".md" and r.parent == Path("lessons")
                   and r.as_posix() not in listed)
    wanted[Path("_toc.yml")] = yaml.safe_dump(toc(pages, extra), sort_keys=False).encode()
    wanted[Path("_config.yml")] = yaml.safe_dump(CONFIG, sort_keys=False).encode()
    for rel, data in wanted.items():
        _write(src / rel, data)
    # A lesson renamed or removed since the last build must not linger in the book.
    if src.exists():
        for path in sorted(src.rglob("*"), reverse=True):
            rel = path.relative_to(src)
            if path.is_file() and rel not in wanted:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return pages


def build(out: Path, repo: Path = REPO) -> Path:
    """Generate the sources into ``out/src`` and build them; returns the html directory."""
    src = out / "src"
    generate(src, repo)
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
           "build", str(src), "--path-output", str(out), "--builder", "html", "-W", "--keep-going", "-q"]
    try:
        subprocess.run(cmd, check=True)
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"site: the Jupyter Book build failed (exit {e.returncode}); its warnings are above") from None
    return out / "_build" / "html"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Build the lesson site with Jupyter Book 1.x.")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "site",
                        help="build directory (default: build/site; the site lands in OUT/_build/html)")
    parser.add_argument("--generate-only", action="store_true", help="write OUT/src and stop")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if importlib.util.find_spec("jupyter_book") is None:
        raise SystemExit("site: jupyter-book is not installed in this venv; `make site` installs it "
                         "(pyproject's `site` extra: jupyter-book>=1,<2)")
    if args.generate_only:
        generate(out / "src")
        print(f"site: sources in {out / 'src'}")
        return 0
    html = build(out)
    print(f"site: {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
