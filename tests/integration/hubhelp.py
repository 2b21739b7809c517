"""Helpers of tests/integration/test_workshop_hub.py: throwaway Unix users, the hub, a kernel client.

- ``throwaway_users(n)``: ``n`` Unix users named ``minictr-hubtest-<tag>-<letter>`` (the
  name says who made them), each with a home; on the way out every process of theirs is
  killed (by pid, from /proc), ``userdel -r`` removes them, and /run/user/UID goes too.
- ``Hub``: ``jupyterhub -f workshop/jupyterhub_config.py`` on 127.0.0.1 with free ports and a
  state dir of its own; ``api()`` speaks the hub's REST API with the admin service token.
- ``Kernel``: a kernel of a user's server, driven through the Jupyter server's REST API
  and its websocket (the JSON messaging protocol, jupyter_client's message format).

Man pages: useradd(8), userdel(8). JupyterHub's REST API; Jupyter's messaging protocol.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests
import websocket

from minictr import procfs

REPO = Path(__file__).resolve().parents[2]
PREFIX = "minictr-hubtest-"
NOTEBOOK = REPO / "notebooks" / "00-a-container-is-a-process.ipynb"


def code_cell(marker: str) -> str:
    """Lesson 00's code cell that contains ``marker`` (cells are found by content, not position)."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    found = ["".join(c["source"]) for c in cells if c["cell_type"] == "code" and marker in "".join(c["source"])]
    assert found, f"lesson 00 has no code cell with {marker!r}: update this test with the notebook"
    return found[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



def kill_all_of(uid: int, wait: float = 5.0) -> None:
    """SIGKILL every process that runs as ``uid`` (a throwaway user's), until none is left."""
    deadline = time.monotonic() + wait
    while (pids := procfs.pids_of_user(uid)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def remove_user(name: str) -> None:
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    kill_all_of(uid)
    subprocess.run(["userdel", "-r", name], capture_output=True)
    shutil.rmtree(f"/run/user/{uid}", ignore_errors=True)


@contextlib.contextmanager
def throwaway_users(n: int):
    """``n`` users made by the installer's own steps (0700 home, subordinate ids), each with a password."""
    sys.path.insert(0, str(REPO / "workshop"))
    import install_hub
    import roster

    tag = secrets.token_hex(2)
    people = [roster.Participant(f"{PREFIX}{tag}-{chr(ord('a') + i)}", secrets.token_urlsafe(12)) for i in range(n)]
    try:
        with open(os.devnull, "w") as quiet:
            install_hub.apply(install_hub.user_steps(people, os.devnull), out=quiet)
        yield people
    finally:
        t0 = time.monotonic()
        for p in people:
            remove_user(p.name)
        print(f"users removed in {time.monotonic() - t0:.1f} s")


class Hub:
    def __init__(self, users_file: Path, state: Path, spawner: str = "local", start_timeout: int = 120):
        self.state = state
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(16)
        self.log = state / "hub.log"
        proxy = REPO / "build" / "workshop" / "proxy-chp4" / "node_modules" / ".bin" / "configurable-http-proxy"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MINICTR_", "JUPYTER"))},
            "MINICTR_HUB_URL": self.url,
            "MINICTR_HUB_API_URL": f"http://127.0.0.1:{free_port()}",
            "MINICTR_HUB_PROXY_API_URL": f"http://127.0.0.1:{free_port()}",
            "MINICTR_HUB_STATE": str(state),
            "MINICTR_HUB_USERS": str(users_file),
            "MINICTR_HUB_SPAWNER": spawner,
            "MINICTR_HUB_START_TIMEOUT": str(start_timeout),
            "MINICTR_HUB_API_TOKEN": self.token,
            "MINICTR_HUB_PROXY": os.environ.get("MINICTR_HUB_PROXY") or str(proxy),
            "PYTHONPATH": str(REPO),
        }
        self.proc: subprocess.Popen | None = None
    def start(self, timeout: float = 40) -> None:
        jupyterhub = Path(sys.prefix) / "bin" / "jupyterhub"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [str(jupyterhub), "-f", str(REPO / "workshop" / "jupyterhub_config.py")],
                cwd=self.state, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the hub exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(requests.RequestException):  # refused, or not answered yet
                if requests.get(self.url + "/hub/api/", timeout=5).status_code == 200:
                    return
            time.sleep(0.3)
        raise AssertionError(f"the hub did not answer in {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def api(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, f"{self.url}/hub/api{path}", timeout=120,
                                headers={"Authorization": f"token {self.token}"}, **kw)

    def start_server(self, name: str) -> None:
        r = self.api("POST", f"/users/{name}/server")
        assert r.status_code in (201, 202), (r.status_code, r.text, self.log_tail())

    def wait_ready(self, name: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.api("GET", f"/users/{name}").json().get("servers", {}).get("")
            if server and server.get("ready"):
                return server
            time.sleep(0.5)
        raise AssertionError(f"{name}'s server not ready in {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM: the hub stops every server (cleanup_servers) and its proxy; then SIGKILL what is left."""
        if self.proc is None:
            return
        t0 = time.monotonic()
        # The servers first, with SIGTERM: jupyter-server then exits at once, where the hub's SIGINT
        # has each one wait for its kernels (about 9 s here). The hub finds them gone.
        with contextlib.suppress(requests.RequestException, ValueError):
            for user in self.api("GET", "/users").json():
                pid = ((user.get("servers") or {}).get("", {}).get("state") or {}).get("pid")
                if pid and pwd.getpwnam(user["name"]).pw_uid == os.stat(f"/proc/{pid}").st_uid:
                    os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        pid_file = self.state / "proxy.pid"
        if pid_file.exists():  # the proxy runs in the hub's session: the killpg above reached it
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
        print(f"hub stopped in {time.monotonic() - t0:.1f} s")
        artifacts = REPO / "tests" / "artifacts"
        artifacts.mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copy(self.log, artifacts / "workshop-hub.log")


class Kernel:
    """One kernel of ``user``'s server, reached through the hub's proxy."""

    def __init__(self, hub: Hub, user: str, timeout: float = 30):
        self.base = f"{hub.url}/user/{user}/api"
        self.headers = {"Authorization": f"token {hub.token}"}
        r = requests.post(f"{self.base}/kernels", headers=self.headers, json={"name": "python3"}, timeout=timeout)
        assert r.status_code == 201, (r.status_code, r.text)
        self.id = r.json()["id"]
        ws_url = self.base.replace("http://", "ws://") + f"/kernels/{self.id}/channels"
        self.ws = websocket.create_connection(ws_url, header=[f"Authorization: token {hub.token}"],
                                              timeout=max(60, timeout))
        self.session = uuid.uuid4().hex

    def execute(self, code: str, timeout: float = 60) -> str:
        """Run ``code``; return its stdout and stderr; raise AssertionError with the traceback on an error."""
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": self.session, "msg_type": "execute_request",
                       "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        out, error, replied, idle = [], None, False, False
        deadline = time.monotonic() + timeout
        while not (replied and idle):
            if time.monotonic() > deadline:
                raise AssertionError(f"no reply in {timeout} s to:\n{code}\noutput so far: {''.join(out)}")
            msg = json.loads(self.ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":  # IPython's traceback, without its colours
                error = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(content["traceback"]))
            elif kind == "execute_reply":
                replied = True
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        if error is not None:
            raise AssertionError(f"the cell failed:\n{code}\n{''.join(out)}{error}")
        return "".join(out)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        with contextlib.suppress(requests.RequestException):
            requests.delete(f"{self.base}/kernels/{self.id}", headers=self.headers, timeout=10)
