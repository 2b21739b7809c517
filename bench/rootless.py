"""The rootless rows: ``minictr run`` against ``podman run``, both as the same ordinary user.

A throwaway user (``minictr-bench-XXXX``, home under the work dir, subordinate
ids from useradd) is made for the run and removed after it, even when the run
fails. Both rows start ``/bin/true`` from the same busybox root filesystem, each
from that user's own store (``$XDG_DATA_HOME``: minictr's ``busybox``, and the
rootfs ``podman import``ed), with ``--network none``, in a user namespace with
the user's subordinate range mapped through newuidmap, as each runs by default.

Both commands go through the same prefix, ``setpriv`` to the user and ``env -i``
to the user's environment (HOME, XDG_RUNTIME_DIR, PATH), so the prefix costs
both the same. The prefix starts with ``catatonit`` (podman's own small init), a
subreaper: podman's conmon is orphaned on purpose, and this machine's PID 1 reaps
orphans only after seconds (NOTES.md), while podman waits for conmon to be gone;
catatonit reaps it at once, for both rows alike. The user's XDG_RUNTIME_DIR is a
short path: with a long one conmon cannot make its sockets, and every podman run
waits 20 s ("Exceeded conmon timeout"). podman runs with runc: crun refuses hybrid cgroup hosts
(NOTES.md). Without cgroup v2 delegation (this hybrid host) neither makes a
cgroup for a rootless container.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
from pathlib import Path

from minictr import procfs

MINICTR_ROW = "minictr run --rm busybox, rootless"
PODMAN_ROW = "podman run --rm (runc), rootless"
PODMAN_IMAGE = "localhost/minictr-bench-busybox"
NEEDED = ("useradd", "userdel", "setpriv", "newuidmap", "podman", "runc", "catatonit")


def available() -> str:
    """"" when the rootless rows can run here, else why not."""
    if os.geteuid() != 0:
        return "the rootless rows make a throwaway user: they need root"
    missing = [t for t in NEEDED if shutil.which(t) is None]
    return f"missing {', '.join(missing)}" if missing else ""


class BenchUser:
    """A throwaway ordinary user for the rootless rows (a context manager)."""

    def __init__(self, work: Path):
        self.name = "minictr-bench-" + secrets.token_hex(2)

    def __enter__(self) -> "BenchUser":
        from minictr.labs.kit import reachable_mkdtemp

        # The user's home must be reachable by the user: the work dir may sit under a
        # directory that others cannot pass (a test's tmp_path is 0700).
        self.base = Path(reachable_mkdtemp("mcb-user-"))
        self.base.chmod(0o755)
        self.home = self.base / "home"
        subprocess.run(["useradd", "--create-home", "--home-dir", str(self.home), "--shell", "/bin/sh",
                        "--comment", "minictr bench/rootless.py", self.name], check=True, capture_output=True)
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        # Short: podman's conmon makes sockets under $XDG_RUNTIME_DIR, and a socket's path
        # may be at most 107 bytes (unix(7)); a long one leaves podman waiting 20 s per run.
        import tempfile
        self.runtime = Path(tempfile.mkdtemp(prefix="mcb-"))
        os.chown(self.runtime, self.uid, self.gid)
        return self

    def prefix(self, repo: Path) -> list[str]:
        """A subreaper, setpriv to the user, then exactly the user's environment."""
        return ["catatonit", "--", "setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--",
                "env", "-i", f"HOME={self.home}", f"USER={self.name}", f"XDG_RUNTIME_DIR={self.runtime}",
                "PATH=/usr/local/bin:/usr/bin:/bin", f"PYTHONPATH={repo}"]

    def run(self, repo: Path, argv: list[str], **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.prefix(repo) + argv, capture_output=True, text=True, timeout=300, **kw)

    def __exit__(self, *exc) -> None:
        self.run(Path("/"), ["podman", "system", "reset", "--force"])  # podman's storage: the user's files
        for pid in procfs.pids_of_user(self.uid):  # only this user's processes, all started here (podman's pause process)
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        subprocess.run(["userdel", "--remove", self.name], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.rmtree(self.runtime, ignore_errors=True)



def commands(user: BenchUser, mc: list[str], rootfs: Path, repo: Path) -> dict[str, list[str]]:
    """The two rows, after making each one's image in the user's own store (untimed)."""
    tar = user.base / "rootfs.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tar), "."], check=True)
    tar.chmod(0o644)
    made = user.run(repo, ["podman", "import", str(tar), PODMAN_IMAGE])
    if made.returncode != 0:
        raise RuntimeError(f"podman import as {user.name}: {made.stderr.strip()}")
    none = ["--rm", "--network", "none"]
    rows = {
        MINICTR_ROW: user.prefix(repo) + mc + ["run", *none, "busybox", "/bin/true"],
        PODMAN_ROW: user.prefix(repo) + ["podman", "--runtime", "/usr/bin/runc", "run", *none, "--pull=never",
                                         PODMAN_IMAGE, "/bin/true"],
    }
    for name, argv in rows.items():  # builds minictr's busybox, and makes sure each row works
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"{name}: {r.stderr.strip()}")
    return rows
