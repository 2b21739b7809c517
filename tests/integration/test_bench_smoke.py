"""The benchmark harness runs end to end (2 runs per command: a smoke test, not a timed test)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NEEDED = ("hyperfine", "runc", "crun", "bwrap", "unshare")


@pytest.mark.skipif(any(shutil.which(t) is None for t in NEEDED),
                    reason=f"needs {', '.join(NEEDED)} (`make setup-test` installs them)")
def test_bench_run_writes_table_and_chart(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, MINICTR_ROOT=str(tmp_path / "unused-store"),
               MINICTR_RUNTIME_DIR=str(tmp_path / "unused-run"))
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--runs", "2", "--warmup", "0", "--no-scaling", "--profile-runs", "2", "--interleaved-runs", "2",
                           "--python", sys.executable, "--work", str(tmp_path / "work"), "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    md = (out / "latest.md").read_text()
    for row in ("minictr run --rm busybox", "minictr run --rm ROOTFS", "minictr run --rm busybox, as python -m", "runc run", "crun run",
                "bwrap --unshare-all", "unshare ... chroot", "python -c pass"):
        assert f"| {row} |" in md
    assert "## Where the time of `minictr run` goes" in md
    assert "### A second opinion: round-robin" in md and md.count("| runc run |") == 2
    for phase in ("interpreter start", "imports", "child builds the container", "cleanup", "**sum**"):
        assert f"| {phase} |" in md
    assert (out / "latest.png").stat().st_size > 1000
    assert (out / "hyperfine.json").exists()
    # every container cleaned up after itself
    run_dir = tmp_path / "work" / "run"
    assert not run_dir.exists() or os.listdir(run_dir) == []
    with open("/proc/self/mountinfo") as f:
        assert str(tmp_path) not in f.read()
