"""A real browser: JupyterLab in headless Chromium runs lesson 00 and a quiz answers a click.

JupyterLab starts on 127.0.0.1 on a free port, with a token, serving a copy of
the notebook from a temporary directory (so autosave never touches the
repository); the kernel gets a private MINICTR_ROOT and MINICTR_RUNTIME_DIR.
Python playwright drives Debian's chromium: open the notebook, clear the
outputs, run all cells, wait until every code cell ran without an error, then
click an option of the first quiz and wait for its feedback to change, which
only happens if the click went to the kernel and the new state came back. A
screenshot goes to tests/artifacts/. The server and its kernels are always
stopped, and any container the notebook left is removed.

A second test opens the notebook and waits for its kernel: the notebook must
not be marked unsaved (JupyterLab writes the kernel's language_info into the
model; mk/nbtool.py keeps the version it writes, see its docstring).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
LESSON = "00-a-container-is-a-process.ipynb"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.slow


def _notebook() -> Path:
    return REPO / "notebooks" / LESSON


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


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server serving a copy of the notebook. Yields (url of the notebook, token)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make setup-test` installs Debian's chromium")
    nb = _notebook()
    root = tmp_path / "lab"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(nb, root / "notebooks" / nb.name)
    port, token = _free_port(), os.urandom(16).hex()
    config = tmp_path / "jupyter-config"
    config.mkdir()
    # No network: no news feed, no update check (and no pop-up over the screenshot).
    (config / "jupyter_server_config.json").write_text(
        '{"LabApp": {"news_url": null, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"}}')
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    env = dict(os.environ,
               PYTHONPATH=str(REPO),
               MINICTR_ROOT=str(tmp_path / "store"), MINICTR_RUNTIME_DIR=str(tmp_path / "run"),
               JUPYTER_CONFIG_DIR=str(config),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
               IPYTHONDIR=str(tmp_path / "ipython"))
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True",
         f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
         f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
         "--ServerApp.port_retries=0"],
        env=env, cwd=root, stdout=open(tmp_path / "server.log", "wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("jupyter lab did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/lab/tree/notebooks/{nb.name}?token={token}", nb.name
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
        # Anything still running with our private runtime dir in its environment was started by
        # this test (a kernel, or a child it forked): stop it by its PID.
        marker = f"MINICTR_RUNTIME_DIR={env['MINICTR_RUNTIME_DIR']}".encode()
        for pid in _pids_with_environ(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # Containers the notebook may have left behind (it removes its own when it finishes).
        subprocess.run([sys.executable, "-c",
                        "from minictr import container, state\n"
                        "for s in state.list_states():\n"
                        "    container.remove(s.id, force=True)\n"],
                       env=env, cwd=REPO, timeout=60, check=False)


RUN_ALL = """async () => {
    const app = window.jupyterapp;
    const panel = app.shell.currentWidget;
    await panel.sessionContext.ready;
    await app.commands.execute('notebook:clear-all-cell-outputs');
    await app.commands.execute('notebook:run-all-cells');
}"""

PROGRESS = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = panel.content.widgets.filter(c => c.model.type === 'code' && c.model.sharedModel.getSource().trim());
    const errors = [];
    cells.forEach((c, i) => c.model.outputs.toJSON().forEach(o => {
        if (o.output_type === 'error') errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
    }));
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    return {ran: cells.filter(c => c.model.executionCount !== null).length, total: cells.length,
            errors: errors, status: kernel ? kernel.status : 'none'};
}"""


def test_lesson_runs_in_a_real_browser_and_a_quiz_answers_a_click(lab):
    from playwright.sync_api import sync_playwright

    url, name = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.goto(url)
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext"
                " && window.jupyterapp.shell.currentWidget.content", timeout=30_000)
            page.evaluate(RUN_ALL)
            deadline = time.monotonic() + 120
            while True:
                state = page.evaluate(PROGRESS)
                assert state["errors"] == [], f"a cell of {name} failed in the browser: {state['errors']}"
                if state["ran"] == state["total"] and state["status"] == "idle":
                    break
                assert time.monotonic() < deadline, f"{name} did not finish running in the browser: {state}"
                time.sleep(0.25)

            quiz = page.locator(".minictr-quiz").first
            quiz.scroll_into_view_if_needed()
            quiz.wait_for(state="visible", timeout=15_000)
            feedback = quiz.locator(".minictr-quiz-feedback")
            before = feedback.inner_text()
            radios = quiz.locator("input[type=radio]")
            if radios.count():
                # Click an option that is not chosen yet: the kernel must check it and answer.
                target = next(i for i in range(radios.count()) if not radios.nth(i).is_checked())
                radios.nth(target).click()
            else:
                quiz.locator("input[type=checkbox]").first.click()
                quiz.locator("button", has_text="Check").click()
            page.wait_for_function(
                "([el, before]) => el.innerText.trim() !== before.trim() && el.innerText.trim() !== ''",
                arg=[feedback.element_handle(), before], timeout=15_000)
            after = feedback.inner_text().strip()
            assert after.startswith(("Correct.", "Not quite")), after
            page.screenshot(path=str(ARTIFACTS / f"lab-{Path(name).stem}.png"), full_page=False)
        finally:
            browser.close()


DIRTY = """async () => {
    const panel = window.jupyterapp.shell.currentWidget;
    await panel.context.ready;
    await panel.sessionContext.ready;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    if (kernel) { await kernel.info; }
    await new Promise(r => setTimeout(r, 1500));   // let the kernel's language_info arrive
    return {dirty: panel.context.model.dirty, metadata: panel.context.model.toJSON().metadata,
            nbformat_minor: panel.context.model.toJSON().nbformat_minor};
}"""


def test_opening_a_notebook_does_not_mark_it_unsaved(lab):
    from playwright.sync_api import sync_playwright

    url, name = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.context", timeout=30_000)
            state = page.evaluate(DIRTY)
            assert state["dirty"] is False, f"{name} is marked unsaved as soon as it opens: {state}"
        finally:
            browser.close()
