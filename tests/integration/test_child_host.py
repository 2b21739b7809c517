"""minictr.child for real: the child joins another process's namespace with setns(2)."""

from __future__ import annotations

import os

import pytest

from minictr import child
from minictr.syscalls import CloneFlags


@pytest.mark.root
def test_join_really_enters_the_namespace():
    from minictr.labs.checks import ChildInNamespaces, has_root

    if not has_root():
        pytest.skip("needs root: unshare and setns")
    with ChildInNamespaces(CloneFlags.NEWUTS) as pid:
        theirs = os.readlink(f"/proc/{pid}/ns/uts")
        assert theirs != os.readlink("/proc/self/ns/uts")
        assert child.call(lambda: os.readlink("/proc/self/ns/uts"), join=(pid, ("uts",))) == theirs
