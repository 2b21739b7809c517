"""nbval hooks for the lesson notebooks (`pytest --nbval ... notebooks/`, see mk/notebooks.mk).

This file sits at the top of the checkout, out of the learner's folder
(notebooks/ holds the lessons and nothing else): pytest loads the rootdir's
conftest.py for every run, and these hooks act on notebook items only.

- stderr is not compared: warnings and progress go there and vary from run to run.
- A notebook needs root unless its lesson's ``LESSON`` record (minictr/labs/lNN.py) says
  ``privilege="either"`` or ``"rootless"`` (it then runs as an ordinary user too, in a user
  namespace), or its metadata says ``"minictr": {"needs_root": false}``; without root it is
  skipped, with the reason, as the probe cell would explain.
- The kernel nbval starts (``--nbval-current-env``) imports minictr from this checkout.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = str(Path(__file__).resolve().parent)
os.environ["PYTHONPATH"] = os.pathsep.join(
    [REPO] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != REPO])

ROOT_REASON = ("this notebook needs root and CAP_SYS_ADMIN (namespaces, mount, chroot); "
               "run `sudo make test` or see the probe cell at its top")


def _is_notebook(node) -> bool:
    return type(node).__name__ == "IPyNbFile"


def pytest_collectstart(collector):
    if _is_notebook(collector):
        collector.skip_compare += ("stderr",)


def _needs_root(path: Path) -> bool:
    meta = json.loads(path.read_text()).get("metadata", {}).get("minictr", {})
    if "needs_root" in meta:
        return bool(meta["needs_root"])
    from minictr import labs

    privilege = {lesson.number: lesson.privilege for lesson in labs.lessons()}.get(path.name[:2], "root")
    return privilege == "root"


def pytest_collection_modifyitems(config, items):
    notebook_items = [item for item in items if _is_notebook(item.parent)]
    if not notebook_items:
        return
    from minictr.exercises import has_root

    if has_root():
        return
    for item in notebook_items:
        if _needs_root(Path(str(item.parent.fspath))):
            item.add_marker(pytest.mark.skip(reason=ROOT_REASON))
