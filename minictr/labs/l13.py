"""Lesson 13 (building images): the whiteouts of a layer diff; a build step's cache key.

Two exercises:

- ``13.changes``: ``def changes(upper: str) -> list[tuple[str, str]]`` turns
  an overlayfs upper dir (what a RUN step wrote) into the members of its OCI
  layer tar, as ``(tar name, kind)`` pairs in tar order, ``kind`` being
  ``"entry"``, ``"whiteout"`` or ``"opaque"``: a character device 0:0 is a
  deletion (``dir/.wh.NAME``), a directory with the xattr
  ``trusted.overlay.opaque=y`` gets ``dir/.wh..wh..opq`` right after itself.
  The reference is ``minictr.build.diff.changes`` (which also gives the path
  on disk). The checks make upper dirs by hand (mknod, setxattr: root) and
  catch the usual mistakes with a diagnosis: the 0:0 device packed as a file,
  every character device taken for a whiteout, the opaque marker missing, or
  a replaced directory written as ``.wh.DIR`` instead of ``DIR/.wh..wh..opq``.
- ``13.cache_key``: ``def cache_key(parent, instruction, sources) -> str``,
  the key a build step is looked up by: ``parent`` (the previous step's key,
  or the base image's ID), ``instruction`` (its text, e.g. ``"COPY app.py
  /app/"``) and ``sources`` (the paths of the files a COPY copies, ``[]`` for
  a RUN). The checks catch a key that ignores the parent chain, one that
  hashes mtimes (a ``touch`` must not miss the cache) and one that does not
  hash what a COPY copies.

The quizzes' answer keys live here (``QUIZZES``), not in the notebook: the
notebook asks ``Quiz.lab("13.whiteout")``.

Man pages: mknod(2), xattr(7), stat(2) (st_rdev, st_mtime), utime(2), tar(5);
the kernel's overlayfs.rst; the OCI image spec's layer.md.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

from .kit import Case, CaseFailed, Exercise, register
from .lesson import Lesson

__all__ = ["LESSON", "QUIZZES", "cache_key", "changes", "make_upper"]

LESSON = Lesson("13", "Building images", needs_root=True, tools=("tar", "gzip", "dpkg-query"),
                namespaces=("mnt", "uts", "ipc", "net", "pid", "cgroup"), filesystems=("overlay",), privilege="root")


# -- exercise 1: the whiteouts of a layer diff ------------------------------------------------

def changes(upper: str) -> list[tuple[str, str]]:
    """minictr's answer: ``build.diff.changes`` without the paths on disk."""
    from ..build import diff

    return [(name, kind) for name, kind, _path in diff.changes(upper)]


def make_upper(root: str, spec: dict) -> str:
    """Make an overlay upper dir by hand in ``root``: ``spec`` maps a relative path to
    ``"dir"``, ``"opaque dir"``, ``"whiteout"`` (char device 0:0), ``"null"`` (char device 1:3)
    or the text of a file. Parents first (the keys are made in sorted order). Needs root."""
    for rel in sorted(spec):
        what, path = spec[rel], os.path.join(root, rel)
        if what in ("dir", "opaque dir"):
            os.makedirs(path, exist_ok=True)
            if what == "opaque dir":
                os.setxattr(path, "trusted.overlay.opaque", b"y")
        elif what == "whiteout":
            os.mknod(path, 0o600 | 0o020000, os.makedev(0, 0))
        elif what == "null":
            os.mknod(path, 0o666 | 0o020000, os.makedev(1, 3))
        else:
            with open(path, "w") as f:
                f.write(what)
    return root


#: The upper dirs the checks make, and what each teaches.
UPPERS = {
    "deleted": {"etc": "dir", "etc/hostname": "box\n", "etc/motd": "whiteout", "usr": "dir",
                "usr/bin": "dir", "usr/bin/old-tool": "whiteout"},
    "replaced": {"var": "dir", "var/cache": "opaque dir", "var/cache/fresh": "new\n", "var/log": "dir",
                 "var/log/gone.log": "whiteout", "var/log/new.log": "x\n"},
    "devices": {"dev": "dir", "dev/null": "null", "dev/old": "whiteout", "root": "opaque dir"},
}


