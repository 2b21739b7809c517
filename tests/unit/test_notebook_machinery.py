"""The notebook machinery: sanitizer rules, normalise/stale checks, strict nbval hooks, lab kernel."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from scriptload import load_script

REPO = Path(__file__).resolve().parents[2]
CFG = REPO / "tests" / "notebooks" / "nbval.cfg"


def _load(name: str):
    """mk/ holds scripts for make, not a package: load them by path."""
    return load_script(f"mk/{name}.py")


nbtool = _load("nbtool")
lab_kernel = _load("lab_kernel")


# -- the sanitizer -----------------------------------------------------------------------

def _patterns():
    from nbval.plugin import get_sanitize_patterns

    return get_sanitize_patterns(CFG.read_text())


def _sanitize(text: str) -> str:
    for regex, replace in _patterns():
        text = re.sub(regex, replace, text)
    return text


def test_every_rule_in_nbval_cfg_is_read_by_nbval():
    # The format trap: a rule nbval cannot parse is silently ignored.
    written = [line for line in CFG.read_text().splitlines() if line.startswith("regex:")]
    assert len(_patterns()) == len(written) >= 10


@pytest.mark.parametrize("raw,clean", [
    ("uts:[4026531838] pid_for_children:[4026532201]", "uts:[INODE] pid_for_children:[INODE]"),
    ("container 3f9a2b7c1d0e started", "container SHORT-ID started"),
    ("id " + "ab" * 32, "id CONTAINER-ID"),
    ("sha256:" + "0" * 64, "sha256:DIGEST"),
    ("PID 23300 and pid=4512 and /proc/4512/ns", "PID N and pid=N and /proc/PID/ns"),
    ("PID 1 in the container, /proc/1/ns", "PID 1 in the container, /proc/1/ns"),
    ("unpacked into /tmp/minictr-x1_y.z/rootfs", "unpacked into /tmp/TMP/rootfs"),
    ("<object at 0x7f3a2c1b5e10>", "<object at 0xADDR>"),
    ("inet 10.0.0.2/24 and 127.0.0.1", "inet IP-ADDRESS and IP-ADDRESS"),
    ("created 2026-11-27T22:40:01.123Z", "created TIMESTAMP"),
    ("took 12.5 ms, 3s and 40 µs", "took DURATION, DURATION and DURATION"),
    ("all 10 checks passed: 128+9 = 137, 3 seconds", "all 10 checks passed: 128+9 = 137, 3 seconds"),
    ("lesson 03: nothing left over from an earlier run", "lesson 03: LEFTOVERS"),
    ("lesson 08: removed 1 container and 4 temporary directories (2 in use by another running notebook,"
     " left alone)", "lesson 08: LEFTOVERS"),
    ("lesson 07: removed 0 containers and 1 temporary directory; could not remove: /tmp/lesson07-x (busy)",
     "lesson 07: LEFTOVERS; could not remove: /tmp/TMP (busy)"),
    ("tmpfs on /dev type tmpfs (rw,nosuid,size=65536k,mode=755,inode64)",
     "tmpfs on /dev type tmpfs (rw,nosuid,size=65536k,mode=755)"),
])
def test_sanitizer_rules(raw, clean):
    assert _sanitize(raw) == clean


# -- normalise and the stale check ---------------------------------------------------------

def _executed(sources, *, counts=None, widgets=False):
    cells = [new_markdown_cell("# title")]
    for i, src in enumerate(sources, 1):
        cell = new_code_cell(src, execution_count=(counts or range(1, len(sources) + 1))[i - 1])
        cell.outputs = [new_output("stream", name="stdout", text=f"out {i}\n")]
        if widgets:
            cell.outputs.append(new_output("display_data", data={
                "text/plain": "Quiz: ?", nbtool.WIDGET_VIEW: {"model_id": "abc", "version_major": 2}}))
        cell.metadata["execution"] = {"iopub.status.idle": "2026-11-27T22:00:00Z"}
        cells.append(cell)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.2"}
    if widgets:
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


def _write(tmp_path, nb, name="n.ipynb") -> Path:
    path = tmp_path / name
    path.write_text(nbtool.dumps(nb))
    return path


def test_normalize_is_stable_and_drops_volatile_things():
    nb = _executed(["print(1)", "print(2)"], widgets=True)
    once = nbtool.normalize(nb, executed_hash=nbtool.sources_hash(nb))
    twice = nbtool.normalize(once)
    assert nbtool.dumps(once) == nbtool.dumps(twice)
    assert "widgets" not in once.metadata
    # The kernel's version stays: JupyterLab writes it on open, and a notebook without it opens "unsaved".
    assert once.metadata.language_info == {**nbtool.LANGUAGE_INFO, "version": "3.11.2"}
    assert [c.id for c in once.cells] == ["0", "1", "2"]            # deterministic ids
    code = once.cells[1]
    assert code.execution_count == 1 and "execution" not in code.metadata
    assert code.outputs[0].text == "out 1\n"                       # outputs kept
    assert code.outputs[1].data == {"text/plain": "Quiz: ?"}       # widget view dropped, text kept
    assert once.metadata.minictr.executed_sources == nbtool.sources_hash(nb)


def test_normalize_merges_consecutive_streams_like_nbval():
    nb = _executed(["print(1)"])
    cell = nb.cells[1]
    cell.outputs = [new_output("stream", name="stdout", text="a\n"), new_output("stream", name="stdout", text="b\n"),
                    new_output("stream", name="stderr", text="w\n"), new_output("stream", name="stdout", text="c\n")]
    out = nbtool.normalize(nb).cells[1].outputs
    assert [(o.name, o.text) for o in out] == [("stdout", "a\nb\n"), ("stderr", "w\n"), ("stdout", "c\n")]


def test_check_accepts_a_normalised_executed_notebook(tmp_path):
    nb = _executed(["print(1)", "print(2)"])
    path = _write(tmp_path, nbtool.normalize(nb, executed_hash=nbtool.sources_hash(nb)))
    assert nbtool.problems(path) == []


def test_check_finds_an_edited_cell(tmp_path):
    nb = _executed(["print(1)", "print(2)"])
    nb = nbtool.normalize(nb, executed_hash=nbtool.sources_hash(nb))
    nb.cells[2].source = "print(3)"
    assert nbtool.problems(_write(tmp_path, nb)) == [
        "stale: a code cell changed since `make notebooks` executed it"]


def test_check_finds_cells_not_run_top_to_bottom(tmp_path):
    nb = _executed(["print(1)", "print(2)"], counts=[1, 5])
    path = _write(tmp_path, nbtool.normalize(nb, executed_hash=nbtool.sources_hash(nb)))
    assert nbtool.problems(path) == ["stale: not run once from top to bottom (execution counts [1, 5])"]


def test_check_finds_a_notebook_not_normalised_or_never_executed(tmp_path):
    path = _write(tmp_path, _executed(["print(1)"], widgets=True))
    found = nbtool.problems(path)
    assert found[0].startswith("not normalised")
    assert found[1].startswith("never executed by `make notebooks`")


def test_nbtool_check_command_exit_codes(tmp_path, capsys):
    good = _executed(["print(1)"])
    good_path = _write(tmp_path, nbtool.normalize(good, executed_hash=nbtool.sources_hash(good)), "good.ipynb")
    bad_path = _write(tmp_path, _executed(["print(1)"], counts=[None]), "bad.ipynb")
    assert nbtool.main(["check", str(good_path)]) == 0
    assert nbtool.main(["check", str(good_path), str(bad_path)]) == 1
    assert "bad.ipynb: stale: not run once" in capsys.readouterr().err


def test_the_learners_folder_holds_the_lessons_and_nothing_else():
    names = sorted(p.name for p in (REPO / "notebooks").iterdir())
    assert names and all(re.fullmatch(r"\d\d-[a-z0-9-]+\.ipynb", n) for n in names), names


def test_committed_notebooks_carry_the_kernels_language_info_so_opening_one_changes_nothing():
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        info = json.loads(path.read_text())["metadata"]["language_info"]
        assert info.get("version"), f"{path.name}: no language_info.version: JupyterLab would mark it unsaved"


def test_committed_notebooks_are_executed_and_normalised():
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert notebooks
    assert {str(p.name): nbtool.problems(p) for p in notebooks} == {str(p.name): [] for p in notebooks}


# -- strict nbval with our hooks, on a throwaway notebook ------------------------------------

def _nbval(tmp_path, nb) -> subprocess.CompletedProcess:
    d = tmp_path / "nbs"
    d.mkdir(exist_ok=True)
    (d / "conftest.py").write_text((REPO / "conftest.py").read_text())
    (d / "t.ipynb").write_text(nbtool.dumps(nb))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
         "--nbval-sanitize-with", str(CFG), str(d)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)


def _stored(source, *outputs):
    cell = new_code_cell(source, execution_count=1)
    cell.outputs = list(outputs)
    nb = new_notebook(cells=[cell])
    nb.metadata["minictr"] = {"needs_root": False}
    return nb


@pytest.mark.slow
def test_strict_nbval_passes_sanitized_and_stderr_differences(tmp_path):
    src = ("import os, sys\nprint(f'PID {os.getpid()}', os.readlink('/proc/self/ns/uts'))\n"
           "print('noise', os.getpid(), file=sys.stderr)")
    nb = _stored(src, new_output("stream", name="stdout", text="PID 99999 uts:[4026531838]\n"),
                 new_output("stream", name="stderr", text="something else entirely\n"))
    r = _nbval(tmp_path, nb)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_strict_nbval_fails_a_wrong_stored_output(tmp_path):
    nb = _stored("print(6 * 7)", new_output("stream", name="stdout", text="41\n"))
    r = _nbval(tmp_path, nb)
    assert r.returncode == 1 and "1 failed" in r.stdout


# -- the lab kernel ---------------------------------------------------------------------------

def test_lab_kernel_spec_starts_with_sudo_n():
    spec = lab_kernel.kernel_spec("/opt/venv/bin/python")
    assert spec["argv"][:3] == ["sudo", "-n", "/opt/venv/bin/python"]
    assert spec["argv"][3:] == ["-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert spec["display_name"] == "minictr (root via sudo)"
    assert lab_kernel.sudoers_lines("/opt/venv/bin/python", "ada") == [
        'Defaults env_keep += "JPY_PARENT_PID"',
        "ada ALL=(root) NOPASSWD: /opt/venv/bin/python -m ipykernel_launcher -f *",
    ]


@pytest.mark.slow
def test_lab_kernel_installs_and_starts(tmp_path, monkeypatch):
    """Install under a prefix and start it for real. This machine has no sudo, so a stand-in
    on PATH checks for -n and that JPY_PARENT_PID survives, then runs the rest of argv."""
    from jupyter_client.manager import start_new_kernel

    assert lab_kernel.main(["--prefix", str(tmp_path / "prefix"), "--python", sys.executable]) == 0
    kdir = tmp_path / "prefix" / "share" / "jupyter" / "kernels" / "minictr-root"
    assert json.loads((kdir / "kernel.json").read_text())["argv"][:2] == ["sudo", "-n"]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "sudo.log"
    (bindir / "sudo").write_text(
        "#!/bin/sh\n"
        f'[ "$1" = "-n" ] || exit 1\nshift\necho "JPY_PARENT_PID=$JPY_PARENT_PID" > {log}\nexec "$@"\n')
    (bindir / "sudo").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "prefix" / "share" / "jupyter"))
    monkeypatch.setenv("JPY_PARENT_PID", str(os.getpid()))
    km, kc = start_new_kernel(kernel_name="minictr-root", startup_timeout=60)
    try:
        reply = kc.execute_interactive("import os; print(os.geteuid())", timeout=30)
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert log.read_text() == f"JPY_PARENT_PID={os.getpid()}\n"


# -- the notebooks are committed unsolved, with an exercise each -------------------------------

def _check_cells(path: Path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        ids = re.findall(r"\bcheck\(\s*[\"']([^\"']+)[\"']", cell.source)
        if ids:
            out = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
            yield ids[0], out


@pytest.mark.parametrize("path", sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb")), ids=lambda p: p.name)
def test_lesson_notebook_is_committed_unsolved(path):
    from minictr import exercises

    found = list(_check_cells(path))
    assert found, f"{path.name} has no exercise check cell"
    for exercise_id, out in found:
        ex = exercises.get(exercise_id)
        assert out.startswith(f"[{exercise_id}] {ex.function} is not written yet"), (
            f"{path.name}: the {exercise_id} check cell is not committed unsolved: {out[:120]!r}")


# -- layout: what a laptop-wide window shows ---------------------------------------------------

def _lesson_notebooks():
    return sorted((REPO / "notebooks").glob("*.ipynb"))


def test_no_ascii_diagrams_in_the_lessons():
    """Diagrams are markdown tables or pictures: box-drawing arrows break in a narrow window."""
    for path in _lesson_notebooks():
        for n, cell in enumerate(json.loads(path.read_text())["cells"]):
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            assert not re.search(r"[─│└┌]{1,}\s*>|──>|└──", src), f"{path.name} cell {n}: an ASCII diagram"


def test_widget_text_forms_fit_95_characters():
    for path in _lesson_notebooks():
        for n, cell in enumerate(json.loads(path.read_text())["cells"]):
            for out in cell.get("outputs", []):
                text = out.get("data", {}).get("text/plain", "")
                text = "".join(text) if isinstance(text, list) else text
                if out.get("output_type") in ("execute_result", "display_data") and "<Figure" not in text:
                    long = [line for line in text.splitlines() if len(line) > 95]
                    assert not long, f"{path.name} cell {n}: {long[0]!r}"
