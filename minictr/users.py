"""Resolve an image's ``User`` (or ``-u``) to uid, gid and supplementary groups.

The names mean what the *image's* ``/etc/passwd`` and ``/etc/group`` say, never
the host's: the container's init calls this after pivot_root, with ``root="/"``.

Accepted forms, as docker's: ``name``, ``uid``, ``uid:gid``, ``name:group``,
``name:gid``, ``uid:group``. A numeric uid that is not in passwd is allowed
(gid 0 then), a name that is not is an error. Supplementary groups come from
``/etc/group`` only when no group is given.

Man pages: passwd(5), group(5), setgroups(2), setresuid(2).
"""

from __future__ import annotations

from .errors import ConfigError
from .record import Record


class User(Record):
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str = "/"
    name: str = ""


def _read(path: str) -> list[list[str]]:
    try:
        with open(path) as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except FileNotFoundError:
        return []


def resolve_user(spec: str | None, root: str = "/") -> User:
    root = root.rstrip("/")
    passwd = [p for p in _read(f"{root}/etc/passwd") if len(p) >= 7]
    groups = [g for g in _read(f"{root}/etc/group") if len(g) >= 4]
    user_part, _, group_part = (spec or "0").partition(":")

    entry = None
    for p in passwd:
        if p[0] == user_part or (user_part.isdigit() and p[2] == user_part):
            entry = p
            break
    if entry is None and not user_part.isdigit():
        raise ConfigError("user", spec, f"no user {user_part!r} in the image's /etc/passwd",
                          hint="use a numeric uid, or a user that the image defines")
    uid = int(entry[2]) if entry else int(user_part)
    gid = int(entry[3]) if entry else 0
    name = entry[0] if entry else ""
    home = entry[5] if entry else "/"

    if group_part:
        if group_part.isdigit():
            gid = int(group_part)
        else:
            match = [g for g in groups if g[0] == group_part]
            if not match:
                raise ConfigError("group", group_part, "no such group in the image's /etc/group")
            gid = int(match[0][2])
    # Supplementary groups: every group that lists the user by name (as initgroups(3) does),
    # but only in the implicit form: with an explicit ``:group`` the process gets that
    # one group and no others (runc's GetExecUser, and so docker, do the same).
    extra = [] if group_part else sorted({int(g[2]) for g in groups if name and name in g[3].split(",")} - {gid})
    return User(uid, gid, (gid, *extra), home, name)
