"""docker's seccomp profile format: validation errors, rule selection, the syscall tables."""

import json
import os
import subprocess
import sys

import pytest

from minictr.errors import ConfigError
from minictr.security import seccomp_profile as sp
from minictr.security import syscall_tables
from minictr.security.seccomp_cache import DEFAULT_PROFILE

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rule(**kw):
    return {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", **kw}


def profile(*rules, **top):
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(rules), **top}


@pytest.mark.parametrize("data, field, words", [
    ([], "(top)", "a profile is a JSON object"),
    ({"syscalls": []}, "defaultAction", "unknown action"),
    (profile(defaultAction="SCMP_ACT_BOGUS"), "defaultAction", "unknown action"),
    (profile(defaultAction="SCMP_ACT_NOTIFY"), "defaultAction", "no seccomp notify listener"),
    (profile(syscall=[]), "syscall", "unknown key"),
    (profile(defaultErrnoRet=-1), "defaultErrnoRet", "0 to 65535"),
    (profile(architectures=["SCMP_ARCH_VAX"]), "architectures[0]", "unknown architecture"),
    (profile(archMap=[{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["X32"]}]),
     "archMap[0].subArchitectures[0]", "unknown architecture"),
    (profile(syscalls={"names": ["mkdir"]}), "syscalls", "must be a JSON list"),
    (profile(rule(names=["mkdri"])), "syscalls[0].names[0]", "no such syscall on any architecture"),
    (profile(rule(names=[])), "syscalls[0].names", "at least one syscall"),
    (profile(rule(action="SCMP_ACT_ALOW")), "syscalls[0].action", "unknown action"),
    (profile(rule(errnoRet=70000)), "syscalls[0].errnoRet", "0 to 65535"),
    (profile(rule(args=[{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}])), "syscalls[0].args[0].index", "0 to 5"),
    (profile(rule(args=[{"index": 0, "value": 1, "op": "SCMP_CMP_LIKE"}])), "syscalls[0].args[0].op",
     "unsupported operator"),
    (profile(rule(args=[{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}])), "syscalls[0].args[0].value", "2**64-1"),
    (profile(rule(args=[{"index": 0, "value": 1, "op": "SCMP_CMP_EQ", "mask": 3}])), "syscalls[0].args[0].mask",
     "unknown key"),
    (profile(rule(includes={"caps": ["SYS_ADMIN"]})), "syscalls[0].includes.caps", "not a capability name"),
    (profile(rule(includes={"arches": ["amd46"]})), "syscalls[0].includes.arches", "unknown architecture"),
    (profile(rule(includes={"minKernel": "4"})), "syscalls[0].includes.minKernel", "MAJOR.MINOR"),
    (profile(rule(excludes={"minKernel": "4.8"})), "syscalls[0].excludes.minKernel", "no excludes.minKernel"),
])
def test_a_bad_profile_is_one_line_naming_the_field(data, field, words):
    with pytest.raises(ConfigError) as e:
        sp.parse(data, "my.json")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"invalid seccomp profile field {field!r}: ")
    assert words in msg and "my.json" in msg


def test_not_json_and_missing_file_are_one_line(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match=r"^invalid seccomp profile '.*p.json': not JSON"):
        sp.load(str(bad))
    with pytest.raises(ConfigError, match="No such file or directory"):
        sp.load(str(tmp_path / "missing.json"))


def test_unknown_target_arch_is_refused():
    with pytest.raises(ConfigError, match=r"invalid seccomp architecture 'riscv64': not supported"):
        sp.target("riscv64")


def test_names_of_other_architectures_are_skipped_not_refused():
    p = sp.parse(profile(rule(names=["mkdir", "chown32", "arm_fadvise64_64", "open"])))
    assert sp.resolve(p.rules[0].names, "x86_64") == [("mkdir", 83), ("open", 2)]
    # aarch64 has neither open nor mkdir (only the *at forms)
    assert sp.resolve(p.rules[0].names, "aarch64") == []


