"""namespaces.unshare_uts: the UTS namespace first, then the name (recorded with FakeSyscalls)."""

from minictr import namespaces
from minictr.syscalls import CloneFlags, FakeSyscalls


def test_unshare_uts_unshares_before_it_renames():
    fake = FakeSyscalls()
    namespaces.unshare_uts(fake, "box1")
    assert fake.calls == [("unshare", (int(CloneFlags.NEWUTS),)), ("sethostname", ("box1",))]
