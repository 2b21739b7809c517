"""Lesson 08 (minictr/labs/l08.py): the reference passes every case, every case fails some wrong
answer, and nothing is left behind."""

from __future__ import annotations

import os
import stat

import pytest
from lab_contract import LessonContract

from minictr.labs import l08



pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


def layers_bottom_first(sys, layers, upper, work, target):
    sys.mount("overlay", target, "overlay", 0, f"lowerdir={':'.join(layers)},upperdir={upper},workdir={work}")


def layers_read_only(sys, layers, upper, work, target):
    sys.mount("overlay", target, "overlay", 0, f"lowerdir={':'.join(reversed(layers))}")


def layers_top_two_only(sys, layers, upper, work, target):
    top = list(reversed(layers))[:2]
    sys.mount("overlay", target, "overlay", 0, f"lowerdir={':'.join(top)},upperdir={upper},workdir={work}")


def whiteouts_just_delete(layer):
    for d, _dn, fn in os.walk(layer):
        for n in fn:
            if n.startswith(".wh."):
                os.unlink(os.path.join(d, n))


def whiteouts_files_only(layer):
    for d, _dn, fn in os.walk(layer):
        for n in fn:
            if n.startswith(".wh.") and n != ".wh..wh..opq":
                os.unlink(os.path.join(d, n))
                os.mknod(os.path.join(d, n[4:]), stat.S_IFCHR | 0o600, os.makedev(0, 0))


def whiteouts_keep_markers(layer):
    for d, _dn, fn in os.walk(layer):
        for n in fn:
            if n == ".wh..wh..opq":
                os.setxattr(d, "trusted.overlay.opaque", b"y")
            elif n.startswith(".wh."):
                os.mknod(os.path.join(d, n[4:]), stat.S_IFCHR | 0o600, os.makedev(0, 0))


WRONG = {
    "08.mount_layers": [layers_bottom_first, layers_read_only, layers_top_two_only],
    "08.whiteouts": [whiteouts_just_delete, whiteouts_files_only, whiteouts_keep_markers],
}


class TestContract(LessonContract):
    lesson = "08"
    wrong = WRONG
    min_outcomes = 3


def test_the_lesson_record():
    assert l08.LESSON.number == "08" and l08.LESSON.needs_root