def test_rules_are_selected_by_caps_arch_and_kernel():
    r = sp.parse(profile(
        rule(includes={"caps": ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]}),
        rule(excludes={"caps": ["CAP_SYS_ADMIN"]}),
        rule(includes={"arches": ["amd64", "x32"]}),
        rule(excludes={"arches": ["arm64"]}),
        rule(includes={"minKernel": "4.8"}),
    )).rules
    admin = sp.normalize_caps({"sys_admin"})
    both = sp.normalize_caps({"CAP_SYS_ADMIN", "NET_ADMIN"})
    assert admin == {"CAP_SYS_ADMIN"}
    assert not r[0].applies(admin, "amd64", (6, 1)) and r[0].applies(both, "amd64", (6, 1))
    assert r[1].applies(frozenset(), "amd64", (6, 1)) and not r[1].applies(admin, "amd64", (6, 1))
    assert r[2].applies(frozenset(), "amd64", (6, 1)) and not r[2].applies(frozenset(), "arm64", (6, 1))
    assert r[3].applies(frozenset(), "amd64", (6, 1)) and not r[3].applies(frozenset(), "arm64", (6, 1))
    assert r[4].applies(frozenset(), "amd64", (4, 8)) and not r[4].applies(frozenset(), "amd64", (4, 4))


def test_the_default_profile_parses_and_names_only_known_syscalls():
    p = sp.load(DEFAULT_PROFILE)
    assert (p.default_action, p.default_errno) == ("SCMP_ACT_ERRNO", 1)
    named = {n for r in p.rules for n in r.names}
    for refused in ("keyctl", "add_key", "request_key", "kexec_load", "userfaultfd", "swapon", "swapoff"):
        assert refused not in named                     # refused by omission
    for gated in ("mount", "umount2", "pivot_root", "unshare", "setns", "bpf", "perf_event_open",
                  "reboot", "acct", "clock_settime", "init_module", "open_by_handle_at"):
        assert all(r.includes_caps for r in p.rules if gated in r.names), gated
    assert "SCMP_ARCH_X86_64" in p.architectures and "SCMP_ARCH_AARCH64" in p.architectures


def test_the_old_single_name_form_is_accepted():
    p = sp.parse({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "mkdir", "action": "SCMP_ACT_ERRNO"}]})
    assert p.rules[0].names == ("mkdir",)


def test_syscall_tables_have_known_numbers():
    x, a = syscall_tables.X86_64, syscall_tables.AARCH64
    assert (x["read"], x["getpid"], x["clone"], x["keyctl"], x["clone3"], x["seccomp"]) == (0, 39, 56, 250, 435, 317)
    assert (a["read"], a["getpid"], a["clone"], a["keyctl"], a["clone3"], a["seccomp"]) == (63, 172, 220, 219, 435, 277)
    assert (a["fstat"], a["newfstatat"], a["renameat"], a["memfd_secret"]) == (80, 79, 38, 447)
    assert "open" not in a and "fcntl64" not in a and "sync_file_range2" not in a
    assert "chown32" in syscall_tables.OTHER_ARCH_NAMES and "open" not in syscall_tables.OTHER_ARCH_NAMES


def test_syscall_tables_are_what_the_generator_makes_from_the_headers():
    out = subprocess.run([sys.executable, os.path.join(REPO, "mk", "gen_syscall_tables.py")],
                         capture_output=True, text=True, check=True).stdout
    with open(os.path.join(REPO, "minictr", "security", "syscall_tables.py")) as f:
        assert f.read() == out


def test_default_profile_is_plain_docker_format_json():
    with open(DEFAULT_PROFILE) as f:
        data = json.load(f)
    assert set(data) <= {"comment", "defaultAction", "defaultErrnoRet", "archMap", "syscalls"}
    assert sp.parse(data) == sp.load(DEFAULT_PROFILE)
