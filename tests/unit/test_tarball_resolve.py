"""minictr.tarball.resolve: the security core, and lesson 02's member_filter built on it."""

from __future__ import annotations

import io
import tarfile

import pytest

from minictr import tarball, tarcorpus
from minictr.errors import UnsafeLayerEntry
from minictr.labs.checks import run_checks
from minictr.tarball import resolve


def test_member_filter_passes_every_check_of_lesson_02():
    result = run_checks("02.member_filter", resolve.member_filter)
    assert result.failures == [] and result.passed


def test_the_package_re_exports_the_filter():
    assert tarball.member_filter is resolve.member_filter


def _members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return tf.getmembers()


@pytest.mark.parametrize("case", [c for c in tarcorpus.build("/placeholder/sentinel") if c.whiteouts == "keep"],
                         ids=lambda c: c.name)
def test_member_filter_refuses_what_extract_refuses(case, tmp_path):
    """Fed member by member, with dest holding what extract() made of the members before,
    the filter refuses a tarball exactly when extract() refuses it."""
    work = tmp_path / "work"
    dest, sentinel = tarcorpus.prepare(work)
    case = next(c for c in tarcorpus.build(sentinel) if c.name == case.name)
    refused = False
    for m in _members(case.data):
        try:
            resolve.member_filter(m, str(dest))
        except UnsafeLayerEntry:
            refused = True
            break
        buf = io.BytesIO()  # extract this one member on top of the others
        with tarfile.open(fileobj=io.BytesIO(case.data)) as src, tarfile.open(fileobj=buf, mode="w",
                                                                                format=tarfile.PAX_FORMAT) as out:
            sm = next(x for x in src.getmembers() if x.offset == m.offset)
            out.addfile(sm, src.extractfile(sm) if sm.isreg() else None)
        tarball.extract(io.BytesIO(buf.getvalue()), dest)
    assert refused == (case.expect == "refuse")


def _info(name, kind=tarfile.REGTYPE, link=""):
    t = tarfile.TarInfo(name)
    t.type, t.linkname = kind, link
    return t


def test_member_filter_verdicts(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("x")
    (tmp_path / "up").symlink_to("/")
    f = resolve.member_filter
    assert f(_info("etc/group"), str(tmp_path)) is True
    assert f(_info("/abs/name"), str(tmp_path)) is True                 # contained, as GNU tar
    assert f(_info("up/etc/shadow"), str(tmp_path)) is True             # resolved inside dest
    assert f(_info("dev/null", tarfile.CHRTYPE), str(tmp_path)) is False
    assert f(_info("link", tarfile.LNKTYPE, "etc/passwd"), str(tmp_path)) is True
    for bad in (_info("../x"), _info("a/../../x"), _info("link", tarfile.LNKTYPE, "up/etc/passwd"),
                _info("link", tarfile.LNKTYPE, "etc"), _info("link", tarfile.LNKTYPE, "missing"),
                _info(".", tarfile.REGTYPE)):
        with pytest.raises(UnsafeLayerEntry):
            f(bad, str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["etc", "up"]  # nothing written


def test_a_nul_byte_in_a_name_is_refused(tmp_path):
    with pytest.raises(UnsafeLayerEntry, match="NUL"):
        resolve.member_filter(_info("a\0b"), str(tmp_path))
    with pytest.raises(UnsafeLayerEntry, match="NUL"):
        resolve._clean_name("x", "etc/\0passwd")
