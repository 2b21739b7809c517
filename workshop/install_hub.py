"""Install and start the workshop's JupyterHub on a fresh Debian or Ubuntu VM (as root).

    python3 workshop/install_hub.py --users workshop/users.txt [--prefix /opt/minictr-hub]
    python3 workshop/install_hub.py --users ... --dry-run     # print the plan, change nothing
    python3 workshop/install_hub.py stop --prefix ...          # stop the hub

``make workshop-hub USERS=...`` installs the Debian packages first, then runs this. Like
minictr's mount plan, the work is a list of steps made as data (``plan``), then one loop
that applies them (``apply``); each step says how to tell it is done already, so a second
run changes nothing, and the hub restarts only when what it serves changed (a fingerprint
of the source tree, the user list and the unit, in STATE/installed.sha256).

Under PREFIX: ``src/`` (a root-owned copy of this checkout, readable by all: every
participant's kernel imports minictr from it), ``venv/`` (jupyterhub, the systemd spawner,
JupyterLab: ``mk/devinstall.py lab workshop``), ``proxy/`` (configurable-http-proxy from the
npm registry), ``state/`` (the hub's database, secrets, api_token, log and pid file, 0700),
``hub.env`` (the MINICTR_HUB_* settings jupyterhub_config.py reads), ``users.txt`` and
``passwords.txt`` (0600: the passwords made up for users listed without one).

Each listed user becomes a Unix user with a 0700 home and a subordinate id range in
/etc/subuid and /etc/subgid (rootless minictr maps it through newuidmap). The hub runs
as the systemd unit ``minictr-hub.service`` where systemd is PID 1, else as a background
process whose pid is in STATE/hub.pid. Man pages: useradd(8), usermod(8), chpasswd(8),
subuid(5), systemd.service(5).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from typing import Callable, NamedTuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import roster  # noqa: E402  (workshop/roster.py: importable only after the path above)

UNIT = "minictr-hub.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"
SKIP = (".git", ".venv", "build", "__pycache__", ".pytest_cache", ".ipynb_checkpoints", "artifacts", "*.egg-info")
SUBID_COUNT = 65536
# 4.x: 5.x needs Node 20, and Debian 12 and Ubuntu 24.04 ship 18 (Ubuntu 22.04: 12); the Makefile's CHP_SPEC.
CHP_SPEC = "configurable-http-proxy@4"


class Step(NamedTuple):
    what: str                          # one line for the log and --dry-run
    done: Callable[[], bool]           # True when there is nothing to do
    run: Callable[[], None]


class Layout:
    """The directories under the prefix (the module docstring says what each holds)."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.src, self.venv, self.proxy, self.state = (os.path.join(prefix, d) for d in ("src", "venv", "proxy", "state"))
        self.chp = os.path.join(self.proxy, "node_modules", ".bin", "configurable-http-proxy")


def sh(*argv: str, **kw) -> None:
    subprocess.run(argv, check=True, **kw)


def systemd_is_pid1() -> bool:
    try:
        with open("/proc/1/comm") as f:
            return f.read().strip() == "systemd" and os.path.isdir("/run/systemd/system")
    except OSError:
        return False


# ---- the users -------------------------------------------------------------------------

def user_exists(name: str) -> bool:
    import pwd
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def subid_ranges(path: str) -> dict[str, tuple[int, int]]:
    ranges = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                    ranges[parts[0]] = (int(parts[1]), int(parts[2]))
    except FileNotFoundError:
        pass
    return ranges


def next_free_subid(ranges: dict[str, tuple[int, int]], start: int = 100000) -> int:
    """The first id above every range already given out (subuid(5): ranges must not overlap)."""
    return max([start, *(first + count for first, count in ranges.values())])


def add_subids(name: str) -> None:
    for path, flag in (("/etc/subuid", "--add-subuids"), ("/etc/subgid", "--add-subgids")):
        if name not in subid_ranges(path):
            first = next_free_subid(subid_ranges(path))
            sh("usermod", flag, f"{first}-{first + SUBID_COUNT - 1}", name)


def has_subids(name: str) -> bool:
    return all(name in subid_ranges(p) for p in ("/etc/subuid", "/etc/subgid"))


def set_password(name: str, password: str) -> None:
    sh("chpasswd", input=f"{name}:{password}\n".encode())


