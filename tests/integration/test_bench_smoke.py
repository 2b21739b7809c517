"""The benchmark harness runs end to end (2 runs per command: a smoke test, not a timed test)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import view

REPO = Path(__file__).resolve().parents[2]
NEEDED = ("hyperfine", "runc", "crun", "bwrap", "unshare", "nsenter", "podman")


@pytest.mark.skipif(any(shutil.which(t) is None for t in NEEDED),
                    reason=f"needs {', '.join(NEEDED)} (`make setup-test` installs them)")
def test_bench_run_writes_table_and_chart(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, MINICTR_ROOT=str(tmp_path / "unused-store"),
               MINICTR_RUNTIME_DIR=str(tmp_path / "unused-run"))
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--runs", "2", "--warmup", "0", "--no-scaling", "--profile-runs", "2", "--interleaved-runs", "2",
                           "--oci-runs", "2", "--everyday-runs", "1", "--build-runs", "1",
                           "--python", sys.executable, "--work", str(tmp_path / "work"), "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr
    md = (out / "latest.md").read_text()
    hybrid = view.hybrid()
    crun = " (v1-only view; crun refuses hybrid hosts) | v1-only |" if hybrid else " | host's own |"
    for row in ("python -m minictr run --rm busybox | host's own |", "minictr run --rm busybox | host's own |",
                "minictr run --rm ROOTFS | host's own |", "minictr run --rm ROOTFS, seccomp=unconfined | host's own |",
                "runc run | host's own |", "runc run, docker's seccomp profile | host's own |",
                "bwrap --unshare-all | host's own |", "unshare ... chroot | host's own |", "python -c pass | host's own |",
                "crun run" + crun, "crun run, docker's seccomp profile" + crun):
        assert f"| {row}" in md, row
    # the mission's command, as the README tells learners to type it, and the script row next to it
    lines = md.splitlines()
    first = lines.index(next(l for l in lines if l.startswith("| python -m minictr run --rm busybox |")))
    assert lines[first + 1].startswith("| minictr run --rm busybox |")
    assert (f"| {view.ENTRY_ROW} | v1-only |" in md) == hybrid          # entering the view: a row of its own
    assert ("include entering it" in md) == hybrid
    assert "### Confinement, like for like" in md
    assert "## Where the time of `minictr run` goes" in md
    assert "### A second opinion: round-robin" in md and md.count("| runc run |") == 2
    for phase in ("interpreter start", "imports", "child builds the container", "cleanup", "**sum**"):
        assert f"| {phase} |" in md
    # minictr-runtime in runc's place: under podman, and a bundle's create+start+delete (bench/oci.py)
    assert "## The OCI runtime command: minictr-runtime in runc's place" in md
    for row in ("podman --runtime minictr-runtime run --rm busybox true", "podman --runtime runc run --rm busybox true",
                "minictr-runtime create+start+delete BUNDLE", "runc create+start+delete BUNDLE"):
        assert f"| {row} |" in md, row
    assert os.listdir(tmp_path / "work" / "oci-minictr-state") == []
    assert (out / "latest.png").stat().st_size > 1000
    assert (out / "hyperfine.json").exists()
    # every container cleaned up after itself
    run_dir = tmp_path / "work" / "run"
    assert not run_dir.exists() or os.listdir(run_dir) == []
    with open("/proc/self/mountinfo") as f:
        assert str(tmp_path) not in f.read()
    assert view.hybrid() == hybrid      # the host's own cgroup2 mount is still there
    # issue 16's and 17's rows, against podman and buildah (one round each), and nothing of theirs left
    if shutil.which("podman") and shutil.which("buildah"):
        assert "| run -d, then stop |" in md and "| exec CTR true |" in md and "Bridge set-up" in md
        assert "| cold (`--no-cache`) |" in md and "| cached (nothing changed) |" in md
        assert not (tmp_path / "work" / "containers").exists()
