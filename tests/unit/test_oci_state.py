"""The OCI state machine (minictr.oci.state): the status shown comes from the process, not from the
file alone, and each operation is allowed only in the statuses the runtime spec names."""

import json
import os

import pytest

from minictr.errors import InvalidTransition
from minictr.oci import state as oci
from minictr.state import State


def st(status, pid=100, pid_start=5, creator=(200, 7), **kw):
    return State(id="box", name="box", image="-", command=["sh"], status=status, pid=pid, pid_start=pid_start,
                 supervisor_pid=creator[0], supervisor_start=creator[1], **kw)


class Procs:
    """A fake process table: (pid, start time) pairs that are alive (not zombies)."""

    def __init__(self, *alive):
        self.alive = set(alive)

    def __call__(self, pid, start):
        return (pid, start) in self.alive


@pytest.mark.parametrize("stored,alive,shown", [
    ("creating", [(200, 7)], "creating"),       # create is still at work
    ("creating", [], "stopped"),                # create was killed half-way: delete --force cleans up
    ("created", [(100, 5)], "created"),
    ("running", [(100, 5)], "running"),
    ("paused", [(100, 5)], "paused"),
    ("running", [], "stopped"),                 # dead, or a zombie (procfs gives no start time for a zombie)
    ("running", [(100, 6)], "stopped"),         # the PID was recycled: another process started later
    ("created", [(200, 7)], "stopped"),         # the creator's liveness says nothing once created
    ("stopped", [(100, 5)], "stopped"),
])
def test_the_status_comes_from_the_process(stored, alive, shown):
    assert oci.status(st(stored), same_process=Procs(*alive)) == shown


@pytest.mark.parametrize("operation,allowed", [
    ("start", {"created"}),
    ("kill", {"created", "running", "paused"}),
    ("delete", {"stopped"}),
    ("exec", {"created", "running"}),
    ("pause", {"created", "running"}),
    ("resume", {"paused"}),
])
def test_each_operation_is_allowed_only_in_the_spec_statuses(operation, allowed):
    for status in oci.STATUSES:
        if status in allowed:
            oci.check(operation, st(status), status)
        else:
            with pytest.raises(InvalidTransition) as info:
                oci.check(operation, st(status), status)
            assert f"cannot {operation} container box: it is {status}" in str(info.value)


def test_a_second_start_is_refused_with_a_hint():
    with pytest.raises(InvalidTransition, match="it is running, not created") as info:
        oci.check("start", st("running"), "running")
    assert "once" in info.value.hint


def test_the_state_document_has_the_spec_fields():
    s = st("running", oci_bundle="/b", config={"rootfs": {"path": "/b/rootfs"}, "annotations": [["org.example", "1"]]},
           created=1_700_000_000.5)
    doc = oci.document(s, "running")
    assert {"ociVersion", "id", "status", "pid", "bundle", "annotations"} <= set(doc)
    assert (doc["id"], doc["status"], doc["pid"], doc["bundle"]) == ("box", "running", 100, "/b")
    assert doc["annotations"] == {"org.example": "1"} and doc["rootfs"] == "/b/rootfs"
    assert doc["created"] == "2023-11-14T22:13:20.500000000Z"
    assert oci.document(s, "stopped")["pid"] == 0  # no process to name once stopped
    json.dumps(doc)  # plain JSON


def test_the_oci_bundle_is_kept_apart_from_the_storage_dir_that_delete_removes():
    """``State.bundle`` is minictr's own storage (removed with the container); the caller's bundle is not."""
    s = st("created", oci_bundle="/home/me/bundle")
    assert s.bundle == "" and s.oci_bundle == "/home/me/bundle"


def test_status_of_this_very_process_uses_the_real_proc(tmp_path):
    from minictr.state import process_start
    me = os.getpid()
    live = st("running", pid=me, pid_start=process_start(me))
    assert oci.status(live) == "running"
    assert oci.status(st("running", pid=me, pid_start=1)) == "stopped"
