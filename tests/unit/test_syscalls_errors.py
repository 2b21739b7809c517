import errno

import pytest

from minictr.errors import ConfigError, MinictrError, SyscallError
from minictr.syscalls import CloneFlags, FakeSyscalls, MountFlags, flag_names


def test_flag_names_read_like_the_man_page():
    assert flag_names(MountFlags.NOSUID | MountFlags.NODEV) == "MS_NOSUID|MS_NODEV"
    assert flag_names(CloneFlags.NEWPID | CloneFlags.NEWNS, CloneFlags, "CLONE_") == "CLONE_NEWNS|CLONE_NEWPID"


def test_syscall_error_is_one_line_with_a_hint():
    e = SyscallError("mount", errno.EPERM, "proc on /proc (MS_NOSUID)")
    assert isinstance(e, OSError) and isinstance(e, MinictrError)
    assert e.errno == errno.EPERM
    assert str(e).startswith("mount proc on /proc (MS_NOSUID): Operation not permitted")
    assert "sudo" in str(e) and "\n" not in str(e)


def test_config_error_names_field_and_value():
    e = ConfigError("memory", "12q", "unknown unit", hint="use k, m or g")
    assert isinstance(e, ValueError)
    assert (e.field, e.value) == ("memory", "12q")
    assert str(e) == "invalid memory '12q': unknown unit (hint: use k, m or g)"


def test_fake_records_and_fails_on_demand():
    fake = FakeSyscalls(fail={"sethostname": errno.EPERM})
    fake.unshare(CloneFlags.NEWUTS)
    with pytest.raises(SyscallError):
        fake.sethostname("box")
    assert fake.calls == [("unshare", (int(CloneFlags.NEWUTS),)), ("sethostname", ("box",))]
