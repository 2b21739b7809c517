"""L1: the words of a Containerfile line: splitting, quotes, escapes and ``$VAR`` substitution.

This follows the Dockerfile reference, "Environment replacement" and "Parser
directives / escape" (https://docs.docker.com/reference/dockerfile/):

- ``$NAME`` and ``${NAME}`` are replaced by the variable's value (empty if unset);
- ``${NAME:-word}``: ``word`` if NAME is unset or empty, else its value;
  ``${NAME:+word}``: ``word`` if NAME is set and not empty, else empty;
  ``${NAME-word}`` / ``${NAME+word}``: the same, testing only "set";
  ``${NAME:?msg}`` / ``${NAME?msg}``: an error when NAME is unset (or empty);
  ``word`` may itself hold ``$OTHER``;
- the escape character (``\\`` by default, or the ``# escape=`` one) makes the
  next character literal: ``\\$HOME`` stays ``$HOME``, ``a\\ b`` is one word;
- inside ``'...'`` nothing is replaced; inside ``"..."`` variables are replaced
  and the escape character escapes only ``"``, ``$`` and itself; the quotes
  themselves are removed, as a shell would.

Which instructions get this treatment (ENV, ADD, COPY, WORKDIR, EXPOSE, VOLUME,
USER, LABEL, STOPSIGNAL, FROM, ARG) is the parser's business; RUN, CMD and
ENTRYPOINT are left to the shell at run time.
"""

from __future__ import annotations

_NAME_START = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"
_NAME_CHARS = _NAME_START + "0123456789"


class WordError(ValueError):
    """A word that cannot be read (an open quote, a bad ``${...}``); the parser adds FILE:LINE."""


def split_words(text: str, escape: str = "\\") -> list[str]:
    """Split ``text`` on blanks that are neither quoted nor escaped; quotes and escapes stay in.

    ``split_words('a "b c" d\\\\ e')`` is ``['a', '"b c"', 'd\\\\ e']``: each word is
    then given to ``expand``, which removes the quotes and escapes.
    """
    words, cur, quote, i, n, in_word = [], [], None, 0, len(text), False
    while i < n:
        ch = text[i]
        if quote is None and ch in " \t\r\n":
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
            i += 1
            continue
        in_word = True
        if ch == escape and quote != "'" and i + 1 < n:
            cur.append(text[i:i + 2])
            i += 2
            continue
        if ch in "'\"":
            quote = ch if quote is None else (None if quote == ch else quote)
        cur.append(ch)
        i += 1
    if quote is not None:
        raise WordError(f"unmatched {quote} quote")
    if in_word:
        words.append("".join(cur))
    return words


def expand(word: str, env: dict, escape: str = "\\", used: set | None = None) -> str:
    """``word`` with its variables replaced from ``env`` and its quotes and escapes removed.

    The names looked up (set or not) are added to ``used``: the build args an
    instruction uses are part of its cache key.
    """
    out, i = _Expander(word, env, escape, used).run(0, None)
    return out


class _Expander:
    def __init__(self, text: str, env: dict, escape: str, used: set | None):
        self.text, self.env, self.escape = text, env, escape
        self.used = used if used is not None else set()

    def run(self, i: int, stop: str | None) -> tuple[str, int]:
        """Read from ``i`` up to the unquoted ``stop`` character (or the end); return (text, index)."""
        t, out, n = self.text, [], len(self.text)
        while i < n:
            ch = t[i]
            if stop is not None and ch == stop:
                return "".join(out), i
            if ch == self.escape:
                if i + 1 < n:
                    out.append(t[i + 1])
                i += 2
            elif ch == "'":
                end = t.find("'", i + 1)
                if end < 0:
                    raise WordError("unmatched ' quote")
                out.append(t[i + 1:end])
                i = end + 1
            elif ch == '"':
                i = self._double(i + 1, out)
            else:
                i = self._plain(i, out)
        if stop is not None:
            raise WordError(f"missing {stop!r} in {t!r}")
        return "".join(out), i

    def _double(self, i: int, out: list) -> int:
        t, n = self.text, len(self.text)
        while i < n:
            ch = t[i]
            if ch == '"':
                return i + 1
            if ch == self.escape and i + 1 < n and t[i + 1] in ('"', "$", self.escape):
                out.append(t[i + 1])
                i += 2
            else:
                i = self._plain(i, out)
        raise WordError('unmatched " quote')

    def _plain(self, i: int, out: list) -> int:
        """At text[i], outside quotes or inside double ones: a $variable's value, or the character itself."""
        if self.text[i] == "$":
            value, i = self._variable(i + 1)
            out.append(value)
            return i
        out.append(self.text[i])
        return i + 1

    def _variable(self, i: int) -> tuple[str, int]:
        """After a ``$``: the value and the index after the reference."""
        t, n = self.text, len(self.text)
        if i < n and t[i] == "{":
            j = i + 1
            while j < n and t[j] in _NAME_CHARS:
                j += 1
            name = t[i + 1:j]
            if not name:
                raise WordError(f"bad substitution in {t!r}: no variable name after '${{'")
            self.used.add(name)
            value = self.env.get(name)
            if j >= n:
                raise WordError(f"missing '}}' in {t!r}")
            if t[j] == "}":
                return value or "", j + 1
            colon = j < n and t[j] == ":"
            op = t[j + 1] if colon and j + 1 < n else (t[j] if j < n else "")
            if op not in ("-", "+", "?"):
                raise WordError(f"bad substitution in {t!r}: expected '}}', ':-', ':+' or ':?' "
                                f"after '${{{name}'")
            word, end = self.run(j + (2 if colon else 1), "}")
            is_set = value is not None and (value != "" or not colon)
            if op == "-":
                return (value if is_set else word), end + 1
            if op == "+":
                return (word if is_set else ""), end + 1
            if not is_set:
                raise WordError(f"{name}: {word or 'is not set'}")
            return value, end + 1
        if i < n and t[i] in _NAME_START:
            j = i + 1
            while j < n and t[j] in _NAME_CHARS:
                j += 1
            name = t[i:j]
            self.used.add(name)
            return self.env.get(name) or "", j
        return "$", i  # a lone "$" (or "$1", "$ ") stays as it is
