"""The start of every bench entry point: root, and a v1-only view of a hybrid host's cgroups.

crun 1.8 refuses a hybrid cgroup host ("cgroups in hybrid mode not
supported"). So the whole benchmark re-executes itself in a private mount
namespace (``unshare -m``, propagation private) where the cgroup2 mount at
/sys/fs/cgroup/unified is unmounted: a v1-only view. The host's mounts are
untouched, and every runtime sees the same view. See unshare(1),
mount_namespaces(7).
"""

from __future__ import annotations

import os
import shutil
import sys

UNIFIED = "/sys/fs/cgroup/unified"
#: Set in the environment once the benchmark runs in the view.
IN_VIEW = "MINICTR_BENCH_V1_VIEW"


def _mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def as_root_in_view(module: str, no_view: bool) -> bool:
    """The start of every bench entry point: False (and a message) without root;
    otherwise re-execute ``python -m module`` in the v1-only view unless ``no_view``."""
    if os.geteuid() != 0:
        print("bench: needs root (namespaces, mounts, cgroups)", file=sys.stderr)
        return False
    if not no_view:
        reexec_in_v1_view(module)
    return True


def reexec_in_v1_view(module: str) -> None:
    """Run ``python -m module`` (with our arguments) again in a private mount namespace without the cgroup2 mount."""
    if os.environ.get(IN_VIEW) or not _mounted(UNIFIED) or not shutil.which("unshare"):
        return
    os.environ[IN_VIEW] = "1"
    script = f'umount {UNIFIED} && exec "$@"'
    os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script,
                          "sh", sys.executable, "-m", module, *sys.argv[1:]])
