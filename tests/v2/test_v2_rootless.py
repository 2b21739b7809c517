"""Rootless limits in the cgroup v2 subtree that systemd delegates to a user.

An ordinary user may write cgroup limits only in a group handed to them: systemd
does so for ``user@UID.service`` (the user's own systemd) and for any of its units
started with ``Delegate=yes``. Here a throwaway user (made by the workshop
installer's own steps) gets a user manager through ``loginctl enable-linger``, then
runs ``minictr run --memory ... --pids-limit ...`` from ``systemd-run --user
--scope -p Delegate=yes``, the way minictr's refusal hint tells a learner to. The
container must see its limits as the root of its cgroup namespace, an OOM must end
with 137 and the message, and no group may be left.

Man pages: loginctl(1) (enable-linger), user@.service(5), systemd-run(1) (--user,
--scope), systemd.resource-control(5) (Delegate=), cgroups(7).
"""

import os
import pwd
import subprocess
import sys
import time

import pytest

from hubhelp import throwaway_users
from patience import HANG_S

#: The user manager's start under emulation (TCG) takes tens of seconds; a hang is far longer.
USER_MANAGER_S = 300
CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def journal(unit: str) -> str:
    return subprocess.run(["journalctl", "--no-pager", "-n", "40", "-u", unit],
                          capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def lingering(systemd_module):
    """A throwaway user whose user@UID.service runs (lingering: without a login session)."""
    with throwaway_users(1) as (person,):
        pw = pwd.getpwnam(person.name)
        unit = f"user@{pw.pw_uid}.service"
        subprocess.run(["loginctl", "enable-linger", person.name], check=True, timeout=HANG_S)
        try:
            deadline = time.monotonic() + USER_MANAGER_S
            state = ""
            while time.monotonic() < deadline:
                state = subprocess.run(["systemctl", "is-active", unit], capture_output=True, text=True).stdout.strip()
                if state in ("active", "failed"):
                    break
                time.sleep(0.5)
            assert state == "active", f"{unit} is {state!r}:\n{journal(unit)}"
            yield pw
        finally:
            subprocess.run(["loginctl", "disable-linger", person.name], timeout=HANG_S)
            subprocess.run(["systemctl", "stop", unit], capture_output=True, timeout=HANG_S)


def as_user(pw, *argv, timeout=HANG_S) -> subprocess.CompletedProcess:
    """``argv`` as the user, with the environment a login gives (XDG_RUNTIME_DIR: the user manager's)."""
    def demote():
        os.setgroups([])
        os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
        os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)

    env = {"HOME": pw.pw_dir, "USER": pw.pw_name, "LANG": "C.UTF-8", "PYTHONPATH": CHECKOUT,
           "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "XDG_RUNTIME_DIR": f"/run/user/{pw.pw_uid}"}
    return subprocess.run(list(argv), env=env, cwd=pw.pw_dir, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=demote)


def scoped(pw, *args, timeout=HANG_S) -> subprocess.CompletedProcess:
    """``python -m minictr ARGS`` as the user, in a delegated scope of their user manager."""
    return as_user(pw, "systemd-run", "--user", "--scope", "--quiet", "-p", "Delegate=yes", "--",
                   sys.executable, "-m", "minictr", *args, timeout=timeout)


def minictr_groups(pw) -> list[str]:
    top = f"/sys/fs/cgroup/user.slice/user-{pw.pw_uid}.slice"
    found = []
    for dirpath, dirnames, _files in os.walk(top):
        found += [os.path.join(dirpath, d) for d in dirnames if os.path.basename(dirpath) == "minictr"]
    return found


def test_a_delegated_scope_gives_a_rootless_container_its_limits(lingering):
    r = scoped(lingering, "run", "--rm", "--network", "none", "--memory", "32m", "--pids-limit", "20",
               "busybox", "sh", "-c", "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /proc/self/cgroup")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(32 << 20), "20", "0::/"], r.stdout
    assert minictr_groups(lingering) == [], "a container's group was left behind"


def test_a_rootless_oom_in_a_delegated_scope_gives_137_and_the_message(lingering):
    r = scoped(lingering, "run", "--rm", "--network", "none", "--name", "hog", "--memory", "32m",
               "busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1")
    assert r.returncode == 137, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "container hog was killed: out of memory (limit 32MiB)"
    assert minictr_groups(lingering) == [], "a container's group was left behind"


def test_without_the_scope_the_same_user_is_refused_with_the_reason(lingering):
    """Started by root's test process (root's group, not delegated): one line naming Delegate=."""
    r = as_user(lingering, sys.executable, "-m", "minictr", "run", "--rm", "--network", "none",
                "--memory", "32m", "busybox", "true")
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 125 and len(lines) == 1, r.stderr
    assert "--memory cannot be honoured rootless" in lines[0] and "Delegate=" in lines[0]
