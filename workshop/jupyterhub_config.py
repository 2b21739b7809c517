"""JupyterHub for a minictr workshop on one VM: each participant a Unix user, rootless minictr.

Run as root: ``jupyterhub -f workshop/jupyterhub_config.py`` (``make workshop-hub`` starts it
so, as a systemd unit or a background process). The same file serves a room and
tests/integration/test_workshop_hub.py; what differs comes from the environment, each
variable with the default a VM wants:

  MINICTR_HUB_URL            the public address            http://:8000 (every interface)
  MINICTR_HUB_API_URL        the hub's own API (internal)  http://127.0.0.1:8081
  MINICTR_HUB_PROXY_API_URL  the proxy's REST API          http://127.0.0.1:8001
  MINICTR_HUB_STATE          database, cookie secret, pid  /var/lib/minictr-hub
  MINICTR_HUB_USERS          the user list (roster.py)     workshop/users.txt
  MINICTR_HUB_SPAWNER        auto | systemd | local        auto: systemd where it is PID 1
  MINICTR_HUB_AUTH           pam | shared                  pam (README: "Logging in")
  MINICTR_HUB_SHARED_PASSWORD, MINICTR_HUB_ADMIN_PASSWORD  for `shared` only
  MINICTR_HUB_API_TOKEN      token of the `workshop-admin` service (or STATE/api_token)
  MINICTR_HUB_PROXY          configurable-http-proxy       on PATH, or make workshop-proxy's
  MINICTR_HUB_MEM, MINICTR_HUB_CPU  per-user limits, SystemdSpawner only   1G, 1
  MINICTR_HUB_START_TIMEOUT  seconds a server may take to start  120
  MINICTR_HUB_PROXY_EXTERNAL 1: the proxy is started by someone else (its own service; with
                             CONFIGPROXY_AUTH_TOKEN), and survives the hub's restarts   0

Who serves what:
- every participant's single-user server runs as that Unix user, from this Python's
  venv (``sys.prefix``: jupyterhub-singleuser, ipykernel and minictr are all there);
- before each start, ``prepare_home`` copies the notebooks and readings into
  ~/minictr-lab (only files that are missing: a learner's edits stay), running ``cp``
  *as the user*, so a symlink planted in the home cannot make root write elsewhere;
  and it makes /run/user/UID (XDG_RUNTIME_DIR: rootless minictr keeps its state there);
- SystemdSpawner (where systemd is PID 1) runs each server in a unit of its own with
  ``Delegate=yes``: the user owns a cgroup v2 subtree, and the server starts in a leaf
  of it (``subgroup.py``), so minictr's limits work rootless; MemoryMax and CPUQuota cap
  each participant. LocalProcessSpawner elsewhere:
  no per-user cgroup, and limit flags are refused with a reason.
- ``MINICTR_CHECK_LOG`` makes the kernels append each exercise check's result to
  ~/.local/state/minictr/checks.jsonl, which ``workshop/progress.py`` reads.

See JupyterHub's docs: "Configuration basics", "Authenticators", "Spawners", "REST API"
and systemd.resource-control(5) for Delegate=, MemoryMax=, CPUQuota=.
"""

import os
import pwd
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import roster  # noqa: E402  (workshop/roster.py, next to this file)

c = get_config()  # noqa: F821  (given by JupyterHub's config loader)
env = os.environ.get

REPO = os.path.dirname(HERE)
STATE = env("MINICTR_HUB_STATE") or "/var/lib/minictr-hub"
LAB_DIR = "minictr-lab"
FIRST_NOTEBOOK = "notebooks/00-a-container-is-a-process.ipynb"
CHECK_LOG = "~/.local/state/minictr/checks.jsonl"


def systemd_is_pid1(comm="/proc/1/comm", booted="/run/systemd/system"):
    """systemd runs as PID 1 and manages this boot (sd_booted(3) tests the directory)."""
    try:
        with open(comm) as f:
            return f.read().strip() == "systemd" and os.path.isdir(booted)
    except OSError:
        return False


def spawner_kind(setting, pid1_is_systemd):
    if setting not in ("auto", "systemd", "local"):
        raise ValueError(f"MINICTR_HUB_SPAWNER={setting!r}: choose auto, systemd or local")
    if setting == "auto":
        return "systemd" if pid1_is_systemd else "local"
    return setting


def proxy_command():
    found = env("MINICTR_HUB_PROXY") or shutil.which("configurable-http-proxy")
    local = os.path.join(REPO, "build", "workshop", "proxy-chp4", "node_modules", ".bin", "configurable-http-proxy")
    return found or local


def api_token():
    token = env("MINICTR_HUB_API_TOKEN")
    path = os.path.join(STATE, "api_token")
    if not token and os.path.exists(path):
        with open(path) as f:
            token = f.read().strip()
    return token


def runtime_dir(uid):
    """/run/user/UID as logind makes it (0700, the user's), unless it exists already."""
    path = f"/run/user/{uid}"
    if not os.path.isdir(path):
        os.makedirs("/run/user", mode=0o755, exist_ok=True)
        os.mkdir(path, 0o700)
        os.chown(path, uid, -1)
    return path


