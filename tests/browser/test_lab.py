"""A real browser: JupyterLab in headless Chromium runs every lesson, and a quiz per lesson answers clicks.

One JupyterLab server (127.0.0.1, a free port, a token) serves copies of every
``notebooks/NN-*.ipynb`` from a temporary directory, with autosave off (the
repository's files are never touched); its kernels get a private MINICTR_ROOT
and MINICTR_RUNTIME_DIR, into which the default image is built first. One
Chromium (Debian's, driven by Python playwright) opens the lessons one after
another, each in a reset workspace of its own (the default workspace would
restore the lesson opened before, and "run all" would run that one). For each
lesson (about 2 minutes for lessons 00-10 here, server start included):

- clear the outputs, run all cells, wait until every code cell has an
  execution count and the kernel is idle;
- no cell output is an error (``output_type == "error"``, from the model) and
  no stderr text shows a traceback (stderr itself, such as a warning, is fine);
- every widget output rendered: each ``application/vnd.jupyter.widget-view+json``
  output of the model has a rendered ``.jupyter-widgets`` view in the page, and
  no output says "Loading widget..." or "Error displaying widget";
- the lesson's first quiz (``Quiz.lab("NN.id")`` in its source; the answer key
  is read from ``minictr/labs/lNN.py`` through ``quiz_spec``): a click on a
  wrong option gets "Not quite" with that option's own reason, then the right
  answer gets "Correct."; the feedback only changes if the click went to the
  kernel and the new state came back;
- a screenshot of the lesson goes to tests/artifacts/lab-NN-topic.png;
- the kernel is shut down (also after a failure) and ``minictr ps -aq`` is empty.

At the end the server is stopped, anything left with our runtime dir in its
environment is killed, leftover containers are removed, and the test fails if
any mount still mentions the temporary directory (then it is not deleted).

A last test opens a notebook and waits for its kernel: the notebook must not be
marked unsaved (JupyterLab writes the kernel's language_info into the model;
mk/nbtool.py keeps the version it writes, see its docstring).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
LESSONS = sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
RUN_TIMEOUT = 150   # seconds for one lesson's cells (they take 5-40 s here); pytest's timeout is 300

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pids_with_environ(marker: bytes) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if marker in f.read().split(b"\0"):
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def _mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        return [line.strip() for line in f if str(path) in line]


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


class Lab:
    """The running server: ``url(name)`` opens a notebook; ``minictr(*args)`` runs the CLI in its store."""

    def __init__(self, port: int, token: str, env: dict):
        self.port, self.token, self.env = port, token, env

    def url(self, name: str) -> str:
        # A workspace of its own, reset: the default one would restore the lesson opened before.
        workspace = re.sub(r"[^A-Za-z0-9-]", "-", Path(name).stem)
        return (f"http://127.0.0.1:{self.port}/lab/workspaces/{workspace}/tree/notebooks/{name}"
                f"?reset&token={self.token}")

    def shutdown_kernel(self, kernel_id: str) -> None:
        """Stop a kernel through the server's REST API (the server kills it if it does not exit)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/kernels/{kernel_id}?token={self.token}", method="DELETE")
        with urllib.request.urlopen(request, timeout=60):
            pass

    def minictr(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "minictr", *args], env=self.env, cwd=REPO,
                              capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def lab():
    """One JupyterLab server serving copies of every lesson, with its own minictr store."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make setup-test` installs Debian's chromium")
    tmp = Path(tempfile.mkdtemp(prefix="minictr-browser-"))
    root = tmp / "lab"
    (root / "notebooks").mkdir(parents=True)
    for nb in LESSONS:
        shutil.copy(nb, root / "notebooks" / nb.name)
    port, token = _free_port(), os.urandom(16).hex()
    config = tmp / "jupyter-config"
    # No network: no news feed, no update check (and no pop-up over the screenshot).
    _write_json(config / "jupyter_server_config.json",
                {"LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"}})
    settings = tmp / "settings" / "@jupyterlab"
    _write_json(settings / "apputils-extension" / "notification.jupyterlab-settings", {"fetchNews": "false"})
    # Every cell in the DOM (no virtual scrolling), so every output can be inspected.
    _write_json(settings / "notebook-extension" / "tracker.jupyterlab-settings", {"windowingMode": "none"})
    # The copies stay as they were: the last test opens one again and checks it is not unsaved.
    _write_json(settings / "docmanager-extension" / "plugin.jupyterlab-settings", {"autosave": False})
    env = dict(os.environ,
               PYTHONPATH=str(REPO),
               MINICTR_ROOT=str(tmp / "store"), MINICTR_RUNTIME_DIR=str(tmp / "run"),
               JUPYTER_CONFIG_DIR=str(config),
               JUPYTER_RUNTIME_DIR=str(tmp / "jupyter-runtime"),
               IPYTHONDIR=str(tmp / "ipython"))
    lab = Lab(port, token, env)
    built = lab.minictr("image", "build-default", timeout=300)
    if built.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.fail(f"minictr image build-default failed in {tmp}:\n{built.stdout}{built.stderr}")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True",
         f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
         f"--LabApp.user_settings_dir={tmp / 'settings'}",
         "--ServerApp.port_retries=0"],
        env=env, cwd=root, stdout=open(tmp / "server.log", "wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("jupyter lab did not start:\n" + (tmp / "server.log").read_text()[-3000:])
                time.sleep(0.2)
        yield lab
    finally:
        # SIGTERM: the server shuts its kernels down; then make sure the whole group is gone.
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.wait()
        if ARTIFACTS.is_dir():   # the server's log, for a human looking at a failure
            shutil.copy(tmp / "server.log", ARTIFACTS / "lab-server.log")
        # Anything still running with our private runtime dir in its environment was started by
        # this test (a kernel, or a child it forked): stop it by its PID.
        marker = f"MINICTR_RUNTIME_DIR={env['MINICTR_RUNTIME_DIR']}".encode()
        for pid in _pids_with_environ(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # Containers a lesson may have left behind (each lesson removes its own when it finishes).
        subprocess.run([sys.executable, "-c",
                        "from minictr import container, state\n"
                        "for s in state.list_states():\n"
                        "    container.remove(s.id, force=True)\n"],
                       env=env, cwd=REPO, timeout=60, check=False)
        left = _mounts_under(tmp)
        if left:
            pytest.fail(f"mounts left under {tmp} (not deleted):\n" + "\n".join(left))
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _open(browser, lab: Lab, name: str, height: int = 1600):
    page = browser.new_page(viewport={"width": 1280, "height": height})
    page.goto(lab.url(name))
    # The current widget must be this notebook (not one restored from an earlier page).
    page.wait_for_function(
        "(name) => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        " return w && w.sessionContext && w.content && w.context && w.context.path === 'notebooks/' + name; }",
        arg=name, timeout=30_000)
    return page


# Start the run without waiting for it (the command's promise settles only when every cell is
# done): PROGRESS polls, so a cell that hangs is named instead of stalling the whole test.
RUN_ALL = """async () => {
    const app = window.jupyterapp;
    const panel = app.shell.currentWidget;
    await panel.context.ready;
    await panel.sessionContext.ready;
    await app.commands.execute('notebook:clear-all-cell-outputs');
    app.commands.execute('notebook:run-all-cells');
    return panel.sessionContext.session.kernel.id;
}"""

PROGRESS = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = panel.content.widgets.filter(c => c.model.type === 'code' && c.model.sharedModel.getSource().trim());
    const errors = [];
    cells.forEach((c, i) => c.model.outputs.toJSON().forEach(o => {
        if (o.output_type === 'error') errors.push(`code cell ${i}: ${o.ename}: ${o.evalue}`);
    }));
    const waiting = cells.findIndex(c => c.model.executionCount === null);
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    return {ran: cells.filter(c => c.model.executionCount !== null).length, total: cells.length,
            errors: errors, status: kernel ? kernel.status : 'none',
            waiting: waiting < 0 ? '' : `code cell ${waiting}: ` + cells[waiting].model.sharedModel.getSource().slice(0, 300)};
}"""

