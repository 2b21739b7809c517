"""The confinement flags of ``run`` (docker's words) turned into a ``config.Security``.

- ``--cap-add NAME`` / ``--cap-drop NAME`` (repeatable; with or without
  ``CAP_``, any case, or ``ALL``);
- ``--privileged``: every capability, no seccomp filter, no masked or
  read-only paths, every device, /sys read-write;
- ``--security-opt no-new-privileges[=true|false]``;
- ``--security-opt seccomp=unconfined|default|PROFILE.json``;
- ``--security-opt systempaths=unconfined``: no masked or read-only paths.

Bad input is a ``ConfigError``: one line, ``run`` exits 125, nothing starts.
See docker-run(1), "Runtime privilege and Linux capabilities" and "--security-opt".
"""

from __future__ import annotations

import os

from ..config import Security
from ..errors import ConfigError
from . import capabilities


def _bool(opt: str, value: str) -> bool:
    if value.lower() in ("", "true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise ConfigError("security option", opt, "takes true or false", hint="--security-opt no-new-privileges=true")


def from_flags(cap_add=(), cap_drop=(), privileged: bool = False, security_opt=()) -> Security:
    """A ``Security`` for these flags; ``Security()`` (docker's defaults) when none is given."""
    if not (cap_add or cap_drop or privileged or security_opt):
        return Security()
    adds = tuple(dict.fromkeys(capabilities.normalize(n) for n in cap_add))
    drops = tuple(dict.fromkeys(capabilities.normalize(n) for n in cap_drop))
    no_new_privs, seccomp, unmasked = False, "default", False
    for opt in security_opt:
        # docker takes KEY=VALUE, and the older KEY:VALUE
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")
        if key == "no-new-privileges":
            no_new_privs = _bool(opt, value)
        elif key == "seccomp" and value:
            seccomp = _seccomp(value)
        elif key == "systempaths" and value == "unconfined":
            unmasked = True
        elif key in ("apparmor", "label"):
            raise ConfigError("security option", opt, "AppArmor and SELinux are not supported by minictr",
                              hint="leave it out; minictr confines with capabilities, seccomp, masks and devices")
        else:
            raise ConfigError("security option", opt, "unknown option",
                              hint="use no-new-privileges, seccomp=unconfined, seccomp=PROFILE.json "
                                   "or systempaths=unconfined")
    if privileged:
        seccomp = "unconfined"  # as docker: --privileged runs without a filter, whatever was asked
    return Security(
        capabilities=capabilities.resolve(adds, drops, privileged), cap_add=adds, cap_drop=drops,
        privileged=privileged, no_new_privileges=no_new_privs, seccomp=seccomp,
        masked_paths=() if unmasked else None, readonly_paths=() if unmasked else None,
        sys_writable=privileged,
    )


def _seccomp(value: str) -> str:
    if value in ("unconfined", "default"):
        return value
    path = os.path.abspath(value)
    if not os.path.isfile(path):
        raise ConfigError("seccomp profile", value, "no such file",
                          hint="give the path of a JSON profile in docker's format, or seccomp=unconfined")
    return path


def host_config(security: Security) -> dict:
    """docker's ``HostConfig`` names for ``inspect``: CapAdd, CapDrop, Privileged, SecurityOpt, ..."""
    opts = []
    if security.no_new_privileges:
        opts.append("no-new-privileges")
    if security.seccomp != "default":
        opts.append(f"seccomp={security.seccomp}")
    if security.masked_paths == () and security.readonly_paths == () and not security.privileged:
        opts.append("systempaths=unconfined")
    caps = security.capabilities if security.capabilities is not None else capabilities.DEFAULT
    from . import devices, masks
    masked, readonly = masks.paths(security)
    return {
        "CapAdd": list(security.cap_add) or None,
        "CapDrop": list(security.cap_drop) or None,
        "Privileged": security.privileged,
        "SecurityOpt": opts or None,
        "MaskedPaths": list(masked),
        "ReadonlyPaths": list(readonly),
        # not docker's names: what the container really got
        "Capabilities": sorted(caps, key=capabilities.NUMBERS.__getitem__),
        "DeviceCgroupRules": list(devices.rules(security)),
    }
