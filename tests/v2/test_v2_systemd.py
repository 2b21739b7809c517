"""minictr started by systemd, as a service is: the no-internal-process rule of cgroup v2.

A service runs in ``/system.slice/NAME.service``, and minictr's own process stays
there. A group with processes of its own cannot enable controllers for children
(the write to cgroup.subtree_control fails with EBUSY), so minictr must put the
container's group elsewhere: in the nearest ancestor without processes
(``/system.slice``), never under the service's group. See systemd.resource-control(5),
systemd-run(1) and Documentation/admin-guide/cgroup-v2.rst ("No Internal Process Constraint").
"""

import os
import subprocess
import time

from patience import HANG_S
from v2help import CGROUP_ROOT, group_of, read


def systemd_run(mc, unit: str, *args) -> list[str]:
    """``systemd-run`` argv that starts ``minictr ARGS`` as the service UNIT, with mc's store."""
    env = [f"--setenv={k}={mc.env[k]}" for k in ("MINICTR_ROOT", "MINICTR_RUNTIME_DIR", "PYTHONPATH", "PATH")
           if k in mc.env]
    return ["systemd-run", "--quiet", "--collect", f"--unit={unit}", "--service-type=exec", *env,
            *mc.argv(*args)]


def unit_gone(unit: str, timeout: float = HANG_S) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = subprocess.run(["systemctl", "is-active", "--quiet", unit])
        if r.returncode != 0:
            return True
        time.sleep(0.1)
    return False


def test_run_from_a_service_puts_the_container_outside_the_services_group(systemd, mc, rootfs_dir):
    unit = f"minictr-v2-test-{os.getpid()}.service"
    subprocess.run(systemd_run(mc, unit, "run", "--name", "svc", "--memory", "48m", "--pids-limit", "30",
                               rootfs_dir, "sleep", "60"), check=True, timeout=HANG_S)
    try:
        st = mc.running_state("svc", where=lambda st: st.get("pid"))
        show = subprocess.run(["systemctl", "show", "-P", "ControlGroup", unit], capture_output=True,
                              text=True, check=True).stdout.strip()
        assert show.startswith("/system.slice/") and show.endswith(unit), show
        service_procs = read(show, "cgroup.procs").split()
        assert service_procs, "minictr's own process should still be in the service's group"
        group = group_of(st["pid"])
        # not under the service (it has processes: it may not enable controllers for children) ...
        assert not group.startswith(show + "/"), group
        # ... but in the nearest ancestor that has none: /system.slice
        assert group == f"/system.slice/minictr/{st['id']}", group
        assert read(group, "memory.max") == str(48 << 20)
        assert read(group, "pids.max") == "30"
        assert read(os.path.dirname(group), "cgroup.procs") == ""
    finally:
        mc("rm", "-f", "svc")
        subprocess.run(["systemctl", "stop", unit], capture_output=True)
    assert unit_gone(unit)
    assert not os.path.exists(os.path.join(CGROUP_ROOT, group.lstrip("/"))), "group left behind"


def test_a_service_run_ends_with_the_containers_status(systemd, mc, rootfs_dir):
    unit = f"minictr-v2-status-{os.getpid()}.service"
    # --wait: systemd-run returns when the service ends, with its exit status
    argv = systemd_run(mc, unit, "run", "--rm", "--memory", "32m", rootfs_dir, "sh", "-c", "exit 7")
    r = subprocess.run([argv[0], "--wait", "--pipe", *argv[1:]], capture_output=True, text=True, timeout=HANG_S)
    assert r.returncode == 7, (r.stdout, r.stderr)
    assert mc.states() == []