# What the page shows once a lesson ran: widget outputs of the model vs rendered widget views,
# tracebacks in stderr text, and the placeholders ipywidgets shows instead of a view.
INSPECT = """() => {
    const WIDGET = 'application/vnd.jupyter.widget-view+json';
    const panel = window.jupyterapp.shell.currentWidget;
    const report = {widgetOutputs: 0, rendered: 0, missing: [], tracebacks: [], placeholders: []};
    panel.content.widgets.forEach((cell, i) => {
        if (cell.model.type !== 'code') return;
        const outputs = cell.model.outputs.toJSON();
        const nodes = cell.outputArea ? Array.from(cell.outputArea.node.querySelectorAll(
            ':scope > .jp-OutputArea-child > .jp-OutputArea-output')) : [];
        outputs.forEach((o, j) => {
            if (!(o.data && o.data[WIDGET])) return;
            report.widgetOutputs += 1;
            const node = nodes[j];
            if (node && node.querySelector('.jupyter-widgets, .jp-OutputArea-output.jupyter-widgets')
                     || node && node.classList.contains('jupyter-widgets')) {
                report.rendered += 1;
            } else {
                report.missing.push(`cell ${i} output ${j}: ${node ? node.innerText.slice(0, 200) : 'no node'}`);
            }
        });
    });
    document.querySelectorAll('.jp-Notebook .jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]')
        .forEach(el => {
            const text = el.innerText;
            if (/Traceback \\(most recent call last\\)|^\\w*(Error|Exception)\\b.*$/m.test(text))
                report.tracebacks.push(text.slice(0, 500));
        });
    document.querySelectorAll('.jp-Notebook .jp-OutputArea-output').forEach(el => {
        const text = el.innerText;
        if (text.includes('Loading widget...') || text.includes('Error displaying widget'))
            report.placeholders.push(text.slice(0, 200));
    });
    return report;
}"""



