"""Reading and writing cgroupfs files, the one place that does it.

cgroupfs is an odd filesystem (cgroups(7)):

- its "files" are kernel interfaces: a write is a request, and the kernel's
  answer is the errno of that ``write(2)``. Python's buffered ``open().write()``
  may only see it at ``close()``, or lose it in a destructor, so we use
  ``os.write`` on a raw fd and turn the errno into a message naming the file;
- a group is a directory: ``mkdir`` creates one with its interface files,
  ``rmdir`` removes it (``EBUSY`` while it still has tasks or children),
  and nothing else may be created or unlinked in it.

``CgroupFS`` does this on the real kernel. ``minictr.cgroups.fake.FakeCgroupFS``
does the same on a plain directory tree, for unit tests and the lesson.
"""

from __future__ import annotations

import errno
import os

from ..errors import CgroupError, CgroupsUnavailable


class CgroupFS:
    """The real cgroupfs: thin wrappers over os calls with readable errors."""

    def read(self, path: str) -> str:
        with open(path) as f:
            return f.read()

    def read_int(self, path: str, default: int | None = None) -> int | None:
        """An integer file; ``max`` (v2's "no limit") and a missing file give ``default``."""
        try:
            text = self.read(path).strip()
        except FileNotFoundError:
            return default
        if text == "max":
            return default
        return int(text)

    def read_keys(self, path: str) -> dict[str, int]:
        """A flat-keyed file such as memory.events or cpu.stat: ``key value`` lines."""
        out: dict[str, int] = {}
        try:
            text = self.read(path)
        except FileNotFoundError:
            return out
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].lstrip("-").isdigit():
                out[parts[0]] = int(parts[1])
        return out

    def write(self, path: str, value: str | int) -> None:
        """Write one value the way the kernel wants it: one ``write(2)``, errors raised."""
        data = str(value).encode()
        try:
            fd = os.open(path, os.O_WRONLY)
        except OSError as e:
            raise self._error(path, value, e) from None
        try:
            os.write(fd, data)
        except OSError as e:
            raise self._error(path, value, e) from None
        finally:
            os.close(fd)

    def _error(self, path: str, value: object, e: OSError) -> CgroupError:
        hint = None
        if e.errno in (errno.EPERM, errno.EACCES):
            hint = "needs root: run with sudo, or use the lab VM (see `minictr doctor`)"
        elif e.errno == errno.ENOENT:
            hint = "the controller is not enabled for this group; see `minictr doctor`"
        elif e.errno == errno.EBUSY and path.endswith("subtree_control"):
            hint = ("the group has processes of its own, and cgroup v2 forbids controllers there "
                    "(the no-internal-process rule); start minictr from a leaf group")
        err = CgroupError(f"cannot write {value!r} to {path}: {os.strerror(e.errno)}", hint=hint)
        err.errno = e.errno  # so callers can tell "gone" (ENOENT) from "busy" (EBUSY)
        return err

    def procs(self, group: str) -> list[int]:
        """PIDs in ``group`` itself (not its children); [] when the group is gone."""
        try:
            return [int(x) for x in self.read(os.path.join(group, "cgroup.procs")).split()]
        except FileNotFoundError:
            return []

    def signal(self, pid: int, sig: int) -> None:
        """Send ``sig`` to ``pid``; a process that is already gone is fine."""
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def mkdir(self, path: str) -> bool:
        """Create a group. True if it was created now, False if it was there already."""
        try:
            os.mkdir(path)
            return True
        except FileExistsError:
            return False
        except FileNotFoundError:
            raise  # the parent vanished (another container's cleanup): the caller retries
        except OSError as e:
            raise self._mkdir_error(path, e) from None

    def _mkdir_error(self, path: str, e: OSError) -> CgroupError:
        """What a refused mkdir(2) of a group means, as one clear error."""
        if e.errno == errno.EROFS:
            return CgroupsUnavailable(f"cannot create cgroup {path}: the cgroup filesystem is read-only",
                                      hint="inside a container, run it with --privileged or a writable "
                                           "cgroupfs; or run without resource limits")
        err = self._error(path, "a new group", e)
        err.message = f"cannot create cgroup {path}: {os.strerror(e.errno)}"
        err.args = (err.message,)
        return err

    def rmdir(self, path: str) -> None:
        """Remove an empty group. Raises OSError (EBUSY while tasks drain, ENOENT if gone)."""
        os.rmdir(path)

    def listdir(self, path: str) -> list[str]:
        """Child groups of ``path`` (directories only)."""
        try:
            return [n for n in os.listdir(path) if os.path.isdir(os.path.join(path, n))]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def subtree(self, path: str) -> list[str]:
        """``path`` and every group below it, deepest first (the order rmdir needs)."""
        out: list[str] = []
        for name in self.listdir(path):
            out += self.subtree(os.path.join(path, name))
        return out + [path]


class Group:
    """What a container's group does the same way in a v1 and a v2 tree (V1Group, V2Group).

    ``JOIN_FILE`` is where a process writes "0" to join the group itself:
    v1's ``tasks`` moves only the writing thread, without the global lock
    that ``cgroup.procs`` takes (see process.py); v2 has only ``cgroup.procs``.
    """

    JOIN_FILE = "cgroup.procs"

    def __init__(self, fs: CgroupFS, path: str):
        self.fs = fs
        self.path = path

    @property
    def join_file(self) -> str:
        return os.path.join(self.path, self.JOIN_FILE)

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into the group."""
        self.fs.write(os.path.join(self.path, "cgroup.procs"), pid)

    def groups(self) -> list[str]:
        """This group and any groups the container made below it, deepest first."""
        return self.fs.subtree(self.path)

    def pids(self) -> list[int]:
        return [p for g in self.groups() for p in self.fs.procs(g)]


def make_levels(fs: CgroupFS, mount: str, target: str, before=lambda parent: None) -> list[str]:
    """mkdir ``target`` and each missing parent below the tree's ``mount``, top down (a cgroupsPath);
    ``before(parent)`` runs before each mkdir (v2 enables the controllers there). Returns the
    dirs made, top first."""
    missing = []
    d = os.path.normpath(target)
    mount = os.path.normpath(mount)
    while d != mount and not fs.exists(d):
        missing.append(d)
        d = os.path.dirname(d)
    made = list(reversed(missing))
    for group in made:
        before(os.path.dirname(group))
        fs.mkdir(group)
    return made


def wait_for(done, path: str, want: str, timeout: float = 5.0) -> None:
    """Poll ``done()`` until it holds; CgroupError after ``timeout`` seconds."""
    import time
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise CgroupError(f"{path} did not become {want} within {timeout:g}s",
                              hint="a task may be stuck in the kernel (state D); try again")
        time.sleep(0.005)
