"""50 runs, including failing ones and SIGKILLed CLIs, leave nothing behind:
no state, no container storage, no mounts, no cgroups, no processes."""

import os
import signal
import time

from minictr import cgroups
from minictr.state import process_start


def test_fifty_runs_leave_nothing(mc, rootfs_dir, tmp_path):
    killed = []
    for i in range(50):
        kind = i % 5
        if kind == 0:
            assert mc("run", "--rm", rootfs_dir, "true").returncode == 0
        elif kind == 1:
            assert mc("run", "--rm", rootfs_dir, "nosuchcommand").returncode == 127
        elif kind == 2:
            assert mc("run", "--rm", "busybox", "sh", "-c", "exit 7").returncode == 7
        elif kind == 3:  # the CLI is SIGKILLed while its container runs
            p = mc.popen("run", "--rm", "--name", f"k{i}", rootfs_dir, "sleep", "60")
            killed.append(mc.running_state(f"k{i}"))
            p.send_signal(signal.SIGKILL)
            p.wait()
        else:  # not --rm: stays listed until removed
            assert mc("run", "--name", f"keep{i}", rootfs_dir, "true").returncode == 0
            assert f"keep{i}" in mc("ps", "-a").stdout
            assert mc("rm", f"keep{i}").returncode == 0

    mc("ps", "-a")  # garbage-collects what the killed CLIs left
    assert mc.states() == []
    store = tmp_path / "store" / "containers"
    assert not store.exists() or os.listdir(store) == []
    for st in killed:
        # PR_SET_PDEATHSIG killed the init with its CLI: gone, or a zombie the host's PID 1 has not reaped.
        deadline = time.time() + 5
        while process_start(st["pid"]) == st["pid_start"] and time.time() < deadline:
            time.sleep(0.05)
        assert process_start(st["pid"]) != st["pid_start"]
    assert not {st["id"] for st in killed} & set(cgroups.leftovers()), "cgroups left behind"
