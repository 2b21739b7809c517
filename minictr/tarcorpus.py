"""A corpus of malicious and tricky tarballs, built in memory, for any extractor.

Lesson 02 asks you to write a safe extractor (or a tar member filter). How do
you know it is safe? Throw every known trick at it and look whether anything
appeared or changed outside the destination. This module does both::

    from minictr import tarcorpus, tarball
    results = tarcorpus.evaluate(tarball.extract, "/tmp/corpus-work")
    for r in results:
        print(r.case.name, r.outcome, "ok" if r.ok else "WRONG", r.detail)

The layout ``evaluate`` uses, under ``workdir``::

    workdir/root/        dest: each tarball is unpacked here (made fresh per case)
    workdir/sentinel/    "the host": a file ``secret``; it must never change

Every malicious target in the corpus points at the sentinel (by ``../sentinel``,
by its absolute path, or by a long run of ``../``), never at a real system
file, so even a broken extractor can only damage the sentinel, not your
machine.

Each ``Case`` says what ``minictr.tarball.extract`` does with it:

- ``"refuse"``: raise ``UnsafeLayerEntry``; nothing of the tarball is trusted;
- ``"contain"``: unpack it, every path redirected to stay inside ``dest`` (an
  absolute name or a symlink's target is taken as if ``dest`` were ``/``);
- ``"skip"``: unpack it, but leave out the members that must not exist in an
  image (device nodes).

``inside`` lists paths that must then exist under ``dest`` and ``absent`` paths
that must not. ``why`` is one sentence for a learner.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

SENTINEL_SECRET = b"the host's secret\n"


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    expect: str               # "refuse" | "contain" | "skip"
    why: str
    whiteouts: str = "keep"   # the extract() mode the case is meant for
    inside: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()


@dataclass(frozen=True)
class Result:
    case: Case
    outcome: str     # "refused" | "contained" | "escaped" | "missing" | "error"
    safe: bool       # nothing outside dest changed
    ok: bool         # the outcome is the expected one (and safe)
    detail: str


# --------------------------------------------------------------------------
# Building tarballs in memory.
# --------------------------------------------------------------------------

def _tar(entries: Iterable[tuple], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """Entries are tuples: ("file", name, data[, mode]), ("dir", name[, mode]),
    ("sym", name, target), ("link", name, target), ("chr"|"blk", name, major, minor),
    ("fifo", name), ("pax", name, {pax headers}, data)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for e in entries:
            kind, name = e[0], e[1]
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_700_000_000
            data = None
            if kind == "file":
                data = e[2]
                ti.size = len(data)
                ti.mode = e[3] if len(e) > 3 else 0o644
            elif kind == "pax":
                ti.pax_headers = dict(e[2])
                data = e[3]
                ti.size = len(data)
                ti.mode = 0o644
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = e[2] if len(e) > 2 else 0o755
            elif kind == "sym":
                ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, e[2], 0o777
            elif kind == "link":
                ti.type, ti.linkname, ti.mode = tarfile.LNKTYPE, e[2], 0o644
            elif kind in ("chr", "blk"):
                ti.type = tarfile.CHRTYPE if kind == "chr" else tarfile.BLKTYPE
                ti.devmajor, ti.devminor, ti.mode = e[2], e[3], 0o600
            elif kind == "fifo":
                ti.type, ti.mode = tarfile.FIFOTYPE, 0o644
            else:
                raise ValueError(f"unknown entry kind {kind!r}")
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def build(sentinel: str | os.PathLike) -> list[Case]:
    """All the cases. ``sentinel`` is the absolute path of the directory beside dest
    (its name is used for the ``../NAME`` escapes)."""
    S = os.path.abspath(os.fspath(sentinel))
    s = os.path.basename(S)
    Srel = S.lstrip("/")  # where an absolute path lands once it is contained
    up = "../" * 40        # more than enough to reach / from any dest
    pw = b"pwned\n"
    C = Case
    return [
        # ---- names ------------------------------------------------------------
        C("dotdot-name", _tar([("file", f"../{s}/pwned", pw)]), "refuse",
          "a member name that climbs out of the root with '..'"),
        C("dotdot-in-the-middle", _tar([("file", f"a/../../{s}/pwned", pw)]), "refuse",
          "'..' hidden in the middle of the name still climbs out"),
        C("dotdot-deep", _tar([("file", f"{up}{Srel}/pwned", pw)]), "refuse",
          "many '..' reach the host's / from any depth"),
        C("dotdot-harmless", _tar([("file", "a/../b", b"b\n")]), "contain",
          "'a/../b' never leaves the root: it is just 'b'", inside=("b",)),
        C("absolute-name", _tar([("file", f"{S}/pwned", pw)]), "contain",
          "an absolute name is taken relative to the root (GNU tar strips the '/')",
          inside=(f"{Srel}/pwned",)),
        C("pax-path-header", _tar([("pax", "harmless", {"path": f"../{s}/pwned"}, pw)]), "refuse",
          "the real name can hide in a pax 'path' header, not in the ustar name field"),
        C("gnu-longname", _tar([("file", "a/" * 60 + "../" * 61 + f"{s}/pwned", pw)], tarfile.GNU_FORMAT),
          "refuse", "a GNU long name (././@LongLink) can carry '..' too"),
        C("file-named-root", _tar([("file", ".", pw)]), "refuse",
          "a file cannot replace the root directory itself"),
        # ---- symlinks -----------------------------------------------------------
        C("symlink-absolute-write-through", _tar([("sym", "evil", S), ("file", "evil/pwned", pw)]), "contain",
          "a symlink to an absolute path, then a file under it: inside the container '/' is the root",
          inside=("evil", f"{Srel}/pwned")),
        C("symlink-relative-write-through", _tar([("sym", "evil", f"../{s}"), ("file", "evil/pwned", pw)]),
          "contain", "'..' in a symlink target stops at the root, like '/..'",
          inside=(f"{s}/pwned",)),
        C("symlink-deep-up", _tar([("dir", "a/"), ("dir", "a/b/"), ("sym", "a/b/up", up.rstrip("/")),
                                   ("file", f"a/b/up/{Srel}/pwned", pw)]), "contain",
          "a symlink deep in the tree that climbs many levels still stops at the root",
          inside=(f"{Srel}/pwned",)),
        C("symlink-chain", _tar([("sym", "one", "two"), ("sym", "two", f"../{s}"), ("file", "one/pwned", pw)]),
          "contain", "a chain of symlinks is followed link by link, each kept inside",
          inside=(f"{s}/pwned",)),
        C("symlink-loop", _tar([("sym", "a", "b"), ("sym", "b", "a"), ("file", "a/pwned", pw)]), "refuse",
          "two symlinks pointing at each other never resolve (ELOOP)"),
        C("symlink-self-loop", _tar([("sym", "loop", "loop"), ("file", "loop/pwned", pw)]), "refuse",
          "a symlink to itself never resolves"),
        C("symlink-chain-too-long",
          _tar([("sym", f"l{i}", f"l{i + 1}") for i in range(45)] + [("sym", "l45", f"../{s}"),
                                                                      ("file", "l0/pwned", pw)]),
          "refuse", "more than 40 symlinks in one path: the kernel gives up too"),
        C("symlink-final-component", _tar([("sym", "f", f"../{s}/secret"), ("file", "f", pw)]), "contain",
          "a file written where a symlink is replaces the symlink; it never writes through it",
          inside=("f",)),
        C("dir-replaced-by-symlink", _tar([("dir", "d/"), ("sym", "d", S), ("file", "d/pwned", pw)]),
          "contain", "a directory turned into a symlink, then written under: still resolved inside",
          inside=(f"{Srel}/pwned",)),
        C("symlink-then-dir-chmod", _tar([("sym", "d", f"../{s}"), ("dir", "d/", 0o777)]), "contain",
          "a directory entry over a symlink must not chmod the symlink's target",
          inside=("d",)),
        # ---- hardlinks ----------------------------------------------------------
        C("hardlink-dotdot", _tar([("link", "h", f"../{s}/secret")]), "refuse",
          "a hardlink to a host file would let the container read and write it"),
        C("hardlink-absolute", _tar([("link", "h", f"{S}/secret")]), "refuse",
          "an absolute link target is taken inside the root too, where no earlier member is"),
        C("hardlink-through-symlink", _tar([("sym", "evil", S), ("link", "h", "evil/secret")]), "refuse",
          "link(2) would follow the symlink on the host: the target would be the host's file"),
        C("hardlink-through-relative-symlink", _tar([("sym", "evil", f"../{s}"), ("link", "h", "evil/secret")]),
          "refuse", "same, with a relative symlink that climbs out"),
        C("hardlink-through-planted-root-symlink",
          _tar([("dir", "a/"), ("sym", "a/root", "/"), ("link", "h", f"a/root/{Srel}/secret")]), "refuse",
          "an earlier member planted 'a/root -> /': on the host, link(2) follows it to the host's /"),
        C("hardlink-through-planted-chain",
          _tar([("sym", "one", "two"), ("sym", "two", f"../{s}"), ("link", "h", "one/secret")]), "refuse",
          "two planted symlinks, one -> two -> ../sentinel: the link's target is the host's file"),
        C("hardlink-then-write", _tar([("link", "h", f"../{s}/secret"), ("file", "h", pw)]), "refuse",
          "link a host file in, then overwrite it through the link"),
        C("hardlink-dotdot-after-missing",
          _tar([("sym", "evil", S), ("sym", "l", "nothere/../evil"), ("link", "h", "l/secret")]), "refuse",
          "'..' after a missing directory returns to real ones: the symlinks there count too"),
        C("hardlink-to-dir", _tar([("dir", "d/"), ("link", "h", "d")]), "refuse",
          "hardlinks to directories do not exist on Linux"),
        C("hardlink-inside", _tar([("file", "a", b"a\n"), ("link", "b", "a")]), "contain",
          "an ordinary hardlink between two members", inside=("a", "b")),
        # ---- special files -----------------------------------------------------
        C("device-nodes", _tar([("dir", "dev/"), ("chr", "dev/mem", 1, 1), ("blk", "dev/sda", 8, 0)]), "skip",
          "device nodes would open the host's memory and disks: left out; /dev is made at run time",
          inside=("dev",), absent=("dev/mem", "dev/sda")),
        C("fifo", _tar([("fifo", "run/fifo")]), "contain", "a named pipe is harmless", inside=("run/fifo",)),
        # ---- whiteouts (image layers) ------------------------------------------
        C("whiteout-dotdot", _tar([("file", f"../.wh.{s}", b"")]), "refuse",
          "a whiteout outside the root would delete a host file", whiteouts="apply"),
        C("whiteout-through-symlink", _tar([("sym", "evil", S), ("file", "evil/.wh.secret", b"")]), "refuse",
          "a whiteout through a symlink would delete the host's file", whiteouts="apply"),
        C("whiteout-names-dotdot", _tar([("dir", "a/"), ("file", "a/.wh...", b"")]), "refuse",
          "'.wh...' would delete '..', the parent directory", whiteouts="apply"),
        C("whiteout-overlay-through-symlink", _tar([("sym", "evil", f"../{s}"), ("file", "evil/.wh.secret", b"")]),
          "refuse", "an overlay whiteout through a symlink would replace the host's file by a device",
          whiteouts="overlay"),
        C("whiteout-dotdot-after-missing",
          _tar([("sym", "evil", S), ("sym", "l", "nothere/../evil"), ("file", "l/.wh.secret", b"")]), "refuse",
          "a whiteout through '..' after a missing directory, then a symlink out", whiteouts="apply"),
        C("opaque-through-symlink", _tar([("sym", "evil", S), ("file", "evil/.wh..wh..opq", b"")]), "refuse",
          "an opaque marker through a symlink would empty the host's directory", whiteouts="apply"),
    ]