def _flat(text: str) -> str:
    """Text as a check compares it: markdown backticks gone, whitespace collapsed."""
    return " ".join(re.sub(r"`([^`]+)`", r"\1", text).split())


def _first_quiz(nb: Path) -> str | None:
    """The id of the first ``Quiz.lab("NN.id")`` in the notebook's code, or None."""
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] == "code":
            found = re.search(r"""Quiz\.lab\(\s*["']([^"']+)["']""", "".join(cell["source"]))
            if found:
                return found.group(1)
    return None


def _options(spec: dict) -> list[tuple[str, str, bool]]:
    """(option, its reason, is it right) for a quiz's table entry, in either of its two forms."""
    if "options" in spec:
        key = {spec["answer"]} if isinstance(spec["answer"], int) else set(spec["answer"])
        why = spec.get("explanations") or [""] * len(spec["options"])
        return [(o, w, i in key) for i, (o, w) in enumerate(zip(spec["options"], why))]
    return ([(o, w, True) for o, w in spec["right"].items()]
            + [(o, w, False) for o, w in spec["wrong"].items()])


def _wait_feedback(page, feedback, predicate: str, what: str) -> str:
    try:
        page.wait_for_function(f"(el) => {{ const t = el.innerText.trim(); return {predicate}; }}",
                               arg=feedback.element_handle(), timeout=15_000)
    except Exception as e:  # playwright's TimeoutError: say what the feedback was instead
        raise AssertionError(f"{what}: the feedback stayed {feedback.inner_text()!r}") from e
    return _flat(feedback.inner_text())


def _answer_quiz(page, quiz_id: str) -> None:
    from minictr.labs.quizzes import quiz_spec

    spec = quiz_spec(quiz_id)
    options = _options(spec)
    question = _flat(spec["question"])
    quizzes = page.locator(".minictr-quiz")
    shown = [_flat(quizzes.nth(i).locator(".widget-html").first.inner_text()) for i in range(quizzes.count())]
    matching = [quizzes.nth(i) for i, text in enumerate(shown) if text == question]
    assert matching, f"quiz {quiz_id} is not on the page (question {question!r}; the page has {shown})"
    quiz = matching[0]
    quiz.scroll_into_view_if_needed()
    feedback = quiz.locator(".minictr-quiz-feedback")
    labels = quiz.locator("label")

    def label(option: str):
        hits = [labels.nth(i) for i in range(labels.count()) if _flat(labels.nth(i).inner_text()) == _flat(option)]
        assert len(hits) == 1, f"quiz {quiz_id}: option {option!r} found {len(hits)} times among the labels"
        return hits[0]

    wrong, reason, _ = next(o for o in options if not o[2])
    multiple = quiz.locator("input[type=checkbox]").count() > 0
    label(wrong).click()
    if multiple:
        quiz.locator("button", has_text="Check").click()
    text = _wait_feedback(page, feedback, "t.startsWith('Not quite')",
                          f"quiz {quiz_id}: the wrong option {wrong!r} got no 'Not quite'")
    assert _flat(reason) in text, f"quiz {quiz_id}: the feedback on {wrong!r} lacks its reason {reason!r}: {text!r}"

    if multiple:
        label(wrong).click()   # untick it
        for option, _, right in options:
            if right:
                label(option).click()
        quiz.locator("button", has_text="Check").click()
    else:
        label(next(o for o, _, right in options if right)).click()
    _wait_feedback(page, feedback, "t.startsWith('Correct.')", f"quiz {quiz_id}: the right answer got no 'Correct.'")


