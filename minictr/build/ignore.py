"""L1: the build context: ``.containerignore`` / ``.dockerignore`` rules, and the files a COPY source selects.

The ignore file follows the Dockerfile reference, ".dockerignore file":

- one pattern a line; ``#`` lines and blank lines are skipped; blanks around a
  pattern are trimmed; the pattern is cleaned like Go's ``filepath.Clean``, so
  a leading ``/`` or ``./`` goes, and ``a//b/../c`` is ``a/c``;
- patterns are Go ``filepath.Match`` patterns (``*`` and ``?`` never match
  ``/``; ``[a-z]``, ``[^a-z]``; ``\\`` quotes the next character) plus ``**``,
  any number of directories (zero included);
- a pattern that matches a directory matches everything below it;
- ``!pattern`` makes an exception; **the last rule that matches wins**.

podman reads ``.containerignore`` first and ``.dockerignore`` if there is none;
so do we.

A COPY/ADD source is a path relative to the context root (a leading ``/``
means the root too) and may hold wildcards. ``select_sources`` refuses a source
that climbs out with ``..``; symbolic links on the way are resolved *inside*
the context as if it were ``/`` (an absolute target starts again at the
context root, ``..`` stops there), so no source can read a file outside it.
The matched source itself is followed if it is a link (as docker does);
links below a copied directory are copied as links. Ignored files are not in
the context: they are neither selected nor listed.

Man pages: path_resolution(7), symlink(7), glob(7); Go's path/filepath.Match.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat

from ..errors import BuildError
from ..mountspec import walk_in_root
from ..record import Record

IGNORE_FILES = (".containerignore", ".dockerignore")
MAX_SYMLINKS = 40


class Rule(Record):
    pattern: str       # cleaned, without the "!"
    exception: bool    # a "!pattern": matching paths are kept
    regex: object      # the compiled pattern


class Entry(Record):
    """One file of the context that a source brings along."""
    path: str   # where it is, relative to the context root: "src/lib/a.py"
    rel: str    # where it goes, relative to the destination: "lib/a.py" (a file source: its name)
    kind: str   # "file", "dir", "symlink" or "other" (fifo, device, socket)


class Match(Record):
    """One thing a COPY source named: a file, or a directory and what is below it."""
    src: str            # the matched path as named (glob expanded), relative to the root
    path: str           # where it really is after resolving links ("" is the root itself)
    is_dir: bool
    entries: tuple      # Entry records, sorted; for a directory, everything below it


def translate(pattern: str) -> str:
    """A Go filepath.Match pattern (with ``**``) as a Python regular expression, anchored."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if pattern.startswith("**", i):
                i += 2
                if i < n and pattern[i] == "/":
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i + 1 >= n:
                raise ValueError(f"bad pattern {pattern!r}: it ends in \\")
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            end, cls = i + 1, ["["]
            if end < n and pattern[end] == "^":
                cls.append("^")
                end += 1
            start = end
            while end < n and (pattern[end] != "]" or end == start):
                if pattern[end] == "\\" and end + 1 < n:
                    end += 1
                c = pattern[end]
                cls.append("\\" + c if c in "\\[]^" else c)
                end += 1
            if end >= n or end == start:
                raise ValueError(f"bad pattern {pattern!r}: unclosed or empty [")
            out.append("".join(cls) + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "(?s:" + "".join(out) + r")\Z"


def clean(path: str) -> str:
    """Go's filepath.Clean of a context-relative path, without a leading ``/``: "" for the root."""
    path = posixpath.normpath("/" + path.strip())  # "/" first: ".." cannot go above the root here
    return path.lstrip("/")


class Ignore:
    """The rules of one ignore file. ``Ignore(["*.pyc", "!keep.pyc"]).ignored("a/x.pyc")``."""

    def __init__(self, lines=(), source: str = ".dockerignore"):
        self.source, self.rules = source, []
        for n, raw in enumerate(lines, start=1):
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            exception = text.startswith("!")
            if exception:
                text = text[1:].strip()
            pattern = clean(text)
            if not pattern:
                continue  # "/" or "." would ignore the whole context: docker skips it
            try:
                regex = re.compile(translate(pattern))
            except (ValueError, re.error) as e:
                raise BuildError(source, n, str(e), hint="see the .dockerignore syntax: *, ?, [a-z], **, !")
            self.rules.append(Rule(pattern, exception, regex))

    def ignored(self, path: str) -> bool:
        """Whether the context path ``path`` ("a/b/c") is left out of the context."""
        path = clean(path)
        if not path:
            return False
        prefixes = []
        parts = path.split("/")
        for k in range(1, len(parts) + 1):
            prefixes.append("/".join(parts[:k]))
        result = False
        for rule in self.rules:
            # A pattern matching a directory matches what is below it: try the path and its parents.
            if any(rule.regex.match(p) for p in prefixes):
                result = not rule.exception
        return result

    def has_exceptions(self) -> bool:
        return any(r.exception for r in self.rules)


def read_ignore(context: str) -> Ignore:
    """The context's ``.containerignore``, else its ``.dockerignore``, else no rules."""
    for name in IGNORE_FILES:
        path = os.path.join(context, name)
        try:
            with open(path, encoding="utf-8") as f:
                return Ignore(f.read().splitlines(), source=path)
        except FileNotFoundError:
            continue
    return Ignore()


def resolve(root: str, rel: str, follow_last: bool = True) -> str:
    """``rel`` resolved inside ``root`` with chroot semantics; the real path, relative to ``root``.

    Raises FileNotFoundError for a missing component, OSError(ELOOP) for a loop.
    """
    return "/".join(walk_in_root(root, rel, strict=True, follow_last=follow_last, max_links=MAX_SYMLINKS))


def has_magic(src: str) -> bool:
    return any(c in src for c in "*?[")


def select_sources(context: str, src: str, ignore: Ignore | None = None, *,
                   file: str = "Containerfile", line: int = 0, what: str = "COPY",
                   place: str = "the build context") -> list:
    """The ``Match`` records of one COPY/ADD source ``src`` in the directory ``context``.

    ``context`` may also be a stage's root filesystem (``COPY --from=stage``, no
    ignore rules; ``place="stage build"`` names it in messages). ``what`` and
    ``file``/``line`` say which instruction is at fault.

    Raises ``BuildError(file, line, ...)`` for a source outside the context, one
    that names nothing (or only ignored files), or a glob that matches nothing.
    """
    context = os.path.abspath(context)
    ignore = ignore or Ignore()
    raw = src.lstrip("/")
    if posixpath.normpath(raw or ".").split("/")[0] == "..":
        raise BuildError(file, line, f"{what} source {src!r} is outside {place}",
                         hint="copy the file into the context directory first")
    name = clean(raw)

    def fail_missing(why: str):
        hint = ("check the path relative to the context, and the .containerignore/.dockerignore"
                if place == "the build context" else f"check the path in {place}")
        raise BuildError(file, line, f"{what} source {src!r} {why}", hint=hint)
    if has_magic(name):
        found = [p for p in _walk_names(context, "", ignore) if _glob_match(name, p)]
        found = [p for p in found if not any(p.startswith(q + "/") for q in found)]
        if not found:
            fail_missing(f"matches no file in {place}")
    else:
        found = [name]
    out = []
    for path in found:
        try:
            real = resolve(context, path)
        except (FileNotFoundError, NotADirectoryError):
            fail_missing(f"does not exist in {place}")
        except OSError as e:
            raise BuildError(file, line, f"{what} source {src!r}: {e.strerror}",
                             hint="a symbolic link loop in the context") from None
        if ignore.ignored(path) or (real and ignore.ignored(real)):
            if not (os.path.isdir(os.path.join(context, real)) and ignore.has_exceptions()):
                fail_missing("is excluded by " + os.path.basename(ignore.source))
        full = os.path.join(context, real)
        if os.path.isdir(full):
            entries = tuple(Entry(p, p[len(real) + 1:] if real else p, _kind(os.path.join(context, p)))
                            for p in _walk_names(context, real, ignore))
            out.append(Match(path, real, True, entries))
        else:
            out.append(Match(path, real, False, (Entry(real, posixpath.basename(path), _kind(full)),)))
    return out


def _glob_match(pattern: str, path: str) -> bool:
    return re.match(translate(pattern), path) is not None


def _kind(path: str) -> str:
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


def _walk_names(context: str, top: str, ignore: Ignore) -> list[str]:
    """Context paths below ``top`` (not following links), sorted, without ignored ones.

    A directory that is ignored itself is kept when something below it is not
    (an exception such as ``!dir/keep``), as docker sends it."""
    out: list[str] = []

    def walk(rel: str) -> bool:
        kept_any = False
        try:
            names = sorted(os.listdir(os.path.join(context, rel)))
        except OSError:
            return False
        for name in names:
            path = f"{rel}/{name}" if rel else name
            here = len(out)
            is_dir = stat.S_ISDIR(os.lstat(os.path.join(context, path)).st_mode)
            ignored = ignore.ignored(path)
            if is_dir and (not ignored or ignore.has_exceptions()):
                out.append(path)
                below = walk(path)
                if ignored and not below:
                    del out[here:]
                    continue
                kept_any = True
            elif not ignored:
                out.append(path)
                kept_any = True
        return kept_any
    walk(top)
    return out
