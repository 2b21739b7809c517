"""Issue 16's rows: ``run -d`` + ``stop``, ``run --rm`` on a bridge and on none, ``exec``, against podman.

Each pair is minictr and podman 4.3 (+ conmon, runc) doing the same thing as
their users type it, both in the host's own cgroup view, timed together in one
round-robin run (``rounds.time_rows``):

- ``run -d`` then ``stop``: a container that ends on SIGTERM, as a service
  does (``sh -c 'trap "exit 0" TERM; sleep 600 & wait'``: busybox ``sleep``
  as PID 1 would ignore SIGTERM, and both stops would wait out their 10 s).
  Both on their default network (the bridge). ``rm`` after it, untimed.
- ``run --rm --network bridge busybox true`` and the same with ``--network
  none``: the difference of the two medians is each side's bridge set-up
  (a veth, an address, the routes, NAT rules) and tear-down.
- ``exec CTR true`` into a container started once before the rounds.

podman runs with ``bench/podman.py``'s store and containers.conf (runc; a
default subnet of its own); minictr with the benchmark's store. The goal of
each pair (issue 16) is minictr at or below podman.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from . import rounds
from .podman import IMAGE, Store

TRAP = "trap 'exit 0' TERM; sleep 600 & wait"
GOAL = "at or below podman"
#: (what, minictr's row, podman's row)
PAIRS = (
    ("run -d, then stop", "minictr run -d + minictr stop", "podman run -d + podman stop"),
    ("run --rm --network bridge true", "minictr run --rm --network bridge busybox true",
     "podman run --rm --network bridge busybox true"),
    ("run --rm --network none true", "minictr run --rm --network none busybox true",
     "podman run --rm --network none busybox true"),
    ("exec CTR true", "minictr exec CTR true", "podman exec CTR true"),
)
BRIDGE, NONE = PAIRS[1], PAIRS[2]
EXEC_CTR = "mcb-exec"


def rows(mc: list[str], store: Store | None) -> list[rounds.Row]:
    """The rows, minictr's and podman's of each pair next to each other (podman's only with ``store``)."""
    sides = [(mc, "busybox", "mcb")]
    if store is not None:
        sides.append((store.podman_argv(), IMAGE, "pmb"))
    out = []
    for _what, *names in PAIRS:
        for (cli, image, prefix), name in zip(sides, names):
            if name.endswith("stop"):
                ctr = f"{prefix}-ls-{{n}}"
                out.append(rounds.Row(name, ([*cli, "run", "-d", "--name", ctr, image, "sh", "-c", TRAP],
                                             [*cli, "stop", ctr]), ([*cli, "rm", ctr],)))
            elif name.endswith("exec CTR true"):
                out.append(rounds.Row(name, ([*cli, "exec", EXEC_CTR, "true"],)))
            else:
                net = "bridge" if "bridge" in name else "none"
                out.append(rounds.Row(name, ([*cli, "run", "--rm", "--network", net, image, "true"],)))
    return out


def exec_targets(mc: list[str], store: Store | None) -> tuple[list, list]:
    """(the commands that start the exec rows' containers, the commands that remove them)."""
    start = [[*mc, "run", "-d", "--name", EXEC_CTR, "busybox", "sleep", "3600"]]
    stop = [[*mc, "rm", "-f", EXEC_CTR]]
    if store is not None:
        start.append(store.podman_argv("run", "-d", "--name", EXEC_CTR, IMAGE, "sleep", "3600"))
        stop.append(store.podman_argv("rm", "-f", "-t", "0", EXEC_CTR))
    return start, stop


def run(mc: list[str], work: Path, rootfs: Path, env: dict, runs: int, warmup: int) -> dict:
    """Time the rows; ``{"latency", "commands", "containers_conf"}``."""
    import shutil
    import subprocess

    store = None
    if shutil.which("podman") and shutil.which("runc"):
        store = Store(work)
    try:
        if store is not None:
            store.import_image(rootfs)
            env = store.env(env)
        start, stop = exec_targets(mc, store)
        try:
            for argv in start:
                subprocess.run(argv, env=env, check=True, capture_output=True, timeout=120)
            rs = rows(mc, store)
            lat = rounds.time_rows(rs, runs, warmup, env=env)
        finally:
            for argv in stop:
                subprocess.run(argv, env=env, capture_output=True, timeout=120)
    finally:
        if store is not None:
            conf = store.conf.read_text()
            store.close()
    return {"latency": lat, "commands": {r.name: " ; ".join(shlex.join(s) for s in r.steps) for r in rs},
            "containers_conf": conf if store is not None else ""}


def _ms(s: float) -> str:
    return f"{s * 1000:.1f}"


def markdown(res: dict) -> str:
    """latest.md's section: each pair with minictr over podman, the goal, and the bridge's own cost."""
    lat = res["latency"]
    runs = next(iter(lat.values()))["runs"]
    out = ["## Containers that live on: minictr against podman (issue 16)", "",
           f"Round-robin, {runs} rounds (every row once per round; `bench/everyday.py`). podman 4.3 with "
           "conmon and runc, overlay storage in a throwaway root, this host's containers.conf (below); "
           "both sides in the host's own cgroup view, on their default network unless the row says. "
           "Goal of every pair (issue 16): minictr " + GOAL + ".", "",
           "| what | minictr median ms | IQR ms | podman median ms | IQR ms | × podman | goal | met |",
           "|---|---:|---:|---:|---:|---:|---|---|"]
    for what, ours, theirs in PAIRS:
        if ours not in lat:
            continue
        a = lat[ours]
        if theirs in lat:
            b = lat[theirs]
            x = a["median"] / b["median"]
            out.append(f"| {what} | {_ms(a['median'])} | {_ms(a['iqr'])} | {_ms(b['median'])} | {_ms(b['iqr'])} "
                       f"| {x:.2f} | {GOAL} | {'yes' if x <= 1 else 'no'} |")
        else:
            out.append(f"| {what} | {_ms(a['median'])} | {_ms(a['iqr'])} | – | – | – | {GOAL} | – |")
    setup = [(side, lat[b]["median"] - lat[n]["median"]) for side, b, n in
             (("minictr", BRIDGE[1], NONE[1]), ("podman", BRIDGE[2], NONE[2])) if b in lat and n in lat]
    if setup:
        out += ["", "Bridge set-up and tear-down, each side against its own `--network none` (a difference "
                "of medians, so an estimate): "
                + "; ".join(f"{side} {_ms(d)} ms" for side, d in setup)
                + (f" (goal: at or below podman's; {'met' if setup[0][1] <= setup[1][1] else 'not met'})."
                   if len(setup) == 2 else ".")]
    stop = PAIRS[0]
    if all(n in lat and len(lat[n].get("steps", ())) == 2 for n in stop[1:]):
        out += ["", "`run -d + stop`, step by step (medians): " + "; ".join(
            f"{n.split()[0]}: run -d {_ms(lat[n]['steps'][0]['median'])} ms, stop {_ms(lat[n]['steps'][1]['median'])} ms"
            for n in stop[1:]) + "."]
    out += ["", "Commands (`{n}`: the round's number; `rm` of each `run -d` container after the round, untimed):", ""]
    out += [f"- {k}: `{v}`" for k, v in res["commands"].items()]
    if res.get("containers_conf"):
        out += ["", "podman's containers.conf (`CONTAINERS_CONF`, `bench/podman.py`):", "", "```toml",
                res["containers_conf"].rstrip(), "```"]
    return "\n".join(out) + "\n"
