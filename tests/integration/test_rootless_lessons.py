"""The lessons that run either way (00-02), run for real as an ordinary user: strict nbval
compares their stored outputs (executed as root) with a run whose kernel is that user's.

The user (``minictr-lessons-XXXX``, home under a temp dir) is created here and removed
with ``userdel -r`` at the end, even when the test fails; its processes are killed
first, by pid. MINICTR_ROOT and MINICTR_RUNTIME_DIR are not set: the store comes from
paths.py's default for an ordinary user ($XDG_DATA_HOME/minictr, i.e. ~/.local/share),
the state from $XDG_RUNTIME_DIR/minictr, as `make lab` leaves them for that user.
"""

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import pytest

from hubhelp import kill_all_of
from minictr import procfs

CHECKOUT = Path(__file__).resolve().parents[2]
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: the lessons whose LESSON record says privilege="either"
EITHER = ("00", "01", "02")

if os.geteuid() != 0 or shutil.which("useradd") is None:
    pytest.skip("this test creates a Unix user: it needs root and useradd", allow_module_level=True)


def either_lessons() -> list[str]:
    from minictr import labs
    return sorted(lesson.number for lesson in labs.lessons() if lesson.privilege == "either")


def notebook(number: str) -> str:
    (found,) = sorted((CHECKOUT / "notebooks").glob(f"{number}-*.ipynb"))
    return str(found.relative_to(CHECKOUT))



@pytest.fixture
def learner():
    base = Path(tempfile.mkdtemp(prefix="minictr-lessons-test-"))
    base.chmod(0o755)  # the user must reach their home
    name = "minictr-lessons-" + secrets.token_hex(2)
    subprocess.run(["useradd", "--create-home", "--home-dir", str(base / "home"), "--shell", "/bin/sh",
                    "--comment", "minictr tests/integration/test_rootless_lessons.py", name], check=True)
    pw = pwd.getpwnam(name)
    try:
        yield name, pw.pw_uid, pw.pw_gid, base
    finally:
        kill_all_of(pw.pw_uid)   # only this user's: all of them started by this test; until none is left
        subprocess.run(["userdel", "--remove", name], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    assert subprocess.run(["id", name], capture_output=True).returncode != 0, "the test user is still there"


def as_user(learner) -> tuple[dict, Callable[[], None]]:
    """The user's environment (no MINICTR_ROOT: paths.py's XDG default) and a demote for preexec_fn."""
    name, uid, gid, base = learner
    runtime = base / "xdg-run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.chown(runtime, uid, gid)
    env = {"HOME": str(base / "home"), "PATH": PATH, "PYTHONPATH": str(CHECKOUT), "USER": name, "LOGNAME": name,
           "XDG_RUNTIME_DIR": str(runtime), "LANG": "C.UTF-8"}

    def demote():
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)

    return env, demote


def test_the_either_lessons_are_00_to_02():
    assert either_lessons() == list(EITHER)


def test_lessons_00_to_02_pass_strict_nbval_as_an_ordinary_user(learner):
    name, uid, gid, base = learner
    home, runtime = base / "home", base / "xdg-run"
    env, demote = as_user(learner)

    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                        "--nbval-current-env", "--nbval-sanitize-with", "tests/notebooks/nbval.cfg",
                        *map(notebook, EITHER)],
                       cwd=str(CHECKOUT), env=env, preexec_fn=demote, capture_output=True, text=True,
                       timeout=240)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout, r.stdout[-2000:]
    # the store was the user's own, under ~/.local/share/minictr, and no container is left
    store = home / ".local" / "share" / "minictr"
    assert (store / "index.json").stat().st_uid == uid
    containers = store / "containers"
    assert (os.listdir(containers) if containers.exists() else []) == []
    state = runtime / "minictr"
    assert [n for n in (os.listdir(state) if state.exists() else []) if not n.startswith(".")] == []
    deadline = time.time() + 10
    while procfs.pids_of_user(uid) and time.time() < deadline:
        time.sleep(0.1)
    assert procfs.pids_of_user(uid) == [], "processes of the user left behind"
    print(f"lessons {', '.join(EITHER)} as {name}: {time.monotonic() - started:.0f} s")


