"""minictr.doctor with fake /proc and /sys files, and a FakeSyscalls that says no.

The lessons a failure blocks come from the LESSON records (``labs.lessons()``), handed in.
"""

from __future__ import annotations

import errno
import json
import os

import pytest

from minictr import doctor, doctor_sec, labs
from minictr.cgroups import fake as cgfake
from minictr.labs.lesson import Lesson
from minictr.syscalls import FakeSyscalls

LESSONS = labs.lessons()
ROOT_LESSONS = tuple(lesson.number for lesson in LESSONS if lesson.needs_root and lesson.privilege == "root")

FULL = "000001ffffffffff"
DOCKER_DEFAULT = "00000000a80425fb"  # docker's default set: no SYS_ADMIN, no NET_ADMIN


def status_file(tmp_path, **fields) -> str:
    base = {"Name": "python", "CapEff": FULL, "CapBnd": FULL, "NoNewPrivs": "0", "Seccomp": "0",
            "Seccomp_filters": "0"}
    base.update(fields)
    p = tmp_path / "status"
    p.write_text("".join(f"{k}:\t{v}\n" for k, v in base.items()))
    return str(p)


def test_read_status_and_caps(tmp_path):
    st = doctor.read_status(status_file(tmp_path, CapEff="0000000000200001"))
    assert st["CapEff"] == "0000000000200001"
    assert doctor.caps_of(st["CapEff"]) == {"CHOWN", "SYS_ADMIN"}
    assert len(doctor.caps_of(FULL)) == 41
    assert doctor.read_status(str(tmp_path / "missing")) == {}


def test_root():
    assert doctor.check_root(0).status == "ok"
    c = doctor.check_root(1000, LESSONS)
    assert c.status == "fail" and "uid 1000" in c.detail and "sudo" in c.fix and "04" in c.lessons


def test_without_root_every_lesson_that_needs_root_is_blocked():
    checks = [doctor.check_root(1000, LESSONS)]
    assert doctor.blocked_lessons(checks) == list(ROOT_LESSONS)
    # 00-02 run `minictr run busybox` rootless too (privilege="either"); the rest need real root
    assert ROOT_LESSONS == tuple(lesson.number for lesson in LESSONS if lesson.privilege == "root")
    assert not {"00", "01", "02"} & set(ROOT_LESSONS) and {"03", "07", "10"} <= set(ROOT_LESSONS)
    assert doctor.format_table(checks).endswith("lessons that cannot run here: " + ", ".join(ROOT_LESSONS))
    # without records the verdict still fails, it just names no lesson
    assert doctor.check_root(1000).lessons == () and not doctor.all_lessons_can_run([doctor.check_root(1000)])


