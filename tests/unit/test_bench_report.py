"""bench/report.py: the table and the chart from a results dict (no root, no runtimes)."""

from bench import report, view
from minictr import timing


def _results():
    lat = {"minictr run --rm busybox": timing.stats([0.030, 0.032, 0.034]),
           "runc run": timing.stats([0.024, 0.025, 0.026]),
           "crun run": timing.stats([0.008, 0.008, 0.008])}
    machine = {"date": "2026-01-01 00:00 UTC", "nproc": 2, "cpu": "cpu", "kernel": "6.1", "python": "CPython 3.11",
               "cgroups": "v1", "runc": "runc 1", "crun": "crun 1", "bwrap": "bwrap", "hyperfine": "hyperfine"}
    views = {"minictr run --rm busybox": view.HOST, "runc run": view.HOST, "crun run": view.V1_ONLY}
    return {"machine": machine, "latency": lat, "views": views, "commands": {k: k for k in lat},
            "concurrency": {1: {"wall_true_s": 0.1, "all_running_s": 0.1, "rss_kb_mean": 10240,
                                "pss_kb_mean": 5120, "rss_kb_max": 10240, "pss_kb_max": 5120}}}


def test_markdown_has_ratios_to_runc_and_crun():
    md = report.markdown(_results())
    row = next(line for line in md.splitlines() if line.startswith("| minictr run --rm busybox"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "host's own"                 # the cgroup view it ran in
    assert cells[2] == "32.0"                       # median ms
    assert cells[5] == f"{32 / 25:.2f}"             # x runc
    assert cells[6] == f"{32 / 8:.2f}"              # x crun
    # the ratio columns say which view their baseline ran in
    assert "| × runc (host's own view) | × crun (v1-only view, entering it included) |" in md
    assert "2 CPUs" in md and "kernel 6.1" in md
    assert "| 1 | 0.10 | 0.10 | 10.0 | 5.0 |" in md


def test_only_crun_is_labelled_with_the_v1_only_view():
    md = report.markdown(_results())
    assert "| crun run (v1-only view; crun refuses hybrid hosts) | v1-only | 8.0 |" in md
    assert "| runc run | host's own | 25.0 |" in md
    assert "except crun's" in md
    res = _results()
    res["views"]["crun run"] = view.HOST           # a host crun accepts: no view, no label
    md = report.markdown(res)
    assert "| crun run | host's own | 8.0 |" in md and "except crun's" not in md


def test_entering_the_view_is_shown_and_taken_off_only_in_a_note():
    res = _results()
    assert "include entering it" not in report.markdown(res)   # no entry row: no note
    res["latency"][view.ENTRY_ROW] = timing.stats([0.002, 0.002, 0.002])
    res["views"][view.ENTRY_ROW] = view.V1_ONLY
    md = report.markdown(res)
    assert f"| {view.ENTRY_ROW} | v1-only | 2.0 |" in md      # its own row, not a hidden subtraction
    assert "| crun run (v1-only view; crun refuses hybrid hosts) | v1-only | 8.0 |" in md  # crun's row as timed
    assert "include entering it: 2.0 ms" in md and "crun run 6.0 ms." in md


def test_an_old_results_file_without_views_still_renders():
    res = _results()
    del res["views"]
    md = report.markdown(res)
    assert "| crun run | ? | 8.0 |" in md


def test_chart_writes_a_png(tmp_path):
    report.chart(_results(), tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_confinement_like_for_like():
    res = _results()
    assert "Confinement, like for like" not in report.markdown(res)  # no such rows: no such table
    res["latency"].update({
        "minictr run --rm ROOTFS": timing.stats([0.020, 0.020, 0.020]),
        "minictr run --rm ROOTFS, seccomp=unconfined": timing.stats([0.019, 0.019, 0.019]),
        "runc run, docker's seccomp profile": timing.stats([0.040, 0.040, 0.040])})
    md = report.markdown(res)
    assert "| capabilities, masks, read-only paths; no seccomp | 19.0 | 25.0 | 0.76 |" in md
    assert "| the same, plus docker's default seccomp profile | 20.0 | 40.0 | 0.50 |" in md


def test_oci_seccomp_is_dockers_profile_resolved_for_a_default_container():
    from bench import fixtures
    from minictr.security import seccomp_profile

    spec = fixtures.oci_seccomp("x86_64")
    assert spec["defaultAction"] == "SCMP_ACT_ERRNO"
    assert spec["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = {n for r in spec["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and "args" not in r for n in r["names"]}
    assert {"read", "execve", "chroot"} <= allowed           # chroot: CAP_SYS_CHROOT is among the 14
    assert not {"mount", "open_by_handle_at", "keyctl"} & allowed   # SYS_ADMIN, DAC_READ_SEARCH: not
    assert all(not set(r) - {"names", "action", "errnoRet", "args"} for r in spec["syscalls"])  # resolved
    seccomp_profile.parse(spec)   # and still a valid profile


def test_the_oci_section_pairs_each_runtime_with_runc():
    from bench import oci

    lat = {oci.PODMAN_ROWS[0]: timing.stats([0.20, 0.21, 0.22]), oci.PODMAN_ROWS[1]: timing.stats([0.19, 0.20, 0.21]),
           oci.BUNDLE_ROWS[0]: timing.stats([0.06, 0.06, 0.06]), oci.BUNDLE_ROWS[1]: timing.stats([0.03, 0.03, 0.03])}
    res = _results()
    res["oci"] = {"latency": lat, "commands": {k: k for k in lat}}
    md = report.markdown(res)
    assert "## The OCI runtime command: minictr-runtime in runc's place" in md
    assert f"| {oci.PODMAN_ROWS[0]} | 210.0 | " in md and f"| {210 / 200:.2f} |" in md
    assert f"| {oci.BUNDLE_ROWS[0]} | 60.0 | 0.0 | 2.00 |" in md
    assert f"| {oci.BUNDLE_ROWS[1]} | 30.0 | 0.0 | 1.00 |" in md
    assert "## The OCI runtime command" not in report.markdown(_results())   # no rows, no section


def test_the_oci_rows_run_the_same_script_on_both_sides(tmp_path):
    from bench import oci

    cmds = oci.commands("/x/minictr-runtime", tmp_path / "bundle", tmp_path, None)
    assert list(cmds) == list(oci.BUNDLE_ROWS)       # no podman store: no podman rows
    ours, theirs = cmds.values()
    assert ours[:3] == theirs[:3] == ["sh", "-c", oci.LIFECYCLE]
    assert ours[3] == "/x/minictr-runtime" and theirs[3].endswith("runc")
    assert ours[5:] == theirs[5:] and ours[4] != theirs[4]   # same bundle and id, a state root each
