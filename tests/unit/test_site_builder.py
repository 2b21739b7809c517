"""mk/site.py writes the lesson site's sources from what exists: no list of lessons to edit.

(The build itself, in a browser: tests/browser/test_site.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scriptload import load_script

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site():
    return load_script("mk/site.py", "site_builder")


def test_the_table_of_contents_has_every_lesson_reading_then_notebook(site, tmp_path):
    import yaml
    from minictr.labs import lessons

    site.generate(tmp_path)
    toc = yaml.safe_load((tmp_path / "_toc.yml").read_text())
    assert toc["root"] == "lessons/README"
    chapters = toc["parts"][0]["chapters"]
    assert [c["title"] for c in chapters] == [f"{r.number}. {r.title}" for r in lessons()]
    for chapter, record in zip(chapters, lessons()):
        assert chapter["file"].startswith(f"lessons/{record.number}-")
        assert chapter["sections"][0]["file"].startswith(f"notebooks/{record.number}-")
        # Every page in the toc was copied next to the others, so ../notebooks/NN-*.ipynb resolves.
        assert (tmp_path / (chapter["file"] + ".md")).is_file()
        assert (tmp_path / (chapter["sections"][0]["file"] + ".ipynb")).is_file()
    config = yaml.safe_load((tmp_path / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["repository"]["url"] == "" and config["launch_buttons"]["thebe"] is False


def test_a_new_lesson_and_an_extra_page_need_no_edit_and_a_removed_one_goes(site, tmp_path):
    import shutil

    import yaml

    repo = tmp_path / "repo"
    for folder in ("lessons", "notebooks", "minictr/labs"):
        shutil.copytree(REPO / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    labs = repo / "minictr" / "labs"
    (labs / "l99.py").write_text('from .lesson import Lesson\nLESSON = Lesson(number="99", title="A new one", needs_root=False)\n')
    (repo / "lessons" / "99-new.md").write_text("# 99. A new one\n")
    shutil.copy(REPO / "notebooks" / next(p.name for p in (REPO / "notebooks").glob("00-*.ipynb")),
                repo / "notebooks" / "99-new.ipynb")
    (repo / "lessons" / "instructor-guide.md").write_text("# Guide\n")
    src = tmp_path / "src"
    site.generate(src, repo)
    toc = yaml.safe_load((src / "_toc.yml").read_text())
    assert toc["parts"][0]["chapters"][-1] == {"file": "lessons/99-new", "title": "99. A new one",
                                               "sections": [{"file": "notebooks/99-new", "title": "Lab 99 (notebook)"}]}
    assert toc["parts"][1] == {"caption": "More", "chapters": [{"file": "lessons/instructor-guide"}]}

    for path in (labs / "l99.py", repo / "lessons" / "99-new.md", repo / "notebooks" / "99-new.ipynb"):
        path.unlink()
    site.generate(src, repo)
    assert not (src / "lessons" / "99-new.md").exists() and not (src / "notebooks" / "99-new.ipynb").exists()
    assert "99-new" not in (src / "_toc.yml").read_text()


def test_a_lesson_without_its_notebook_is_one_clear_error(site, tmp_path):
    import shutil

    repo = tmp_path / "repo"
    for folder in ("lessons", "notebooks", "minictr/labs"):
        shutil.copytree(REPO / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    next((repo / "notebooks").glob("01-*.ipynb")).unlink()
    with pytest.raises(SystemExit, match=r"lesson 01 needs one lessons/01-\*\.md and one notebooks/01-\*\.ipynb"):
        site.lesson_pages(repo)


def test_widget_views_fall_back_to_text_without_widget_state(site):
    view = {"output_type": "display_data",
            "data": {"text/plain": "Quiz(...)", site.WIDGET_VIEW: {"model_id": "abc", "version_major": 2}}}
    nb = {"cells": [{"cell_type": "code", "outputs": [view]}], "metadata": {}, "nbformat": 4}
    stateless = json.loads(site.site_notebook(json.dumps(nb).encode()))
    assert stateless["metadata"]["mystnb"]["mime_priority_overrides"] == [["*", site.WIDGET_VIEW, None]]
    assert stateless["cells"] == nb["cells"]      # the outputs themselves are untouched
    nb["metadata"]["widgets"] = {site.WIDGET_STATE: {"state": {"abc": {"model_name": "VBoxModel"}}}}
    raw = json.dumps(nb).encode()
    assert site.site_notebook(raw) == raw          # with its state, the widget is rendered as a widget