def test_make_setup_as_an_ordinary_user_skips_apt_and_builds_the_image_in_their_store(learner):
    """`make lab`'s set-up (apt, venv, image) as the user: apt is skipped with a line, since the
    packages are installed here; the venv is the shared one (-o: not remade, it is root's); the
    busybox image goes to ~/.local/share/minictr, not /var/lib/minictr."""
    name, uid, gid, base = learner
    env, demote = as_user(learner)
    venv = Path(sys.executable).parent.parent
    r = subprocess.run(["make", "--no-print-directory", f"VENV={venv}", "-o", f"{venv}/.installed", "setup"],
                       cwd=str(CHECKOUT), env=env, preexec_fn=demote, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "apt: skipped, the Debian packages are installed (only installing them needs root)" in r.stdout
    store = base / "home" / ".local" / "share" / "minictr"
    assert (store / "index.json").stat().st_uid == uid
    assert "busybox" in (store / "index.json").read_text()
    # a package missing: the user is told to run the set-up as root first, and nothing is installed
    r = subprocess.run(["bash", ".ci/apt-ensure", "busybox-static", "minictr-test-no-such-package"],
                       cwd=str(CHECKOUT), env=env, preexec_fn=demote, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "installing them needs root: minictr-test-no-such-package\n" in r.stderr
    assert "run `sudo make setup` first" in r.stderr


def test_make_lab_as_an_ordinary_user_serves_lesson_00_and_runs_its_kernel_as_them(learner, tmp_path):
    """`make lab` itself, as the user: JupyterLab answers on 127.0.0.1 with lesson 00, and a kernel
    it starts is the user's; stopping it (SIGTERM to make's process group) leaves nothing."""
    import re
    import socket

    import requests
    name, uid, gid, base = learner
    env, demote = as_user(learner)
    venv = Path(sys.executable).parent.parent
    with socket.socket() as s:   # a free port: a learner's own JupyterLab may hold 8888
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "lab.log"   # a file, not a pipe: a pipe nobody reads would block the server
    with open(log, "wb") as out:
        lab = subprocess.Popen(["make", "--no-print-directory", f"VENV={venv}", "-o", f"{venv}/.installed",
                                f"LAB_PORT={port}", "lab"], cwd=str(CHECKOUT), env=env, preexec_fn=demote,
                               start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
    try:
        url, token = None, None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and lab.poll() is None:
            m = re.search(r"(http://127\.0\.0\.1:\d+)/lab[^ \n]*\?token=(\w+)", log.read_text(errors="replace"))
            if m:
                url, token = m.groups()
                try:
                    if requests.get(f"{url}/api/status", params={"token": token}, timeout=5).status_code == 200:
                        break
                except requests.RequestException:
                    pass   # printed, not answering yet
            time.sleep(0.2)
        else:
            raise AssertionError("JupyterLab did not answer:\n" + log.read_text(errors="replace")[-3000:])
        assert url == f"http://127.0.0.1:{port}", url
        auth = {"Authorization": f"token {token}"}
        r = requests.get(f"{url}/api/contents/notebooks/{Path(notebook('00')).name}", headers=auth, timeout=30,
                         params={"content": "0"})
        assert r.status_code == 200 and r.json()["type"] == "notebook", r.text[:300]
        r = requests.post(f"{url}/api/kernels", headers=auth, json={"name": "python3"}, timeout=60)
        assert r.status_code == 201, r.text[:300]
        kernels = [pid for pid in procfs.pids_of_user(uid)
                   if b"ipykernel" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert kernels, "the kernel JupyterLab started does not run as the user"
    finally:
        os.killpg(lab.pid, signal.SIGTERM)   # make, and JupyterLab, which stops its kernels
        try:
            lab.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
            lab.wait()
            raise AssertionError("make lab did not stop on SIGTERM:\n" + log.read_text(errors="replace")[-3000:])
    deadline = time.time() + 20
    while procfs.pids_of_user(uid) and time.time() < deadline:
        time.sleep(0.1)
    assert procfs.pids_of_user(uid) == [], "processes of the user left after JupyterLab stopped"
