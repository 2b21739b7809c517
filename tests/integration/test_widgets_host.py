"""Widgets on real namespaces (needs root): the NamespaceExplorer beside a child in new ones.

Moved from tests/unit/test_widgets.py, which keeps the tests that need no privilege."""

from __future__ import annotations

import pytest

from minictr.widgets import NamespaceExplorer


@pytest.mark.root
def test_explorer_highlights_a_child_in_new_namespaces():
    from minictr.labs.checks import ChildInNamespaces, has_root
    from minictr.syscalls import CloneFlags

    if not has_root():
        pytest.skip("needs root to unshare namespaces in a child")
    with ChildInNamespaces(CloneFlags.NEWUTS | CloneFlags.NEWIPC) as pid:
        ex = NamespaceExplorer("self", pid, label_b="child")
        assert ex.differences == {"uts", "ipc"}
        assert "different" in ex.table.value and "#fff3cd" in ex.table.value
        assert ex.summary().startswith("namespaces of this process vs child: 2 of ")
        assert ex.summary().endswith("differ; same root\n  different: ipc, uts")
    ex.button.click()                                # refresh: the child is gone now
    assert ex.exited
    assert "the last reading: 2 of " in ex.summary() and ex.summary().endswith("differed: ipc, uts")
