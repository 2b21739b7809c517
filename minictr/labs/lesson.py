"""The ``LESSON`` record: what one lesson is, and what it needs from the machine.

Every ``minictr/labs/lNN.py`` defines ``LESSON = Lesson(...)``; ``minictr.labs.lessons()``
finds them by file name. doctor says which lessons a failing check blocks from these
records, and the layout test checks that each one has its notebook, reading and test.

Man pages: namespaces(7) (the kinds in /proc/self/ns), cgroups(7) (controllers),
filesystems(5) (/proc/filesystems).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Lesson", "PRIVILEGES"]

#: What a lesson's experiments need: real root; an ordinary user with user namespaces
#: (rootless, lesson 15); or either of them (doctor says which run for the user at hand).
PRIVILEGES = ("root", "rootless", "either")


@dataclass(frozen=True)
class Lesson:
    """One lesson. ``number`` is its two digits ("05"), as in ``notebooks/05-*.ipynb``.

    - ``needs_root``: its experiments need root with CAP_SYS_ADMIN;
    - ``tools``: host commands it runs (looked up on $PATH);
    - ``namespaces``: kinds it creates or joins, as named in /proc/self/ns ("mnt", "net", ...);
    - ``controllers``: cgroup controllers it uses ("memory", "pids", "cpu");
    - ``filesystems``: filesystem types it mounts beyond proc/sysfs/tmpfs ("overlay");
    - ``confines``: its experiments rely on the runtime's confinement (capabilities,
      seccomp, the device allow list), which doctor checks the host supports;
    - ``privilege``: ``"root"`` (its experiments need real root: raw unshare, mounts,
      cgroup writes, veths), ``"rootless"`` (they need an ordinary user's user
      namespace) or ``"either"`` (they run as root, and rootless in a user
      namespace through minictr's rootless mode). ``minictr doctor`` run by an
      ordinary user says from it which lessons run. ``needs_root`` stays what the
      notebook's first probe cell (``require_root``) reports for a "root" lesson; an
      "either" lesson's probe (``require_root(lesson="00")``) passes an ordinary user
      too, and conftest.py's nbval hook runs its notebook without root.
    """

    number: str
    title: str
    needs_root: bool
    tools: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    controllers: tuple[str, ...] = ()
    filesystems: tuple[str, ...] = ()
    confines: bool = False
    privilege: str = "root"

    def __post_init__(self) -> None:
        if self.privilege not in PRIVILEGES:
            raise ValueError(f"lesson {self.number}: privilege must be one of {', '.join(PRIVILEGES)}, "
                             f"not {self.privilege!r}")
