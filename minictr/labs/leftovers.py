"""What an earlier, interrupted run of a lesson notebook left behind, found and removed.

A notebook that was interrupted (a kernel restart, a failed cell, a closed tab)
leaves its containers and temporary directories behind, and the next run then
stops at "the container name 'lesson07-memory' is already in use". Every lesson
names what it makes after itself: containers ``lessonNN`` or ``lessonNN-*`` and
temporary directories ``lessonNN-*`` (``tempfile.mkdtemp(prefix="lessonNN-")``).
So its first cell and its last cell can both call::

    from minictr.labs.leftovers import clean
    print(clean("07"))

which removes them (a running container is killed first, as ``minictr rm -f``
does) and says in one line what it removed. Idempotent: on a clean machine it
removes nothing and says so, so the stored notebook output stays the same on
every host. It never raises for one leftover: what it cannot remove is named in
the line instead, and a directory that still has something mounted below it is
left alone (removing files through a mount would delete what is mounted).

Only *leftovers* go: another notebook kernel may be running the same lesson
right now (two learners on one machine, or a test). So a container whose
supervising process is alive and is neither this process nor one of its
children is left alone, and so is a temporary directory made by ``temp_dir``
whose owner (recorded in its ``.owner`` file) is another live process, or a
directory without that file that changed in the last ``STALE_AFTER`` seconds.

Man pages: proc(5) (/proc/self/mountinfo), rmdir(2), kill(2).
"""

from __future__ import annotations

import os
import tempfile

__all__ = ["clean", "containers", "temp_dirs", "temp_dir", "STALE_AFTER"]

#: A lesson directory without an ``.owner`` file is a leftover once unchanged this long (seconds).
STALE_AFTER = 600.0
OWNER_FILE = ".owner"


def _prefix(lesson: str) -> str:
    if not (len(lesson) == 2 and lesson.isdigit()):
        raise ValueError(f"a lesson is two digits like '07', not {lesson!r}")
    return f"lesson{lesson}"


def _mine(name: str, lesson: str) -> bool:
    prefix = _prefix(lesson)
    return name == prefix or name.startswith(prefix + "-")


def containers(lesson: str) -> list[str]:
    """The names of the containers of lesson ``lesson`` that still have a state file (any owner)."""
    from .. import state

    return [st.name for st in state.list_states() if _mine(st.name, lesson)]


def temp_dirs(lesson: str, tmp: str | None = None) -> list[str]:
    """The temporary directories ``lessonNN-*`` in ``tmp`` (default: ``tempfile.gettempdir()``)."""
    tmp = tmp or tempfile.gettempdir()
    try:
        names = sorted(os.listdir(tmp))
    except FileNotFoundError:
        return []
    return [os.path.join(tmp, n) for n in names
            if n.startswith(_prefix(lesson) + "-") and os.path.isdir(os.path.join(tmp, n))
            and not os.path.islink(os.path.join(tmp, n))]


def temp_dir(lesson: str) -> str:
    """``tempfile.mkdtemp(prefix="lessonNN-")``, marked as this process's, so ``clean`` elsewhere spares it."""
    from .. import procfs

    path = tempfile.mkdtemp(prefix=_prefix(lesson) + "-")
    with open(os.path.join(path, OWNER_FILE), "w") as f:
        f.write(f"{os.getpid()} {procfs.start_time(os.getpid())}\n")
    return path


def _owner(pid: int) -> str:
    """"me", "child" (of this process), "other" (alive) or "gone"."""
    from .. import procfs

    if pid == os.getpid():
        return "me"
    fields = procfs.stat_fields(pid)
    if not fields or fields[0] in ("Z", "X"):
        return "gone"
    return "child" if fields[4 - 3] == str(os.getpid()) else "other"


def _dir_in_use(path: str, now: float) -> bool:
    """Whether ``path`` may belong to another live notebook kernel."""
    from .. import procfs

    try:
        with open(os.path.join(path, OWNER_FILE)) as f:
            pid_text, start_text = (f.read().split() + ["", ""])[:2]
        pid = int(pid_text)
    except (OSError, ValueError):
        try:
            return now - os.stat(path).st_mtime < STALE_AFTER
        except OSError:
            return False
    if pid == os.getpid():
        return False
    return str(procfs.start_time(pid)) == start_text  # the same process, still alive


def _mount_points(mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    points = []
    try:
        with open(mountinfo) as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4:  # field 5 is the mount point, with octal escapes (\040 for a space)
                    points.append(fields[4].encode().decode("unicode_escape"))
    except OSError:
        pass
    return points


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def clean(lesson: str, *, tmp: str | None = None, mountinfo: str = "/proc/self/mountinfo") -> str:
    """Remove lesson ``lesson``'s containers and temporary directories; one line says what happened."""
    from .. import container
    from ..errors import MinictrError
    from .kit import rmtree

    import time

    from .. import state

    removed_c, removed_d, kept, busy = 0, 0, [], 0
    for st in state.list_states():
        if not _mine(st.name, lesson):
            continue
        name = st.name
        if (st.supervisor_pid and state.process_start(st.supervisor_pid) == st.supervisor_start
                and _owner(st.supervisor_pid) == "other"):
            busy += 1  # another kernel's container, running right now
            continue
        try:
            container.remove(name, force=True)
            removed_c += 1
        except (MinictrError, OSError) as e:
            kept.append(f"container {name} ({e})")
    mounts = _mount_points(mountinfo)
    now = time.time()
    for path in temp_dirs(lesson, tmp):
        if _dir_in_use(path, now):
            busy += 1
            continue
        if any(m == path or m.startswith(path + "/") for m in mounts):
            kept.append(f"{path} (something is still mounted below it)")
            continue
        try:
            rmtree(path)
            removed_d += 1
        except OSError as e:
            kept.append(f"{path} ({e.strerror})")
    if not (removed_c or removed_d or kept):
        line = f"lesson {lesson}: nothing left over from an earlier run"
    else:
        line = (f"lesson {lesson}: removed {_plural(removed_c, 'container')} and "
                f"{_plural(removed_d, 'temporary directory').replace('directorys', 'directories')}")
    if kept:
        line += "; could not remove: " + ", ".join(kept)
    if busy:
        line += f" ({busy} in use by another running notebook, left alone)"
    return line