@pytest.mark.parametrize("nb", LESSONS, ids=[nb.stem for nb in LESSONS])
def test_lesson_runs_clean_in_a_real_browser(lab, browser, nb):
    name = nb.name
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = _open(browser, lab, name)
    kernel = None
    try:
        kernel = page.evaluate(RUN_ALL)
        deadline = time.monotonic() + RUN_TIMEOUT
        while True:
            state = page.evaluate(PROGRESS)
            assert state["errors"] == [], f"a cell of {name} failed in the browser: {state['errors']}"
            if state["ran"] == state["total"] and state["status"] == "idle":
                break
            assert time.monotonic() < deadline, (
                f"{name} did not finish running in {RUN_TIMEOUT} s in the browser; the first cell not done is"
                f" {state['waiting']!r} ({state['ran']} of {state['total']} ran, kernel {state['status']})")
            time.sleep(0.25)
        # Widget views render asynchronously after their output arrives: give them a moment.
        try:
            page.wait_for_function(f"() => ({INSPECT})().missing.length === 0", timeout=15_000)
        except Exception:
            pass   # the assertions below say what is missing
        report = page.evaluate(INSPECT)
        page.screenshot(path=str(ARTIFACTS / f"lab-{nb.stem}.png"), full_page=False)
        assert report["tracebacks"] == [], f"{name} shows a traceback: {report['tracebacks']}"
        assert report["placeholders"] == [], f"{name} has widgets that did not render: {report['placeholders']}"
        assert report["missing"] == [], f"{name}: widget outputs without a view: {report['missing']}"
        assert report["rendered"] == report["widgetOutputs"], report
        print(f"{name}: {state['total']} code cells ran, {report['rendered']} widget views rendered")

        quiz_id = _first_quiz(nb)
        if quiz_id:
            _answer_quiz(page, quiz_id)
            print(f"{name}: quiz {quiz_id} answered 'Not quite' with the reason, then 'Correct.'")
            page.screenshot(path=str(ARTIFACTS / f"lab-{nb.stem}-quiz.png"), full_page=False)
    finally:
        page.close()
        if kernel:   # also after a failure, so that the next lesson starts on a quiet machine
            lab.shutdown_kernel(kernel)
    left = lab.minictr("ps", "-aq")
    assert left.returncode == 0, left.stderr
    assert left.stdout.split() == [], f"{name} left containers behind: {left.stdout.split()}"


DIRTY = """async () => {
    const panel = window.jupyterapp.shell.currentWidget;
    await panel.context.ready;
    await panel.sessionContext.ready;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    if (kernel) { await kernel.info; }
    await new Promise(r => setTimeout(r, 1500));   // let the kernel's language_info arrive
    const state = {dirty: panel.context.model.dirty, metadata: panel.context.model.toJSON().metadata,
                   nbformat_minor: panel.context.model.toJSON().nbformat_minor};
    await panel.sessionContext.shutdown();
    return state;
}"""


def test_opening_a_notebook_does_not_mark_it_unsaved(lab, browser):
    name = LESSONS[0].name
    page = _open(browser, lab, name, height=900)
    try:
        state = page.evaluate(DIRTY)
        assert state["dirty"] is False, f"{name} is marked unsaved as soon as it opens: {state}"
    finally:
        page.close()
