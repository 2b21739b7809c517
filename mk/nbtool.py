"""Execute, normalise and check the lesson notebooks (used by mk/notebooks.mk).

    python mk/nbtool.py execute notebooks/*.ipynb   # run every cell, then normalise (make notebooks)
    python mk/nbtool.py normalize notebooks/*.ipynb # only normalise
    python mk/nbtool.py check notebooks/*.ipynb     # fail if stale or not normalised (make check-notebooks)

Strict nbval compares the outputs stored in the notebooks, so they are
committed executed. "Normalised" means exactly what
``nbstripout --keep-output --keep-count`` makes of it (outputs and execution
counts kept, volatile metadata dropped, cell ids made deterministic), plus:

- a fixed kernelspec and language_info, plus the ``version`` that the
  executing kernel reported (JupyterLab writes the running kernel's
  language_info into the model on open: without the version there, every
  notebook was marked unsaved as soon as it opened);
- no ipywidgets state: the widget-view outputs carry random model ids, so only
  their text/plain line is kept (nbval never compares widget views anyway);
- consecutive stream outputs of one cell (stdout, stdout) merged into one, as
  nbval merges them before comparing: how the kernel chunked them is timing;
- ``metadata.minictr.executed_sources``: a hash of the code cells' sources at
  the time ``execute`` ran them.

"Stale" means a code cell was edited or added since ``execute`` ran (the hash
differs), or the cells were not run once from top to bottom (execution counts
must be 1, 2, 3, ... in order, none missing). nbval then catches outputs that
no longer match what the code does today.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import os
import sys
import time
from pathlib import Path

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}
# nbstripout's own default list of volatile keys (its CLI adds exactly these).
NBSTRIPOUT_EXTRA_KEYS = [
    "metadata.signature", "metadata.widgets", "cell.metadata.collapsed", "cell.metadata.ExecuteTime",
    "cell.metadata.execution", "cell.metadata.heading_collapsed", "cell.metadata.hidden",
    "cell.metadata.scrolled",
]


def sources_hash(nb) -> str:
    h = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            h.update(cell.source.encode())
            h.update(b"\0")
    return h.hexdigest()


def normalize(nb, *, executed_hash: str | None = None):
    """The notebook as it is committed. Pure: returns a new notebook."""
    from nbstripout import strip_output

    nb = copy.deepcopy(nb)
    old = nb.metadata.get("minictr", {})
    nb = strip_output(nb, keep_output=True, keep_count=True, keep_id=False, extra_keys=NBSTRIPOUT_EXTRA_KEYS)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data and WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
                out.get("metadata", {}).pop(WIDGET_VIEW, None)
        if "outputs" in cell:
            cell.outputs = _merge_streams(cell.outputs)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    version = nb.metadata.get("language_info", {}).get("version")
    nb.metadata["language_info"] = copy.deepcopy(LANGUAGE_INFO)
    if version:
        nb.metadata["language_info"]["version"] = version
    meta = {k: v for k, v in old.items() if k != "executed_sources"}
    h = executed_hash or old.get("executed_sources")
    if h:
        meta["executed_sources"] = h
    if meta:
        nb.metadata["minictr"] = meta
    else:
        nb.metadata.pop("minictr", None)
    return nb


def _merge_streams(outputs: list) -> list:
    merged: list = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and prev is not None
                and prev.get("output_type") == "stream" and prev.get("name") == out.get("name")):
            prev["text"] = _text(prev["text"]) + _text(out["text"])
        else:
            merged.append(out)
    return merged


def _text(t) -> str:
    return "".join(t) if isinstance(t, list) else t


def dumps(nb) -> str:
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def problems(path: Path) -> list[str]:
    """Why a notebook is stale or not normalised; empty when it is fine."""
    text = path.read_text()
    nb = nbformat.reads(text, as_version=4)
    found = []
    if dumps(normalize(nb)) != text:
        found.append("not normalised (run `make notebooks`, or `python mk/nbtool.py normalize` on it)")
    recorded = nb.metadata.get("minictr", {}).get("executed_sources")
    if recorded is None:
        found.append("never executed by `make notebooks` (no metadata.minictr.executed_sources)")
    elif recorded != sources_hash(nb):
        found.append("stale: a code cell changed since `make notebooks` executed it")
    counts = [c.get("execution_count") for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    if counts != list(range(1, len(counts) + 1)):
        found.append(f"stale: not run once from top to bottom (execution counts {counts})")
    return found


def execute(path: Path, *, timeout: int, kernel_name: str) -> float:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.monotonic()
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    took = time.monotonic() - start
    path.write_text(dumps(normalize(nb, executed_hash=sources_hash(nb))))
    return took


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["execute", "normalize", "check"])
    p.add_argument("notebooks", nargs="*", type=Path)
    p.add_argument("--timeout", type=int, default=int(os.environ.get("NB_CELL_TIMEOUT", "300")),
                   help="seconds per cell (execute)")
    p.add_argument("--kernel", default="python3", help="kernel name (execute)")
    args = p.parse_args(argv)
    if not args.notebooks:
        print("nbtool: no notebooks given", file=sys.stderr)
        return 2
    bad = 0
    for path in args.notebooks:
        if args.action == "execute":
            took = execute(path, timeout=args.timeout, kernel_name=args.kernel)
            print(f"executed {path} in {took:.1f} s")
        elif args.action == "normalize":
            nb = nbformat.read(path, as_version=4)
            text = dumps(normalize(nb))
            if text != path.read_text():
                path.write_text(text)
                print(f"normalised {path}")
        else:
            for why in problems(path):
                print(f"{path}: {why}", file=sys.stderr)
                bad += 1
    if args.action == "check":
        if bad:
            print(f"{bad} problem(s); run `make notebooks` to execute and normalise them again", file=sys.stderr)
            return 1
        print(f"{len(args.notebooks)} notebook(s) executed and normalised")
    return 0


if __name__ == "__main__":
    sys.exit(main())
