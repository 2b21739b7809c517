"""minictr.tarball.extract: the malicious corpus, metadata, whiteout modes, sources."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import shutil
import tempfile
import threading
import traceback
from pathlib import Path

import pytest

from minictr import tarball, tarcorpus
from minictr.errors import InvalidImage, UnsafeLayerEntry

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root (mknod of a whiteout device, trusted.* xattrs, chown)")

CASE_NAMES = [c.name for c in tarcorpus.build("/placeholder/sentinel")]


def make_tar(entries, fmt=tarfile.PAX_FORMAT) -> bytes:
    return tarcorpus._tar(entries, fmt)


def extract_bytes(data: bytes, dest, **kw) -> tarball.Stats:
    return tarball.extract(io.BytesIO(data), dest, **kw)


# --------------------------------------------------------------------------
# The corpus: nothing outside dest, ever.
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", CASE_NAMES)
def test_corpus_case(name, tmp_path):
    work = tmp_path / "work"
    dest, sentinel = tarcorpus.prepare(work)
    case = next(c for c in tarcorpus.build(sentinel) if c.name == name)
    secret = sentinel / "secret"
    before = (sorted(os.listdir(work)), sorted(os.listdir(sentinel)), os.lstat(sentinel), os.lstat(secret))

    if case.expect == "refuse":
        with pytest.raises(UnsafeLayerEntry) as info:
            extract_bytes(case.data, dest, whiteouts=case.whiteouts)
        msg = str(info.value)
        assert msg.startswith("refusing tar member ") and "\n" not in msg
        assert info.value.member in msg
    else:
        extract_bytes(case.data, dest, whiteouts=case.whiteouts)
        for p in case.inside:
            assert os.path.lexists(dest / p), f"{p} should have landed inside dest"
        for p in case.absent:
            assert not os.path.lexists(dest / p), f"{p} should not exist"

    after = (sorted(os.listdir(work)), sorted(os.listdir(sentinel)), os.lstat(sentinel), os.lstat(secret))
    assert after == before
    assert secret.read_bytes() == tarcorpus.SENTINEL_SECRET


def test_evaluate_reports_every_case_ok(tmp_path):
    results = tarcorpus.evaluate(tarball.extract, tmp_path / "work")
    assert [r.case.name for r in results] == CASE_NAMES
    bad = [(r.case.name, r.outcome, r.detail) for r in results if not r.ok]
    assert bad == []


def _naive_extract(fileobj, dest, **_):
    """What not to do: trust every name. Used to prove the corpus catches escapes."""
    with tarfile.open(fileobj=fileobj, mode="r|*") as tf:
        for m in tf:
            path = os.path.join(dest, m.name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if m.isdir():
                os.makedirs(path, exist_ok=True)
                os.chmod(path, m.mode)
            elif m.isreg():
                with open(path, "wb") as f:
                    f.write(tf.extractfile(m).read())
            elif m.issym():
                os.symlink(m.linkname, path)
            elif m.islnk():
                os.link(os.path.join(dest, m.linkname), path)


def test_evaluate_catches_a_naive_extractor(tmp_path):
    results = {r.case.name: r for r in tarcorpus.evaluate(_naive_extract, tmp_path / "work",
                                                           select=lambda c: c.whiteouts == "keep")}
    for name in ("dotdot-name", "absolute-name", "symlink-absolute-write-through",
                 "symlink-relative-write-through", "hardlink-then-write", "hardlink-through-symlink"):
        assert results[name].outcome == "escaped", name
        assert not results[name].safe and not results[name].ok
    assert results["dotdot-harmless"].ok


def test_corpus_cases_are_documented():
    for c in tarcorpus.build("/x/sentinel"):
        assert c.expect in ("refuse", "contain", "skip")
        assert c.why and c.why[0].islower() or c.why[0] in "'."
        assert c.whiteouts in tarball.WHITEOUT_MODES
        with tarfile.open(fileobj=io.BytesIO(c.data)) as tf:
            assert tf.getmembers(), c.name


# --------------------------------------------------------------------------
# Metadata kept.
# --------------------------------------------------------------------------

def test_modes_setuid_setgid_sticky_kept(tmp_path):
    data = make_tar([("dir", "tmp/", 0o1777), ("dir", "shared/", 0o2775),
                     ("file", "bin/su", b"#!x\n", 0o4755), ("file", "bin/wall", b"w", 0o2755),
                     ("file", "secret", b"s", 0o600)])
    extract_bytes(data, tmp_path / "r")

    def mode(p):
        return stat.S_IMODE(os.lstat(tmp_path / "r" / p).st_mode)

    assert mode("tmp") == 0o1777
    assert mode("shared") == 0o2775
    assert mode("bin/su") == 0o4755
    assert mode("bin/wall") == 0o2755
    assert mode("secret") == 0o600
    assert mode("bin") == 0o755  # made implicitly for bin/su


@needs_root
def test_owner_kept(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, kind, uid, gid in (("d", tarfile.DIRTYPE, 33, 34), ("d/f", tarfile.REGTYPE, 1000, 100),
                                     ("l", tarfile.SYMTYPE, 7, 8)):
            ti = tarfile.TarInfo(name)
            ti.type, ti.uid, ti.gid, ti.mode = kind, uid, gid, 0o4755
            if kind == tarfile.SYMTYPE:
                ti.linkname = "/d/f"
            tf.addfile(ti, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    extract_bytes(buf.getvalue(), tmp_path / "r")
    r = tmp_path / "r"
    assert (os.lstat(r / "d").st_uid, os.lstat(r / "d").st_gid) == (33, 34)
    assert (os.lstat(r / "d/f").st_uid, os.lstat(r / "d/f").st_gid) == (1000, 100)
    assert stat.S_IMODE(os.lstat(r / "d/f").st_mode) == 0o4755  # chown did not clear setuid
    assert (os.lstat(r / "l").st_uid, os.lstat(r / "l").st_gid) == (7, 8)


def test_mtimes_kept(tmp_path):
    data = make_tar([("dir", "d/"), ("file", "d/f", b"x"), ("sym", "d/l", "f")])
    extract_bytes(data, tmp_path / "r")
    for p in ("d", "d/f", "d/l"):
        assert os.lstat(tmp_path / "r" / p).st_mtime == 1_700_000_000, p


def test_absolute_symlink_inside_kept_verbatim(tmp_path):
    data = make_tar([("dir", "usr/bin/"), ("file", "usr/bin/sh", b"sh"), ("sym", "bin", "/usr/bin"),
                     ("sym", "rel", "usr/bin/sh")])
    extract_bytes(data, tmp_path / "r")
    assert os.readlink(tmp_path / "r/bin") == "/usr/bin"
    assert os.readlink(tmp_path / "r/rel") == "usr/bin/sh"


def test_write_through_absolute_symlink_lands_inside(tmp_path):
    data = make_tar([("dir", "usr/bin/"), ("sym", "bin", "/usr/bin"), ("file", "bin/ls", b"ls")])
    extract_bytes(data, tmp_path / "r")
    assert (tmp_path / "r/usr/bin/ls").read_bytes() == b"ls"
    assert os.readlink(tmp_path / "r/bin") == "/usr/bin"


@pytest.fixture
def nobody_dir():
    """A directory that uid 65534 can reach and write (pytest's tmp_path is 0700 root)."""
    top = tempfile.mkdtemp(prefix="minictr-test-")
    os.chmod(top, 0o711)
    dest = os.path.join(top, "r")
    os.mkdir(dest)
    os.chown(dest, 65534, 65534)
    try:
        yield Path(dest)
    finally:
        shutil.rmtree(top)


def _extract_as_nobody(data: bytes, dest) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            extract_bytes(data, dest)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_readonly_dir_gets_its_files_then_its_mode(tmp_path, request):
    data = make_tar([("dir", "ro/", 0o555), ("file", "ro/f", b"data"), ("dir", "ro/sub/", 0o500),
                     ("file", "ro/sub/g", b"g")])
    if ROOT:
        # root ignores permissions: extract as an ordinary user, so a 0555 dir would really block.
        dest = request.getfixturevalue("nobody_dir")
        assert _extract_as_nobody(data, dest) == 0
    else:
        dest = tmp_path / "r"
        extract_bytes(data, dest)
    assert (dest / "ro/f").read_bytes() == b"data"
    assert (dest / "ro/sub/g").read_bytes() == b"g"
    assert stat.S_IMODE(os.lstat(dest / "ro").st_mode) == 0o555
    assert stat.S_IMODE(os.lstat(dest / "ro/sub").st_mode) == 0o500
    if not ROOT:
        os.chmod(dest / "ro/sub", 0o700)
        os.chmod(dest / "ro", 0o700)  # let tmp_path cleanup remove it


def test_hardlink_inside_shares_the_inode(tmp_path):
    data = make_tar([("file", "bin/busybox", b"bb", 0o755), ("link", "bin/sh", "bin/busybox"),
                     ("link", "/bin/ls", "/bin/busybox")])
    st = extract_bytes(data, tmp_path / "r")
    a, b, c = (os.lstat(tmp_path / "r/bin" / n) for n in ("busybox", "sh", "ls"))
    assert a.st_ino == b.st_ino == c.st_ino and a.st_nlink == 3
    assert st.hardlinks == 2 and st.files == 1


def test_file_over_hardlink_does_not_change_the_other_name(tmp_path):
    data = make_tar([("file", "a", b"original"), ("link", "b", "a"), ("file", "b", b"new")])
    extract_bytes(data, tmp_path / "r")
    assert (tmp_path / "r/a").read_bytes() == b"original"
    assert (tmp_path / "r/b").read_bytes() == b"new"


def test_devices_skipped_fifo_made(tmp_path):
    data = make_tar([("dir", "dev/"), ("chr", "dev/null", 1, 3), ("blk", "dev/sda", 8, 0), ("fifo", "p")])
    st = extract_bytes(data, tmp_path / "r")
    assert st.skipped == 2 and st.skipped_names == ["dev/null", "dev/sda"]
    assert os.listdir(tmp_path / "r/dev") == []
    assert stat.S_ISFIFO(os.lstat(tmp_path / "r/p").st_mode)


def test_pax_xattrs_kept(tmp_path):
    data = make_tar([("pax", "f", {"SCHILY.xattr.user.minictr": "lesson02"}, b"x")])
    extract_bytes(data, tmp_path / "r")
    assert os.getxattr(tmp_path / "r/f", "user.minictr") == b"lesson02"


def test_stats_count(tmp_path):
    data = make_tar([("dir", "d/"), ("file", "d/f", b"12345"), ("sym", "s", "d"), ("link", "h", "d/f"),
                     ("fifo", "p"), ("chr", "c", 1, 3)])
    st = extract_bytes(data, tmp_path / "r")
    assert (st.members, st.dirs, st.files, st.symlinks, st.hardlinks, st.fifos, st.skipped, st.bytes) == \
        (6, 1, 1, 1, 1, 1, 1, 5)


def test_directory_replaces_symlink_and_file(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o755)
    before = os.lstat(outside)
    data = make_tar([("sym", "a", str(outside)), ("file", "b", b"x"), ("dir", "a/", 0o700), ("dir", "b/")])
    extract_bytes(data, tmp_path / "r")
    assert stat.S_ISDIR(os.lstat(tmp_path / "r/a").st_mode)
    assert stat.S_ISDIR(os.lstat(tmp_path / "r/b").st_mode)
    assert os.lstat(outside) == before  # the symlink's target was not chmod-ed


def test_file_replaces_directory(tmp_path):
    data = make_tar([("dir", "d/"), ("file", "d/f", b"x"), ("file", "d", b"now a file")])
    extract_bytes(data, tmp_path / "r")
    assert (tmp_path / "r/d").read_bytes() == b"now a file"


def test_root_dir_entry_sets_dest_mode(tmp_path):
    data = make_tar([("dir", "./", 0o751), ("file", "./etc/hostname", b"h")])
    extract_bytes(data, tmp_path / "r")
    assert stat.S_IMODE(os.lstat(tmp_path / "r").st_mode) == 0o751
    assert (tmp_path / "r/etc/hostname").read_bytes() == b"h"


# --------------------------------------------------------------------------
# Whiteouts.
# --------------------------------------------------------------------------

WHITEOUT_LAYER = [("dir", "d/"), ("file", "d/new", b"new"), ("file", "d/.wh..wh..opq", b""),
                  ("file", "d/sub/new2", b"new2"), ("file", ".wh.gone", b""), ("file", ".wh.gonedir", b"")]


def test_whiteouts_keep_are_plain_files(tmp_path):
    st = extract_bytes(make_tar(WHITEOUT_LAYER), tmp_path / "r")
    assert (tmp_path / "r/.wh.gone").is_file()
    assert (tmp_path / "r/d/.wh..wh..opq").is_file()
    assert st.whiteouts == 0


@needs_root
def test_whiteouts_overlay_make_char_devices_and_opaque_xattr(tmp_path):
    st = extract_bytes(make_tar(WHITEOUT_LAYER), tmp_path / "r", whiteouts="overlay")
    r = tmp_path / "r"
    for name in ("gone", "gonedir"):
        s = os.lstat(r / name)
        assert stat.S_ISCHR(s.st_mode) and os.major(s.st_rdev) == 0 and os.minor(s.st_rdev) == 0
    assert os.getxattr(r / "d", "trusted.overlay.opaque") == b"y"
    assert not os.path.lexists(r / ".wh.gone")
    assert not os.path.lexists(r / "d/.wh..wh..opq")
    assert (r / "d/new").read_bytes() == b"new"
    assert st.whiteouts == 3


def test_whiteouts_apply_delete_and_opaque(tmp_path):
    r = tmp_path / "r"
    lower = make_tar([("file", "gone", b"lower"), ("dir", "gonedir/"), ("file", "gonedir/x", b"x"),
                      ("file", "keep", b"keep"), ("dir", "d/"), ("file", "d/old", b"old"),
                      ("file", "d/new", b"lower version"), ("dir", "d/sub/"), ("file", "d/sub/old2", b"o"),
                      ("dir", "other/"), ("file", "other/stays", b"s")])
    extract_bytes(lower, r)
    st = extract_bytes(make_tar(WHITEOUT_LAYER), r, whiteouts="apply")
    assert not os.path.lexists(r / "gone")
    assert not os.path.lexists(r / "gonedir")
    assert (r / "keep").read_bytes() == b"keep"
    assert sorted(os.listdir(r / "d")) == ["new", "sub"]   # d/old came from below: gone
    assert (r / "d/new").read_bytes() == b"new"             # this layer's entry survived the marker
    assert os.listdir(r / "d/sub") == ["new2"]              # below the opaque dir, lower entries go too
    assert (r / "other/stays").read_bytes() == b"s"
    assert not any(n.startswith(".wh.") for _, ds, fs in os.walk(r) for n in ds + fs)
    assert st.whiteouts == 3


def test_whiteouts_apply_marker_first(tmp_path):
    r = tmp_path / "r"
    extract_bytes(make_tar([("dir", "d/"), ("file", "d/old", b"o")]), r)
    extract_bytes(make_tar([("file", "d/.wh..wh..opq", b""), ("file", "d/new", b"n")]), r, whiteouts="apply")
    assert os.listdir(r / "d") == ["new"]


def test_whiteouts_apply_missing_target_is_fine(tmp_path):
    st = extract_bytes(make_tar([("file", "a/.wh.nothing", b"")]), tmp_path / "r", whiteouts="apply")
    assert st.whiteouts == 1


def test_whiteout_mode_checked(tmp_path):
    with pytest.raises(ValueError, match="whiteouts"):
        extract_bytes(make_tar([]), tmp_path / "r", whiteouts="merge")


# --------------------------------------------------------------------------
# Sources: path, gzip, file object, pipe; progress; broken input.
# --------------------------------------------------------------------------

SIMPLE = [("dir", "etc/"), ("file", "etc/os-release", b"ID=minictr\n" * 1000)]


def test_gzip_path_sniffed_whatever_its_name(tmp_path):
    p = tmp_path / "layer.bin"
    p.write_bytes(gzip.compress(make_tar(SIMPLE)))
    st = tarball.extract(p, tmp_path / "r")
    assert (tmp_path / "r/etc/os-release").read_bytes() == b"ID=minictr\n" * 1000
    assert st.bytes == 11000


def test_plain_path_and_progress(tmp_path):
    p = tmp_path / "rootfs.tar"
    p.write_bytes(make_tar(SIMPLE))
    calls = []
    tarball.extract(str(p), tmp_path / "r", progress=lambda done, total: calls.append((done, total)))
    assert calls, "progress was never called"
    assert all(t == p.stat().st_size for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert calls[-1][0] == p.stat().st_size


def test_file_object_gzip_source(tmp_path):
    st = tarball.extract(io.BytesIO(gzip.compress(make_tar(SIMPLE))), tmp_path / "r")
    assert st.files == 1 and (tmp_path / "r/etc").is_dir()


def test_pipe_source_has_unknown_total(tmp_path):
    data = gzip.compress(make_tar(SIMPLE))
    rfd, wfd = os.pipe()

    def feed():
        with os.fdopen(wfd, "wb") as w:
            w.write(data)

    t = threading.Thread(target=feed)
    t.start()
    totals = set()
    with os.fdopen(rfd, "rb") as r:
        tarball.extract(r, tmp_path / "r", progress=lambda d, total: totals.add(total))
    t.join()
    assert totals == {None}
    assert (tmp_path / "r/etc/os-release").exists()


def test_garbage_is_invalid_image(tmp_path):
    with pytest.raises(InvalidImage, match="cannot read tarball"):
        extract_bytes(b"this is not a tar archive at all" * 40, tmp_path / "r")


def test_truncated_is_invalid_image(tmp_path):
    data = make_tar(SIMPLE)
    with pytest.raises(InvalidImage, match="cannot read tarball"):
        extract_bytes(data[:1500], tmp_path / "r")


def test_zstd_is_refused_with_a_hint(tmp_path):
    with pytest.raises(InvalidImage, match="zstd") as info:
        extract_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 600, tmp_path / "r")
    assert "zstd -d" in str(info.value)


def test_missing_path(tmp_path):
    with pytest.raises(InvalidImage, match="does not exist"):
        tarball.extract(tmp_path / "nope.tar", tmp_path / "r")


def test_path_fast_path_and_stream_give_the_same_tree(tmp_path):
    """A plain tar file goes through copy_file_range, a file object through tarfile's stream mode."""
    data = make_tar([("dir", "d/", 0o750), ("file", "d/big", os.urandom(700_000), 0o640),
                     ("file", "d/empty", b""), ("sym", "d/l", "big"), ("link", "d/h", "d/big"),
                     ("file", "z", b"last")])
    p = tmp_path / "a.tar"
    p.write_bytes(data)
    tarball.extract(p, tmp_path / "fast")
    tarball.extract(io.BytesIO(data), tmp_path / "stream")
    for rel in ("d", "d/big", "d/empty", "d/l", "d/h", "z"):
        a, b = os.lstat(tmp_path / "fast" / rel), os.lstat(tmp_path / "stream" / rel)
        assert (a.st_mode, a.st_size, a.st_mtime, a.st_nlink) == (b.st_mode, b.st_size, b.st_mtime, b.st_nlink), rel
    assert (tmp_path / "fast/d/big").read_bytes() == (tmp_path / "stream/d/big").read_bytes()


def test_fast_path_starts_at_the_file_position(tmp_path):
    """A caller may hand us an open file positioned after some header of its own."""
    p = tmp_path / "wrapped"
    p.write_bytes(b"H" * 1024 + make_tar(SIMPLE))
    with open(p, "rb") as f:
        f.seek(1024)
        tarball.extract(f, tmp_path / "r")
        assert f.tell() == p.stat().st_size
    assert (tmp_path / "r/etc/os-release").read_bytes() == b"ID=minictr\n" * 1000


def test_truncated_file_on_the_fast_path_is_invalid_image(tmp_path):
    p = tmp_path / "cut.tar"
    p.write_bytes(make_tar(SIMPLE)[:3000])
    with pytest.raises(InvalidImage, match="cannot read tarball"):
        tarball.extract(p, tmp_path / "r")


def test_file_object_progress_has_unknown_total(tmp_path):
    totals = []
    tarball.extract(io.BytesIO(make_tar(SIMPLE)), tmp_path / "r", progress=lambda d, t: totals.append((d, t)))
    assert totals and all(t is None for _, t in totals)
    assert totals[-1][0] == len(make_tar(SIMPLE))


def test_hardlink_to_a_skipped_device_is_skipped_too(tmp_path):
    data = make_tar([("dir", "dev/"), ("chr", "dev/null", 1, 3), ("link", "dev/null2", "dev/null")])
    st = extract_bytes(data, tmp_path / "r")
    assert st.skipped == 2 and st.hardlinks == 0
    assert os.listdir(tmp_path / "r/dev") == []


def test_os_errors_become_one_line_naming_the_member(tmp_path):
    from minictr.errors import SyscallError

    long = "x" * 300  # NAME_MAX is 255
    with pytest.raises(SyscallError) as info:
        extract_bytes(make_tar([("file", f"d/{long}", b"x")]), tmp_path / "r")
    msg = str(info.value)
    assert msg.startswith("extract tar member 'd/xxx") and "File name too long" in msg
    assert "\n" not in msg
