"""L4: what this runtime supports, as the ``features`` command prints it (runc 1.1's shape).

A caller (containerd, podman) may read it to learn, before it writes a config.json,
which hooks, mount options, namespaces, capabilities and seccomp actions it may use.

OCI runtime spec: features.md (features-linux.md for the "linux" part).
"""

from __future__ import annotations

from .. import __version__
from .state import OCI_VERSION

HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

#: The mount options rootfs.py and volumes.py turn into mount flags.
MOUNT_OPTIONS = ("bind", "rbind", "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
                 "private", "rprivate", "shared", "rshared", "slave", "rslave", "relatime", "strictatime")

NAMESPACES = ("cgroup", "ipc", "mount", "network", "pid", "uts")


def document() -> dict:
    from ..security import capabilities, seccomp_profile

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(HOOKS),
        "mountOptions": list(MOUNT_OPTIONS),
        "linux": {
            "namespaces": list(NAMESPACES),
            "capabilities": list(capabilities.NAMES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {
                "enabled": True,
                "actions": list(seccomp_profile.ACTIONS),
                "operators": list(seccomp_profile.OPS),
                "archs": list(seccomp_profile.SCMP_ARCHES),
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"io.github.minictr.version": __version__},
    }
