"""The workshop's user list: who takes part, with which password, and who teaches.

One line per person; blank lines and ``#`` comments are ignored::

    # name [password]        (no password: make workshop-hub makes one up)
    ada
    grace  correct-horse-battery
    @tim                      (a leading @: an instructor, admin on the hub)

Names follow Debian's useradd rule (lower-case letter first, then lower-case
letters, digits, ``-`` and ``_``; at most 32 characters), since every name
becomes a Unix user. Read by ``jupyterhub_config.py`` (the hub's allowed and
admin users), ``install_hub.py`` (the Unix users it creates) and
``progress.py`` (whose results it shows). Man pages: useradd(8), passwd(5).
"""

from __future__ import annotations

import re
from typing import NamedTuple

NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}\Z")


class Participant(NamedTuple):
    name: str
    password: str | None = None
    admin: bool = False


class RosterError(ValueError):
    """A line of the user list that cannot become a Unix user (the message says which and why)."""


def parse(text: str, source: str = "the user list") -> list[Participant]:
    people: list[Participant] = []
    seen = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) > 2:
            raise RosterError(f"{source}:{number}: {line!r} has {len(fields)} fields: "
                              "write `name` or `name password` (a password has no spaces)")
        name, admin = fields[0].lstrip("@"), fields[0].startswith("@")
        if not NAME.match(name):
            raise RosterError(f"{source}:{number}: {name!r} is not a Unix user name: "
                              "start with a lower-case letter, then a-z, 0-9, - or _ (32 at most)")
        if name in seen:
            raise RosterError(f"{source}:{number}: {name!r} is listed twice")
        seen.add(name)
        people.append(Participant(name, fields[1] if len(fields) == 2 else None, admin))
    return people


def read(path: str) -> list[Participant]:
    with open(path, encoding="utf-8") as f:
        return parse(f.read(), path)
