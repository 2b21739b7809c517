"""Lesson 02 (an image is just a tarball): the tar member filter exercise.

Exercise ``02.member_filter``: ``def member_filter(member, dest) -> bool``
decides about one tar member before minictr's extractor writes it into
``dest`` (which holds the members kept so far). The filter only *decides*; it
never writes, and it never redirects a path: the extractor does that.

- **keep** (return True): the extractor writes the member. Where it lands is
  the extractor's job: it takes an absolute name, and every symlink on the way,
  as if ``dest`` were ``/`` ("contain": ``/etc/passwd`` lands in
  ``dest/etc/passwd``, ``evil -> /etc`` then ``evil/x`` lands in ``dest/etc/x``).
- **skip** (return False): the member is left out and the rest unpacked. Only
  device nodes (``ischr()``/``isblk()``): /dev is made fresh at run time.
- **refuse** (raise ``minictr.errors.UnsafeLayerEntry(member.name, why)``): the
  whole tarball is rejected. For a name whose ``..`` climbs above the root, a
  symlink loop (more than 40 symlinks on one path), a non-directory named
  ``.``, and every hard link whose target is not an earlier member reached
  through real directories: link(2) runs on the host and follows symlinks
  *there*, so a target with ``..`` above the root, or through a symlink (even
  one the tarball planted a few members earlier), or missing, or a directory,
  is refused.

The check hands it every member of the malicious tarballs of
``minictr.tarcorpus`` and of two honest ones, in order, with ``dest`` holding
what the extractor made of the members kept so far. The reference is the
runtime's own security core, ``minictr.tarball.resolve.member_filter``: the
resolver that every extraction goes through, answering the learner's question.

Man pages: tar(5), path_resolution(7), symlink(7), link(2).
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from typing import Any, Callable

from ..errors import UnsafeLayerEntry
from .kit import Case, CaseFailed, Exercise, exc_line, lazy, register, rmtree
from .lesson import Lesson

# needs_root: the lab starts containers (`minictr run busybox ...`), though the exercise does not
LESSON = Lesson("02", "An image is just a tarball", needs_root=True, tools=("dpkg-query",), privilege="either")


# -- the checks ----------------------------------------------------------------------

def _tar_bytes(entries: list[tuple[Any, bytes | None]]) -> bytes:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, payload in entries:
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return buf.getvalue()


def _benign_tarballs() -> list[tuple[str, bytes, str, str]]:
    """Honest tarballs: every member must be kept, and device nodes skipped."""
    import tarfile

    def info(name, kind=tarfile.REGTYPE, *, size=0, mode=0o644, link="", dev=(0, 0)):
        t = tarfile.TarInfo(name)
        t.type, t.size, t.mode, t.linkname = kind, size, mode, link
        t.devmajor, t.devminor = dev
        return t

    hello = b"hello\n"
    rootfs = _tar_bytes([
        (info("bin", tarfile.DIRTYPE, mode=0o755), None),
        (info("bin/busybox", size=len(hello), mode=0o755), hello),
        (info("bin/sh", tarfile.SYMTYPE, link="busybox"), None),
        (info("bin/ls", tarfile.SYMTYPE, link="/bin/busybox"), None),
        (info("bin/su", size=len(hello), mode=0o4755), hello),
        (info("etc", tarfile.DIRTYPE, mode=0o755), None),
        (info("etc/passwd", size=len(hello)), hello),
        (info("etc/passwd.hard", tarfile.LNKTYPE, link="etc/passwd"), None),
        (info("etc/mtab", tarfile.SYMTYPE, link="../proc/self/mounts"), None),
        (info("tmp", tarfile.DIRTYPE, mode=0o1777), None),
        (info("tmp/fifo", tarfile.FIFOTYPE), None),
        # usrmerge: directories that are symlinks, absolute and relative, written through.
        # On the host they point out of dest; in the image they are honest, and the
        # extractor resolves them inside. A filter must keep these members.
        (info("usr", tarfile.DIRTYPE, mode=0o755), None),
        (info("usr/lib", tarfile.DIRTYPE, mode=0o755), None),
        (info("lib", tarfile.SYMTYPE, link="/usr/lib"), None),
        (info("lib/libc.so.6", size=len(hello)), hello),
        (info("lib64", tarfile.SYMTYPE, link="usr/lib"), None),
        (info("lib64/ld-linux.so.2", size=len(hello)), hello),
        (info("usr/lib/libc.hard", tarfile.LNKTYPE, link="usr/lib/libc.so.6"), None),
    ])
    devices = _tar_bytes([
        (info("dev", tarfile.DIRTYPE, mode=0o755), None),
        (info("dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3)), None),
        (info("dev/sda", tarfile.BLKTYPE, mode=0o660, dev=(8, 0)), None),
        (info("dev/README", size=len(hello)), hello),
    ])
    return [
        ("benign: a small rootfs (dirs, setuid file, symlinks, hard links, fifo, lib -> /usr/lib)", rootfs,
         "keep", "an honest image: keep every member"),
        ("benign: device nodes are skipped", devices, "keep",
         "device nodes are skipped (False); /dev is made fresh at run time"),
    ]


def _member_cases() -> list[Case]:
    """One case per tarball of minictr.tarcorpus (the flat-rootfs ones), plus two honest ones.

    Each member is handed to the learner's filter in order, with ``dest``
    holding what minictr's safe extractor made of the members kept so far (so
    the filter can look at symlinks already there). Nothing the learner keeps
    is ever written by anything but ``minictr.tarball.extract``.

    - "refuse": the filter must raise UnsafeLayerEntry on some member;
    - "contain" and "skip": the extractor keeps it inside, so any member may be
      kept (device nodes skipped), and refusing is accepted too (strict, but
      safe); skipping anything else is not;
    - "keep" (the honest tarballs): every member kept, device nodes skipped.

    When the filter keeps a member the extractor refuses, the message names
    that member and the extractor's reason.
    """
    from .. import tarcorpus

    names = [c.name for c in tarcorpus.build("/nonexistent/sentinel") if c.whiteouts == "keep"]
    cases = [Case(f"corpus: {n}", _member_run(n)) for n in names]
    cases += [Case(name, _member_run(name, (data, expect, why))) for name, data, expect, why in _benign_tarballs()]
    return cases


def _member_run(corpus_name: str, given: tuple[bytes, str, str] | None = None) -> Callable[[Callable], None]:
    def run(fn):
        import tarfile

        from .. import tarcorpus

        work = tempfile.mkdtemp(prefix="minictr-ex02-")
        try:
            _dest, sentinel = tarcorpus.prepare(work)
            if given is None:
                case = next(c for c in tarcorpus.build(sentinel) if c.name == corpus_name)
                data, expect, why = case.data, case.expect, case.why
            else:
                data, expect, why = given

            def say(text: str) -> str:  # no temporary paths in what the notebook prints
                return (text.replace(work + "/root", "DEST").replace(work, "/HOST")
                        .replace(work.lstrip("/"), "HOST"))

            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                members = [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar.getmembers()]
            kept: list = []
            for m, payload in members:
                dest, _ = tarcorpus.prepare(work)  # a fresh dest, with the kept members extracted again
                if kept:
                    _extract_kept(kept, dest, why, say)
                try:
                    verdict = fn(_copy_info(m), str(dest))
                except UnsafeLayerEntry as e:
                    if expect == "keep":
                        raise CaseFailed(say(f"you refused the honest member {m.name!r} ({e.message})")) from None
                    return  # right for "refuse"; strict but safe for "contain"
                except (NotImplementedError, CaseFailed):
                    raise
                except Exception as e:
                    raise CaseFailed(say(f"your function raised {exc_line(e)} for {m.name!r}; raise "
                                         "minictr.errors.UnsafeLayerEntry to refuse a member")) from None
                if verdict is not True and verdict is not False:
                    raise CaseFailed(say(f"returned {verdict!r} for {m.name!r}: return True (keep) or False "
                                         "(skip), or raise UnsafeLayerEntry (refuse)"))
                device = m.ischr() or m.isblk()  # TarInfo.isdev() is true for a FIFO too
                if m.isfifo():
                    pass  # a FIFO is harmless: keeping or skipping it are both fine
                elif device and verdict:
                    raise CaseFailed(say(f"you kept the device node {m.name!r}: return False for device nodes, "
                                         "/dev is made fresh at run time"))
                elif not device and not verdict:
                    if expect == "refuse":
                        raise CaseFailed(say(f"you skipped {m.name!r}, but the whole tarball must be refused "
                                             f"(raise UnsafeLayerEntry): {why}"))
                    raise CaseFailed(say(f"you skipped {m.name!r}, a harmless {_kind(m)}: only device nodes "
                                         "are skipped"))
                if verdict:
                    kept.append((m, payload))
            if expect == "refuse":
                dest, _ = tarcorpus.prepare(work)
                _extract_kept(kept, dest, why, say)
                raise CaseFailed(say(f"you kept every member, but this tarball must be refused: {why}"))
        finally:
            rmtree(work)
    return run


def _extract_kept(kept: list, dest, why: str, say: Callable[[str], str]) -> None:
    """Extract what the filter kept so far, as minictr would; a refusal there is the learner's miss."""
    from .. import tarball

    try:
        tarball.extract(io.BytesIO(_tar_bytes(kept)), str(dest))
    except UnsafeLayerEntry as e:
        m = next((k for k, _ in kept if k.name == e.member), kept[-1][0])
        link = f", a hard link to {m.linkname!r}" if m.islnk() else ""
        reason = e.message.split(": ", 1)[-1]
        raise CaseFailed(say(f"you kept {m.name!r}{link}, which must be refused: {reason} ({why})")) from None


