"""The workshop's hub with SystemdSpawner, where systemd is PID 1: limits work rootless.

tests/integration/test_workshop_hub.py runs the room with LocalProcessSpawner (the CI
host's PID 1 is not systemd). Here the same ``workshop/jupyterhub_config.py`` picks
SystemdSpawner by itself: a participant's server runs in a unit of its own
(``jupyter-NAME-singleuser``) with ``Delegate=yes``, started one level down in it by
``workshop/subgroup.py``, so the unit's group holds no process and the participant's
rootless minictr can give a container ``--memory`` and ``--pids-limit``. Lesson 00's
container cell runs in the participant's kernel; stopping the server ends the unit
and leaves no process and no group. The user is made by the installer's own steps and
removed afterwards, whatever happens.

Man pages: systemd.resource-control(5) (Delegate=, MemoryMax=), systemctl(1);
JupyterHub's REST API; the jupyterhub-systemdspawner README.
"""

import os
import pwd
import subprocess
import time

import pytest

from hubhelp import REPO, Hub, Kernel, code_cell, throwaway_users
from minictr import procfs

#: Under emulation (TCG) the hub and a server each take a minute or more to start; a hang is far longer.
START_S = 600
PROXY = REPO / "build" / "workshop" / "proxy-chp4" / "node_modules" / ".bin" / "configurable-http-proxy"


@pytest.fixture(scope="module")
def room(systemd_module, tmp_path_factory):
    assert PROXY.exists(), "no configurable-http-proxy: `make workshop-proxy` installs it (npm)"
    state = tmp_path_factory.mktemp("hub")
    with throwaway_users(1) as (person,):
        users_file = state / "users.txt"
        users_file.write_text(person.name + "\n")
        (state / "state").mkdir()
        hub = Hub(users_file, state / "state", spawner="systemd", start_timeout=START_S)
        kernel = None
        try:
            hub.start(timeout=START_S)
            hub.start_server(person.name)
            hub.wait_ready(person.name, timeout=START_S)
            kernel = Kernel(hub, person.name, timeout=START_S)
            yield hub, person.name, kernel
        finally:
            if kernel is not None:
                kernel.close()
            hub.stop()


def unit_of(name: str) -> str:
    return f"jupyter-{name}-singleuser.service"


def show(unit: str, prop: str) -> str:
    return subprocess.run(["systemctl", "show", "-P", prop, unit], capture_output=True, text=True).stdout.strip()


def test_the_server_runs_in_a_delegated_unit_one_level_down(room):
    hub, name, kernel = room
    unit = unit_of(name)
    assert show(unit, "ActiveState") == "active", hub.log_tail()
    assert show(unit, "Delegate") == "yes"
    group = show(unit, "ControlGroup")
    out = kernel.execute("import os\nprint(open('/proc/self/cgroup').read().strip(), os.getuid())")
    line, uid = out.split()
    assert line == f"0::{group}/server", out       # the kernel inherited the server's leaf
    assert int(uid) == pwd.getpwnam(name).pw_uid
    with open(f"/sys/fs/cgroup{group}/cgroup.procs") as f:
        assert f.read() == "", "the unit's own group must hold no process"


def test_a_participants_container_gets_its_limits_rootless(room):
    hub, name, kernel = room
    out = kernel.execute(
        "import subprocess, sys\n"
        "r = subprocess.run([sys.executable, '-m', 'minictr', 'run', '--rm', '--network', 'none', '--memory', '32m',\n"
        "                    '--pids-limit', '20', 'busybox', 'cat', '/sys/fs/cgroup/memory.max',\n"
        "                    '/sys/fs/cgroup/pids.max'], capture_output=True, text=True)\n"
        "print(r.returncode, r.stdout.split(), r.stderr.strip())", timeout=START_S)
    assert out.strip() == f"0 ['{32 << 20}', '20']", out


def test_lesson_00_container_cells_run_in_the_participants_kernel(room):
    _hub, _name, kernel = room
    for marker in ("require_root", '"minictr", "doctor"', 'container.prepare("busybox"', 'subprocess.run(["ps"', 'assert "sleep 600" in ps'):
        out = kernel.execute(code_cell(marker), timeout=START_S)
    assert "child of this kernel: True" in out, out
    out = kernel.execute(code_cell("box.kill(signal.SIGKILL)"), timeout=START_S)
    assert "exit code: 137" in out and "/proc entry left: False" in out


def test_stopping_the_server_ends_the_unit_and_every_process(room):
    hub, name, _kernel = room
    unit = unit_of(name)
    group = show(unit, "ControlGroup")
    r = hub.api("DELETE", f"/users/{name}/server")
    assert r.status_code in (202, 204), r.text
    uid = pwd.getpwnam(name).pw_uid
    deadline = time.monotonic() + START_S
    while (procfs.pids_of_user(uid) or show(unit, "ActiveState") == "active") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert procfs.pids_of_user(uid) == [], "processes of the participant left after the server stopped"
    assert show(unit, "ActiveState") != "active"
    assert not os.path.exists(f"/sys/fs/cgroup{group}"), "the unit's group is still there"
