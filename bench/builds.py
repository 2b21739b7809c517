"""Issue 17's rows: one 6-step Containerfile built by ``minictr build`` and by ``buildah bud``, cold and cached.

Both builders start from the same busybox files (minictr's default image; for
buildah, ``localhost/busybox`` imported from the benchmark's rootfs, see
podman.py) and build the same context (``make_context``: twenty small files
and 1 MB of data). Four rows, timed together round-robin (``rounds.time_rows``),
in this order in every round:

- cold: ``--no-cache``, every step built again (the base image is in the store);
- cached: the same build again with nothing changed, right after the cold one:
  every step comes from the cache.

buildah runs as root runs it here: ``buildah bud`` with its default isolation
for root (OCI: RUN steps in a runc container, runc from containers.conf, since
crun refuses this hybrid cgroup host), overlay storage in a throwaway root,
and ``--layers``: without it buildah keeps no per-step cache at all, and a
rebuild would build everything again (``podman build`` turns it on by
default). ``--pull=never``: offline, the base is local on both sides.

Goals (issue 17): cold at or below buildah; a cached rebuild under 10% of the
cold build.
"""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path

from . import rounds
from .podman import Store

CONTAINERFILE = """\
FROM busybox
ENV APP_HOME=/app
WORKDIR /app
COPY app/ ./
RUN mkdir -p out && echo built > out/stamp && ls -l > out/listing
CMD ["cat", "/app/out/stamp"]
"""
STEPS = 6
TAG = "mcb-buildapp"
#: (minictr's row, buildah's row) for cold, then cached
COLD = ("minictr build --no-cache", "buildah bud --layers --no-cache")
CACHED = ("minictr build (cached)", "buildah bud --layers (cached)")
CACHED_GOAL = 0.10


def make_context(work: Path) -> Path:
    """The build context: the Containerfile, twenty small text files and 1 MB of fixed pseudo-random bytes."""
    ctx = work / "build-context"
    app = ctx / "app"
    app.mkdir(parents=True, exist_ok=True)
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    for i in range(20):
        (app / f"f{i:02d}.txt").write_text(f"file {i}\n" * (i + 1))
    block = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(1 << 15))  # 1 MiB
    if not (app / "data.bin").exists() or (app / "data.bin").read_bytes() != block:
        (app / "data.bin").write_bytes(block)
    return ctx


def rows(mc: list[str], ctx: Path, store: Store | None) -> list[rounds.Row]:
    ours = [*mc, "build", "-t", TAG]
    out = [rounds.Row(COLD[0], ([*ours[:-2], "--no-cache", "-t", TAG, str(ctx)],))]
    theirs = store.buildah_argv("bud", "--layers", "--pull=never", "-t", TAG) if store is not None else None
    if theirs:
        out.append(rounds.Row(COLD[1], ([*theirs[:-2], "--no-cache", "-t", TAG, str(ctx)],)))
    out.append(rounds.Row(CACHED[0], ([*ours, str(ctx)],)))
    if theirs:
        out.append(rounds.Row(CACHED[1], ([*theirs, str(ctx)],)))
    return out


def run(mc: list[str], work: Path, rootfs: Path, env: dict, runs: int, warmup: int) -> dict:
    """Time the rows; ``{"latency", "commands", "containerfile"}``. The built images are removed after."""
    import shutil
    import subprocess

    ctx = make_context(work)
    store = Store(work) if shutil.which("buildah") and shutil.which("podman") and shutil.which("runc") else None
    try:
        if store is not None:
            store.import_image(rootfs)
            env = store.env(env)
        rs = rows(mc, ctx, store)
        lat = rounds.time_rows(rs, runs, warmup, env=env)
    finally:
        subprocess.run([*mc, "rmi", TAG], env=env, capture_output=True, timeout=120)
        subprocess.run([*mc, "image", "prune"], env=env, capture_output=True, timeout=300)
        if store is not None:
            store.close()
    return {"latency": lat, "commands": {r.name: shlex.join(r.steps[0]) for r in rs},
            "containerfile": CONTAINERFILE}


def _ms(s: float) -> str:
    return f"{s * 1000:.0f}"


def markdown(res: dict) -> str:
    """latest.md's section: cold and cached per builder, against buildah and against their own cold build."""
    lat = res["latency"]
    runs = next(iter(lat.values()))["runs"]
    out = ["## Building an image: minictr build against buildah bud (issue 17)", "",
           f"The same {STEPS}-step Containerfile (below), round-robin, {runs} rounds: in each, minictr's cold "
           "build, buildah's, then a rebuild of each with nothing changed (`bench/builds.py`). buildah as root "
           "runs it here: default (OCI) isolation with runc, overlay storage in a throwaway root, `--layers` "
           "(its per-step cache). Goals (issue 17): cold at or below buildah; cached under 10% of cold.", "",
           "| build | minictr median ms | IQR ms | buildah median ms | IQR ms | × buildah | cached / cold |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for what, (ours, theirs) in (("cold (`--no-cache`)", COLD), ("cached (nothing changed)", CACHED)):
        if ours not in lat:
            continue
        a, b = lat[ours], lat.get(theirs)
        cells = [_ms(a["median"]), _ms(a["iqr"])]
        cells += [_ms(b["median"]), _ms(b["iqr"]), f"{a['median'] / b['median']:.2f}"] if b else ["–"] * 3
        if ours == CACHED[0] and COLD[0] in lat:
            mine = a["median"] / lat[COLD[0]]["median"]
            pct = f"{mine:.0%}"
            if b and COLD[1] in lat:
                pct += f" (buildah {b['median'] / lat[COLD[1]]['median']:.0%})"
        else:
            pct = ""
        out.append(f"| {what} | " + " | ".join(cells) + f" | {pct} |")
    goals = []
    if COLD[0] in lat and COLD[1] in lat:
        ok = lat[COLD[0]]["median"] <= lat[COLD[1]]["median"]
        goals.append(f"cold at or below buildah: {'met' if ok else 'not met'}")
    if COLD[0] in lat and CACHED[0] in lat:
        ok = lat[CACHED[0]]["median"] < CACHED_GOAL * lat[COLD[0]]["median"]
        goals.append(f"cached under 10% of cold: {'met' if ok else 'not met'}")
    if goals:
        out += ["", "Goals: " + "; ".join(goals) + "."]
    out += ["", "Commands:", ""] + [f"- {k}: `{v}`" for k, v in res["commands"].items()]
    out += ["", "The Containerfile (the context: `app/` with twenty small files and 1 MB of data):", "",
            "```dockerfile", res["containerfile"].rstrip(), "```"]
    return "\n".join(out) + "\n"
