"""Lesson 13 (minictr/labs/l13.py): the reference passes every case, every case fails some wrong
answer, each usual mistake gets its diagnosis, the quizzes build from the lab module, and nothing
is left behind."""

from __future__ import annotations

import hashlib
import os
import stat
import uuid

import pytest
from lab_contract import LessonContract, diagnosis, needs_root

from minictr.labs import l13


pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


def _walk(upper, *, whiteout, opaque):
    """A depth-first, name-ordered walk of ``upper`` with pluggable whiteout/opaque rules."""
    out = []

    def walk(rel):
        for name in sorted(os.listdir(os.path.join(upper, rel))):
            member = os.path.join(rel, name)
            path = os.path.join(upper, member)
            st = os.lstat(path)
            if whiteout(st):
                out.append((os.path.join(rel, ".wh." + name), "whiteout"))
            elif stat.S_ISDIR(st.st_mode):
                is_opaque = "trusted.overlay.opaque" in os.listxattr(path)
                if is_opaque and opaque == "whiteout":
                    out.append((os.path.join(rel, ".wh." + name), "whiteout"))
                out.append((member, "entry"))
                if is_opaque and opaque == "marker":
                    out.append((member + "/.wh..wh..opq", "opaque"))
                walk(member)
            else:
                out.append((member, "entry"))
    walk("")
    return out


def zero_device(st):
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def changes_device_as_file(upper):
    return _walk(upper, whiteout=lambda st: False, opaque="marker")


def changes_every_char_device(upper):
    return _walk(upper, whiteout=lambda st: stat.S_ISCHR(st.st_mode), opaque="marker")


def changes_no_opaque_marker(upper):
    return _walk(upper, whiteout=zero_device, opaque=None)


def changes_opaque_as_whiteout(upper):
    return _walk(upper, whiteout=zero_device, opaque="whiteout")


def changes_strings(upper):
    return [name for name, _ in l13.changes(upper)]


def _sha(*parts):
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()


def _content(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def key_without_parent(parent, instruction, sources):
    return _sha(instruction, *(_content(p) for p in sources))


def key_with_mtimes(parent, instruction, sources):
    return _sha(parent, instruction, *(f"{_content(p)} {os.stat(p).st_mtime}" for p in sources))


def key_names_only(parent, instruction, sources):
    return _sha(parent, instruction, *sources)


def key_random(parent, instruction, sources):
    return _sha(parent, instruction, uuid.uuid4(), *(_content(p) for p in sources))


def key_as_bytes(parent, instruction, sources):
    return bytes.fromhex(_sha(parent, instruction, *(_content(p) for p in sources)))


WRONG = {
    "13.changes": [changes_device_as_file, changes_every_char_device, changes_no_opaque_marker,
                   changes_opaque_as_whiteout, changes_strings],
    "13.cache_key": [key_without_parent, key_with_mtimes, key_names_only, key_random, key_as_bytes],
}


class TestContract(LessonContract):
    lesson = "13"
    wrong = WRONG
    min_outcomes = 3


@pytest.mark.parametrize("wrong, says", [
    (changes_device_as_file, "is a character device 0:0"),
    (changes_every_char_device, "only a device numbered 0:0"),
    (changes_no_opaque_marker, "the layer needs var/cache/.wh..wh..opq"),
    (changes_opaque_as_whiteout, "replaced wholesale (opaque), not deleted"),
])
def test_changes_diagnoses_the_mistake(capsys, wrong, says):
    assert says in diagnosis("13.changes", wrong, capsys)


@pytest.mark.parametrize("wrong, says", [
    (key_without_parent, "ignores the parent chain"), (key_with_mtimes, "it hashes the mtime"),
    (key_names_only, "hash the content"), (key_random, "two calls with the same inputs"),
    (key_as_bytes, "return the key as a str"),
])
def test_cache_key_diagnoses_the_mistake(capsys, wrong, says):
    assert says in diagnosis("13.cache_key", wrong, capsys)


def test_the_reference_is_minictrs_layer_diff(tmp_path):
    needs_root("13.changes")
    from minictr.build import diff

    upper = l13.make_upper(str(tmp_path / "upper"), l13.UPPERS["replaced"])
    assert l13.changes(upper) == [(name, kind) for name, kind, _ in diff.changes(upper)]
    assert ("var/cache/.wh..wh..opq", "opaque") in l13.changes(upper)


def test_the_lesson_record():
    assert l13.LESSON.number == "13" and l13.LESSON.needs_root and l13.LESSON.filesystems == ("overlay",)


