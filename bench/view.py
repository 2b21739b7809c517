"""The cgroup view each benchmark row runs in: the host's own, and a v1-only one for crun alone.

Every runtime is timed in the view its users have: the host's own cgroups.
Only crun is different. crun 1.8 refuses a hybrid cgroup host ("cgroups in
hybrid mode not supported"), so on such a host crun's rows, and only those,
run in a *v1-only view*: a private mount namespace (``unshare --mount
--propagation private``) where the cgroup2 mount at /sys/fs/cgroup/unified is
unmounted. The host's mounts are untouched.

The namespace is held open by one small process (``V1View``: unshare, then a
shell that unmounts /sys/fs/cgroup/unified and waits on its stdin), and each
crun run enters it with ``nsenter --target PID --mount``. Entering costs a
little; ``V1View.entry_command`` is that cost alone (nsenter, then
``/bin/true``), timed as a row of its own, so that the report can show it
rather than hide it.

Why not run everything in that view, as the benchmark once did: runc was
about 5 ms slower there than in the host's view (27 against 22 ms, once the
3.4 ms of entering it were taken off; /work/shared/NOTES.md), which made
minictr look faster than runc as its users run it.

See unshare(1), nsenter(1), mount_namespaces(7), cgroups(7).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

UNIFIED = "/sys/fs/cgroup/unified"
HOST = "host"
V1_ONLY = "v1-only"
#: The benchmark row that times entering the v1-only view and nothing else.
ENTRY_ROW = "entering the v1-only view (nsenter, /bin/true)"


def as_root() -> bool:
    """The start of every bench entry point: False (and a message) without root."""
    if os.geteuid() != 0:
        print("bench: needs root (namespaces, mounts, cgroups)", file=sys.stderr)
        return False
    return True


def hybrid(mountinfo: str = "/proc/self/mountinfo") -> bool:
    """True on a hybrid cgroup host: v1 hierarchies plus a cgroup2 mount at /sys/fs/cgroup/unified."""
    with open(mountinfo) as f:
        return any(line.split()[4] == UNIFIED for line in f)


def host_cgroups() -> str:
    """A short description of the host's cgroup layout, for the report's header."""
    if hybrid():
        return f"hybrid (cgroup v1 hierarchies, cgroup2 at {UNIFIED})"
    with open("/proc/self/mountinfo") as f:
        v2 = any(line.split()[4] == "/sys/fs/cgroup" and " - cgroup2 " in line for line in f)
    return "cgroup v2 only" if v2 else "cgroup v1"


class V1View:
    """A private mount namespace without the cgroup2 mount, held open by one process.

    ``wrap(argv)`` makes an argv run in it. Use as a context manager: leaving
    closes the holder's stdin, and the holder exits (it would too if the
    benchmark died: its stdin is our pipe).
    """

    def __init__(self):
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "V1View":
        script = f"umount {UNIFIED} || exit 1; echo ready; exec cat >/dev/null"
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            self.close()
            raise RuntimeError(f"could not make a v1-only cgroup view (unmounting {UNIFIED} failed)")
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.stdout.close()
            self.proc.wait()
            self.proc = None

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the view (nsenter sets the view's root and cwd: pass absolute paths)."""
        return ["nsenter", "--target", str(self.proc.pid), "--mount", "--", *argv]

    def entry_command(self) -> list[str]:
        """Entering the view and nothing else: the cost that the view adds to each of crun's runs."""
        return self.wrap(["/bin/true"])


def can_make_view() -> bool:
    return all(shutil.which(t) for t in ("unshare", "nsenter"))
