"""Lesson 14 (minictr/labs/l14.py): the reference passes every case, every case fails some wrong
answer, each usual mistake gets its own diagnosis, and the logging runtime logs what it is called
with and hands the call on unchanged."""

from __future__ import annotations

import json
import subprocess

import pytest
from lab_contract import LessonContract, diagnosis

from minictr.labs import l14
from minictr.security import capabilities


pytestmark = pytest.mark.usefixtures("exercise_sandbox")


def changed(flag_to_fix):
    """The reference with one flag answered wrong: ``flag_to_fix(value, right_answer) -> answer``."""
    def to_oci(flag, value):
        right = l14.to_oci(flag, value)
        fix = flag_to_fix.get(flag)
        return fix(value, right) if fix else right
    return to_oci


def caps_map(fn):
    return lambda v, r: {k: fn(v, list(caps)) for k, caps in r.items()}


mem_in_mib = changed({"--memory": lambda v, r: {"linux.resources.memory.limit": int(v[:-1])}})
mem_decimal = changed({"--memory": lambda v, r: {"linux.resources.memory.limit":
                                                 int(v[:-1]) * {"k": 1000, "m": 10**6, "g": 10**9}[v[-1]]}})
mem_string = changed({"--memory": lambda v, r: {"linux.resources.memory.limit": v}})
mem_wrong_key = changed({"--memory": lambda v, r: {"linux.memory.limit": l14.parse_bytes(v)}})
cpus_no_period = changed({"--cpus": lambda v, r: {"linux.resources.cpu.quota": r["linux.resources.cpu.quota"]}})
cpus_as_quota = changed({"--cpus": lambda v, r: {"linux.resources.cpu.quota": float(v),
                                                 "linux.resources.cpu.period": 100000}})
cpus_in_ms = changed({"--cpus": lambda v, r: {"linux.resources.cpu.quota": round(float(v) * 100),
                                              "linux.resources.cpu.period": 100}})
cpus_as_shares = changed({"--cpus": lambda v, r: {"linux.resources.cpu.shares": round(float(v) * 1024)}})
pids_string = changed({"--pids-limit": lambda v, r: {"linux.resources.pids.limit": v}})
caps_short = changed({f: caps_map(lambda v, caps: [c.removeprefix("CAP_") for c in caps])
                      for f in ("--cap-drop", "--cap-add")})
caps_lower = changed({f: caps_map(lambda v, caps: [c.lower() for c in caps]) for f in ("--cap-drop", "--cap-add")})
cap_drop_kept = changed({"--cap-drop": lambda v, r: {"process.capabilities.bounding": list(capabilities.DEFAULT)}})
cap_drop_only = changed({"--cap-drop": lambda v, r: {"process.capabilities.bounding":
                                                     [capabilities.normalize(v)]}})
cap_add_only = changed({"--cap-add": lambda v, r: {"process.capabilities.bounding": [capabilities.normalize(v)]}})
cap_add_unprefixed = changed({"--cap-add": lambda v, r: {"process.capabilities.bounding":
                                                         [*capabilities.DEFAULT, v.upper()]}})
effective_differs = changed({"--cap-drop": lambda v, r: {**r, "process.capabilities.effective":
                                                         list(capabilities.DEFAULT)}})
user_strings = changed({"--user": lambda v, r: {"process.user.uid": v.split(":")[0],
                                                "process.user.gid": v.split(":")[1]}})
readonly_string = changed({"--read-only": lambda v, r: {"root.readonly": "true"}})
cwd_wrong_key = changed({"--workdir": lambda v, r: {"process.workdir": v}})


def returns_json_text(flag, value):
    return json.dumps(l14.to_oci(flag, value))


WRONG = [mem_in_mib, mem_decimal, mem_string, mem_wrong_key, cpus_no_period, cpus_as_quota, cpus_in_ms,
         cpus_as_shares, pids_string, caps_short, caps_lower, cap_drop_kept, cap_drop_only, cap_add_only,
         cap_add_unprefixed, effective_differs, user_strings, readonly_string, cwd_wrong_key, returns_json_text]