def create_user(person: roster.Participant, sheet: str) -> None:
    # HOME_MODE 0700: participants cannot read each other's notebooks (or copy solutions).
    sh("useradd", "--create-home", "--shell", "/bin/bash", "-K", "HOME_MODE=0700", person.name)
    password = person.password or secrets.token_urlsafe(9)
    set_password(person.name, password)
    if person.password is None:
        fd = os.open(sheet, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(f"{person.name} {password}\n")


def user_steps(people: list[roster.Participant], sheet: str) -> list[Step]:
    steps = []
    for p in people:
        steps.append(Step(f"create Unix user {p.name} (home 0700)", lambda p=p: user_exists(p.name),
                          lambda p=p: create_user(p, sheet)))
        steps.append(Step(f"give {p.name} {SUBID_COUNT} subordinate uids and gids", lambda p=p: has_subids(p.name),
                          lambda p=p: add_subids(p.name)))
    return steps


# ---- the hub ---------------------------------------------------------------------------

def copy_tree(dest: str) -> None:
    """This checkout (without venvs, builds, git) to ``dest``, swapped in whole."""
    new = dest + ".new"
    shutil.rmtree(new, ignore_errors=True)
    shutil.copytree(REPO, new, ignore=shutil.ignore_patterns(*SKIP), symlinks=True)
    old = dest + ".old"
    if os.path.exists(dest):
        os.rename(dest, old)
    os.rename(new, dest)
    shutil.rmtree(old, ignore_errors=True)
    for root, dirs, files in os.walk(dest):  # readable by every participant, writable by root only
        for name in dirs + files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode & ~0o022 | 0o444 | (0o111 if os.path.isdir(path) else 0))


