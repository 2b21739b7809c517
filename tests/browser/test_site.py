"""The lesson site (`make site`, mk/site.py) in a real browser: every lesson reachable, nothing broken.

A session fixture builds the site once into a temporary directory, as
`make site` does. As root it builds inside a new, empty network namespace
(``unshare --net``: only a loopback that is down), which proves the build
fetches nothing from the internet; as another user it builds normally.

Python playwright drives Debian's chromium over file:// (no server), with every
request that is not a local file refused and recorded: the site must work
offline, so the test fails if a page asks the network for anything (a font, a
script from a CDN). From index.html it follows the "next" button from page to
page and checks:

- the order: the home page (lessons/README.md), then each lesson's reading
  followed by its notebook, for every ``LESSON`` record, and nothing after;
- each reading's title starts with its number and contains the lesson's
  title; the sidebar lists every lesson under its number and title;
- each notebook page shows the outputs stored in the notebook (its first
  lines, and its images), since the build never executes a notebook;
- every ``<a href>`` to a local page points to a file that exists, and its
  ``#fragment`` to an id on that page; a reading links to its notebook page and
  the notebook page links back.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.slow

sys.path.insert(0, str(REPO))


def lessons():
    from minictr.labs import lessons as records  # after the checkout is on the path
    return records()


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """The built site's html directory (built once per session, offline where we can prove it)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make setup-test` installs Debian's chromium")
    if importlib.util.find_spec("jupyter_book") is None:
        pytest.fail("jupyter-book is not installed: `make venv` installs pyproject's `site` extra")
    out = tmp_path_factory.mktemp("site")
    cmd = [sys.executable, str(REPO / "mk" / "site.py"), "--out", str(out)]
    if os.geteuid() == 0 and shutil.which("unshare"):
        cmd = ["unshare", "--net", "--", *cmd]   # no network at all while the site builds
    proc = subprocess.run(cmd, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"the site did not build:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    html = out / "_build" / "html"
    assert (html / "index.html").is_file()
    return html


def _stored_outputs(notebook: Path) -> tuple[list[str], int]:
    """The first non-blank line of every stored text output, and how many images, of a notebook."""
    lines, images = [], 0
    for cell in json.loads(notebook.read_text())["cells"]:
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            data = out.get("data", {})
            if "image/png" in data or "image/svg+xml" in data:
                images += 1
                continue
            text = out.get("text") if out["output_type"] == "stream" else data.get("text/plain")
            text = "".join(text) if isinstance(text, list) else (text or "")
            first = next((line.strip() for line in text.splitlines() if line.strip()), None)
            if first and "html" not in "".join(data):
                lines.append(first)
    return lines, images


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _local_target(href: str) -> tuple[Path, str] | None:
    """(file, fragment) of a file:// link, None for any other link."""
    parts = urlsplit(href)
    if parts.scheme != "file":
        return None
    return Path(unquote(parts.path)), unquote(parts.fragment)


def test_the_site_walks_through_every_lesson_offline(site):
    from playwright.sync_api import sync_playwright

    records = lessons()
    assert records, "no LESSON records found"
    expected = [site / "lessons" / "README.html"]
    for r in records:
        expected.append(site / "lessons" / next((REPO / "lessons").glob(f"{r.number}-*.md")).with_suffix(".html").name)
        expected.append(site / "notebooks" / next((REPO / "notebooks").glob(f"{r.number}-*.ipynb")).with_suffix(".html").name)

    refused: list[str] = []
    links: dict[str, set[str]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})

            def only_local(route):
                if route.request.url.startswith(("file://", "data:", "blob:")):
                    route.continue_()
                else:
                    refused.append(route.request.url)
                    route.abort()

            page.route("**/*", only_local)
            page.goto((site / "index.html").as_uri())
            page.wait_for_url("**/lessons/README.html", timeout=10_000)   # index.html redirects home

            sidebar = _squash(page.locator("nav.bd-links").inner_text())
            for r in records:
                assert f"{r.number}. {r.title}" in sidebar, f"the sidebar does not list lesson {r.number}: {sidebar}"

            visited: list[Path] = []
            while True:
                page.wait_for_load_state("load")
                here, _ = _local_target(page.url)
                visited.append(here)
                assert len(visited) <= len(expected), f"the navigation goes on past the last lesson: {visited}"
                assert here == expected[len(visited) - 1], (
                    f"page {len(visited)} of the navigation is {here}, expected {expected[len(visited) - 1]}")
                links[str(here)] = set(page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)"))
                title = _squash(page.locator("article h1").first.inner_text()).rstrip("#").strip()
                index = len(visited) - 2          # -1: the home page
                if index >= 0:
                    record = records[index // 2]
                    assert title.startswith(f"{record.number}."), f"{here.name}: title {title!r}"
                    assert record.title.lower() in title.lower(), f"{here.name}: title {title!r}, lesson {record.title!r}"
                    if index % 2 == 1:
                        _check_outputs(page, REPO / "notebooks" / here.with_suffix(".ipynb").name)
                    else:
                        notebook = expected[len(visited)]
                        assert notebook.as_uri() in links[str(here)], f"{here.name} has no link to {notebook.name}"
                    if index % 2 == 1:
                        reading = expected[len(visited) - 2]
                        assert reading.as_uri() in links[str(here)], f"{here.name} has no link back to {reading.name}"
                following = page.locator("a.right-next")
                if not following.count():
                    break
                following.first.click()
            assert visited == expected
        finally:
            browser.close()

    assert refused == [], f"the site asked the network for: {sorted(set(refused))[:10]}"
    _check_links(site, links)


def _check_outputs(page, notebook: Path) -> None:
    """The notebook page shows the notebook's stored outputs (it was not executed, and nothing is lost)."""
    lines, images = _stored_outputs(notebook)
    assert lines, f"{notebook.name} stores no text output"
    shown = _squash("\n".join(page.locator(".cell_output").all_inner_texts()))
    missing = [line for line in lines if _squash(line) not in shown]
    assert not missing, f"{notebook.name}: stored outputs missing from its page: {missing[:5]}"
    assert page.locator(".cell_output img").count() == images, f"{notebook.name}: not all its images are shown"


def _check_links(site: Path, links: dict[str, set[str]]) -> None:
    """Every link to a local page leads to a file that exists, and to an id that exists on it."""
    broken = []
    for source, hrefs in links.items():
        for href in hrefs:
            target = _local_target(href)
            if target is None:
                continue
            path, fragment = target
            if not path.is_file():
                broken.append(f"{Path(source).name} -> {href} (no such file)")
            elif fragment and path.suffix == ".html" and f'id="{fragment}"' not in path.read_text(errors="replace"):
                broken.append(f"{Path(source).name} -> {href} (no id {fragment!r} there)")
            elif not path.resolve().is_relative_to(site.resolve()):
                broken.append(f"{Path(source).name} -> {href} (outside the site)")
    assert not broken, "broken links:\n" + "\n".join(sorted(broken)[:20])