# --------------------------------------------------------------------------
# Running an extractor against the corpus.
# --------------------------------------------------------------------------

def _snapshot(top: Path, skip: Path) -> dict[str, tuple]:
    """Everything under ``top`` except ``skip``: kind, mode, owner, size, links, mtime, content."""
    snap: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        dp = Path(dirpath)
        if dp == top:
            dirnames[:] = [d for d in dirnames if dp / d != skip]
        snap[str(dp.relative_to(top))] = _info(dp)
        for n in filenames + [d for d in dirnames if (dp / d).is_symlink()]:
            snap[str((dp / n).relative_to(top))] = _info(dp / n)
    return snap


def _info(p: Path) -> tuple:
    st = os.lstat(p)
    extra: object = None
    if stat.S_ISREG(st.st_mode):
        extra = hashlib.sha256(p.read_bytes()).hexdigest()
    elif stat.S_ISLNK(st.st_mode):
        extra = os.readlink(p)
    return (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_size,
            st.st_nlink, st.st_mtime_ns, extra)


def prepare(workdir: str | os.PathLike) -> tuple[Path, Path]:
    """Make ``workdir/root`` (empty) and ``workdir/sentinel`` (with its secret). Returns both."""
    work = Path(workdir).absolute()
    dest, sentinel = work / "root", work / "sentinel"
    if dest.exists() or dest.is_symlink():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if not (sentinel / "secret").exists():
        sentinel.mkdir(parents=True, exist_ok=True)
        (sentinel / "secret").write_bytes(SENTINEL_SECRET)
    return dest, sentinel


