"""minictr.child: a function in a forked child, its result or its exception back, a timeout, setns."""

from __future__ import annotations

import os
import time

import pytest

from minictr import child
from minictr.errors import MinictrError
from minictr.syscalls import FakeSyscalls


def test_the_result_comes_back_from_another_process():
    assert child.call(lambda: os.getpid()) != os.getpid()
    assert child.call(lambda: {"a": [1, "b"]}) == {"a": [1, "b"]}


def _raising(e):
    def body():
        raise e
    return body


def test_exceptions_come_back_as_data():
    with pytest.raises(child.ChildFailed) as e:
        child.call(_raising(KeyError("k")))
    assert (e.value.exc_type, e.value.line, e.value.plain) == ("KeyError", "KeyError: 'k'", "'k'")
    with pytest.raises(child.ChildFailed) as e:
        child.call(_raising(MinictrError("no luck", hint="try again")))
    assert e.value.plain == "no luck" and e.value.line == "MinictrError: no luck (hint: try again)"
    with pytest.raises(child.ChildFailed) as e:
        child.call(lambda: os.open("/nonexistent/x", os.O_RDONLY))
    assert e.value.exc_type == "FileNotFoundError" and e.value.plain == "No such file or directory: /nonexistent/x"
    with pytest.raises(child.ChildFailed) as e:
        child.call(lambda: object())  # not JSON-able
    assert e.value.exc_type == "TypeError"


def test_a_child_that_dies_or_hangs():
    with pytest.raises(child.ChildFailed) as e:
        child.call(lambda: os._exit(3))
    assert e.value.exc_type == "" and "died without an answer" in e.value.line
    t = time.monotonic()
    with pytest.raises(child.ChildTimeout, match="timed out after 0.3 s"):
        child.call(lambda: time.sleep(30), timeout=0.3)
    assert time.monotonic() - t < 5


def test_join_opens_in_the_parent_and_setns_in_the_child_in_order():
    fake = FakeSyscalls()
    me = os.getpid()
    # the child's own recording fake is a copy: what it recorded comes back as the result
    got = child.call(lambda: [c[0] for c in fake.calls], join=(me, ("mnt", "net", "uts")), kernel=fake)
    assert got == ["setns", "setns", "setns"]
    assert fake.calls == []  # the parent never joined anything
    with pytest.raises(FileNotFoundError):
        child.open_namespaces(2 ** 22 + 1, ("net",))
    fds = child.open_namespaces(me, ("mnt", "user", "uts"))
    try:
        assert [os.readlink(f"/proc/self/fd/{fd}").split(":")[0] for fd in fds] == ["user", "uts", "mnt"]
    finally:
        for fd in fds:
            os.close(fd)
