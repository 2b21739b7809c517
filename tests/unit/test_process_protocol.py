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


def test_one_list_of_forwarded_signals_for_run_the_supervisor_and_the_init(monkeypatch):
    """``minictr run`` (container.run), the supervisor it hands off to and the init pass on the same signals."""
    import signal
    import types

    from minictr import container, supervise

    assert supervise.FORWARDED == process.FORWARDED_SIGNALS
    assert {signal.SIGINT, signal.SIGTERM, signal.SIGWINCH} <= set(process.FORWARDED_SIGNALS)
    assert not {signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD} & set(process.FORWARDED_SIGNALS)

    class Started:
        """What run() drives, stopped in wait(): by then its handlers are in place."""
        state = types.SimpleNamespace(status="created")
        killed: list = []
        untouched = None

        pid = os.getpid()

        def start(self):
            pass

        def kill(self, sig):
            self.killed.append(sig)
            if sig == signal.SIGKILL:
                self.state.status = "stopped"

        def wait(self, wait_status=None):
            if self.state.status == "stopped":
                return
            for sig in process.FORWARDED_SIGNALS:     # the command runs: by now the handlers are in place
                signal.getsignal(sig)(sig, None)      # as if the signal arrived
            self.untouched = signal.getsignal(signal.SIGALRM)
            raise RuntimeError("stop here")

    fake = Started()
    monkeypatch.setattr(container.Container, "create", lambda *a, **k: fake)
    before = {sig: signal.getsignal(sig) for sig in process.FORWARDED_SIGNALS}
    with pytest.raises(RuntimeError, match="stop here"):
        container.run(types.SimpleNamespace(auto_remove=False, tty=False))
    assert fake.killed == [*process.FORWARDED_SIGNALS, signal.SIGKILL]  # each forwarded, then the cleanup
    assert fake.untouched is signal.getsignal(signal.SIGALRM)
    assert {sig: signal.getsignal(sig) for sig in process.FORWARDED_SIGNALS} == before


class _StopAtSeccomp(FakeSyscalls):
    """A fake kernel that refuses the seccomp filter, naming the confinement calls made before it."""

    def seccomp_set_mode_filter(self, program):
        from minictr.errors import SyscallError
        before = [n for n in self.names() if n in ("cap_ambient_clear", "capset", "set_no_new_privs")]
        drops = sum(n == "capbset_drop" for n in self.names())
        raise SyscallError("seccomp", errno.EINVAL, f"after {drops} drops, {' '.join(before)}")


ALLOW_ALL = bytes([6, 0, 0, 0, 0, 0, 0xFF, 0x7F])  # BPF_RET|BPF_K SECCOMP_RET_ALLOW


def _confinement_order(tmp_path, security):
    init = process.spawn(config(tmp_path, security=security), _StopAtSeccomp())
    try:
        init.setup()
        with pytest.raises(ContainerSetupError) as info:
            init.start()
        return info.value
    finally:
        os.waitpid(init.pid, 0)


@pytest.mark.skipif(os.geteuid() != 0, reason="the child switches to uid 0 before the filter: needs root")
def test_with_no_new_privs_the_seccomp_filter_is_the_last_step_before_exec(tmp_path):
    from minictr.config import Security
    e = _confinement_order(tmp_path, Security(no_new_privileges=True, seccomp_filter=ALLOW_ALL))
    assert e.stage == "seccomp"
    # bounding set (27 of 41 dropped, then EINVAL at 41), ambient cleared, capset after setuid, no_new_privs
    assert "after 28 drops, cap_ambient_clear capset set_no_new_privs" in str(e)


def test_without_no_new_privs_the_filter_goes_in_while_the_init_still_has_cap_sys_admin(tmp_path):
    from minictr.config import Security
    e = _confinement_order(tmp_path, Security(seccomp_filter=ALLOW_ALL))
    assert e.stage == "seccomp" and "after 28 drops, cap_ambient_clear:" in str(e)  # before setuid and capset


@pytest.mark.skipif(os.geteuid() != 0, reason="the child switches to uid 0 before exec: needs root")
def test_without_a_filter_nothing_is_loaded_and_the_command_runs(tmp_path):
    init = process.spawn(config(tmp_path), _StopAtSeccomp())  # it would refuse any filter
    try:
        init.setup()
        init.start()  # exec of `true` happened: no error came back
    finally:
        _, status = os.waitpid(init.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _in_fork(body):
    """``body()`` in a forked child (this process's own argv stays as it is); its repr'd result."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.write(w, repr(body()).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        got = f.read()
    os.waitpid(pid, 0)
    return ast.literal_eval(got.decode())


def test_hide_command_line_rewrites_cmdline_and_empties_environ():
    """In a forked child: /proc/self/cmdline shows the new words; the parent's stays."""
    from minictr.process import hide_command_line

    ours = _read("/proc/self/cmdline")

    def body():
        ok = hide_command_line(["minictr-init", "--", "sleep", "60"])
        cmdline = _read("/proc/self/cmdline")
        return ok, cmdline.rstrip(b"\0").split(b"\0"), _read("/proc/self/environ").strip(b"\0"), _read("/proc/self/comm")

    assert _in_fork(body) == (True, [b"minictr-init", b"--", b"sleep", b"60"], b"", b"minictr-init\n")
    assert _read("/proc/self/cmdline") == ours  # the parent's own command line is untouched (pytest's, or an xdist worker's)


def test_hide_command_line_cuts_words_to_the_space_there_is():
    from minictr.process import hide_command_line

    def body():
        size = len(_read("/proc/self/cmdline"))
        hide_command_line(["x" * (size + 100)])
        return size, _read("/proc/self/cmdline")

    size, after = _in_fork(body)
    assert after == b"x" * (size - 1) + b"\0"  # ends in a NUL: the kernel reads no further


def test_hide_command_line_without_proc_says_so(tmp_path):
    from minictr.process import hide_command_line

    assert hide_command_line(["x"], proc=str(tmp_path / "nothere")) is False
