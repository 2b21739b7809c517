"""podman and buildah for the benchmark: a throwaway store, and the containers.conf this host needs.

Both tools run as root does on this host, with the same settings on every row
that uses them, and leave nothing behind:

- **Storage**: the overlay driver (root's default) in a root of its own under the
  work dir (``--root``), and a runroot in /tmp (``--runroot``: podman wants it
  shorter than 50 characters). ``close()`` removes every container and image,
  the firewall rules netavark left for the run's subnet, then both
  directories; /var/lib/containers is never touched.
- **containers.conf** (``CONTAINERS_CONF``), what this host needs and nothing
  else (see /work/shared/NOTES.md):
  - ``default_ulimits``: the bounding set lacks CAP_SYS_RESOURCE, so podman's
    default of raising nofile to the hard limit fails;
  - ``runtime = "runc"``: crun 1.8 refuses this hybrid cgroup host;
  - ``cgroup_manager = "cgroupfs"`` and ``events_logger = "file"``: no systemd,
    no journald here;
  - ``default_subnet``: a /24 that no route covers (``free_subnet``): podman's
    own default, 10.88.0.0/16, is minictr0's too, and two bridges on one subnet
    break both.
- **The image**: ``localhost/busybox``, imported from the benchmark's busybox
  rootfs, so that podman and buildah start from the very files minictr does.

See podman(1), buildah(1), containers.conf(5), containers-storage.conf(5).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

IMAGE = "localhost/busybox:latest"
CONTAINERS_CONF = ('[containers]\ndefault_ulimits = ["nofile=1024:1024","nproc=1024:1024"]\n\n'
                   '[network]\ndefault_subnet = "{subnet}"\n\n'
                   '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')


def taken_networks(routes: str) -> list:
    """The IPv4 networks named in ``ip -4 route show table all``'s output (default routes left out)."""
    import ipaddress

    taken = []
    for word in routes.split():
        if "/" not in word and not word[:1].isdigit():
            continue
        try:
            net = ipaddress.ip_network(word, strict=False)
        except ValueError:
            continue
        if net.prefixlen > 0:
            taken.append(net)
    return taken


def free_subnet(routes: str | None = None, seed: int | None = None) -> str:
    """A 10.214.x.0/24 that no route on the host covers, for podman's default network."""
    import ipaddress

    if routes is None:
        routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True,
                                text=True).stdout
    taken = taken_networks(routes)
    seed = os.getpid() if seed is None else seed
    for i in range(200):
        net = ipaddress.ip_network(f"10.214.{(seed + i) % 200 + 20}.0/24")
        if not any(net.overlaps(t) for t in taken):
            return str(net)
    raise RuntimeError("no free 10.214.x.0/24 for podman's network")


def rules_for(saved: str, subnet: str) -> list[list[str]]:
    """The ``iptables -t TABLE -D ...`` argvs that delete every rule naming ``subnet`` in ``iptables-save``'s output.

    netavark (podman's and buildah's network backend here) adds the network's
    forward and masquerade rules at a container's start, and leaves them after
    the last container on the network is gone; the subnet is this run's own
    (``free_subnet``), so a rule that names it is ours to delete."""
    out, table = [], None
    for line in saved.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith("-A ") and table and subnet in line.split():
            out.append(["iptables", "-t", table, "-D", *shlex.split(line)[1:]])
    return out


def forget_rules(subnet: str) -> None:
    """Delete the iptables rules that name ``subnet`` (see ``rules_for``)."""
    if not shutil.which("iptables-save"):
        return
    saved = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    for argv in rules_for(saved, subnet):
        subprocess.run(argv, capture_output=True)


class Store:
    """podman's and buildah's storage, runroot and containers.conf under ``work``, for one run."""

    def __init__(self, work: Path, subnet: str | None = None):
        self.dir = work / "containers"
        self.close_dirs()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "containers.conf"
        self.subnet = subnet or free_subnet()
        self.conf.write_text(CONTAINERS_CONF.format(subnet=self.subnet))
        self.runroot = tempfile.mkdtemp(prefix="mcb-rr-")
        self.args = ["--root", str(self.dir / "storage"), "--runroot", self.runroot, "--storage-driver", "overlay"]

    def close_dirs(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def env(self, env: dict) -> dict:
        return {**env, "CONTAINERS_CONF": str(self.conf)}

    def podman_argv(self, *args: str) -> list[str]:
        return ["podman", *self.args, *args]

    def buildah_argv(self, *args: str) -> list[str]:
        return ["buildah", *self.args, *args]

    def _run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run(argv, env=self.env(dict(os.environ)), capture_output=True, text=True, timeout=300)
        if check and r.returncode:
            raise RuntimeError(f"{' '.join(argv[:1] + argv[len(self.args) + 1:])} failed: {r.stderr.strip()}")
        return r

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self._run(self.podman_argv(*args), check)

    def buildah(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self._run(self.buildah_argv(*args), check)

    def import_image(self, rootfs: Path) -> None:
        """``localhost/busybox`` from the benchmark's rootfs (the same files as minictr's busybox)."""
        if self.podman("image", "exists", IMAGE, check=False).returncode == 0:
            return
        tar = self.dir / "busybox.tar"
        with tarfile.open(tar, "w") as tf:
            tf.add(rootfs, arcname=".")
        try:
            self.podman("import", "-q", str(tar), IMAGE)
        finally:
            tar.unlink()

    def close(self) -> None:
        """Every container (podman's and buildah's working containers) and image, then the dirs."""
        self.podman("rm", "-af", "-t", "0", check=False)
        self.buildah("rm", "--all", check=False)
        self.podman("rmi", "-af", check=False)
        forget_rules(self.subnet)
        shutil.rmtree(self.runroot, ignore_errors=True)
        self.close_dirs()
