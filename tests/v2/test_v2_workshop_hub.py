"""The workshop's hub where systemd is PID 1: SystemdSpawner, a delegated cgroup per participant.

On a pure cgroup v2 host with systemd (`make test-v2`'s VM), workshop/jupyterhub_config.py
picks SystemdSpawner by itself (``MINICTR_HUB_SPAWNER=auto``). One throwaway user's server
then runs in the unit ``jupyter-NAME-singleuser.service`` with ``Delegate=yes`` and the
config's MemoryMax: the user owns that cgroup, so a rootless ``minictr run --memory`` from
the kernel gets its limit. workshop/sizing.py reads the unit's cgroup figures (the sizing the
guide gives for this variant). Users, units and homes are removed afterwards, as in
tests/integration/test_workshop_hub.py (whose helpers this reuses).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from hubhelp import REPO, Hub, Kernel, throwaway_users  # noqa: E402

PROXY = REPO / "build" / "workshop" / "proxy-chp4" / "node_modules" / ".bin" / "configurable-http-proxy"


def show(unit: str, prop: str) -> str:
    return subprocess.run(["systemctl", "show", "-P", prop, unit], capture_output=True, text=True).stdout.strip()


# Under the VM's TCG emulation Python runs 5-15 times slower: the hub and a server take minutes.
SLOW = 900


@pytest.mark.slow          # not in make test-v2's default selection: ARGS=tests/v2/test_v2_workshop_hub.py
@pytest.mark.timeout(2400)
def test_systemdspawner_gives_each_participant_a_delegated_cgroup(systemd, tmp_path):
    if not PROXY.exists():
        pytest.fail(f"no {PROXY}: `make workshop-proxy` on the host puts it in build/, which the VM gets")
    state = tmp_path / "state"
    state.mkdir()
    with throwaway_users(1) as people:
        name = people[0].name
        users = tmp_path / "users.txt"
        users.write_text(name + "\n")
        hub = Hub(users, state, spawner="auto", start_timeout=SLOW, external_proxy=True)
        kernel = None
        unit = f"jupyter-{name}-singleuser.service"
        try:
            hub.start(timeout=SLOW)
            hub.start_server(name)
            hub.wait_ready(name, timeout=SLOW)
            assert show(unit, "ActiveState") == "active"
            assert show(unit, "Delegate") == "yes"
            assert show(unit, "MemoryMax") == str(2**30)
            assert show(unit, "User") == name
            group = "/sys/fs/cgroup" + show(unit, "ControlGroup")
            uid = int(subprocess.run(["id", "-u", name], capture_output=True, text=True).stdout)
            assert Path(group).stat().st_uid == uid      # delegated: the directory is the user's
            kernel = Kernel(hub, name, timeout=SLOW)
            out = kernel.execute(
                "import subprocess, sys\n"
                "r = subprocess.run([sys.executable, '-m', 'minictr', 'run', '--rm', '--memory', '64m', 'busybox',"
                " 'sh', '-c', 'cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max'], capture_output=True, text=True)\n"
                "print(r.returncode); print(r.stdout + r.stderr)", timeout=SLOW)
            status, _, text = out.partition("\n")
            assert status == "0" and str(64 * 2**20) in text, out
            figures = subprocess.run([sys.executable, str(REPO / "workshop" / "sizing.py"), name],
                                     capture_output=True, text=True, check=True).stdout
            print(figures)
            assert "memory.peak" in figures, figures
        finally:
            if kernel:
                kernel.close()
            hub.stop()
            subprocess.run(["systemctl", "stop", unit], capture_output=True)
            subprocess.run(["systemctl", "reset-failed", unit], capture_output=True)
    assert show(unit, "ActiveState") in ("inactive", "")
