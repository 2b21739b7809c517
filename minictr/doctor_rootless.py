"""L3: ``minictr doctor`` for an ordinary user: what rootless mode offers here, and what to enable.

A rootless container lives in a user namespace of the user's own (minictr.userns).
What it can do depends on the host, one check each:

=====================  ===========================================================
check                  what it reads (read-only, never changes a setting)
=====================  ===========================================================
rootless userns        the sysctls that forbid it (AppArmor's restriction on Ubuntu
                       23.10+, Debian's unprivileged_userns_clone, max_user_namespaces)
subordinate ids        the user's lines in /etc/subuid and /etc/subgid
newuidmap              newuidmap and newgidmap on $PATH (Debian's uidmap)
cgroup delegation      a cgroup v2 subtree that is the user's (systemd Delegate=yes)
slirp4netns            the rootless network, on $PATH
rootless overlay       Linux 5.11+, for overlayfs in a user namespace
rootless lessons       the lessons whose ``LESSON.privilege`` lets them run rootless,
                       and what blocks the others
=====================  ===========================================================

Each returns a ``doctor.Check``; the lessons a problem blocks come from the
lessons' records, as in ``doctor``.

Man pages: user_namespaces(7), subuid(5), newuidmap(1), slirp4netns(1),
systemd.resource-control(5) (Delegate=), the kernel's cgroup-v2.rst ("Delegation").
"""

from __future__ import annotations

import os
from typing import Sequence

from . import userns
from .doctor import FAIL, OK, WARN, Check, controller_lessons, lessons_where


def rootless_lessons(lessons: Sequence) -> tuple[str, ...]:
    """The lessons that can run as an ordinary user (``privilege`` "either" or "rootless")."""
    return lessons_where(lessons, lambda lesson: getattr(lesson, "privilege", "root") in ("either", "rootless"))


def check_rootless_userns(read=None, euid: int | None = None, lessons: Sequence = ()) -> Check:
    found = userns.refusal(read, euid)
    if found is not None:
        why, fix = found
        return Check("rootless userns", FAIL, f"the host refuses: {why}", fix, rootless_lessons(lessons))
    return Check("rootless userns", OK, "no host setting forbids an unprivileged user namespace")


def check_subids(name: str, uid: int, subuid: str = "/etc/subuid", subgid: str = "/etc/subgid") -> Check:
    uids, gids = userns.read_subids(subuid, name, uid), userns.read_subids(subgid, name, uid)
    if uids and gids:
        total = sum(n for _s, n in uids)
        return Check("subordinate ids", OK, f"{name} has {total} uids from {subuid} ({uids[0][0]}:{uids[0][1]}...)")
    missing = " and ".join(p for p, got in ((subuid, uids), (subgid, gids)) if not got)
    return Check("subordinate ids", WARN, f"no line for {name} in {missing}: only your own uid is mapped "
                 "(root inside), so images with files of other users show them as nobody",
                 f"as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name}")


def check_newuidmap(path: str | None = None) -> Check:
    found = [p for p in (userns.NEWUIDMAP, userns.NEWGIDMAP) if userns.which(p, path)]
    if len(found) == 2:
        return Check("newuidmap", OK, "newuidmap and newgidmap are installed")
    return Check("newuidmap", WARN, "newuidmap/newgidmap are missing: a container maps only your own uid",
                 "as root: apt-get install uidmap")


def check_delegation(cgroup_root: str = "/sys/fs/cgroup", proc_self_cgroup: str = "/proc/self/cgroup",
                     euid: int | None = None, lessons: Sequence = ()) -> Check:
    from .cgroups.delegation import HINT, find
    found, why = find(cgroup_root, proc_self_cgroup, euid)
    blocked = controller_lessons([lesson for lesson in lessons
                                  if getattr(lesson, "privilege", "root") != "root"], ("memory", "pids", "cpu"))
    if found is None:
        return Check("cgroup delegation", WARN, f"{why}: rootless runs refuse --memory, --pids-limit, --cpus",
                     HINT, blocked)
    return Check("cgroup delegation", OK, f"{found.dir} is yours, with {' '.join(sorted(found.controllers)) or 'no'} "
                 "controllers")


def check_slirp(path: str | None = None) -> Check:
    if userns.which("slirp4netns", path):
        return Check("slirp4netns", OK, "installed: rootless containers get outbound network and -p")
    return Check("slirp4netns", WARN, "missing: rootless containers get --network none only",
                 "as root: apt-get install slirp4netns")


def check_rootless_overlay(release: str | None = None) -> Check:
    from .image.quick import userns_overlay_supported
    release = release or os.uname().release
    if userns_overlay_supported(release):
        return Check("rootless overlay", OK, f"Linux {release}: overlayfs mounts in a user namespace")
    return Check("rootless overlay", WARN, f"Linux {release} is older than 5.11: each container copies its image",
                 "a newer kernel (5.11+) makes rootless starts faster")


def check_lessons(lessons: Sequence, blocked: Sequence[str] = ()) -> Check:
    """Which lessons run for this user: rootless ones not blocked by another check."""
    runnable = [n for n in rootless_lessons(lessons) if n not in set(blocked)]
    need_root = [lesson.number for lesson in lessons if lesson.number not in runnable]
    if not runnable:
        return Check("rootless lessons", FAIL, "no lesson can run as this user",
                     "fix the problems above, or run as root (sudo)", tuple(need_root))
    detail = f"lessons {', '.join(runnable)} run as you"
    if need_root:
        detail += f"; {', '.join(need_root)} need root"
    return Check("rootless lessons", OK, detail)


def run_checks(*, lessons: Sequence = (), sysctl: str = "/proc/sys", cgroup_root: str = "/sys/fs/cgroup",
               proc_self_cgroup: str = "/proc/self/cgroup", path: str | None = None, euid: int | None = None,
               subuid: str = "/etc/subuid", subgid: str = "/etc/subgid", release: str | None = None) -> list[Check]:
    """The rootless checks, for ``doctor.run_checks`` when it runs as an ordinary user."""
    import pwd
    uid = os.geteuid() if euid is None else euid
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)

    def read(p: str) -> str | None:
        try:
            with open(os.path.join(sysctl, os.path.relpath(p, "/proc/sys"))) as f:
                return f.read()
        except OSError:
            return None

    checks = [
        check_rootless_userns(read, uid, lessons),
        check_subids(name, uid, subuid, subgid),
        check_newuidmap(path),
        check_delegation(cgroup_root, proc_self_cgroup, uid, lessons),
        check_slirp(path),
        check_rootless_overlay(release),
    ]
    blocked = {n for c in checks if c.status == FAIL for n in c.lessons}
    checks.append(check_lessons(lessons, sorted(blocked)))
    return checks
