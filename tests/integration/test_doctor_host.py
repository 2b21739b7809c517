"""`minictr doctor` for real on this machine: every lesson can run here, and the probes leave nothing behind."""

from __future__ import annotations

import glob
import json
import os
import socket
import tempfile
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the lessons (and so doctor's verdict) need it"),
]


def _mountinfo() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return sorted(line.split(" - ")[0].split(" ", 4)[4] for line in f)  # mount point and options


def _probe_leftovers() -> list[str]:
    from minictr import cgroups

    found = glob.glob(os.path.join(tempfile.gettempdir(), "minictr-doctor-*"))
    for h in cgroups.detect().hierarchies:  # the probe groups are made next to our own group
        found += glob.glob(os.path.join(h.own_dir, "minictr-doctor-*"))
    return found


@pytest.mark.alone  # the host's mount table before and after; another test's mounts would differ
def test_doctor_exit_0_here(mc):
    before = (_mountinfo(), socket.gethostname(), os.readlink("/proc/self/ns/mnt"))
    r = mc("doctor")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "DETAIL"]
    for name in ("root", "CAP_SYS_ADMIN", "seccomp", "no_new_privs", "mnt namespace", "pid namespace",
                 "time namespace", "cgroups", "cgroups writable", "overlayfs", "unprivileged userns",
                 "kernel", "container"):
        assert any(line.startswith(name + " ") for line in lines), name
    assert "every lesson can run here" in r.stdout
    # this host's layout, as minictr detects it: hybrid here, v2 in `make test-v2`'s VM
    from minictr import cgroups
    assert ["cgroups", "ok", cgroups.detect().kind] in [line.split()[:3] for line in lines], lines
    assert (_mountinfo(), socket.gethostname(), os.readlink("/proc/self/ns/mnt")) == before
    assert _probe_leftovers() == []


def test_doctor_json(mc):
    r = mc("doctor", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["ok"] is True and data["blocked_lessons"] == []
    by = {c["name"]: c for c in data["checks"]}
    assert by["overlayfs"]["status"] == "ok"
    assert by["net namespace"]["detail"] == "unshare and lo up work"
    assert all(c["status"] in ("ok", "warn") for c in data["checks"])


def test_run_checks_from_python_leaves_this_process_alone():
    """What the lesson 00 notebook does: in the kernel's own process, nothing may change."""
    from minictr import doctor

    ns = {k: os.readlink(f"/proc/self/ns/{k}") for k in os.listdir("/proc/self/ns")}
    cg = Path("/proc/self/cgroup").read_text()
    checks = doctor.run_checks()
    assert doctor.all_lessons_can_run(checks), doctor.format_table(checks)
    assert {k: os.readlink(f"/proc/self/ns/{k}") for k in os.listdir("/proc/self/ns")} == ns
    assert Path("/proc/self/cgroup").read_text() == cg
    assert _probe_leftovers() == []
