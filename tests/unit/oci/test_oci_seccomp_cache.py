"""config.json's linux.seccomp is compiled once (security.seccomp_cache.oci_program, oci.seccomp.compile_oci).

podman sends the same profile to every ``create``; compiling it cost ~46 ms of each. A cache
entry is used only for exactly that profile, caps, arch and compiler; a corrupted or torn
entry is ignored and rebuilt; the warnings of a compile (names skipped) come back on a hit.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bpf_vm import AUDIT_ARCH_X86_64, run, seccomp_data
from minictr.errors import SpecError
from minictr.oci.reader import Reader
from minictr.oci.seccomp import compile_oci
from minictr.security import capabilities
from minictr.security.seccomp import verdict
from minictr.security.syscall_tables import X86_64

HERE = Path(__file__).parent
REPO = str(HERE.parent.parent.parent)
CAPS = capabilities.DEFAULT
EPERM = verdict("SCMP_ACT_ERRNO", 1)


def decides(program: bytes, name: str) -> int:
    return run(program, seccomp_data(X86_64[name], AUDIT_ARCH_X86_64))


def podman_seccomp() -> dict:
    return json.loads((HERE / "podman-run.config.json").read_text())["linux"]["seccomp"]


def compiled(doc, cache, caps=CAPS):
    warnings = []
    text, program = compile_oci(doc, caps, Reader(warnings), "x86_64", cache=str(cache))
    return program, warnings


def entries(cache) -> list[Path]:
    return sorted(Path(cache).iterdir())


def test_a_second_compile_of_the_same_profile_is_read_from_the_cache_with_its_warnings(tmp_path):
    cache = tmp_path / "cache"
    first, warned = compiled(podman_seccomp(), cache)
    assert len(entries(cache)) == 1 and warned        # podman's profile names syscalls of other arches
    assert all("no syscall minictr knows: skipped" in w for w in warned)
    (entry,) = entries(cache)
    before = entry.stat().st_mtime_ns
    again, warned_again = compiled(podman_seccomp(), cache)
    assert again == first and warned_again == warned
    assert entry.stat().st_mtime_ns == before        # read, not rewritten


def test_another_profile_or_cap_set_gets_its_own_entry(tmp_path):
    cache = tmp_path / "cache"
    base, _ = compiled(podman_seccomp(), cache)
    doc = podman_seccomp()
    doc["syscalls"].insert(0, {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1})  # first wins
    changed, _ = compiled(doc, cache)
    assert decides(changed, "mkdir") == EPERM and decides(base, "mkdir") != EPERM
    compiled(podman_seccomp(), cache, caps=(*CAPS, "CAP_SYS_ADMIN"))
    assert len(entries(cache)) == 3


@pytest.mark.parametrize("damage", ["flip a program byte", "truncate", "flip a warning byte", "garbage"])
def test_a_corrupted_entry_is_ignored_and_rebuilt(tmp_path, damage):
    cache = tmp_path / "cache"
    good, warned = compiled(podman_seccomp(), cache)
    (entry,) = entries(cache)
    data = bytearray(entry.read_bytes())
    if damage == "flip a program byte":
        data[-3] ^= 0xFF
    elif damage == "truncate":
        data = data[:-8]  # still a whole number of instructions: only the CRC tells
    elif damage == "flip a warning byte":
        data[data.index(b"is no syscall")] ^= 0x20
    else:
        data = bytearray(b"\x00garbage")
    entry.write_bytes(bytes(data))
    assert compiled(podman_seccomp(), cache) == (good, warned)
    assert entry.read_bytes() != bytes(data)         # rebuilt in place
    assert compiled(podman_seccomp(), cache) == (good, warned)
    assert not [p for p in entries(cache) if p.name.endswith(".tmp")]


def test_a_profile_that_does_not_compile_is_refused_each_time_and_never_cached(tmp_path):
    cache = tmp_path / "cache"
    doc = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOPE"}]}
    for _ in range(2):
        with pytest.raises(SpecError, match=r"linux\.seccomp\.syscalls\[0\]\.action"):
            compiled(doc, cache)
    assert not cache.exists() or entries(cache) == []


def test_an_unwritable_cache_only_means_compiling_each_time(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    program, _ = compiled(podman_seccomp(), blocker / "cache")
    assert program and len(program) % 8 == 0


def test_a_cached_compile_imports_neither_json_nor_the_compiler(tmp_path):
    code = (
        "import sys, json as _j\n"
        "doc = _j.loads(sys.stdin.read())\n"
        "del sys.modules['json']\n"
        "from minictr.oci.seccomp import compile_oci\n"
        "before = set(sys.modules)\n"
        "text, program = compile_oci(doc, set(sys.argv[1].split(',')), cache=sys.argv[2])\n"
        "new = set(sys.modules) - before\n"
        "heavy = sorted(m for m in new if m in ('json', 'hashlib', 'minictr.security.seccomp',\n"
        "        'minictr.security.seccomp_profile', 'minictr.security.bpf', 'minictr.security.syscall_tables'))\n"
        "print(len(program), ','.join(heavy) or '-')\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO)
    runs = [subprocess.run([sys.executable, "-c", code, ",".join(CAPS), str(tmp_path / "cache")],
                           input=json.dumps(podman_seccomp()), env=env, capture_output=True, text=True,
                           check=True).stdout.split() for _ in range(2)]
    (miss_size, miss_heavy), (hit_size, hit_heavy) = runs
    assert "minictr.security.seccomp" in miss_heavy      # the first run compiles
    assert hit_size == miss_size and hit_heavy == "-"   # the second only reads