class TestContract(LessonContract):
    lesson = "14"
    wrong = {'14.to_oci': WRONG}
    min_outcomes = 6


@pytest.mark.parametrize("wrong, says", [
    (mem_in_mib, "64 is the number you typed; config.json wants bytes (67108864)"),
    (mem_decimal, "counts in powers of ten"),
    (mem_string, "is a JSON number, not the string '64m'"),
    (mem_wrong_key, "config.json's field is linux.resources.memory.limit (you wrote 'linux.memory.limit')"),
    (cpus_no_period, "a quota means nothing without its period"),
    (cpus_as_quota, "microseconds of CPU time per period, not a number of CPUs: 1.5 x 100000 µs = 150000"),
    (cpus_in_ms, "that is 100 ms in milliseconds"),
    (cpus_as_shares, "shares are a relative weight"),
    (pids_string, "is a JSON number, not the string '50'"),
    (caps_short, "with the CAP_ prefix: 'CHOWN' should be 'CAP_CHOWN'"),
    (caps_lower, "upper case in config.json: 'cap_chown' should be 'CAP_CHOWN'"),
    (cap_drop_kept, "CAP_NET_RAW is still in the set"),
    (cap_drop_only, "lists what is kept"),
    (cap_add_only, "docker's 14 defaults plus CAP_SYS_ADMIN"),
    (cap_add_unprefixed, "'SYS_ADMIN' should be 'CAP_SYS_ADMIN'"),
    (effective_differs, "process.capabilities.effective differs from the bounding set"),
    (user_strings, "is a JSON number, not the string '1000'"),
    (readonly_string, "root.readonly should be True, not 'true'"),
    (cwd_wrong_key, "config.json's field is process.cwd"),
    (returns_json_text, "returned str: return a dict"),
])
def test_each_mistake_gets_its_diagnosis(capsys, wrong, says):
    assert says in diagnosis("14.to_oci", wrong, capsys)


def test_the_reference_values():
    assert l14.to_oci("--memory", "64m") == {"linux.resources.memory.limit": 64 * 1024 * 1024}
    assert l14.to_oci("--cpus", "1.5") == {"linux.resources.cpu.quota": 150000, "linux.resources.cpu.period": 100000}
    dropped = l14.to_oci("--cap-drop", "net_raw")["process.capabilities.bounding"]
    assert len(dropped) == 13 and "CAP_NET_RAW" not in dropped
    assert capabilities.mask(dropped) == 0xa80425fb & ~(1 << 13)  # what podman gives with --cap-drop net_raw
    with pytest.raises(ValueError, match="no mapping for --privileged"):
        l14.to_oci("--privileged", "")


def test_logging_runtime_logs_and_hands_on(tmp_path):
    bundle = tmp_path / "bundle with space"
    bundle.mkdir()
    (bundle / "config.json").write_text('{"ociVersion": "1.0.2"}')
    process = tmp_path / "process.json"
    process.write_text('{"args": ["true"]}')
    log = tmp_path / "log"
    # the "runtime" is printf with a global flag of its own: it shows the argv it is handed
    wrapper = l14.logging_runtime(str(tmp_path / "rt"), ["printf", "[%s]"], str(log))
    calls = [["create", "--bundle", str(bundle), "--pid-file", "/x/pid", "c1"],
             ["exec", "--process", str(process), "--detach", "c1"],
             [f"--bundle={bundle}", "state", "c1"]]
    outs = [subprocess.run([wrapper, *argv], capture_output=True, text=True, check=True).stdout for argv in calls]
    assert outs == ["".join(f"[{a}]" for a in argv) for argv in calls]  # the argv, unchanged
    assert (log / "calls.log").read_text().splitlines() == [" ".join(argv) for argv in calls]
    assert json.loads((log / "1-config.json").read_text()) == {"ociVersion": "1.0.2"}
    assert json.loads((log / "2-process.json").read_text()) == {"args": ["true"]}
    assert (log / "3-config.json").exists() and not (log / "2-config.json").exists()


def test_the_lesson_record():
    assert l14.LESSON.number == "14" and l14.LESSON.needs_root and "podman" in l14.LESSON.tools