def _changes_cases() -> list[Case]:
    from ..tarball import OPAQUE_MARKER, WHITEOUT_PREFIX

    def run(fn, name: str) -> tuple[list, list]:
        from .kit import rmtree

        base = tempfile.mkdtemp(prefix="minictr-l13-")
        try:
            upper = make_upper(base, UPPERS[name])
            want = changes(upper)
            got = fn(upper)
        finally:
            rmtree(base)
        if not isinstance(got, (list, tuple)):
            raise CaseFailed(f"returned {type(got).__name__}: return a list of (tar name, kind) pairs")
        try:
            got = [(str(item[0]), str(item[1])) for item in got]
        except (TypeError, IndexError):
            raise CaseFailed("return (tar name, kind) pairs, such as ('etc/.wh.motd', 'whiteout')") from None
        return got, want

    def diagnose(got: list, want: list, spec: dict) -> None:
        if got == want:
            return
        names = [n for n, _ in got]
        for rel, what in spec.items():
            parent, base = os.path.split(rel)
            wh = os.path.join(parent, WHITEOUT_PREFIX + base)
            if what == "whiteout" and rel in names:
                raise CaseFailed(f"{rel} is a character device 0:0: overlayfs's mark of a deleted path, not a "
                                 f"file to pack; it becomes the empty file {wh}")
            if what == "null" and wh in names:
                raise CaseFailed(f"{rel} is a character device 1:3 (/dev/null), a real device the step made: "
                                 "only a device numbered 0:0 (st_rdev == 0) is a whiteout")
            if what == "opaque dir":
                if wh in names:
                    raise CaseFailed(f"{rel} was replaced wholesale (opaque), not deleted: it stays in the layer, "
                                     f"followed by {rel}/{OPAQUE_MARKER}, and gets no {wh}")
                if f"{rel}/{OPAQUE_MARKER}" not in names:
                    raise CaseFailed(f"{rel} has trusted.overlay.opaque=y: the layer needs {rel}/{OPAQUE_MARKER} "
                                     "right after it, so what lower layers had in it is hidden")
        if sorted(got) == sorted(want):
            raise CaseFailed("the right members in another order: walk depth first in name order, a directory "
                             "before what is in it, its .wh..wh..opq marker right after it")
        missing, extra = [m for m in want if m not in got], [m for m in got if m not in want]
        raise CaseFailed(f"{len(missing)} members missing ({missing[:2] or '-'}), "
                         f"{len(extra)} wrong ({extra[:2] or '-'})")

    def case(name: str):
        def check(fn):
            got, want = run(fn, name)
            diagnose(got, want, UPPERS[name])
        return check

    return [
        Case("deleted files: etc/motd and usr/bin/old-tool, devices 0:0, become .wh. files", case("deleted")),
        Case("a replaced directory (opaque) keeps its entry and gets .wh..wh..opq", case("replaced")),
        Case("a real device (/dev/null, 1:3) stays a device; an opaque dir with nothing in it", case("devices")),
    ]


register(Exercise(
    id="13.changes", title="The whiteouts of a layer diff",
    function="changes", signature="def changes(upper: str) -> list[tuple[str, str]]",
    cases=_changes_cases,
    reference=lambda: changes,
    needs_root=True,
))


# -- exercise 2: the cache key ------------------------------------------------------------------

def cache_key(parent: str, instruction: str, sources: list[str]) -> str:
    """minictr's answer: sha256 over the parent, the instruction and what each source *is*
    (``build.cache.file_facts``: type, mode, owner, size, content hash; not its mtime)."""
    from ..build.cache import file_facts

    h = hashlib.sha256()
    for part in (parent, instruction):
        h.update(part.encode() + b"\0")
    for path in sources:
        f = file_facts(path, os.path.basename(path))
        h.update(repr((f.rel, f.kind, f.mode, f.uid, f.gid, f.size, f.content)).encode() + b"\0")
    return "sha256:" + h.hexdigest()


