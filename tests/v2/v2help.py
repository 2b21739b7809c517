"""Helpers of the pure cgroup v2 tests: a process's v2 group and the files in it."""

import os

CGROUP_ROOT = "/sys/fs/cgroup"


def group_of(pid: int) -> str:
    """The v2 group of ``pid`` as the host sees it: the path in its single ``0::`` line."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    assert len(lines) == 1 and lines[0].startswith("0::"), f"not a pure v2 process: {lines}"
    return lines[0][3:]


def read(group: str, name: str) -> str:
    with open(os.path.join(CGROUP_ROOT, group.lstrip("/"), name)) as f:
        return f.read().strip()

