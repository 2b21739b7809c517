"""mk/v2vm.py, the pure cgroup v2 VM of `make test-v2`: the parts that need no VM (the image
key, the guest's settings, the report, the choice of accelerator). The VM itself runs in
`make test-v2`; this file checks the logic that decides what it builds and what it reports."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest
from scriptload import load_script

REPO = Path(__file__).resolve().parents[2]
v2vm = load_script("mk/v2vm.py")
v2vm_image = importlib.import_module("v2vm_image")   # mk/v2vm.py put mk/ on sys.path


def test_the_image_always_has_systemd_the_kernel_and_python():
    pkgs = v2vm_image.package_list("skopeo busybox-static skopeo")
    assert pkgs == sorted(set(pkgs))
    assert {"systemd", "systemd-sysv", "linux-image-amd64", "python3", "skopeo", "busybox-static"} <= set(pkgs)


def test_the_image_key_follows_the_package_list_not_its_order():
    a = v2vm_image.image_key(v2vm_image.package_list("skopeo podman"))
    assert a == v2vm_image.image_key(v2vm_image.package_list("podman skopeo"))
    assert a != v2vm_image.image_key(v2vm_image.package_list("podman skopeo runc"))


def test_the_makefile_list_leaves_out_only_chromium():
    out = subprocess.run(["make", "-s", "-C", str(REPO), "--eval", "p: ; @echo $(V2VM_PACKAGES)", "p"],
                         capture_output=True, text=True, check=True).stdout.split()
    base = subprocess.run(["make", "-s", "-C", str(REPO), "--eval", "p: ; @echo $(APT_BASE) $(APT_LAB) $(APT_TEST)", "p"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert set(base) - set(out) == {"chromium"} and set(out) <= set(base)


def test_guest_settings_survive_bash_quoting(tmp_path):
    args = ["tests/integration/test_run.py", "-k", "a and not b", "it's", "$HOME"]
    env = tmp_path / "env"
    env.write_text(v2vm.guest_env("/src/my checkout", "/v env", "3.11.2", 900, args))
    r = subprocess.run(["bash", "-c", f'. {env}; printf "%s\\n" "$CHECKOUT" "$VENV" "$STEP_TIMEOUT" "${{ARGS[@]}}"'],
                       capture_output=True, text=True, check=True)
    assert r.stdout.splitlines() == ["/src/my checkout", "/v env", "900", *args]


def _results(tmp_path, steps: str, exit_status: str | None) -> Path:
    d = tmp_path / "results"
    d.mkdir()
    (d / "steps").write_text(steps)
    if exit_status is not None:
        (d / "exit").write_text(exit_status)
    (d / "junit-tests.xml").write_text(
        '<testsuites><testsuite tests="10" failures="1" errors="0" skipped="2"/></testsuites>')
    return d


def test_report_counts_junit_and_fails_on_any_failed_step(tmp_path, capsys):
    d = _results(tmp_path, "facts 0 1\ntests 1 300\n", "1")
    assert v2vm.report(str(d), str(tmp_path / "serial.log")) == 1
    out = capsys.readouterr().out
    assert "7 passed, 1 failed, 0 errors, 2 skipped" in out and "FAILED (status 1)" in out


def test_report_passes_when_every_step_passed(tmp_path):
    d = _results(tmp_path, "facts 0 1\ntests 0 300\nleaks 0 0\n", "0")
    assert v2vm.report(str(d), str(tmp_path / "serial.log")) == 0


def test_a_vm_without_a_result_is_an_error_with_the_serial_log(tmp_path):
    d = _results(tmp_path, "facts 0 1\n", None)
    serial = tmp_path / "serial.log"
    serial.write_text("".join(f"line {i}\n" for i in range(100)) + "Kernel panic - not syncing\n")
    with pytest.raises(v2vm.VMError, match="without a result") as e:
        v2vm.report(str(d), str(serial))
    assert "Kernel panic" in str(e.value) and "line 10\n" not in str(e.value)


def test_accelerator_choice(tmp_path, monkeypatch):
    monkeypatch.setenv("V2VM_ACCEL", "tcg")
    assert v2vm.accelerators(str(tmp_path)) == ["tcg"]
    monkeypatch.setenv("V2VM_ACCEL", "fast")
    with pytest.raises(v2vm.VMError, match="auto, tcg or kvm"):
        v2vm.accelerators(str(tmp_path))
    monkeypatch.setenv("V2VM_ACCEL", "auto")
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        # once KVM failed on this kernel and qemu, it is not tried again
        Path(v2vm.kvm_probe_file(str(tmp_path))).write_text("hangs or fails\n")
    assert v2vm.accelerators(str(tmp_path)) == ["tcg"]


def test_remove_tree_removes_a_plain_tree(tmp_path):
    (tmp_path / "t" / "a" / "b").mkdir(parents=True)
    (tmp_path / "t" / "a" / "b" / "f").write_text("x")
    v2vm_image.remove_tree(str(tmp_path / "t"))
    assert not (tmp_path / "t").exists()
    assert v2vm_image.mounts_under(str(tmp_path)) == []


def test_every_checkout_path_the_guest_names_exists():
    """The guest script names test files and nbval's sanitizer by path; one that moves (nbval.cfg
    did, to tests/notebooks/) must fail here, not as errors an hour later inside the VM."""
    import re
    script = (REPO / "mk" / "v2vm-guest.sh").read_text()
    paths = set(re.findall(r"(?<![\w/$])((?:tests|notebooks)/[\w./-]*\w)", script))
    assert {"tests/notebooks/nbval.cfg", "tests/v2", "tests/integration/test_supervise.py"} <= paths
    assert [p for p in sorted(paths) if not (REPO / p).exists()] == []


def test_ci_runs_the_v2_vm_after_make_test_with_a_time_limit():
    """CI's landing gate includes pure cgroup v2 (issue: a VM that `make test` boots), and a hung
    VM cannot hold CI for ever: V2VM_TIMEOUT is set below CI's 90 minutes."""
    import re
    lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    commands = [line for line in lines if "make" in line]
    assert commands[0] == "make test" and commands[-1].endswith("make test-v2"), commands
    limit = re.search(r"V2VM_TIMEOUT:-(\d+)", commands[-1])
    assert limit and int(limit.group(1)) <= 60 * 60, commands[-1]
    assert "set -euo pipefail" in lines   # a red `make test` stops CI before the VM
