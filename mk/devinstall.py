"""Install this checkout into the venv that runs this script, without building it.

    .venv/bin/python mk/devinstall.py lab test site    # what `make venv` runs

Three steps, each plain enough to read in a minute:

1. ``pip install`` the dependencies that ``pyproject.toml`` lists, with the
   extras named on the command line: nothing else; minictr itself is not built;
2. a ``minictr-checkout.pth`` file in the venv's site-packages, holding one
   line: this checkout's path. Python's ``site`` module adds that line to
   ``sys.path`` at start-up, so ``import minictr`` finds the checkout and an edit
   takes effect at once;
3. the console scripts of ``[project.scripts]`` in the venv's ``bin/``: each a
   three-line Python script, ``from minictr.cli import entry; entry()``.

Why not ``pip install -e .``: an editable install by today's setuptools puts
an import-hook finder in site-packages that every interpreter start imports
(about 12 ms here, on a container start of about 30 ms), and the older
``editable_mode=compat`` that wrote a plain ``.pth`` line instead is
"transitional and will be removed". pip's own console scripts also import
``re`` at every start. A ``.pth`` line and a three-line script cost nothing,
and depend on no build backend's version. (``pip install .`` still works for
anyone who wants a real installed package; pyproject.toml says which
setuptools it needs.)

A minictr installed earlier by pip (editable or not) is uninstalled first, so
that only one copy is on the path. See the Python documentation of the
``site`` module (".pth files") and of ``sysconfig`` ("installation paths").
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10 (Ubuntu 22.04): pip vendors the same parser
    from pip._vendor import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
PTH_NAME = "minictr-checkout.pth"


def requirements(pyproject: dict, extras: list[str]) -> list[str]:
    """The project's dependencies plus those of each extra, in order, without repeats."""
    project = pyproject["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise SystemExit(f"devinstall: no extra {unknown[0]!r} in pyproject.toml (there are: {', '.join(optional)})")
    reqs = list(project.get("dependencies", []))
    for extra in extras:
        reqs += [r for r in optional[extra] if r not in reqs]
    return reqs


def script_text(python: str, target: str) -> str:
    """A console script for ``module:function``, run by ``python``."""
    module, _, func = target.partition(":")
    return f"#!{python}\nfrom {module} import {func}\n{func}()\n"


def installed_by_pip(purelib: Path) -> bool:
    """Did pip install a minictr distribution into this venv (an earlier `pip install -e .`)?"""
    return any(purelib.glob("minictr-*.dist-info")) or any(purelib.glob("minictr.egg-link"))


def main(argv: list[str]) -> int:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    paths = sysconfig.get_paths()
    purelib, scripts = Path(paths["purelib"]), Path(paths["scripts"])
    pip = [sys.executable, "-m", "pip"]

    if installed_by_pip(purelib):
        subprocess.run([*pip, "uninstall", "-q", "-y", "minictr"], check=True)
    reqs = requirements(pyproject, argv)
    if reqs:
        subprocess.run([*pip, "install", "-q", *reqs], check=True)

    (purelib / PTH_NAME).write_text(f"{REPO}\n")
    for name, target in pyproject["project"].get("scripts", {}).items():
        path = scripts / name
        path.write_text(script_text(sys.executable, target))
        os.chmod(path, 0o755)
    print(f"devinstall: {len(reqs)} requirements; {purelib / PTH_NAME} -> {REPO}; "
          f"scripts: {', '.join(pyproject['project'].get('scripts', {})) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
