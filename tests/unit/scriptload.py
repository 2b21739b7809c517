"""Load a script that is not in a package (mk/*.py, workshop/*.py) by its path, for its tests."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_script(relpath: str, name: str | None = None):
    """The module of ``REPO/relpath``, run once; ``name`` defaults to the file's stem."""
    path = REPO / relpath
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