def tree_digest(top: str) -> str:
    h = hashlib.sha256()
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not any(fnmatch.fnmatch(d, s) for s in SKIP))
        for name in sorted(files):
            path = os.path.join(root, name)
            if os.path.isfile(path) and not any(fnmatch.fnmatch(name, s) for s in SKIP):
                with open(path, "rb") as f:
                    h.update(os.path.relpath(path, top).encode() + b"\0" + hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def env_text(lay: Layout, url: str, spawner: str) -> str:
    return "".join(f"{k}={v}\n" for k, v in (
        ("MINICTR_HUB_URL", url),
        ("MINICTR_HUB_STATE", lay.state),
        ("MINICTR_HUB_USERS", os.path.join(lay.prefix, "users.txt")),
        ("MINICTR_HUB_PROXY", lay.chp),
        ("MINICTR_HUB_SPAWNER", spawner),
    ))


def unit_text(lay: Layout) -> str:
    return (
        "[Unit]\nDescription=JupyterHub for the minictr workshop\nAfter=network-online.target\n\n"
        "[Service]\n"
        f"EnvironmentFile={lay.prefix}/hub.env\n"
        f"WorkingDirectory={lay.state}\n"
        f"ExecStart={lay.venv}/bin/jupyterhub -f {lay.src}/workshop/jupyterhub_config.py\n"
        "Restart=on-failure\n"
        # the participants' servers are units of their own (SystemdSpawner): stopping the hub
        # kills only its own cgroup, the hub and its proxy.
        "\n[Install]\nWantedBy=multi-user.target\n"
    )


def write_file(path: str, text: str, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def same_text(path: str, text: str) -> bool:
    try:
        with open(path) as f:
            return f.read() == text
    except FileNotFoundError:
        return False


def read_pid(path: str) -> int | None:
    try:
        with open(path) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def start_background(lay: Layout) -> None:
    """No systemd: the hub as a background process in a session of its own, its pid in STATE/hub.pid."""
    stop_background(lay)
    env = dict(os.environ)
    for line in open(os.path.join(lay.prefix, "hub.env")):
        key, _, value = line.rstrip("\n").partition("=")
        env[key] = value
    with open(os.path.join(lay.state, "hub.log"), "ab") as log:
        proc = subprocess.Popen([f"{lay.venv}/bin/jupyterhub", "-f", f"{lay.src}/workshop/jupyterhub_config.py"],
                                cwd=lay.state, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    write_file(os.path.join(lay.state, "hub.pid"), f"{proc.pid}\n", 0o600)


def stop_background(lay: Layout, wait: float = 20) -> None:
    pid = read_pid(os.path.join(lay.state, "hub.pid"))
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)  # the hub stops the participants' servers and its proxy
    deadline = time.monotonic() + wait
    while read_pid(os.path.join(lay.state, "hub.pid")) and time.monotonic() < deadline:
        time.sleep(0.2)


def plan(people, lay: Layout, users_file: str, url: str, use_systemd: bool, python: str) -> list[Step]:
    prefix, state = lay.prefix, lay.state
    sheet = os.path.join(prefix, "passwords.txt")
    env = env_text(lay, url, "systemd" if use_systemd else "local")
    with open(users_file) as f:
        users_text = f.read()
    fingerprint_path = os.path.join(state, "installed.sha256")

    def fingerprint() -> str:
        return hashlib.sha256((tree_digest(REPO) + env + users_text + unit_text(lay)).encode()).hexdigest()

    def is_running() -> bool:
        if use_systemd:
            return subprocess.run(["systemctl", "is-active", "-q", UNIT]).returncode == 0
        return read_pid(os.path.join(state, "hub.pid")) is not None

    def up_to_date() -> bool:
        return is_running() and same_text(fingerprint_path, fingerprint())

    def start() -> None:
        if use_systemd:
            sh("systemctl", "daemon-reload")
            sh("systemctl", "enable", "-q", UNIT)
            sh("systemctl", "restart", UNIT)
        else:
            start_background(lay)
        write_file(fingerprint_path, fingerprint(), 0o600)

    token_path = os.path.join(state, "api_token")
    steps = [
        Step(f"make {prefix} and its state dir (0700)", lambda: os.path.isdir(state),
             lambda: os.makedirs(state, mode=0o700, exist_ok=True)),
        Step(f"copy this checkout to {lay.src} (root's, readable by all)",
             lambda: os.path.isdir(lay.src) and tree_digest(lay.src) == tree_digest(REPO),
             lambda: copy_tree(lay.src)),
        Step(f"make the venv {lay.venv}", lambda: os.path.exists(f"{lay.venv}/bin/python"),
             lambda: sh(python, "-m", "venv", lay.venv)),
        Step("install jupyterhub, its systemd spawner and JupyterLab from PyPI (mk/devinstall.py lab workshop)",
             lambda: os.path.exists(f"{lay.venv}/bin/jupyterhub-singleuser") and os.path.exists(
                 f"{lay.venv}/bin/minictr"),
             lambda: sh(f"{lay.venv}/bin/python", f"{lay.src}/mk/devinstall.py", "lab", "workshop")),
        Step(f"install configurable-http-proxy from the npm registry into {lay.proxy}",
             lambda: os.path.exists(lay.chp),
             lambda: sh("npm", "install", "--prefix", lay.proxy, "--no-fund", "--no-audit",
                        CHP_SPEC)),
        Step("make the admin service's API token (state/api_token, 0600)", lambda: os.path.exists(token_path),
             lambda: write_file(token_path, secrets.token_hex(32) + "\n", 0o600)),
        Step("copy the user list to the prefix", lambda: same_text(os.path.join(prefix, "users.txt"), users_text),
             lambda: write_file(os.path.join(prefix, "users.txt"), users_text, 0o600)),
        Step("write the hub's settings (hub.env)", lambda: same_text(os.path.join(prefix, "hub.env"), env),
             lambda: write_file(os.path.join(prefix, "hub.env"), env, 0o600)),
        *user_steps(people, sheet),
    ]
    if use_systemd:
        steps.append(Step(f"write {UNIT_PATH}", lambda: same_text(UNIT_PATH, unit_text(lay)),
                          lambda: write_file(UNIT_PATH, unit_text(lay))))
    steps.append(Step("start (or restart) the hub " + ("as " + UNIT if use_systemd else "in the background"),
                      up_to_date, start))
    return steps


def unsearchable_parent(prefix: str) -> str | None:
    """The first existing directory above ``prefix`` that other users cannot enter, if any.

    Every participant's server imports minictr from PREFIX/src: each directory on the way
    must let others through (o+x), as /opt does and a ``mktemp -d`` directory does not.
    """
    path = os.path.dirname(os.path.abspath(prefix))
    while True:
        if os.path.isdir(path) and not os.stat(path).st_mode & 0o001:
            return path
        if path == "/":
            return None
        path = os.path.dirname(path)


def apply(steps: list[Step], dry_run: bool = False, out=None) -> int:
    """Run the steps not done yet; return how many ran (or would run)."""
    out = out or sys.stdout
    ran = 0
    for step in steps:
        if step.done():
            print(f"  ok    {step.what}", file=out)
            continue
        print(f"  {'would' if dry_run else 'run  '} {step.what}", file=out, flush=True)
        if not dry_run:
            step.run()
        ran += 1
    return ran


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("action", nargs="?", choices=("install", "stop"), default="install")
    ap.add_argument("--users", default=os.path.join(HERE, "users.txt"), help="the user list (workshop/roster.py)")
    ap.add_argument("--prefix", default="/opt/minictr-hub")
    ap.add_argument("--url", default="http://:8000", help="the hub's public address (default: every interface, 8000)")
    ap.add_argument("--spawner", choices=("auto", "systemd", "local"), default="auto")
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args(argv)
    lay = Layout(os.path.abspath(args.prefix))
    use_systemd = systemd_is_pid1() if args.spawner == "auto" else args.spawner == "systemd"
    if args.action == "stop":
        if use_systemd:
            sh("systemctl", "stop", UNIT)
        else:
            stop_background(lay)
        return 0
    if os.geteuid() != 0 and not args.dry_run:
        print("workshop-hub: run as root (sudo make workshop-hub ...): it creates users and a service",
              file=sys.stderr)
        return 1
    closed = unsearchable_parent(lay.prefix)
    if closed:
        print(f"workshop-hub: {closed} is closed to other users (mode {os.stat(closed).st_mode & 0o777:04o}), so "
              f"participants could not read {lay.src}: choose another --prefix, or chmod o+x {closed}",
              file=sys.stderr)
        return 1
    try:
        people = roster.read(args.users)
    except (OSError, roster.RosterError) as e:
        print(f"workshop-hub: {e}", file=sys.stderr)
        return 1
    steps = plan(people, lay, args.users, args.url, use_systemd, sys.executable)
    ran = apply(steps, args.dry_run)
    if not args.dry_run:
        print(f"the hub serves {len(people)} users at {args.url} ({ran} steps ran); "
              f"passwords made up for them: {lay.prefix}/passwords.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
