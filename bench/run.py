"""``make bench``: minictr side by side with runc, crun, bwrap and unshare, then scaling figures.

    python -m bench.run                    # the full run: about 3 minutes
    python -m bench.run --runs 20 --no-scaling

All runtimes start ``/bin/true`` in the same busybox root filesystem (see
fixtures.py). The start-latency commands are timed in one hyperfine run.
On a hybrid cgroup host the whole benchmark runs in a v1-only view of the
cgroups (see view.py), so that crun runs too.

Results go to ``bench/results/``: latest.md (table), latest.png (chart),
latest.json (all numbers, not committed) and hyperfine.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from minictr import timing

from . import fixtures, profile, report, scaling
from .fixtures import REPO
from .view import IN_VIEW, as_root_in_view

RESULTS = REPO / "bench" / "results"


def machine() -> dict:
    def version(argv):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
            return out.splitlines()[0].strip() if out else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "not installed"

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
        "python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "load": open("/proc/loadavg").read().split()[0],  # 1-minute load average: other jobs make noise
        "cgroups": "v1-only view of a hybrid host" if os.environ.get(IN_VIEW) else "as the host has them",
        "runc": version(["runc", "--version"]), "crun": version(["crun", "--version"]),
        "bwrap": version(["bwrap", "--version"]), "hyperfine": version(["hyperfine", "--version"]),
        "unshare": version(["unshare", "--version"]),
    }


def latency_commands(py: str, rootfs: Path, bundle: Path, work: Path, seccomp_bundle: Path | None = None) -> dict:
    """The start-latency rows. Confinement on both sides: runc's default spec drops
    capabilities and sets the masked and read-only paths but loads no seccomp filter,
    so it pairs with ``seccomp=unconfined``; minictr's default (docker's profile) pairs
    with runc given docker's profile in its config.json (``seccomp_bundle``)."""
    runc_root, crun_root = work / "runc-state", work / "crun-state"
    mc = fixtures.minictr_command(py)
    cmds = {
        "minictr run --rm busybox": [*mc, "run", "--rm", "busybox", "--", "/bin/true"],
        "minictr run --rm ROOTFS": [*mc, "run", "--rm", str(rootfs), "/bin/true"],
        "minictr run --rm ROOTFS, seccomp=unconfined": [*mc, "run", "--rm", "--security-opt", "seccomp=unconfined",
                                                        str(rootfs), "/bin/true"],
        "minictr run --rm busybox, as python -m": [py, "-m", "minictr", "run", "--rm", "busybox", "--", "/bin/true"],
        "runc run": ["runc", "--root", str(runc_root), "run", "--bundle", str(bundle), "minictr-bench"],
        "crun run": ["crun", "--root", str(crun_root), "run", "--bundle", str(bundle), "minictr-bench"],
        "bwrap --unshare-all": ["bwrap", "--unshare-all", "--bind", str(rootfs), "/", "--proc", "/proc",
                                "--dev", "/dev", "/bin/true"],
        "unshare ... chroot": ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net",
                               "chroot", str(rootfs), "/bin/true"],
        "python -c pass": [py, "-c", "pass"],
    }
    if seccomp_bundle is not None:
        cmds["runc run, docker's seccomp profile"] = ["runc", "--root", str(runc_root), "run", "--bundle",
                                                     str(seccomp_bundle), "minictr-bench"]
        cmds["crun run, docker's seccomp profile"] = ["crun", "--root", str(crun_root), "run", "--bundle",
                                                     str(seccomp_bundle), "minictr-bench"]
    return {k: v for k, v in cmds.items() if shutil.which(v[0])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100, help="timed runs per command (default 100)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"),
                    help="the interpreter that runs minictr (default: the repo's .venv)")
    ap.add_argument("--work", default="/tmp/minictr-bench", help="store, rootfs and bundle (kept for reruns)")
    ap.add_argument("--out", default=str(RESULTS), help="where latest.md/.png/.json go")
    ap.add_argument("--no-scaling", action="store_true", help="only the start-latency table")
    ap.add_argument("--interleaved-runs", type=int, default=100,
                    help="rounds of the round-robin second opinion (0: none; default 100)")
    ap.add_argument("--profile-runs", type=int, default=20,
                    help="runs for the phase-by-phase breakdown of one start (0: none; default 20)")
    ap.add_argument("--clean", action="store_true",
                    help="remove the work dir at the end (the 500 MB image takes about 1 GB there)")
    ap.add_argument("--no-view", action="store_true", help="do not re-execute in a v1-only cgroup view")
    args = ap.parse_args(argv)
    if not as_root_in_view("bench.run", args.no_view):
        return 1

    py = args.python
    if not os.path.exists(py):
        py = sys.executable
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    env = fixtures.env_for(work, REPO)
    # .pyc files, as an installed package has them (PYTHONDONTWRITEBYTECODE may be set here)
    subprocess.run([py, "-m", "compileall", "-q", str(REPO / "minictr")], check=True, env=env)

    print("bench: preparing rootfs and bundle ...", file=sys.stderr)
    rootfs = fixtures.export_rootfs(work)
    bundle = fixtures.make_bundle(work, rootfs)
    seccomp_bundle = fixtures.make_bundle(work, rootfs, name="bundle-seccomp", seccomp=fixtures.oci_seccomp())
    results = {"machine": machine()}
    cmds = latency_commands(py, rootfs, bundle, work, seccomp_bundle)
    print(f"bench: timing {len(cmds)} commands x {args.runs} runs ...", file=sys.stderr)
    results["latency"] = timing.time_commands(cmds, runs=args.runs, warmup=args.warmup, env=env,
                                              cwd=str(REPO), json_path=str(out / "hyperfine.json"))
    results["commands"] = {k: " ".join(v) for k, v in cmds.items()}
    if args.interleaved_runs:
        print(f"bench: the same, round-robin x {args.interleaved_runs} ...", file=sys.stderr)
        results["interleaved"] = timing.time_commands(cmds, runs=args.interleaved_runs, warmup=args.warmup,
                                                      env=env, cwd=str(REPO), interleave=True)
    print("bench: where the time goes ...", file=sys.stderr)  # (bench/profile.py)
    if args.profile_runs:
        results["profile"] = profile.profile(py, env, runs=args.profile_runs, work=work)
    if not args.no_scaling:
        print("bench: image size ...", file=sys.stderr)
        results["image_size"] = scaling.image_size(py, work, REPO, env, runs=max(10, args.runs // 5))
        print("bench: unpack throughput ...", file=sys.stderr)
        results["unpack"] = scaling.unpack(work)
        print("bench: concurrency ...", file=sys.stderr)
        results["concurrency"] = scaling.concurrency(py, work, REPO, env)
    (out / "latest.json").write_text(json.dumps(results, indent=1))
    md = report.markdown(results)
    (out / "latest.md").write_text(md)
    report.chart(results, out / "latest.png")
    print(md)
    if args.clean:
        from minictr.fsutil import remove_tree
        remove_tree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
