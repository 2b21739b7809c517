"""Lesson 02 (minictr/labs/l02.py): the member_filter exercise."""

from __future__ import annotations

import pytest
from lab_contract import LessonContract

from minictr.errors import UnsafeLayerEntry
from minictr.labs import checks, l02
from minictr.labs.checks import check, run_checks

pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)

def _parts(name):
    return [p for p in name.split("/") if p not in ("", ".")]


def names_only(m, d):
    """Checks every name and link target as text, and resolves no symlink at all."""
    if m.ischr() or m.isblk():
        return False
    if ".." in _parts(m.name) or (not _parts(m.name) and not m.isdir()):
        raise UnsafeLayerEntry(m.name, "climbs out")
    if m.islnk() and (m.linkname.startswith("/") or ".." in _parts(m.linkname)):
        raise UnsafeLayerEntry(m.name, "link out")
    return True


def resolves_on_the_host(m, d):
    """Follows symlinks the host's way (realpath): refuses honest images with lib -> /usr/lib."""
    import os

    if m.ischr() or m.isblk():
        return False
    root = os.path.realpath(d)
    where = os.path.realpath(os.path.join(root, m.name.lstrip("/")))
    if where != root and not where.startswith(root + "/"):
        raise UnsafeLayerEntry(m.name, "outside")
    return True


WRONG = [
    names_only,
    resolves_on_the_host,
    lambda m, d: True,
    lambda m, d: False,
    lambda m, d: None,
    lambda m, d: not (m.ischr() or m.isblk()),
]


class TestContract(LessonContract):
    lesson = "02"
    wrong = {'02.member_filter': WRONG}


def test_the_lesson_record():
    assert l02.LESSON.number == "02" and l02.LESSON.needs_root  # its lab runs containers


def test_member_filter_refusing_a_contained_case_is_accepted_but_not_an_honest_one():
    def refuse_absolute(m, d):
        if m.name.startswith("/"):
            raise UnsafeLayerEntry(m.name, "absolute")
        return checks.get("02.member_filter").reference()(m, d)

    assert run_checks("02.member_filter", refuse_absolute).passed

    def refuse_symlinks(m, d):
        if m.issym():
            raise UnsafeLayerEntry(m.name, "symlink")
        return checks.get("02.member_filter").reference()(m, d)

    result = run_checks("02.member_filter", refuse_symlinks)
    assert [o.case for o in result.failures] == [
        "benign: a small rootfs (dirs, setuid file, symlinks, hard links, fifo, lib -> /usr/lib)"]
    assert "you refused the honest member 'bin/sh'" in result.failures[0].why


def test_member_filter_wrong_exception_type_is_named():
    def wrong(m, d):
        if ".." in m.name:
            raise ValueError("dotdot")
        return True

    result = run_checks("02.member_filter", wrong)
    why = {o.case: o.why for o in result.failures}
    assert why["corpus: dotdot-name"] == ("your function raised ValueError: dotdot for '../sentinel/pwned'; "
                                          "raise minictr.errors.UnsafeLayerEntry to refuse a member")
    assert all("/tmp" not in w for w in why.values()), "temporary paths leak into the messages"


def test_check_output_is_deterministic(capsys):
    check("02.member_filter", lambda m, d: True)
    first = capsys.readouterr().out
    check("02.member_filter", lambda m, d: True)
    assert capsys.readouterr().out == first
    failed = run_checks("02.member_filter", lambda m, d: True).failures
    assert len(failed) > 8 and f"... and {len(failed) - 8} more" in first  # only the first 8 are shown


def test_a_filter_that_resolves_no_symlinks_fails_where_planted_symlinks_redirect_a_link():
    why = {o.case: o.why for o in run_checks("02.member_filter", names_only).failures}
    assert set(why) == {
        "corpus: symlink-loop", "corpus: symlink-self-loop", "corpus: symlink-chain-too-long",
        "corpus: hardlink-through-symlink", "corpus: hardlink-through-relative-symlink",
        "corpus: hardlink-through-planted-root-symlink", "corpus: hardlink-through-planted-chain",
        "corpus: hardlink-dotdot-after-missing", "corpus: hardlink-to-dir"}
    assert why["corpus: hardlink-through-planted-chain"] == (
        "you kept 'h', a hard link to 'one/secret', which must be refused: its hardlink target 'one/secret' "
        "goes through symlink 'two', which leaves the root (two planted symlinks, one -> two -> ../sentinel: "
        "the link's target is the host's file)")
    assert why["corpus: hardlink-through-planted-root-symlink"].startswith(
        "you kept 'h', a hard link to 'a/root/HOST/sentinel/secret', which must be refused")


def test_a_filter_that_follows_symlinks_on_the_host_refuses_an_honest_image():
    why = {o.case: o.why for o in run_checks("02.member_filter", resolves_on_the_host).failures}
    assert why["benign: a small rootfs (dirs, setuid file, symlinks, hard links, fifo, lib -> /usr/lib)"] == (
        "you refused the honest member 'lib/libc.so.6' (refusing tar member 'lib/libc.so.6': outside)")
