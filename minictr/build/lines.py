"""L1: a Containerfile's text as logical lines: parser directives, continuations, comments.

This follows the Dockerfile reference (https://docs.docker.com/reference/dockerfile/),
"Parser directives", "Escape" and "Comments":

- directives are ``# name=value`` lines at the very top; the first line that is
  not one (a comment, an empty line, an instruction) ends them, and later ones
  are plain comments. ``escape`` (``\\`` or `````) and ``syntax`` are known;
  ``check`` is accepted and ignored; each may appear once;
- a line whose last non-blank character is the escape character continues on
  the next line; the pieces are joined with one space;
- a line whose first non-blank character is ``#`` is a comment, and it and any
  empty line are dropped, also in the middle of a continued instruction;
- a ``#`` anywhere else is part of the instruction (``RUN echo a # b`` echoes it).
"""

from __future__ import annotations

import re

from ..errors import BuildError
from ..record import Record

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
KNOWN_DIRECTIVES = ("escape", "syntax", "check")


class Lines(Record):
    escape: str                 # the escape character
    syntax: str | None          # the syntax directive, if any (noted, not used)
    notes: tuple                # lines for the user
    lines: tuple                # (line number of the first piece, the joined text)


def read_lines(text: str, file: str = "Containerfile") -> Lines:
    """Split ``text`` into logical lines; ``BuildError`` for a bad or repeated directive."""
    lines = text.removeprefix("\ufeff").splitlines()  # a UTF-8 byte order mark is not text
    escape, syntax, notes, seen, i = "\\", None, [], set(), 0
    while i < len(lines):  # parser directives: only the very first lines
        m = _DIRECTIVE.match(lines[i].strip())
        if not m or m.group(1).lower() not in KNOWN_DIRECTIVES:
            break
        key, value = m.group(1).lower(), m.group(2)
        if key in seen:
            raise BuildError(file, i + 1, f"only one {key} parser directive can be used")
        seen.add(key)
        if key == "escape":
            if value not in ("\\", "`"):
                raise BuildError(file, i + 1, f"invalid escape character {value!r}", hint="use \\ or `")
            escape = value
        elif key == "syntax":
            syntax = value
            notes.append(f"{file}:{i + 1}: the syntax directive is ignored: "
                         "minictr reads the Dockerfile format itself")
        i += 1
    out, parts, start = [], [], 0
    for n, raw in enumerate(lines[i:], start=i + 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # dropped, also inside a continuation
        if not parts:
            start = n
        body = raw.rstrip()
        if body.endswith(escape):
            parts.append(body[:-1].strip())
            continue
        parts.append(body.strip())
        out.append((start, " ".join(p for p in parts if p)))
        parts = []
    if any(parts):  # a continuation at the end of the file ends the instruction
        out.append((start, " ".join(p for p in parts if p)))
    return Lines(escape, syntax, tuple(notes), tuple(out))
