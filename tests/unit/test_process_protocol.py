"""The parent<->child protocol, with a real fork and a fake kernel (no root needed).

A failure in the container's init must come back as a structured error that
names the stage, the call and the errno, never as a bare exit status."""

import ast
import errno
import os

import pytest

from minictr import process
from minictr.config import ContainerConfig, Rootfs
from minictr.errors import ContainerSetupError
from minictr.syscalls import CloneFlags, FakeSyscalls


def config(root, **kw):
    base = dict(id="b" * 64, name="proto", image="-", rootfs=Rootfs(str(root)), args=("true",),
                hostname="box", namespaces=frozenset({"mount", "uts", "net"}))
    base.update(kw)
    return ContainerConfig(**base)


@pytest.mark.parametrize("call,stage,err", [
    ("pivot_root", "pivot_root", errno.EINVAL),
    ("sethostname", "hostname", errno.EPERM),
    ("unshare", "namespaces", errno.EPERM),
    ("mount", "mounts", errno.EACCES),
])
def test_child_failure_names_stage_call_and_errno(tmp_path, call, stage, err):
    init = process.spawn(config(tmp_path), FakeSyscalls(fail={call: err}))
    try:
        with pytest.raises(ContainerSetupError) as info:
            init.setup()
        e = info.value
        assert (e.stage, e.errno, e.exit_code) == (stage, err, 125)
        assert call in str(e) and os.strerror(err) in str(e)
    finally:
        _, status = os.waitpid(init.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 125


def test_the_parent_dying_early_makes_the_child_exit(tmp_path):
    init = process.spawn(config(tmp_path), FakeSyscalls())
    init.channel.close()  # as if the supervisor died before saying start
    _, status = os.waitpid(init.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 125


def test_new_pid_namespace_is_unshared_then_undone_in_the_parent(tmp_path):
    fake = FakeSyscalls(fail={"pivot_root": errno.EINVAL})
    init = process.spawn(config(tmp_path, namespaces=frozenset({"mount", "pid"})), fake)
    with pytest.raises(ContainerSetupError):
        init.setup()
    os.waitpid(init.pid, 0)
    # The parent's own record: unshare(CLONE_NEWPID) before the fork, setns back after it.
    assert fake.calls[0] == ("unshare", (int(CloneFlags.NEWPID),))
    assert fake.calls[1][0] == "setns" and fake.calls[1][1][1] == int(CloneFlags.NEWPID)


def test_exit_status_as_a_shell_shows_it():
    assert process.exit_status(3 << 8) == 3
    assert process.exit_status(9) == 137  # killed by SIGKILL


def test_the_child_joins_its_cgroup_itself_before_anything_else(tmp_path):
    """It writes "0" into each join file (v1 ``tasks``: moves itself, no global lock), then builds the rest."""
    import signal

    root, groups = tmp_path / "root", tmp_path / "groups"
    root.mkdir()
    join = []
    for name in ("pids", "memory"):
        (groups / name).mkdir(parents=True)
        (groups / name / "tasks").write_text("")
        join.append(str(groups / name / "tasks"))
    init = process.spawn(config(root), FakeSyscalls(), (("memory", "cgroup", "memory"),), join=tuple(join))
    try:
        init.setup()
        assert [open(f).read() for f in join] == ["0", "0"]
        assert (root / "sys" / "fs" / "cgroup" / "memory").is_dir()  # and then the whole mount plan
    finally:
        os.kill(init.pid, signal.SIGKILL)
        os.waitpid(init.pid, 0)
        init.channel.close()


def test_a_cgroup_the_child_cannot_join_stops_it_before_any_mount(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    init = process.spawn(config(root), FakeSyscalls(), join=(str(tmp_path / "gone" / "tasks"),))
    try:
        with pytest.raises(ContainerSetupError) as info:
            init.setup()
        assert (info.value.stage, info.value.errno) == ("cgroup", errno.ENOENT)
        assert not (root / "dev").exists() and not (root / "proc").exists()
    finally:
        _, status = os.waitpid(init.pid, 0)
        init.channel.close()
    assert os.waitstatus_to_exitcode(status) == 125


def test_hide_command_line_rewrites_cmdline_and_empties_environ():
    """In a forked child (this process's own argv stays): /proc/self/cmdline shows the new words."""
    from minictr.process import hide_command_line

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            ok = hide_command_line(["minictr-init", "--", "sleep", "60"])
            with open("/proc/self/cmdline", "rb") as f:
                cmdline = f.read()
            with open("/proc/self/environ", "rb") as f:
                environ = f.read()
            with open("/proc/self/comm", "rb") as f:
                comm = f.read()
            os.write(w, repr((ok, cmdline.rstrip(b"\0").split(b"\0"), environ.strip(b"\0"), comm)).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        got = f.read()
    os.waitpid(pid, 0)
    assert ast.literal_eval(got.decode()) == (True, [b"minictr-init", b"--", b"sleep", b"60"], b"", b"minictr-init\n")
    with open("/proc/self/cmdline", "rb") as f:
        assert b"pytest" in f.read()  # the parent's own command line is untouched


def test_hide_command_line_cuts_words_to_the_space_there_is():
    from minictr.process import hide_command_line

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            with open("/proc/self/cmdline", "rb") as f:
                size = len(f.read())
            hide_command_line(["x" * (size + 100)])
            with open("/proc/self/cmdline", "rb") as f:
                after = f.read()
            os.write(w, repr((size, after)).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        size, after = ast.literal_eval(f.read().decode())
    os.waitpid(pid, 0)
    assert after == b"x" * (size - 1) + b"\0"  # ends in a NUL: the kernel reads no further


def test_hide_command_line_without_proc_says_so(tmp_path):
    from minictr.process import hide_command_line

    assert hide_command_line(["x"], proc=str(tmp_path / "nothere")) is False
