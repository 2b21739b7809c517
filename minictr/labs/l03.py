"""Lesson 03 (chroot, and why it is not enough): the breakout exercise.

Exercise ``03.breakout``: ``def breakout() -> list[str]`` escapes a chroot
(as root) and returns ``sorted(os.listdir("/"))`` of the real root. The check
runs it with ``run_chrooted``: in a forked child, in a mount namespace of its
own, chrooted into a throwaway rootfs 0 and 30 directories deep. The
reference, ``breakout`` below, is an attack: the runtime never does it.

Man pages: chroot(2), path_resolution(7), mount_namespaces(7).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable

from .kit import Case, CaseFailed, Exercise, in_child, private_mount_namespace, register, rmtree
from .lesson import Lesson

__all__ = ["LESSON", "breakout", "run_chrooted"]

LESSON = Lesson("03", "chroot, and why it is not enough", needs_root=True, tools=("nsenter", "unshare"),
                namespaces=("mnt",), privilege="root")


# -- the reference: the chroot breakout ------------------------------------------------------

def breakout() -> list[str]:
    """Escape a chroot (as root) and list the real ``/``.

    chroot(2) changes the root directory but not the working directory. So:
    chroot into a subdirectory, and the working directory is now *outside* the
    root; ``..`` only stops at the root, so climbing from outside never meets it
    and ends at the real ``/``; chroot there.
    """
    os.makedirs("/.breakout", exist_ok=True)
    os.chroot("/.breakout")
    for _ in range(100):
        os.chdir("..")
    os.chroot(".")
    return sorted(os.listdir("/"))


# -- the checks ---------------------------------------------------------------------------

def run_chrooted(fn: Callable[[], Any], *, depth: int = 0, cwd: str = "/", timeout: float = 10.0) -> Any:
    """Call ``fn()`` in a forked child chrooted into a small throwaway rootfs; return its result.

    The child is root, in a mount namespace of its own (like a ``--no-pivot``
    container), its root is ``depth`` directories below a temporary directory,
    and its working directory is ``cwd`` inside the chroot. The result must be
    JSON-able (a list of names is). Import what ``fn`` needs *before* calling:
    inside the chroot there is no Python library to import from.
    """
    base = tempfile.mkdtemp(prefix="minictr-chroot-")
    try:
        rootfs = os.path.join(base, *(f"d{i}" for i in range(depth)), "rootfs")
        for d in ("bin", "etc", "tmp", "you-are-in-the-chroot"):
            os.makedirs(os.path.join(rootfs, d))

        def body():
            private_mount_namespace()
            os.chroot(rootfs)
            os.chdir(cwd)
            return fn()

        return in_child(body, timeout=timeout)
    finally:
        rmtree(base)


def _breakout_cases() -> list[Case]:
    def make(name: str, depth: int) -> Case:
        def run(fn):
            got = run_chrooted(fn, depth=depth)
            want = sorted(os.listdir("/"))
            if not isinstance(got, list):
                raise CaseFailed(f"returned {type(got).__name__}, expected sorted(os.listdir('/'))")
            if "you-are-in-the-chroot" in got:
                raise CaseFailed("you listed the chroot's own / (it has 'you-are-in-the-chroot'): "
                                 "the escape did not work; climb with os.chdir('..') from outside the root")
            if got != want:
                raise CaseFailed(f"returned {got[:6]}{'...' if len(got) > 6 else ''}, not the host's / "
                                 f"(sorted(os.listdir('/'))){_why(got)}")
        return Case(name, run)

    return [
        make("escape a chroot just below /tmp", 0),
        make("escape a chroot 30 directories deep", 30),
    ]


def _why(got: list) -> str:
    """What a wrong listing most likely means (the throwaway tree is known: d0/d1/.../rootfs)."""
    if not got:
        return (": an empty directory, most likely the one you made and chrooted into. "
                "os.chdir('/') (or into that directory) after os.chroot() puts the working directory "
                "back inside the new root, and '..' stops there; leave the working directory where it "
                "is, outside the new root, and climb from there")
    if got == ["rootfs"] or all(n[:1] == "d" and n[1:].isdigit() for n in got):
        return (f": {got} is a directory of the tree the chroot sits in, so you climbed too few "
                "levels; climb more (say 100 times): '..' at the real / stays at /, so extra climbs "
                "do no harm")
    return ""


register(Exercise(
    id="03.breakout", title="Break out of a chroot",
    function="breakout", signature="def breakout() -> list[str]",
    cases=_breakout_cases,
    reference=lambda: breakout,
    needs_root=True,
))


# The lesson's quizzes, out of the notebook's sight (minictr.labs.quizzes reads this table as data;
# the notebook shows one with Quiz.lab(id), its options shuffled).
QUIZZES = {
    "03.chroot-breakout": {
        "question": "Why could the breakout reach the host's files?",
        "right": {
            "chroot does not change the current directory, and the host's tree is still mounted above the new root":
                "chroot only changes how '/' is resolved. With the working directory outside the root, '..' "
                "climbs to the real root. pivot_root plus unmounting the old root (lesson 04) leaves nothing "
                "to climb to.",
        },
        "wrong": {
            "busybox has a bug": "Any program does the same: the breakout uses only mkdir, chroot and chdir.",
            "the container was not running as root":
                "It was root, and that is what allowed the second chroot; without root, chroot fails with EPERM.",
            "/proc was mounted": "The breakout never reads /proc: '..' from a directory outside the root is enough.",
        },
    },
}
