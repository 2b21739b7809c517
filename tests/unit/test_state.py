import os
import time

import pytest

from minictr import state
from minictr.errors import AlreadyExists, NotFound


def make(cid, name):
    st = state.State(id=cid, name=name, image="busybox", command=["sh"])
    st.save(create=True)
    return st


def test_save_and_find_by_id_prefix_and_name():
    a = make("ab" + "0" * 62, "alpha")
    make("cd" + "0" * 62, "beta")
    assert state.load("alpha").id == a.id
    assert state.load("ab00").id == a.id
    assert state.load(a.id).name == "alpha"
    with pytest.raises(NotFound, match="no such container"):
        state.load("gamma")


def test_ambiguous_prefix_is_an_error():
    make("abc1" + "0" * 60, "x")
    make("abc2" + "0" * 60, "y")
    with pytest.raises(NotFound, match="ambiguous"):
        state.load("abc")
    with pytest.raises(NotFound, match="no such container"):
        state.load("ab")  # under three characters is never taken as a prefix


def test_names_are_unique():
    make("1" * 64, "web")
    with pytest.raises(AlreadyExists, match="already in use"):
        state.check_name_free("web")


def test_a_zombie_counts_as_dead():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        deadline = time.time() + 5
        while state.process_start(pid) is not None and time.time() < deadline:
            time.sleep(0.01)
        assert state.process_start(pid) is None  # exited but not reaped yet: a zombie
    finally:
        os.waitpid(pid, 0)


def test_a_live_process_has_a_start_time():
    st = state.State(id="2" * 64, name="me", image="-", command=[], pid=os.getpid(),
                     pid_start=state.process_start(os.getpid()))
    assert st.is_alive()
    st.pid_start += 1  # a recycled PID has another start time
    assert not st.is_alive()


@pytest.mark.parametrize("how, code", [("exit 3", 3), ("exit 0", 0), ("SIGKILL", 137), ("SIGTERM", 143)])
def test_record_exit_keeps_the_exit_status_rule_of_process(how, code):
    """A real child's wait status, recorded as process.exit_status reads it (128+N for signal N)."""
    import signal

    from minictr import process

    pid = os.fork()
    if pid == 0:
        if how.startswith("SIG"):
            os.kill(os.getpid(), getattr(signal, how))
        os._exit(int(how.split()[1]))
    _, status = os.waitpid(pid, 0)
    st = make("ef" + "0" * 62, "gone")
    state.record_exit(st, status)
    assert st.exit_code == process.exit_status(status) == code
    assert (st.status, state.load("gone").exit_code) == ("stopped", code)


def test_a_save_after_rm_does_not_bring_the_container_back():
    """`rm -f` from another process removes a running container; the run's last save must not revive it."""
    st = make("ef" + "0" * 62, "revived")
    state.load("revived").remove()          # what `rm -f` does, from elsewhere
    st.status, st.exit_code = "stopped", 137
    assert st.save() is False                # the run's supervisor records the exit
    with pytest.raises(NotFound):
        state.load("revived")
    assert st.save(create=True) is True      # only a first save makes the dir
    assert state.load("revived").exit_code == 137
