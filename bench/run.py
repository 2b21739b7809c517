"""``make bench``: minictr side by side with runc, crun, bwrap and unshare, then scaling figures.

    python -m bench.run                    # the full run: about 3 minutes
    python -m bench.run --runs 20 --no-scaling

All runtimes start ``/bin/true`` in the same busybox root filesystem (see
fixtures.py). Two rootless rows run ``minictr run`` and ``podman run`` as the same
throwaway ordinary user (rootless.py; ``--no-rootless`` leaves them out). The start-latency commands are timed in one hyperfine run.
Every row runs in the host's own cgroup view, as its users run it; on a
hybrid cgroup host only crun's rows run in a v1-only view (crun refuses
hybrid hosts), and a row of their own times entering that view (view.py).

Results go to ``bench/results/``: latest.md (table), latest.png (chart),
latest.json (all numbers, not committed) and hyperfine.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from minictr import timing

from . import fixtures, profile, report, rootless, scaling
from .fixtures import REPO
from .view import ENTRY_ROW, HOST, V1_ONLY, V1View, as_root, can_make_view, host_cgroups, hybrid

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
        "cgroups": host_cgroups(),
        "runc": version(["runc", "--version"]), "crun": version(["crun", "--version"]),
        "bwrap": version(["bwrap", "--version"]), "hyperfine": version(["hyperfine", "--version"]),
        "unshare": version(["unshare", "--version"]),
    }


def latency_commands(py: str, rootfs: Path, bundle: Path, work: Path, seccomp_bundle: Path | None = None,
                     v1_view: V1View | None = None) -> tuple[dict, dict]:
    """The start-latency rows, and the cgroup view each runs in: ``({name: argv}, {name: view})``.

    Every row runs in the host's own cgroup view, as its users run it, except
    crun's: with ``v1_view`` (a hybrid host) they run inside it, and a row of
    their own times entering it. The first rows are the mission's command as
    the README tells learners to type it (``python -m minictr``), and the
    venv's ``minictr`` script next to it.

    Confinement on both sides: runc's default spec drops capabilities and sets
    the masked and read-only paths but loads no seccomp filter, so it pairs with
    ``seccomp=unconfined``; minictr's default (docker's profile) pairs with runc
    given docker's profile in its config.json (``seccomp_bundle``)."""
    runc_root, crun_root = work / "runc-state", work / "crun-state"
    mc = fixtures.minictr_command(py)
    # runc's default spec gives the container a network namespace with only lo: that is
    # minictr's --network none. docker's default bridge (a veth, an address, nft rules) is
    # more work, measured in a row of its own.
    none = ["run", "--rm", "--network", "none"]
    cmds = {
        "python -m minictr run --rm busybox": [py, "-m", "minictr", *none, "busybox", "/bin/true"],
        "minictr run --rm busybox": [*mc, *none, "busybox", "/bin/true"],
        "minictr run --rm ROOTFS": [*mc, *none, str(rootfs), "/bin/true"],
        "minictr run --rm ROOTFS, seccomp=unconfined": [*mc, *none, "--security-opt", "seccomp=unconfined",
                                                        str(rootfs), "/bin/true"],
        "minictr run --rm busybox, default bridge network": [*mc, "run", "--rm", "busybox", "/bin/true"],
        "runc run": ["runc", "--root", str(runc_root), "run", "--bundle", str(bundle), "minictr-bench"],
    }
    if seccomp_bundle is not None:
        cmds["runc run, docker's seccomp profile"] = ["runc", "--root", str(runc_root), "run", "--bundle",
                                                     str(seccomp_bundle), "minictr-bench"]
    cmds.update({
        "bwrap --unshare-all": ["bwrap", "--unshare-all", "--bind", str(rootfs), "/", "--proc", "/proc",
                                "--dev", "/dev", "/bin/true"],
        "unshare ... chroot": ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net",
                               "chroot", str(rootfs), "/bin/true"],
        "python -c pass": [py, "-c", "pass"],
    })
    crun = {"crun run": ["crun", "--root", str(crun_root), "run", "--bundle", str(bundle), "minictr-bench"]}
    if seccomp_bundle is not None:
        crun["crun run, docker's seccomp profile"] = ["crun", "--root", str(crun_root), "run", "--bundle",
                                                     str(seccomp_bundle), "minictr-bench"]
    cmds = {k: v for k, v in cmds.items() if shutil.which(v[0])}
    views = {k: HOST for k in cmds}
    if shutil.which("crun"):
        for name, argv in crun.items():
            cmds[name] = v1_view.wrap(argv) if v1_view else argv
            views[name] = V1_ONLY if v1_view else HOST
        if v1_view:
            cmds[ENTRY_ROW] = v1_view.entry_command()
            views[ENTRY_ROW] = V1_ONLY
    return cmds, views


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
    ap.add_argument("--no-rootless", action="store_true",
                    help="no rootless rows (they make a throwaway user: minictr and podman both run as it)")
    ap.add_argument("--no-view", action="store_true",
                    help="no v1-only cgroup view for crun (on a hybrid host crun's rows are then left out)")
    args = ap.parse_args(argv)
    if not as_root():
        return 1
    with contextlib.ExitStack() as stack:
        v1_view = None
        if hybrid() and shutil.which("crun"):
            if args.no_view or not can_make_view():
                print("bench: crun refuses a hybrid cgroup host and has no v1-only view: no crun rows",
                      file=sys.stderr)
            else:
                v1_view = stack.enter_context(V1View())
        user = None
        if not args.no_rootless:
            why = rootless.available()
            if why:
                print(f"bench: no rootless rows: {why}", file=sys.stderr)
            else:  # removed at the end, whatever happens (userdel -r)
                user = stack.enter_context(rootless.BenchUser(Path(args.work)))
        return run(args, v1_view, user)


def run(args, v1_view: V1View | None, user: "rootless.BenchUser | None" = None) -> int:

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
    cmds, views = latency_commands(py, rootfs, bundle, work, seccomp_bundle, v1_view)
    if hybrid() and v1_view is None:
        cmds = {k: v for k, v in cmds.items() if not k.startswith("crun")}
    if user is not None:  # minictr and podman rootless, both as the same ordinary user
        rows = rootless.commands(user, fixtures.minictr_command(py), rootfs, REPO)
        cmds.update(rows)
        views.update({k: HOST for k in rows})
    results["views"] = {k: views[k] for k in cmds}
    print(f"bench: timing {len(cmds)} commands x {args.runs} runs ...", file=sys.stderr)
    results["latency"] = timing.time_commands(cmds, runs=args.runs, warmup=args.warmup, env=env,
                                              cwd=str(REPO), json_path=str(out / "hyperfine.json"))
    results["commands"] = {k: " ".join(v) for k, v in cmds.items()}
    if args.interleaved_runs:
        print(f"bench: the same, round-robin x {args.interleaved_runs} ...", file=sys.stderr)
        results["interleaved"] = timing.time_commands(cmds, runs=args.interleaved_runs, warmup=args.warmup,
                                                      env=env, cwd=str(REPO), interleave=True)
    if args.profile_runs:
        print("bench: where the time goes ...", file=sys.stderr)  # (bench/profile.py)
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