def evaluate(extract: Callable, workdir: str | os.PathLike, *,
             select: Callable[[Case], bool] | None = None,
             refusals: tuple[type[BaseException], ...] | None = None) -> list[Result]:
    """Run ``extract(fileobj, dest, [whiteouts=...])`` on every case; report each.

    ``whiteouts=`` is passed only for cases that need a whiteout mode, so a
    learner's ``extract(fileobj, dest)`` works for the others (use
    ``select=lambda c: c.whiteouts == "keep"``). ``refusals`` are the exception
    types that count as a refusal (default: ``UnsafeLayerEntry``); any other
    exception is an "error". ``workdir`` is left behind; remove it yourself.
    """
    if refusals is None:
        from .errors import UnsafeLayerEntry
        refusals = (UnsafeLayerEntry,)
    work = Path(workdir).absolute()
    dest, sentinel = prepare(work)
    results = []
    for case in build(sentinel):
        if select is not None and not select(case):
            continue
        dest, _ = prepare(work)
        before = _snapshot(work, dest)
        kwargs = {} if case.whiteouts == "keep" else {"whiteouts": case.whiteouts}
        outcome, detail = "contained", ""
        try:
            extract(io.BytesIO(case.data), str(dest), **kwargs)
        except refusals as e:
            outcome, detail = "refused", str(e)
        except Exception as e:  # a learner's extractor may fail in any way: report it
            outcome, detail = "error", f"{type(e).__name__}: {e}"
        after = _snapshot(work, dest)
        safe = before == after
        if not safe:
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            outcome, detail = "escaped", "changed outside dest: " + ", ".join(changed)
        elif outcome == "contained":
            missing = [p for p in case.inside if not os.path.lexists(dest / p)]
            present = [p for p in case.absent if os.path.lexists(dest / p)]
            if missing or present:
                outcome = "missing"
                detail = f"missing inside: {missing}; should not exist: {present}"
        want = "refused" if case.expect == "refuse" else "contained"
        results.append(Result(case, outcome, safe, safe and outcome == want, detail))
    return results