def prepare_home(spawner):
    """The lab files into ~/minictr-lab, copied by the user's own cp (-n: never over an edit)."""
    pw = pwd.getpwnam(spawner.user.name)
    sources = [os.path.join(REPO, d) for d in ("notebooks", "lessons") if os.path.isdir(os.path.join(REPO, d))]
    lab = os.path.join(pw.pw_dir, LAB_DIR)
    as_user = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[], cwd=pw.pw_dir,
                   env={"PATH": "/usr/bin:/bin", "HOME": pw.pw_dir}, check=True)
    subprocess.run(["mkdir", "-p", lab], **as_user)
    subprocess.run(["cp", "-rn", *sources, lab + "/"], **as_user)
    # A new dict: the configured one is shared by every spawner, and servers start concurrently.
    spawner.environment = {**spawner.environment, "XDG_RUNTIME_DIR": runtime_dir(pw.pw_uid)}


os.makedirs(STATE, mode=0o700, exist_ok=True)

# Addresses. The public one is the proxy's; the hub and the proxy's API stay on loopback.
c.JupyterHub.bind_url = env("MINICTR_HUB_URL") or "http://:8000"
c.JupyterHub.hub_bind_url = env("MINICTR_HUB_API_URL") or "http://127.0.0.1:8081"
c.ConfigurableHTTPProxy.api_url = env("MINICTR_HUB_PROXY_API_URL") or "http://127.0.0.1:8001"
c.ConfigurableHTTPProxy.command = [proxy_command()]
# An external proxy keeps the room's connections through a hub restart; the hub finds it at
# api_url, with the CONFIGPROXY_AUTH_TOKEN both are given. (JupyterHub gives a proxy it starts
# itself 10 s to answer: too short on a machine as slow as the v2 VM's emulation.)
c.ConfigurableHTTPProxy.should_start = env("MINICTR_HUB_PROXY_EXTERNAL") != "1"
c.ConfigurableHTTPProxy.pid_file = os.path.join(STATE, "proxy.pid")
c.JupyterHub.db_url = "sqlite:///" + os.path.join(STATE, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(STATE, "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True          # stopping the hub stops every participant's server

# Who may log in: the user list, instructors (@name) as admins.
people = roster.read(env("MINICTR_HUB_USERS") or os.path.join(HERE, "users.txt"))
c.Authenticator.allowed_users = {p.name for p in people}
c.Authenticator.admin_users = {p.name for p in people if p.admin}
if (env("MINICTR_HUB_AUTH") or "pam") == "shared":
    # One password for the room (and another for instructors): quick, but anyone who
    # knows it can log in under any listed name. README: "Logging in".
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = env("MINICTR_HUB_SHARED_PASSWORD") or ""
    c.SharedPasswordAuthenticator.admin_password = env("MINICTR_HUB_ADMIN_PASSWORD") or ""
else:
    c.JupyterHub.authenticator_class = "pam"  # each participant's own Unix password

# A service token for the instructor's scripts and the test: start and stop servers, reach them.
token = api_token()
if token:
    c.JupyterHub.services = [{"name": "workshop-admin", "api_token": token}]
    c.JupyterHub.load_roles = [{
        "name": "workshop-admin",
        "scopes": ["admin:users", "admin:servers", "access:servers"],
        "services": ["workshop-admin"],
    }]

# Each participant's server: this venv's jupyterhub-singleuser, run as the user.
kind = spawner_kind(env("MINICTR_HUB_SPAWNER") or "auto", systemd_is_pid1())
c.Spawner.cmd = [os.path.join(sys.prefix, "bin", "jupyterhub-singleuser")]
c.Spawner.notebook_dir = "~"
c.Spawner.default_url = f"/lab/tree/{LAB_DIR}/{FIRST_NOTEBOOK}"
c.Spawner.environment = {"MINICTR_CHECK_LOG": CHECK_LOG}
c.Spawner.pre_spawn_hook = prepare_home
# A full room starts at once: give each server time (MINICTR_HUB_START_TIMEOUT on a slow machine).
c.Spawner.start_timeout = int(env("MINICTR_HUB_START_TIMEOUT") or 120)
c.Spawner.http_timeout = 60
if kind == "systemd":
    c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
    # The server starts one level down (subgroup.py: DelegateSubgroup= before systemd 254), so the
    # unit's delegated group holds no process and minictr may make limited groups in it.
    c.Spawner.cmd = [sys.executable, os.path.join(HERE, "subgroup.py"), *c.Spawner.cmd]
    c.SystemdSpawner.unit_extra_properties = {"Delegate": "yes"}
    c.SystemdSpawner.mem_limit = env("MINICTR_HUB_MEM") or "1G"
    c.SystemdSpawner.cpu_limit = float(env("MINICTR_HUB_CPU") or 1)
    c.SystemdSpawner.disable_user_sudo = False   # NoNewPrivileges would stop setuid newuidmap
else:
    c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
