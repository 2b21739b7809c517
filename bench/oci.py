"""minictr's OCI runtime command against runc, as their callers use them (issue 18's speed rows).

Two pairs of rows, timed together in one round-robin run (``timing.time_commands(...,
interleave=True)``) so that both sides of each pair meet the same moments of the machine:

- ``podman --runtime R run --rm busybox /bin/true`` with R = minictr-runtime and R = runc:
  podman 4.3 with its conmon, as a user types it (podman's default network for root, its
  default confinement), with a private store under the work dir holding a ``localhost/busybox``
  image imported from the benchmark's rootfs, and a default network of its own (``podman_config``).
  Everything but the runtime is the same on both
  sides, so the difference of the two medians is the difference of the runtimes' create +
  start + delete as podman calls them.
- ``create`` + ``start`` + ``delete`` of the benchmark's bundle (``runc spec``, running
  ``/bin/true``) with each runtime: ``{ R create --bundle B ID && R start ID; } | cat; R delete
  --force ID``. The container keeps create's stdout, so ``cat`` ends when the container has
  exited: the wait for its exit costs no polling on either side.

podman runs the runtime with an almost empty environment (no PYTHONPATH: conmon passes only a
few variables), so minictr-runtime must be a command that needs none: the venv's console script
next to the benchmarked interpreter when it exists; otherwise a two-line shell script that sets
PYTHONPATH and runs ``python -m minictr.oci`` (the rows' commands show which).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from minictr import timing

PODMAN_ROWS = ("podman --runtime minictr-runtime run --rm busybox true", "podman --runtime runc run --rm busybox true")
BUNDLE_ROWS = ("minictr-runtime create+start+delete BUNDLE", "runc create+start+delete BUNDLE")
IMAGE = "localhost/busybox:latest"
CONTAINERS_CONF = ('[containers]\ndefault_ulimits = ["nofile=1024:1024","nproc=1024:1024"]\n\n'
                   '[network]\nnetwork_config_dir = "{networks}"\n\n'
                   '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
LIFECYCLE = ('{ "$0" --root "$1" create --bundle "$2" "$3" && "$0" --root "$1" start "$3"; } | cat; '
             '"$0" --root "$1" delete --force "$3"')


def free_subnet(second: int = 214) -> str:
    """A /24 in ``10.SECOND.0.0/16`` that no route on the host covers."""
    import ipaddress

    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    taken = []
    for word in routes.split():
        try:
            taken.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            continue
    for i in range(200):
        net = ipaddress.ip_network(f"10.{second}.{(os.getpid() + i) % 200 + 20}.0/24")
        if not any(net.overlaps(t) for t in taken if t.prefixlen > 0):
            return str(net)
    raise RuntimeError(f"no free 10.{second}.x.0/24 for podman's network")


def podman_config(where: Path, second: int = 214) -> Path:
    """``where/containers.conf`` for a private podman (and the network it names); returns its path.

    Beyond the settings some hosts need (``default_ulimits`` where rlimits cannot be raised,
    the cgroupfs manager where systemd is not the init, a file events log), podman's default
    network ``podman`` gets a config file of its own (``network_config_dir``): a subnet that no
    route covers and a bridge named after ``where``. Every podman store on a host otherwise
    shares one bridge, ``podman0``, and podman's subnet, 10.88.0.0/16, which is minictr's
    default bridge's too: the first user's address on podman0 wins, and the containers of
    any other subnet attached to it cannot reach their gateway."""
    import hashlib
    import json

    networks = where / "networks"
    networks.mkdir(parents=True, exist_ok=True)
    subnet = free_subnet(second)
    tag = hashlib.sha256(str(where).encode()).hexdigest()
    (networks / "podman.json").write_text(json.dumps({
        "name": "podman", "id": tag, "driver": "bridge", "network_interface": f"mcp{tag[:10]}",
        "created": "2026-01-01T00:00:00Z",
        "subnets": [{"subnet": subnet, "gateway": subnet.rsplit(".", 1)[0] + ".1"}],
        "ipv6_enabled": False, "internal": False, "dns_enabled": False, "ipam_options": {"driver": "host-local"},
    }, indent=1))
    conf = where / "containers.conf"
    conf.write_text(CONTAINERS_CONF.format(networks=networks))
    return conf


def runtime_command(py: str, work: Path, repo: Path) -> str:
    """minictr-runtime as one executable that needs no environment (see the module docstring)."""
    script = Path(py).parent / "minictr-runtime"
    if script.exists() and Path(py).parent.parent.parent == repo:
        return str(script)
    wrapper = work / "minictr-runtime"
    wrapper.write_text(f"#!/bin/sh\nexport PYTHONPATH='{repo}'\nexec '{py}' -m minictr.oci \"$@\"\n")
    wrapper.chmod(0o755)
    return str(wrapper)


class PodmanStore:
    """podman's storage, runroot and containers.conf under the work dir (the runroot in /tmp:
    podman wants it shorter than 50 characters), made for one run and removed after it: podman's
    database remembers its runroot, and a temp runroot is new each time."""

    def __init__(self, work: Path):
        self.dir = work / "podman"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = podman_config(self.dir)
        self.runroot = tempfile.mkdtemp(prefix="mc-bench-rr-")
        self.args = ["--root", str(self.dir / "storage"), "--runroot", self.runroot, "--storage-driver", "vfs"]

    def env(self, env: dict) -> dict:
        return {**env, "CONTAINERS_CONF": str(self.conf)}

    def podman(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run(["podman", *self.args, *args], env=self.env(dict(os.environ)), capture_output=True,
                              text=True, timeout=300)

    def import_image(self, rootfs: Path) -> None:
        if self.podman("image", "exists", IMAGE).returncode == 0:
            return
        tar = self.dir / "busybox.tar"
        with tarfile.open(tar, "w") as tf:
            tf.add(rootfs, arcname=".")
        r = self.podman("import", "-q", str(tar), IMAGE)
        tar.unlink()
        if r.returncode:
            raise RuntimeError(f"podman import failed: {r.stderr.strip()}")

    def close(self) -> None:
        self.podman("rm", "-af", "-t", "0")
        shutil.rmtree(self.runroot, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def commands(minictr_runtime: str, bundle: Path, work: Path, store: PodmanStore | None) -> dict:
    """The rows: ``{name: argv}``; the podman pair only with ``store``."""
    cmds = {}
    if store is not None:
        for name, rt in zip(PODMAN_ROWS, (minictr_runtime, shutil.which("runc") or "runc")):
            cmds[name] = ["podman", *store.args, "--runtime", rt, "run", "--rm", IMAGE, "/bin/true"]
    for name, rt, root in zip(BUNDLE_ROWS, (minictr_runtime, shutil.which("runc") or "runc"),
                              (work / "oci-minictr-state", work / "oci-runc-state")):
        cmds[name] = ["sh", "-c", LIFECYCLE, rt, str(root), str(bundle), "minictr-bench-oci"]
    return cmds


def run(py: str, work: Path, repo: Path, rootfs: Path, bundle: Path, env: dict, runs: int, warmup: int) -> dict:
    """Time the rows round-robin; ``{"latency": {name: stats}, "commands": {name: command line}}``."""
    if not shutil.which("runc"):
        return {}
    rt = runtime_command(py, work, repo)
    store = PodmanStore(work) if shutil.which("podman") else None
    try:
        if store is not None:
            store.import_image(rootfs)
            env = store.env(env)
        cmds = commands(rt, bundle, work, store)
        lat = timing.time_commands(cmds, runs=runs, warmup=warmup, env=env, interleave=True)
    finally:
        if store is not None:
            store.close()
    return {"latency": lat, "commands": {k: shlex.join(v) for k, v in cmds.items()}}


def markdown(res: dict) -> str:
    """The section of latest.md: the two pairs, each with minictr's time over runc's."""
    lat = res["latency"]
    runs = next(iter(lat.values()))["runs"]
    out = ["## The OCI runtime command: minictr-runtime in runc's place", "",
           f"Round-robin, {runs} rounds (both sides of each pair in the same run; `bench/oci.py`). "
           "The podman rows are podman 4.3 + conmon as a user runs them (podman's default network and "
           "confinement), the runtime being the only difference; the bundle rows are `runc spec`'s bundle "
           "running `/bin/true`, waited for through its stdout.", "",
           "| command | median ms | IQR ms | × runc |", "|---|---:|---:|---:|"]
    for ours, theirs in (PODMAN_ROWS, BUNDLE_ROWS):
        for name in (ours, theirs):
            if name in lat:
                r = lat[name]
                x = f"{r['median'] / lat[theirs]['median']:.2f}" if theirs in lat else "–"
                out.append(f"| {name} | {r['median'] * 1000:.1f} | {r['iqr'] * 1000:.1f} | {x} |")
    out += ["", "Commands:", ""] + [f"- {k}: `{v}`" for k, v in res["commands"].items()]
    return "\n".join(out) + "\n"
