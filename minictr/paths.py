"""L0: where minictr keeps its store and its state: the one place that decides.

======================  =========================  ==========================================
                        root                       an ordinary user (rootless)
======================  =========================  ==========================================
store (images, layers,  ``/var/lib/minictr``       ``$XDG_DATA_HOME/minictr``, else
containers' storage)                               ``~/.local/share/minictr``
state (one dir per      ``/run/minictr``           ``$XDG_RUNTIME_DIR/minictr``, else
container)                                         ``/run/user/UID/minictr`` if that dir is the
                                                   user's, else ``$TMPDIR/minictr-run-UID``
======================  =========================  ==========================================

``$MINICTR_ROOT`` and ``$MINICTR_RUNTIME_DIR`` override both, for anyone.
This is podman's rootless layout (containers-storage.conf(5): ``graphroot``
under ``$XDG_DATA_HOME/containers/storage``, ``runroot`` under
``$XDG_RUNTIME_DIR``), so each user has a store and a state of their own,
and never needs to write to the host's directories.

Every function takes the environment and the effective uid as parameters
(tests pass their own); the defaults are this process's. Only ``os``: the
run path resolves these on every start.

Man pages and specs: the XDG Base Directory Specification, pam_systemd(8)
(``/run/user/UID``), containers-storage.conf(5).
"""

from __future__ import annotations

import os

ROOT_STORE = "/var/lib/minictr"
ROOT_RUNTIME = "/run/minictr"


def _env(env):
    return os.environ if env is None else env


def _uid(euid):
    return os.geteuid() if euid is None else euid


def home(env=None, euid: int | None = None) -> str:
    """``$HOME``, else the password database's home of ``euid``."""
    env = _env(env)
    if env.get("HOME"):
        return env["HOME"]
    import pwd  # a builtin module: cheap
    try:
        return pwd.getpwuid(_uid(euid)).pw_dir
    except KeyError:
        return "/"


def store_root(env=None, euid: int | None = None) -> str:
    """The store's directory: ``$MINICTR_ROOT``, ``/var/lib/minictr`` for root, the XDG data dir otherwise."""
    env = _env(env)
    if env.get("MINICTR_ROOT"):
        return os.path.normpath(env["MINICTR_ROOT"])
    if _uid(euid) == 0:
        return ROOT_STORE
    data = env.get("XDG_DATA_HOME") or ""
    if not os.path.isabs(data):  # the spec: a relative path is invalid and is ignored
        data = os.path.join(home(env, euid), ".local", "share")
    return os.path.normpath(os.path.join(data, "minictr"))


def runtime_dir(env=None, euid: int | None = None, run_user: str = "/run/user") -> str:
    """The state's directory: ``$MINICTR_RUNTIME_DIR``, ``/run/minictr`` for root, the XDG runtime dir otherwise."""
    env = _env(env)
    if env.get("MINICTR_RUNTIME_DIR"):
        return env["MINICTR_RUNTIME_DIR"]
    uid = _uid(euid)
    if uid == 0:
        return ROOT_RUNTIME
    xdg = env.get("XDG_RUNTIME_DIR") or ""
    if os.path.isabs(xdg):
        return os.path.join(xdg, "minictr")
    mine = os.path.join(run_user, str(uid))
    try:
        st = os.stat(mine)
        if st.st_uid == uid and os.access(mine, os.W_OK | os.X_OK):
            return os.path.join(mine, "minictr")
    except OSError:
        pass
    # As podman: no runtime dir from the login (su, cron, a container): a private one in the tmp dir.
    return os.path.join(env.get("TMPDIR") or "/tmp", f"minictr-run-{uid}")


def rootless(euid: int | None = None) -> bool:
    """Does this process run as an ordinary user (and so every container in a user namespace)?"""
    return _uid(euid) != 0
