"""Lesson 10 (minictr/labs/l10.py): the reference passes every case, every case fails some wrong
answer, the quizzes build from the lab module, and nothing is left behind."""

from __future__ import annotations


import pytest
from lab_contract import LessonContract, diagnosis

from minictr.labs import l10
from minictr.security.capabilities import NAMES


pytestmark = pytest.mark.usefixtures("exercise_sandbox")  # private tmp, store; nothing left behind (conftest.py)


def caps_off_by_one(mask):
    return {NAMES[i - 1] for i in range(1, len(NAMES) + 1) if mask >> i & 1}


def caps_without_prefix(mask):
    return {NAMES[i][4:] for i in range(len(NAMES)) if mask >> i & 1}


def caps_hard_coded(mask):
    return {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
            "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
            "CAP_AUDIT_WRITE"}


def caps_short_table(mask):
    return {NAMES[i] for i in range(38) if mask >> i & 1}


def caps_string(mask):
    return ",".join(NAMES[i] for i in range(len(NAMES)) if mask >> i & 1)


def profile(names=("mkdir", "mkdirat"), action="SCMP_ACT_ERRNO", errno_ret=1, default="SCMP_ACT_ALLOW"):
    def fn():
        rule = {"names": list(names), "action": action}
        if errno_ret is not None:
            rule["errnoRet"] = errno_ret
        return {"defaultAction": default, "syscalls": [rule]}
    return fn


WRONG = {
    "10.decode_caps": [caps_off_by_one, caps_without_prefix, caps_hard_coded, caps_short_table, caps_string],
    "10.no_mkdir": [profile(names=("mkdir",)), profile(action="SCMP_ACT_DENY"), profile(errno_ret=13),
                    profile(action="SCMP_ACT_KILL_PROCESS"), profile(default="SCMP_ACT_ERRNO"),
                    profile(names=("mkdir", "mkdirat", "rmdir"))],
}


class TestContract(LessonContract):
    lesson = "10"
    wrong = WRONG
    min_outcomes = 3


@pytest.mark.parametrize("wrong, says", [
    (caps_off_by_one, "off by one"), (caps_without_prefix, "CAP_ prefix"), (caps_hard_coded, "hard-coded"),
    (caps_short_table, "the table sto"),
])
def test_decode_caps_diagnoses_the_mistake(capsys, wrong, says):
    assert says in diagnosis("10.decode_caps", wrong, capsys)


@pytest.mark.parametrize("wrong, says", [
    (profile(names=("mkdir",)), "mkdirat is not refused"), (profile(action="SCMP_ACT_DENY"), "seccomp actions are"),
    (profile(errno_ret=13), "errno 13 (EACCES)"), (profile(action="SCMP_ACT_KILL_PROCESS"), "rather than kill"),
    (profile(default="SCMP_ACT_ERRNO"), "could not even execve"),
])
def test_no_mkdir_diagnoses_the_mistake(capsys, wrong, says):
    assert says in diagnosis("10.no_mkdir", wrong, capsys)


def test_the_lesson_record():
    assert l10.LESSON.number == "10" and l10.LESSON.needs_root and l10.LESSON.confines