def _cache_cases() -> list[Case]:
    from .kit import rmtree

    parent = "sha256:" + "ab" * 32

    def context():
        base = tempfile.mkdtemp(prefix="minictr-l13-")
        app = os.path.join(base, "app.py")
        with open(app, "w") as f:
            f.write("print('hello')\n")
        os.utime(app, (1_700_000_000, 1_700_000_000))
        return base, app

    def key(fn, *args) -> str:
        got = fn(*args)
        if not isinstance(got, str) or not got:
            raise CaseFailed(f"returned {type(got).__name__}: return the key as a str, such as 'sha256:...'")
        return got

    def stable(fn):
        base, app = context()
        try:
            one, two = key(fn, parent, "COPY app.py /app/", [app]), key(fn, parent, "COPY app.py /app/", [app])
            if one != two:
                raise CaseFailed("two calls with the same inputs gave two keys: the key must depend on its "
                                 "inputs alone (no time, no random salt, no id())")
            if key(fn, parent, "COPY app.py /srv/", [app]) == one:
                raise CaseFailed("COPY app.py /app/ and COPY app.py /srv/ have one key: hash the instruction")
        finally:
            rmtree(base)

    def chain(fn):
        first = key(fn, parent, "RUN make", [])
        other = key(fn, "sha256:" + "cd" * 32, "RUN make", [])
        if first == other:
            raise CaseFailed("RUN make after two different parents has one key: the key ignores the parent "
                             "chain, so a changed earlier step (or base image) would reuse a stale layer")

    def touched(fn):
        base, app = context()
        try:
            before = key(fn, parent, "COPY app.py /app/", [app])
            os.utime(app, (1_800_000_000, 1_800_000_000))  # touch: the same bytes, a new mtime
            if key(fn, parent, "COPY app.py /app/", [app]) != before:
                raise CaseFailed("touch app.py changed the key: it hashes the mtime, so a fresh git clone or a "
                                 "touch misses the cache; hash what the file holds, not when it was written")
        finally:
            rmtree(base)

    def content(fn):
        base, app = context()
        try:
            before = key(fn, parent, "COPY app.py /app/", [app])
            with open(app, "w") as f:
                f.write("print('HELLO')\n")             # the same size...
            os.utime(app, (1_700_000_000, 1_700_000_000))  # ...and the same mtime: only the bytes differ
            if key(fn, parent, "COPY app.py /app/", [app]) == before:
                raise CaseFailed("app.py holds other bytes and the key is the same: a COPY must hash the "
                                 "content of its sources, or the build would keep copying the old file")
        finally:
            rmtree(base)

    return [
        Case("the same inputs give the same key; another instruction another", stable),
        Case("the parent chain: the same RUN after another parent gets another key", chain),
        Case("touch app.py (a new mtime, the same bytes) keeps the key", touched),
        Case("app.py edited (same size, same mtime) changes the key", content),
    ]


register(Exercise(
    id="13.cache_key", title="The cache key of a build step",
    function="cache_key", signature="def cache_key(parent: str, instruction: str, sources: list[str]) -> str",
    cases=_cache_cases,
    reference=lambda: cache_key,
))


# -- the quizzes: answer keys kept out of the notebook --------------------------------------

QUIZZES = {
    "13.whiteout": {
        "question": "A RUN step runs `rm /etc/motd`, a file of the base image. What does its layer tar hold?",
        "right": {
            "an empty file etc/.wh.motd":
                "overlayfs left a character device 0:0 named motd in the upper dir; the layer diff writes it "
                "as the OCI whiteout etc/.wh.motd, and whoever unpacks the layers deletes etc/motd.",
        },
        "wrong": {
            "nothing: a deleted file leaves no trace":
                "Then the file would come back: the base image's layer still holds it, and layers only add.",
            "the base image's layer is rewritten without etc/motd":
                "Layers are immutable and shared by digest: a build never changes a layer below it.",
            "a character device 0:0 named etc/motd":
                "That is overlayfs's own mark in the upper dir; the OCI layer format says .wh.NAME instead.",
        },
        "hint": "layers below are never changed: how does a layer on top say 'gone'?",
    },
    "13.cache": {
        "question": "You `touch app.py` (same content) and build again. Which steps run?",
        "right": {
            "none: every step comes from the cache":
                "The key hashes each source's content, mode and owner, not its mtime; so an unchanged "
                "file, touched or freshly cloned, hits the cache.",
        },
        "wrong": {
            "the COPY app.py step and every step after it":
                "That is what an edit of app.py does: a touch changes only the mtime, which is not hashed.",
            "only the COPY app.py step":
                "A step that runs again would give a new key to every later step: keys are chained.",
            "all of them: the context changed":
                "The key of a step hashes only the sources it copies, not the whole context.",
        },
        "hint": "what of a source file goes into the key?",
    },
    "13.minimal": {
        "question": "What is in an image made by `image from-binary /usr/bin/python3`? (tick all that apply)",
        "right": {
            "the shared libraries python3 names in DT_NEEDED, and theirs":
                "The dynamic loader would not start python3 without them; from-binary reads the ELF "
                "dynamic section to find them.",
            "the ELF interpreter, /lib64/ld-linux-x86-64.so.2 or its arch's":
                "A dynamically linked program is started by its interpreter (PT_INTERP), so it comes too.",
        },
        "wrong": {
            "a shell, for RUN steps":
                "There is no shell: nothing it does not name is copied, so a RUN in shell form fails.",
            "Python's standard library, found by reading the ELF file":
                "The ELF file names no .py files: the data files come only when the caller adds them "
                "(--add /usr/lib/python3.11).",
        },
        "multiple": True,
        "hint": "what does the kernel and the dynamic loader need to start a program?",
    },
}