def _kind(m) -> str:
    return ("directory" if m.isdir() else "symlink" if m.issym() else "hard link" if m.islnk()
            else "fifo" if m.isfifo() else "device node" if m.isdev() else "file")


def _copy_info(m):
    import copy

    return copy.copy(m)


register(Exercise(
    id="02.member_filter", title="Write the tar member filter",
    function="member_filter", signature="def member_filter(member: tarfile.TarInfo, dest: str) -> bool",
    cases=_member_cases,
    reference=lambda: lazy("minictr.tarball.resolve", "member_filter"),
))


# The lesson's quizzes, out of the notebook's sight (minictr.labs.quizzes reads this table as data;
# the notebook shows one with Quiz.lab(id), its options shuffled).
QUIZZES = {
    "02.inside-an-image": {
        "question": "Which of these exist inside a container image? (choose all that apply, then press Check)",
        "right": {
            "application binaries": "The program the container runs is a file in the image.",
            "application dependencies (libraries, certificates ...)": "What the program loads comes with it.",
            "an operating system's userland (shell, libc, package manager)":
                "Many images carry a distribution's userland; minimal ones carry only the program.",
        },
        "wrong": {
            "the Linux kernel":
                "An image carries files only: a container runs on the host's kernel, so no kernel is ever "
                "loaded from an image.",
        },
        "explanation": "An image carries files only: the application, what it needs, and often a distribution's "
                       "userland. Never a kernel: a container runs on the host's kernel.",
    },
    "02.symlink-escape": {
        "question": "A tarball holds a symlink `etc -> /etc` followed by a file `etc/cron.d/job`. "
                    "What must a safe extractor do?",
        "right": {
            "resolve the symlink inside the destination, as if it were '/', so the file lands in "
            "dest/etc/cron.d/job":
                "Each member alone looks harmless; the sequence escapes. Resolving every path with chroot "
                "semantics keeps it inside (refusing the tarball is also safe).",
        },
        "wrong": {
            "follow the symlink to the host's /etc/cron.d/job":
                "That is the attack: the image would plant a cron job on the host.",
            "nothing special: symlinks are harmless":
                "A symlink alone is harmless; a later member written *through* it is not.",
            "delete the host's /etc": "An extractor must never touch anything outside its destination.",
        },
    },
}