def test_tools_are_looked_up_on_path_and_name_their_lessons(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("ip", "nsenter"):
        (bin_dir / tool).write_text("#!/bin/sh\n")
        (bin_dir / tool).chmod(0o755)
    fake = [Lesson("05", "net", True, tools=("ip", "nsenter", "ping")),
            Lesson("08", "images", True, tools=("skopeo", "ping")),
            Lesson("09", "all", True, tools=("nsenter",))]
    c = doctor.check_tools(fake, path=str(bin_dir))
    assert c.status == "fail" and c.lessons == ("05", "08")
    assert "ping (lessons 05, 08)" in c.detail and "skopeo (lesson 08)" in c.detail and "nsenter" not in c.detail
    assert "ping" in c.fix and "skopeo" in c.fix
    (bin_dir / "ping").write_text("#!/bin/sh\n")
    (bin_dir / "ping").chmod(0o755)
    (bin_dir / "skopeo").write_text("#!/bin/sh\n")
    (bin_dir / "skopeo").chmod(0o644)  # not executable: not a tool
    c = doctor.check_tools(fake, path=str(bin_dir))
    assert c.status == "fail" and c.lessons == ("08",)
    (bin_dir / "skopeo").chmod(0o755)
    c = doctor.check_tools(fake, path=str(bin_dir))
    assert c.status == "ok" and c.detail == "all 4 on $PATH: ip, nsenter, ping, skopeo"


def test_run_checks_adds_the_tools_check_only_with_lessons(tmp_path):
    fake = [Lesson("42", "x", False, tools=("no-such-tool-minictr",))]
    checks = doctor.run_checks(lessons=fake, probes=False, path=str(tmp_path))
    assert checks[-1].name == "tools" and checks[-1].lessons == ("42",)
    assert "42" in doctor.blocked_lessons(checks)
    assert "tools" not in [c.name for c in doctor.run_checks(probes=False)]


def test_sys_admin_and_caps(tmp_path):
    full = doctor.read_status(status_file(tmp_path))
    assert doctor.check_sys_admin(full).status == "ok"
    assert doctor.check_capabilities(full).status == "ok"
    docker = doctor.read_status(status_file(tmp_path, CapEff=DOCKER_DEFAULT, CapBnd=DOCKER_DEFAULT))
    c = doctor.check_sys_admin(docker)
    assert c.status == "fail" and "--privileged" in c.fix
    c = doctor.check_capabilities(docker)
    assert c.status == "fail" and "CAP_NET_ADMIN" in c.detail and "CAP_SYS_ADMIN" in c.detail
    # this machine's case: everything but CAP_SYS_RESOURCE (bit 24)
    here = doctor.read_status(status_file(tmp_path, CapEff="000001fffeffffff", CapBnd="000001fffeffffff"))
    c = doctor.check_capabilities(here)
    assert c.status == "ok" and "CAP_SYS_RESOURCE" in c.detail


def test_seccomp_and_no_new_privs(tmp_path):
    assert doctor.check_seccomp({"Seccomp": "0"}).status == "ok"
    c = doctor.check_seccomp({"Seccomp": "2", "Seccomp_filters": "1"})
    assert c.status == "warn" and "seccomp=unconfined" in c.fix
    assert doctor.check_seccomp({"Seccomp": "1"}).status == "fail"
    assert doctor.check_no_new_privs({"NoNewPrivs": "0"}).status == "ok"
    assert doctor.check_no_new_privs({"NoNewPrivs": "1"}).status == "warn"


def test_container_detection(tmp_path):
    root = tmp_path / "root"
    (root / "run").mkdir(parents=True)
    cg = tmp_path / "cgroup1"
    cg.write_text("0::/\n")
    full = {"CapEff": FULL, "CapBnd": FULL, "Seccomp": "0"}
    c = doctor.check_container(str(root), {}, full, str(cg))
    assert c.status == "ok" and "no sign" in c.detail

    (root / ".dockerenv").touch()
    c = doctor.check_container(str(root), {}, full, str(cg))
    assert c.status == "ok" and "/.dockerenv" in c.detail and "privileged" in c.detail

    c = doctor.check_container(str(root), {}, {"CapBnd": DOCKER_DEFAULT, "Seccomp": "2"}, str(cg))
    assert c.status == "fail" and "no CAP_SYS_ADMIN" in c.detail and "seccomp" in c.detail
    # an ordinary user in a privileged container: CapEff is empty, the container is still privileged
    c = doctor.check_container(str(root), {}, {"CapEff": "0", "CapBnd": FULL, "Seccomp": "0"}, str(cg))
    assert c.status == "ok"

    (root / ".dockerenv").unlink()
    cg.write_text("0::/kubepods/burstable/pod1234\n")
    env = {"JUPYTERHUB_API_URL": "http://hub:8081/hub/api", "BINDER_SERVICE_HOST": "10.0.0.1"}
    c = doctor.check_container(str(root), env, {"CapBnd": DOCKER_DEFAULT, "Seccomp": "2"}, str(cg))
    assert c.status == "fail"
    for word in ("Binder", "JupyterHub", "kubepods"):
        assert word in c.detail
    assert "lab VM" in c.fix

    (root / "run/.containerenv").touch()
    c = doctor.check_container(str(root), {"container": "podman"}, full, str(tmp_path / "none"))
    assert "podman" in c.detail and c.status == "ok"


def test_kernel_versions():
    assert doctor.kernel_version("6.18.44-fc-v657") == (6, 18)
    assert doctor.kernel_version("5.4.0-150-generic") == (5, 4)
    assert doctor.kernel_version("4.19.0+") == (4, 19)
    assert doctor.check_kernel("6.1.0-18-amd64").status == "ok"
    assert doctor.check_kernel("5.4.0-150-generic").status == "warn"
    assert doctor.check_kernel("3.10.0-1160.el7.x86_64").status == "fail"


def test_userns_sysctls(tmp_path):
    sysctl = tmp_path / "sys"
    (sysctl / "user").mkdir(parents=True)
    (sysctl / "kernel").mkdir()
    (sysctl / "user/max_user_namespaces").write_text("15000\n")
    assert doctor.check_userns(str(sysctl), probe=False).status == "ok"
    (sysctl / "kernel/unprivileged_userns_clone").write_text("0\n")
    c = doctor.check_userns(str(sysctl), probe=False)
    assert c.status == "warn" and "unprivileged_userns_clone=1" in c.fix
    (sysctl / "kernel/unprivileged_userns_clone").write_text("1\n")
    (sysctl / "kernel/apparmor_restrict_unprivileged_userns").write_text("1\n")
    assert "AppArmor" in doctor.check_userns(str(sysctl), probe=False).detail
    (sysctl / "user/max_user_namespaces").write_text("0\n")
    assert "max_user_namespaces" in doctor.check_userns(str(sysctl), probe=False).fix


def test_userns_probe_reports_a_refusal(tmp_path):
    sysctl = tmp_path / "sys"
    (sysctl / "user").mkdir(parents=True)
    (sysctl / "user/max_user_namespaces").write_text("15000\n")
    c = doctor.check_userns(str(sysctl), FakeSyscalls(fail={"unshare": errno.EPERM}))
    assert c.status == "warn" and "Operation not permitted" in c.detail


def test_in_child_runs_elsewhere_and_reports():
    ok, msg = doctor.in_child(lambda: f"pid {os.getpid()}")
    assert ok and msg != f"pid {os.getpid()}"

    def boom() -> str:
        raise RuntimeError("no luck")

    assert doctor.in_child(boom) == (False, "no luck")


def test_in_child_times_out():
    import time

    t = time.monotonic()
    ok, msg = doctor.in_child(lambda: time.sleep(30) or "late", timeout=0.3)
    assert not ok and "timed out" in msg
    assert time.monotonic() - t < 5


@pytest.mark.parametrize("kind", sorted(doctor.NAMESPACE_PROBES))
def test_namespace_probe_failure_becomes_fail_or_warn(kind):
    fake = FakeSyscalls(fail={"unshare": errno.EPERM})
    c = doctor.probe_namespace(kind, fake, lessons=LESSONS)
    bad, _ = doctor.NAMESPACE_PROBES[kind]
    assert c.status == bad
    assert c.lessons == tuple(lesson.number for lesson in LESSONS if kind in lesson.namespaces)
    if kind in ("mnt", "net", "pid", "cgroup"):
        assert "09" in c.lessons
    assert "unshare" in c.detail and "Operation not permitted" in c.detail
    assert "hint" not in c.detail  # the check's own fix replaces the error's hint
    assert c.fix == doctor.PRIVILEGED_FIX  # EPERM: the kernel has it, we may not use it


def test_namespace_probe_einval_gets_the_kinds_own_fix():
    c = doctor.probe_namespace("time", FakeSyscalls(fail={"unshare": errno.EINVAL}))
    assert c.status == "warn" and "Invalid argument" in c.detail and "5.6" in c.fix


def test_namespace_probe_success_with_a_fake(tmp_path):
    # The fake accepts everything; only uts/ipc/cgroup/time/user need nothing real afterwards.
    c = doctor.probe_namespace("ipc", FakeSyscalls())
    assert c.status == "ok"


def test_namespace_kernel_without_the_kind(tmp_path):
    (tmp_path / "self/ns").mkdir(parents=True)
    c = doctor.probe_namespace("time", FakeSyscalls(), proc=str(tmp_path))
    assert c.status == "warn" and "no time namespaces" in c.detail


BUILDERS = {"v2": cgfake.build_v2, "v1": cgfake.build_v1, "hybrid": cgfake.build_hybrid}


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_cgroups_on_fake_trees(tmp_path, kind):
    root, proc_self_cgroup, _fs = BUILDERS[kind](str(tmp_path / kind))
    by = {c.name: c for c in doctor.check_cgroups(root, proc_self_cgroup, probe=True)}
    assert by["cgroups"].status == "ok" and by["cgroups"].detail.startswith(kind)
    assert "memory v" in by["cgroups"].detail
    assert by["cgroups writable"].status == "ok"
    assert "cgroup controllers" not in by
    for _dirpath, dirnames, _ in os.walk(root):  # the probe group is gone again
        assert not any(d.startswith("minictr-doctor-") for d in dirnames)


def test_cgroups_read_only_tree_fails(tmp_path, monkeypatch):
    root, proc_self_cgroup, _fs = cgfake.build_hybrid(str(tmp_path / "h"))
    real_mkdir = os.mkdir

    def mkdir(path, *a, **kw):
        if "minictr-doctor-" in str(path) and "/memory" in str(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
        return real_mkdir(path, *a, **kw)

    monkeypatch.setattr(os, "mkdir", mkdir)
    by = {c.name: c for c in doctor.check_cgroups(root, proc_self_cgroup, lessons=LESSONS)}
    c = by["cgroups writable"]
    assert c.status == "fail" and "Read-only file system" in c.detail and "/memory/process_api" in c.detail
    assert "--cgroupns=host" in c.fix and "07" in c.lessons


def test_cgroups_missing_controllers(tmp_path):
    root, proc_self_cgroup, _fs = cgfake.build_v2(str(tmp_path / "v2"), controllers=("cpu", "io"))
    by = {c.name: c for c in doctor.check_cgroups(root, proc_self_cgroup, probe=False, lessons=LESSONS)}
    c = by["cgroup controllers"]
    assert c.status == "fail" and "memory" in c.detail and "pids" in c.detail
    assert c.lessons == ("07", "09")
    # no lesson needs what is missing: a warning
    fake = [Lesson("07", "cgroups", True, controllers=("cpu",))]
    by = {c.name: c for c in doctor.check_cgroups(root, proc_self_cgroup, probe=False, lessons=fake)}
    c = by["cgroup controllers"]
    assert c.status == "warn" and c.lessons == ()


def test_cgroups_none(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "pc").write_text("")
    [c] = doctor.check_cgroups(str(tmp_path / "empty"), str(tmp_path / "pc"), lessons=LESSONS)
    assert c.status == "fail" and c.lessons == ("07", "09", "10", "12", "13")  # 10, 12, 13: a cgroup namespace


def test_overlay_not_listed_no_probe(tmp_path):
    fs = tmp_path / "filesystems"
    fs.write_text("nodev\tsysfs\nnodev\ttmpfs\n\text4\n")
    c = doctor.check_overlay(str(fs), probe=False, lessons=LESSONS)
    assert c.status == "warn" and "modprobe overlay" in c.fix and c.lessons == ("08", "09", "13")
    fs.write_text("nodev\tsysfs\nnodev\toverlay\n")
    assert doctor.check_overlay(str(fs), probe=False).status == "ok"


def test_overlay_probe_failure_is_a_warning_and_cleans_up(tmp_path):
    fs = tmp_path / "filesystems"
    fs.write_text("nodev\toverlay\n")
    work = tmp_path / "work"
    work.mkdir()
    c = doctor.check_overlay(str(fs), FakeSyscalls(fail={"mount": errno.ENODEV}), workdir=str(work))
    assert c.status == "warn"
    assert os.listdir(work) == []


def test_table_json_and_exit_logic():
    checks = [doctor.Check("root", "ok", "uid 0"),
              doctor.Check("overlayfs", "warn", "not listed", "modprobe overlay", ("08",)),
              doctor.Check("net namespace", "fail", "unshare: Operation not permitted", "use the VM", ("05", "09"))]
    assert not doctor.all_lessons_can_run(checks)
    assert doctor.blocked_lessons(checks) == ["05", "09"]
    table = doctor.format_table(checks)
    lines = table.splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "DETAIL"]
    assert lines[0].index("STATUS") == lines[1].index("ok")  # aligned
    assert "fix: modprobe overlay" in table and "fix: use the VM" in table
    again = doctor.format_table(checks + [doctor.Check("pid namespace", "fail", "no", "use the VM", ("06",))])
    assert again.count("use the VM") == 1 and "fix: (as above)" in again
    assert table.endswith("lessons that cannot run here: 05, 09")
    d = json.loads(json.dumps(doctor.as_dict(checks)))
    assert d["ok"] is False and d["checks"][2]["lessons"] == ["05", "09"]
    assert doctor.format_table(checks[:2]).endswith("every lesson can run here (1 warnings)")


def test_cli_exit_codes(monkeypatch, capsys):
    from minictr import cli

    seen = {}

    def fake_run_checks(lessons=(), probes=True):
        seen["lessons"] = lessons
        return [doctor.Check("root", "fail", "uid 1000", "sudo")]

    monkeypatch.setattr(doctor, "run_checks", fake_run_checks)
    monkeypatch.setattr(doctor_sec, "run_checks", lambda status, probes=True, lessons=(): [
        doctor.Check("seccomp filters", "ok", "loaded")])
    assert cli.main(["doctor"]) == 1
    assert "fix: sudo" in capsys.readouterr().out
    assert seen["lessons"] == LESSONS  # the CLI hands doctor the LESSON records
    monkeypatch.setattr(doctor, "run_checks", lambda lessons=(), probes=True: [doctor.Check("root", "ok", "uid 0")])
    assert cli.main(["doctor", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


# -- the confinement checks (minictr/doctor_sec.py) -------------------------------------------

CONFINES = tuple(lesson.number for lesson in LESSONS if lesson.confines)


def test_lesson_10_is_the_one_that_relies_on_confinement():
    assert CONFINES == ("10",) and doctor_sec.confinement_lessons(LESSONS) == CONFINES


def test_seccomp_support_without_the_kernels_seccomp():
    c = doctor_sec.check_seccomp_support({"CapEff": FULL}, probe=False, lessons=LESSONS)
    assert c.status == "fail" and "no Seccomp: line" in c.detail and c.lessons == CONFINES


def test_seccomp_support_really_loads_a_filter():
    # a forked child loads docker's default profile and a filter refusing getpgid (no_new_privs: no root needed)
    c = doctor_sec.check_seccomp_support({"Seccomp": "0"}, lessons=LESSONS)
    assert c.status == "ok" and "EPERM" in c.detail, c
    assert os.getpgid(0) > 0  # nothing reached this process


def test_seccomp_support_a_filter_that_does_not_refuse_fails():
    # the fake accepts the load but filters nothing: the probe must notice
    c = doctor_sec.check_seccomp_support({"Seccomp": "0"}, FakeSyscalls(), lessons=LESSONS)
    assert c.status == "fail" and "did not refuse getpgid" in c.detail and c.lessons == CONFINES
    c = doctor_sec.check_seccomp_support({"Seccomp": "0"}, FakeSyscalls(fail={"seccomp_set_mode_filter": errno.EINVAL}))
    assert c.status == "fail" and "Invalid argument" in c.detail and "seccomp=unconfined" in c.fix


def test_seccomp_support_an_architecture_minictr_cannot_compile_for():
    c = doctor_sec.check_seccomp_support({"Seccomp": "0"}, probe=False, arch="riscv64", lessons=LESSONS)
    assert c.status == "fail" and "riscv64" in c.detail and c.lessons == CONFINES


def test_no_new_privs_support():
    assert doctor_sec.check_no_new_privs_support().status == "ok"
    c = doctor_sec.check_no_new_privs_support(FakeSyscalls(fail={"set_no_new_privs": errno.EINVAL}), lessons=LESSONS)
    assert c.status == "warn" and "no-new-privileges" in c.detail and c.lessons == CONFINES
    # the fake "succeeds" but the child's NoNewPrivs stays 0: the probe reads the status, not the return
    c = doctor_sec.check_no_new_privs_support(FakeSyscalls())
    assert c.status == "warn" and "NoNewPrivs is 0" in c.detail


@pytest.mark.parametrize("last, status, says, blocks", [
    ("40", "ok", "CAP_CHECKPOINT_RESTORE", False), ("41", "warn", "up to 41", False),
    ("37", "warn", "CAP_PERFMON, CAP_BPF, CAP_CHECKPOINT_RESTORE do not exist", False),
    ("30", "warn", "CAP_SETFCAP", True),
])
def test_capability_range(tmp_path, last, status, says, blocks):
    p = tmp_path / "cap_last_cap"
    p.write_text(last + "\n")
    c = doctor_sec.check_cap_range(str(p), LESSONS)
    assert c.status == status and says in c.detail
    assert c.lessons == (CONFINES if blocks else ())
    assert doctor_sec.check_cap_range(str(tmp_path / "missing")).status == "warn"


def test_bounding_set():
    assert doctor_sec.check_bounding_set({"CapBnd": FULL}, 40).status == "ok"
    # this machine: everything but CAP_SYS_RESOURCE (bit 24)
    c = doctor_sec.check_bounding_set({"CapBnd": "000001fffeffffff"}, 40, LESSONS)
    assert c.status == "warn" and "CAP_SYS_RESOURCE" in c.detail and "the other 40" in c.detail
    assert c.lessons == ()
    # a host whose root lacks NET_RAW (bit 13): default containers would too
    c = doctor_sec.check_bounding_set({"CapBnd": f"{(1 << 41) - 1 - (1 << 13):016x}"}, 40, LESSONS)
    assert c.status == "fail" and "default containers lack CAP_NET_RAW" in c.detail and c.lessons == CONFINES


def test_devices_on_v1_hybrid_and_v2(tmp_path):
    from minictr.cgroups.detect import Layout, detect

    root, proc_cgroup, _fs = cgfake.build_hybrid(str(tmp_path / "hybrid"))
    c = doctor_sec.check_devices(detect(root, proc_cgroup), lessons=LESSONS)
    assert c.status == "ok" and "v1 devices controller" in c.detail
    root, proc_cgroup, _fs = cgfake.build_v2(str(tmp_path / "v2"))
    v2 = detect(root, proc_cgroup)
    c = doctor_sec.check_devices(v2, FakeSyscalls(), lessons=LESSONS)
    assert c.status == "ok" and "eBPF BPF_CGROUP_DEVICE program loads" in c.detail
    c = doctor_sec.check_devices(v2, FakeSyscalls(fail={"bpf_prog_load": errno.EPERM}), lessons=LESSONS)
    assert c.status == "fail" and "does not load" in c.detail and c.lessons == CONFINES
    c = doctor_sec.check_devices(Layout("none", str(tmp_path)), lessons=LESSONS)
    assert c.status == "fail" and c.lessons == CONFINES


@pytest.mark.skipif(os.geteuid() != 0, reason="loading a BPF_CGROUP_DEVICE program needs root")
def test_devices_the_real_ebpf_program_loads(tmp_path):
    root, proc_cgroup, _fs = cgfake.build_v2(str(tmp_path / "v2"))
    from minictr.cgroups.detect import detect

    c = doctor_sec.check_devices(detect(root, proc_cgroup))
    assert c.status == "ok" and "loads" in c.detail, c


def test_confinement_checks_in_the_cli(capsys):
    from minictr import cli

    cli.main(["doctor", "--no-probes"])
    out = capsys.readouterr().out
    for name in ("seccomp filters", "no_new_privs support", "capability range", "bounding set", "device allow list"):
        assert name in out


def test_check_network_says_what_is_missing_and_what_minictr_changes(tmp_path):
    sysctl = tmp_path / "sys"
    (sysctl / "net/ipv4").mkdir(parents=True)
    (sysctl / "net/ipv4/ip_forward").write_text("0\n")
    mods = tmp_path / "module"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("nft", "ip"):
        (bindir / tool).write_text("#!/bin/sh\n")
        (bindir / tool).chmod(0o755)
    for module in ("nf_tables", "bridge", "veth"):
        (mods / module).mkdir(parents=True)
    (tmp_path / "mods").mkdir()
    ok = doctor.check_network(str(sysctl), str(mods), str(tmp_path / "mods"), path=str(bindir), probe=False)
    assert ok.status == doctor.OK and "ip_forward is 0" in ok.detail and "ip minictr" in ok.detail
    (mods / "bridge").rmdir()
    (bindir / "nft").unlink()
    warn = doctor.check_network(str(sysctl), str(mods), str(tmp_path / "mods"), path=str(bindir), probe=False)
    assert warn.status == doctor.WARN and warn.lessons == ()
    assert "the nft command" in warn.detail and "the bridge kernel module" in warn.detail
    assert "--network none" in warn.fix
