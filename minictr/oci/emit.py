"""``ContainerConfig`` -> config.json (``to_oci``), and the bundle ``runc spec`` would write (``default_spec``).

``to_oci(cfg)`` is what ``minictr run --dry-run --bundle DIR`` writes: the
container that ``run`` would start, in the runtime spec's words. Where a field
came from a bundle (``from_oci``), it is written back as it was read, so
``to_oci(from_oci(doc))`` gives ``doc`` back (normalised). Where minictr's own
plan decides (its mount plan, masked paths, device allow list, seccomp
profile), the entries are spelled out as runc's defaults spell them.

The runtime spec, v1.1: config.md, config-linux.md.
"""

from __future__ import annotations

import os

from .. import leanjson
from ..config import ContainerConfig

OCI_VERSION = "1.1.0"
#: minictr's namespace kind -> config.json's type, in the order runc writes them
OCI_NAMESPACE = {"pid": "pid", "net": "network", "ipc": "ipc", "uts": "uts", "mount": "mount",
                 "cgroup": "cgroup", "user": "user", "time": "time"}
DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _m(dest: str, type_: str, source: str, *options: str) -> dict:
    out = {"destination": dest, "type": type_, "source": source}
    if options:
        out["options"] = list(options)
    return out


def default_mounts(sys_writable: bool = False, cgroup: bool = True) -> list[dict]:
    """minictr's own mount plan (``rootfs.plan``), as config.json's mounts."""
    out = [
        _m("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
        _m("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
        _m("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"),
        _m("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
        _m("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
        _m("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", *(() if sys_writable else ("ro",))),
    ]
    if cgroup:
        out.append(_m("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro"))
    return out


def _volume(v) -> dict:
    """A ``config.VolumeMount`` (-v, --mount, --tmpfs, the network's /etc files) as a mount entry."""
    if v.kind == "tmpfs":
        opts = ["nosuid", "nodev"] + (["ro"] if v.readonly else []) + (v.options or "mode=1777").split(",")
        return _m(v.target, "tmpfs", "tmpfs", *opts)
    return _m(v.target, "bind", v.source, "rbind", "rprivate", *(("ro",) if v.readonly else ()))


def _user_ids(cfg: ContainerConfig) -> tuple[int, int, tuple[int, ...]]:
    """uid, gid and the extra groups of ``cfg.user``, resolved in the image's /etc/passwd and /etc/group."""
    from ..users import resolve_user
    root = cfg.rootfs.path
    if cfg.rootfs.is_overlay:  # the merged dir is mounted only inside the container: read the top layer that has it
        layers = ([cfg.rootfs.upper] if cfg.rootfs.upper else []) + list(cfg.rootfs.lowers)
        root = next((d for d in layers if os.path.exists(os.path.join(d, "etc", "passwd"))), root)
    user = resolve_user(cfg.user, root)
    extra = tuple(g for g in user.groups if g != user.gid)
    return user.uid, user.gid, tuple(dict.fromkeys(extra + cfg.additional_gids))


def _env(cfg: ContainerConfig) -> list[str]:
    """The environment the command gets (process._environment adds PATH, HOSTNAME, HOME, TERM)."""
    env = list(cfg.env)
    keys = {item.split("=", 1)[0] for item in env}
    if "PATH" not in keys:
        env.append(DEFAULT_PATH_ENV)
    if cfg.tty and "TERM" not in keys:
        env.append("TERM=xterm")
    return env


def to_oci(cfg: ContainerConfig) -> dict:
    """The config.json of ``cfg``: what a ``minictr run`` with the same flags would do."""
    from ..security import capabilities, devices, masks

    sec = cfg.security
    uid, gid, groups = _user_ids(cfg)
    user: dict = {"uid": uid, "gid": gid}
    if cfg.umask is not None:
        user["umask"] = cfg.umask
    if groups:
        user["additionalGids"] = list(groups)
    bounding = list(capabilities.NAMES if sec.privileged and sec.capabilities is None
                    else capabilities.DEFAULT if sec.capabilities is None else sec.capabilities)
    bounding.sort(key=capabilities.NUMBERS.__getitem__)
    derived = bounding if uid == 0 else []
    caps = {"bounding": bounding,
            "effective": list(derived if sec.cap_effective is None else sec.cap_effective),
            "permitted": list(derived if sec.cap_permitted is None else sec.cap_permitted)}
    if sec.cap_inheritable:
        caps["inheritable"] = list(sec.cap_inheritable)
    if sec.cap_ambient:
        caps["ambient"] = list(sec.cap_ambient)
    process: dict = {"terminal": cfg.tty}
    if cfg.console_size:
        process["consoleSize"] = {"height": cfg.console_size[0], "width": cfg.console_size[1]}
    process.update({"user": user, "args": list(cfg.args), "env": _env(cfg), "cwd": cfg.cwd, "capabilities": caps})
    if cfg.rlimits:
        process["rlimits"] = [{"type": n, "hard": h, "soft": s} for n, s, h in cfg.rlimits]
    process["noNewPrivileges"] = sec.no_new_privileges
    if cfg.oom_score_adj is not None:
        process["oomScoreAdj"] = cfg.oom_score_adj

    doc: dict = {"ociVersion": OCI_VERSION, "process": process,
                 "root": {"path": cfg.rootfs.path, "readonly": cfg.rootfs.readonly}}
    if cfg.hostname:
        doc["hostname"] = cfg.hostname
    if cfg.spec_mounts is not None:
        doc["mounts"] = [_spec_mount(m) for m in cfg.spec_mounts]
    else:
        doc["mounts"] = default_mounts(sec.sys_writable or sec.privileged, "cgroup" in cfg.namespaces) \
            + [_volume(v) for v in cfg.mounts]
    hooks: dict = {}
    for h in cfg.hooks:
        entry: dict = {"path": h.path}
        if h.args:
            entry["args"] = list(h.args)
        if h.env:
            entry["env"] = list(h.env)
        if h.timeout is not None:
            entry["timeout"] = h.timeout
        hooks.setdefault(h.stage, []).append(entry)
    if hooks:
        doc["hooks"] = hooks
    if cfg.annotations:
        doc["annotations"] = dict(cfg.annotations)
    doc["linux"] = _linux(cfg, bounding, devices, masks)
    return doc


def _spec_mount(m) -> dict:
    out = {"destination": m.destination, "type": m.type, "source": m.source}
    if m.options:
        out["options"] = list(m.options)
    return out


def _linux(cfg: ContainerConfig, bounding, devices, masks) -> dict:
    sec, res = cfg.security, cfg.resources
    joined = dict(cfg.join_namespaces)
    linux: dict = {}
    if cfg.uid_map:
        linux["uidMappings"] = [{"containerID": c, "hostID": h, "size": n} for c, h, n in cfg.uid_map]
    if cfg.gid_map:
        linux["gidMappings"] = [{"containerID": c, "hostID": h, "size": n} for c, h, n in cfg.gid_map]
    if cfg.sysctl:
        linux["sysctl"] = dict(cfg.sysctl)
    resources: dict = {"devices": _device_rules(devices.rules(sec))}
    if res.memory is not None:
        resources["memory"] = {"limit": res.memory}
        if res.memory_swap is not None:
            resources["memory"]["swap"] = res.memory_swap
    cpu: dict = {}
    if res.cpu_shares is not None:
        cpu["shares"] = res.cpu_shares
    if res.cpus is not None:
        cpu["quota"], cpu["period"] = int(round(res.cpus * 100000)), 100000
    if res.cpuset_cpus is not None:
        cpu["cpus"] = res.cpuset_cpus
    if cpu:
        resources["cpu"] = cpu
    if res.pids_limit is not None:
        resources["pids"] = {"limit": res.pids_limit}
    linux["resources"] = resources
    if cfg.cgroups_path:
        linux["cgroupsPath"] = cfg.cgroups_path
    linux["namespaces"] = [{"type": OCI_NAMESPACE[k], **({"path": joined[k]} if k in joined else {})}
                           for k in OCI_NAMESPACE if k in cfg.namespaces]
    if cfg.devices:
        linux["devices"] = [{"path": d.path, "type": d.type, "major": d.major, "minor": d.minor,
                             "fileMode": d.mode, "uid": d.uid, "gid": d.gid} for d in cfg.devices]
    if sec.seccomp_spec:
        linux["seccomp"] = leanjson.loads(sec.seccomp_spec)
    elif not sec.privileged:
        from .seccomp import profile_to_oci
        seccomp = profile_to_oci(sec.seccomp, bounding)
        if seccomp is not None:
            linux["seccomp"] = seccomp
    masked, readonly = masks.paths(sec)
    linux["maskedPaths"], linux["readonlyPaths"] = list(masked), list(readonly)
    if cfg.rootfs.propagation:
        linux["rootfsPropagation"] = cfg.rootfs.propagation
    if cfg.personality:
        linux["personality"] = {"domain": cfg.personality}
    return linux


def _device_rules(rules) -> list[dict]:
    """The devices cgroup's allow list (``"c 1:3 rwm"``) as linux.resources.devices: deny all, then allow.

    The devices every runtime allows by itself (``security.devices.DEFAULT``, runc's too) are left
    out, as podman leaves them out; ``from_oci`` adds them back.
    """
    from ..security.devices import DEFAULT as IMPLIED
    out: list[dict] = [{"allow": False, "access": "rwm"}]
    for text in rules:
        if text in IMPLIED:
            continue
        kind, numbers, access = text.split()
        major, minor = numbers.split(":")
        if kind == "a":
            out.append({"allow": True, "access": access})
            continue
        entry: dict = {"allow": True, "type": kind}
        if major != "*":
            entry["major"] = int(major)
        if minor != "*":
            entry["minor"] = int(minor)
        entry["access"] = access
        out.append(entry)
    return out


def default_spec(rootless: bool = False) -> dict:
    """The config.json ``minictr-runtime spec`` writes: a shell in ``rootfs``, as ``runc spec`` does.

    ``rootless``: a user namespace mapping root to the caller's uid and gid, no network
    namespace of its own... as ``runc spec --rootless``: /sys is a bind of the host's
    (a user namespace may not mount sysfs for a network namespace it does not own).
    """
    from ..security import capabilities, masks
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    mounts = default_mounts()
    for m in mounts:  # runc's own words: /proc without options, devpts with the tty group
        if m["destination"] == "/dev/pts":
            m["options"].append("gid=5")
        if m["destination"] == "/proc":
            del m["options"]
    namespaces = ["pid", "network", "ipc", "uts", "mount"]
    linux: dict = {}
    if rootless:
        for m in mounts:
            if m["destination"] == "/sys":
                m.update(type="none", source="/sys", options=["rbind", "nosuid", "noexec", "nodev", "ro"])
            if m["destination"] == "/dev/pts":
                m["options"].remove("gid=5")
        namespaces = ["pid", "ipc", "uts", "mount", "user"]
        linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    else:
        linux["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    linux["namespaces"] = [{"type": t} for t in namespaces]
    linux["maskedPaths"] = list(masks.MASKED)
    linux["readonlyPaths"] = list(masks.READONLY)
    assert all(c in capabilities.NUMBERS for c in caps)
    return {
        "ociVersion": OCI_VERSION,
        "process": {"terminal": True, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
                    "env": [DEFAULT_PATH_ENV, "TERM=xterm"], "cwd": "/",
                    "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted", "ambient")},
                    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                    "noNewPrivileges": True},
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "minictr",
        "mounts": mounts,
        "linux": linux,
    }
