"""Turn the benchmark's numbers into bench/results/latest.md and latest.png.

``python -m bench.report [bench/results/latest.json]`` redraws both from the
numbers of the last run, without running anything again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from . import builds, everyday
from .view import ENTRY_ROW, HOST, V1_ONLY

BASELINES = ("runc run", "crun run")
#: Like for like (the same confinement on both sides, both in the host's cgroup view):
#: (what, minictr's row, runc's row).
CONFINEMENT_PAIRS = (
    ("capabilities, masks, read-only paths; no seccomp", "minictr run --rm ROOTFS, seccomp=unconfined", "runc run"),
    ("the same, plus docker's default seccomp profile", "minictr run --rm ROOTFS",
     "runc run, docker's seccomp profile"),
)
#: How a row that ran in the v1-only view is labelled (only crun's do, on a hybrid host).
V1_NOTE = "v1-only view; crun refuses hybrid hosts"
VIEW_CELL = {HOST: "host's own", V1_ONLY: "v1-only"}


def _ms(s: float) -> str:
    return f"{s * 1000:.1f}"


def row_label(name: str, views: dict) -> str:
    """A row's name, with the view it ran in when that is not the host's own."""
    if views.get(name) == V1_ONLY and name != ENTRY_ROW:
        return f"{name} ({V1_NOTE})"
    return name


def _view_of(name: str, views: dict) -> str:
    return VIEW_CELL.get(views.get(name), "?")


def latency_table(lat: dict, views: dict | None = None) -> str:
    """One row per command: which cgroup view it ran in, its times, and its ratios to runc and crun.
    The ratio headers say which view runc's and crun's rows ran in."""
    views = views or {}
    heads = []
    for b in BASELINES:
        v = views.get(b)
        heads.append(f"× {b.split()[0]} ({VIEW_CELL.get(v, '?')} view"
                     + (", entering it included" if v == V1_ONLY else "") + ")")
    rows = [f"| command | cgroup view | median ms | IQR ms | mean ± σ ms | {heads[0]} | {heads[1]} |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for name, r in lat.items():
        ratios = [f"{r['median'] / lat[b]['median']:.2f}" if b in lat else "–" for b in BASELINES]
        rows.append(f"| {row_label(name, views)} | {_view_of(name, views)} | {_ms(r['median'])} | {_ms(r['iqr'])} "
                    f"| {_ms(r['mean'])} ± {_ms(r['stdev'])} | {ratios[0]} | {ratios[1]} |")
    return "\n".join(rows)


def view_entry_note(lat: dict, views: dict | None = None) -> str:
    """What entering crun's v1-only view costs, and crun's medians with it taken off; "" without the view."""
    views = views or {}
    if ENTRY_ROW not in lat:
        return ""
    e = lat[ENTRY_ROW]["median"]
    crun = [n for n in lat if n.startswith("crun") and views.get(n) == V1_ONLY]
    out = (f"crun's rows ran in the v1-only view, and their times include entering it: {_ms(e)} ms "
           f"(the row \"{ENTRY_ROW}\": nsenter into the view's mount namespace, then `/bin/true`). "
           "Taken off (a difference of medians, so an estimate): ")
    out += "; ".join(f"{n} {_ms(lat[n]['median'] - e)} ms" for n in crun) + "."
    return out


def confinement_table(lat: dict) -> str:
    """minictr against runc with the same confinement, row by row; "" when the rows are missing."""
    rows = ["| confinement | minictr ms | runc ms | × runc |", "|---|---:|---:|---:|"]
    for what, ours, theirs in CONFINEMENT_PAIRS:
        if ours in lat and theirs in lat:
            a, b = lat[ours]["median"], lat[theirs]["median"]
            rows.append(f"| {what} | {_ms(a)} | {_ms(b)} | {a / b:.2f} |")
    return "\n".join(rows) if len(rows) > 2 else ""


def markdown(res: dict) -> str:
    m = res["machine"]
    lat = res.get("latency")
    views = res.get("views", {})
    out = [
        "# minictr start latency, side by side" if lat else "# minictr side by side (a selection of the rows)",
        "",
        f"{m['date']} · {m['nproc']} CPUs ({m['cpu']}) · kernel {m['kernel']} · {m['python']}"
        + (f" · load average {m['load']} at the start" if "load" in m else ""),
        f"host cgroups: {m['cgroups']} · {m['runc']} · {m['crun']} · {m['bwrap']} · {m['hyperfine']}"
        + (f" · {m['podman']} · {m['buildah']}" if "podman" in m else ""),
        "",
    ]
    if lat:
        out += _latency_sections(res, lat, views)
    if res.get("everyday"):
        out += [everyday.markdown(res["everyday"])]
    if res.get("build"):
        out += [builds.markdown(res["build"])]
    return _rest(res, out)


def _latency_sections(res: dict, lat: dict, views: dict) -> list[str]:
    runs = next(iter(lat.values()))["runs"]
    out = [
        f"`/bin/true` in the same busybox rootfs, {runs} runs each after warm-up, one hyperfine run "
        "(`hyperfine -N`, no shell). IQR is the spread of the middle half of the runs.",
        "",
        "Every row runs in the host's own cgroup view, as its users run it"
        + (", except crun's: crun refuses a hybrid cgroup host, so its rows run in a v1-only view (a private "
           "mount namespace without /sys/fs/cgroup/unified, `bench/view.py`)." if V1_ONLY in views.values()
           else "."),
        "",
        latency_table(lat, views),
        "",
    ]
    note = view_entry_note(lat, views)
    if note:
        out += [note, ""]
    pairs = confinement_table(res.get("interleaved", lat))
    if pairs:
        out += ["### Confinement, like for like", "",
                "Both sides in the host's own cgroup view. runc's default spec drops capabilities and sets runc's masked and read-only paths, as "
                "minictr does by default, but loads no seccomp filter; docker passes its profile in the "
                "config.json (`bench/fixtures.py`, `oci_seccomp`). Medians"
                + (" of the round-robin run." if "interleaved" in res else "."), "", pairs, ""]
    if "interleaved" in res:
        il = res["interleaved"]
        out += [
            "### A second opinion: round-robin",
            "",
            f"The same commands, {next(iter(il.values()))['runs']} rounds of one run each (posix_spawn, "
            "`timing.time_commands(..., interleave=True)`). hyperfine times one command after the other, so "
            "on a VM whose speed drifts the rows above met different moments; here every command meets the "
            "same ones, so the ratios are the ones to trust.",
            "",
            latency_table(il, views),
            "",
        ]
        note = view_entry_note(il, views)
        if note:
            out += [note, ""]
    out += ["Commands:", ""]
    out += [f"- {row_label(k, views)}: `{v}`" for k, v in res.get("commands", {}).items()]
    return out + [""]


def _rest(res: dict, out: list[str]) -> str:
    if res.get("oci"):
        from .oci import markdown as oci_markdown
        out += ["", oci_markdown(res["oci"])]
    if "profile" in res:
        from .profile import markdown as profile_markdown
        out += ["", "## Where the time of `minictr run` goes", "",
                "One start, phase by phase: the median of each phase over "
                f"{res['profile'].get('runs', '?')} runs (`python -m bench.profile`).", "",
                profile_markdown(res["profile"])]
    if "image_size" in res:
        im = res["image_size"]
        out += ["", "## Scaling", "", "### Run latency against image size", "",
                "| image | median ms | IQR ms |", "|---|---:|---:|"]
        out += [f"| {k} (layers cached) | {_ms(v['median'])} | {_ms(v['iqr'])} |" for k, v in im["warm"].items()]
        cold = im["cold_first_run"]
        out += [f"| busybox + 500 MB layer, first run (unpacks the layer) | {_ms(cold['median'])} "
                f"| {_ms(cold['iqr'])} |"]
    if "unpack" in res:
        out += ["", "### Layer unpack throughput (page cache warm, same file system)", "",
                "| layer | size MB | minictr.tarball.extract s | MB/s | GNU tar -x s | MB/s | minictr / tar |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for label, row in res["unpack"].items():
            a, b = row["minictr.tarball.extract"], row["GNU tar -x"]
            out.append(f"| {label} | {row['bytes'] / 1e6:.1f} | {a['median_s']:.3f} | {a['MB_per_s']:.0f} "
                       f"| {b['median_s']:.3f} | {b['MB_per_s']:.0f} | {a['median_s'] / b['median_s']:.2f}× |")
    if "concurrency" in res:
        out += ["", "### Concurrent containers", "",
                "Wall time: N `minictr run --rm busybox -- /bin/true` started at once, until all exited. "
                "Memory: N `run -i busybox -- cat` waiting on stdin; each supervising CLI process, "
                "from /proc/PID/status (VmRSS) and /proc/PID/smaps_rollup (Pss).", "",
                "| N | wall s (/bin/true) | s until all running | RSS per supervisor MB | "
                "Pss per supervisor MB |", "|---:|---:|---:|---:|---:|"]
        for n, row in res["concurrency"].items():
            out.append(f"| {n} | {row['wall_true_s']:.2f} | {row['all_running_s']:.2f} "
                       f"| {row['rss_kb_mean'] / 1024:.1f} | {row['pss_kb_mean'] / 1024:.1f} |")
    return "\n".join(out) + "\n"


def chart(res: dict, path: Path) -> None:
    """A horizontal bar chart of the medians, with the IQR as error bars."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lat = res["latency"]
    views = res.get("views", {})
    names = list(lat)[::-1]
    med = [lat[n]["median"] * 1000 for n in names]
    lo = [(lat[n]["median"] - lat[n]["q1"]) * 1000 for n in names]
    hi = [(lat[n]["q3"] - lat[n]["median"]) * 1000 for n in names]
    colors = ["tab:orange" if "minictr" in n and not n.startswith("python -c") else "tab:gray" if n.startswith("python")
              else "tab:blue" for n in names]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.5))
    ax.barh([row_label(n, views) for n in names], med, xerr=[lo, hi], color=colors, capsize=3)
    for y, (v, h) in enumerate(zip(med, hi)):
        ax.text(v + h, y, f"  {v:.1f}", va="center")  # right of the IQR bar, not on it
    m = res["machine"]
    ax.set_xlabel("start + exit of /bin/true, median ms (bars: IQR)")
    ax.set_title(f"Container start latency · {m['date']} · {m['nproc']} CPUs · kernel {m['kernel']}", fontsize=9)
    ax.set_xlim(0, max(m + h for m, h in zip(med, hi)) * 1.15)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    src = Path(argv[0] if argv else Path(__file__).parent / "results" / "latest.json")
    res = json.loads(src.read_text())
    (src.parent / "latest.md").write_text(markdown(res))
    chart(res, src.parent / "latest.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
