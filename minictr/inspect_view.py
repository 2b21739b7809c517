"""L3: a container's state as ``docker container inspect`` shows it.

docker's keys, so docker's templates work unchanged: ``{{.State.ExitCode}}``,
``{{.State.OOMKilled}}``, ``{{.Name}}`` (with docker's leading ``/``),
``{{.Config.Cmd}}``, ``{{.HostConfig.Memory}}``, ``{{.Image}}`` (the image id).
Times are RFC 3339 with nanoseconds, in UTC, as Go's ``time.RFC3339Nano``
writes them (trailing zeros dropped); a time that has not happened yet is Go's
zero time ``0001-01-01T00:00:00Z``. Status words are docker's: minictr's
``creating``/``created`` are ``created``, ``stopped`` is ``exited``.

minictr's own record stays available under ``Minictr`` (namespaces, the root
file system, the supervisor).

References: docker-container-inspect(1); the Engine API's ContainerJSON
(``ContainerState``, ``Config``, ``HostConfig``); Go's time.RFC3339Nano.
"""

from __future__ import annotations

import time

from . import state as _state

ZERO_TIME = "0001-01-01T00:00:00Z"
_STATUS = {"creating": "created", "created": "created", "running": "running", "stopped": "exited"}


def docker_config(image_config: dict, args: list, entrypoint: str | None) -> dict:
    """Config.Entrypoint and Config.Cmd as docker records them (inspect), and the image's ports."""
    if entrypoint is not None:
        ep, cmd = ([entrypoint] if entrypoint else None), (args or None)
    else:
        ep, cmd = image_config.get("Entrypoint") or None, args or image_config.get("Cmd") or None
    return {"entrypoint": tuple(ep) if ep else None, "cmd": tuple(cmd) if cmd else None,
            "exposed_ports": tuple(sorted(image_config.get("ExposedPorts") or ()))}


def rfc3339_nano(t: float) -> str:
    """Seconds since the epoch -> ``2026-12-02T00:58:12.123456789Z`` (Go drops trailing zeros)."""
    if not t:
        return ZERO_TIME
    ns = int(round(t * 1e9))
    secs, frac = divmod(ns, 1_000_000_000)
    out = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    digits = f"{frac:09d}".rstrip("0")
    return out + (f".{digits}" if digits else "") + "Z"


def container_json(st: "_state.State") -> dict:
    cfg = st.config or {}
    res = cfg.get("resources") or {}
    rootfs = cfg.get("rootfs") or {}
    alive = st.status in ("created", "running") and st.is_alive()
    status = _STATUS.get(st.status, st.status)
    if st.status in ("created", "running") and not alive:
        status = "exited"
    args = list(st.command)
    ports = {p: {} for p in cfg.get("exposed_ports") or ()}
    graph = {"Name": "overlay", "Data": {
        "LowerDir": ":".join(rootfs.get("lowers") or ()), "UpperDir": rootfs.get("upper") or "",
        "WorkDir": rootfs.get("work") or "", "MergedDir": rootfs.get("path") or ""}} if rootfs.get("lowers") else \
        {"Name": "vfs", "Data": {"Dir": rootfs.get("path") or ""}}
    cpus = res.get("cpus")
    return {
        "Id": st.id,
        "Created": rfc3339_nano(st.created),
        "Path": args[0] if args else "",
        "Args": args[1:],
        "State": {
            "Status": status,
            "Running": alive and st.status == "running",
            "Paused": False,
            "Restarting": False,
            "OOMKilled": bool(st.oom_killed),
            "Dead": False,
            "Pid": st.pid if alive else 0,
            "ExitCode": st.exit_code if st.exit_code is not None else 0,
            "Error": "",
            "StartedAt": rfc3339_nano(st.started),
            "FinishedAt": rfc3339_nano(st.finished),
        },
        "Image": st.image_id,
        "Name": "/" + st.name,
        "RestartCount": 0,
        "Driver": graph["Name"],
        "Platform": "linux",
        "HostConfig": {
            "AutoRemove": bool(st.auto_remove),
            "Init": bool(cfg.get("init")),
            "ReadonlyRootfs": bool(rootfs.get("readonly")),
            "Memory": res.get("memory") or 0,
            "MemorySwap": res.get("memory_swap") or 0,
            "NanoCpus": int(round(cpus * 1e9)) if cpus else 0,
            "CpuShares": res.get("cpu_shares") or 0,
            "CpusetCpus": res.get("cpuset_cpus") or "",
            "PidsLimit": res.get("pids_limit"),
            "NetworkMode": "none" if "net" in (cfg.get("namespaces") or ()) else "host",
            **security_host_config(cfg.get("security") or {}),
        },
        "GraphDriver": graph,
        "Mounts": [],
        "Config": {
            "Hostname": cfg.get("hostname") or st.id[:12],
            "Domainname": "",
            "User": cfg.get("user") or "",
            "AttachStdin": bool(cfg.get("interactive")),
            "AttachStdout": True,
            "AttachStderr": True,
            **({"ExposedPorts": ports} if ports else {}),
            "Tty": bool(cfg.get("tty")),
            "OpenStdin": bool(cfg.get("interactive")),
            "StdinOnce": bool(cfg.get("interactive")),
            "Env": list(cfg.get("env") or ()),
            "Cmd": list(cfg["cmd"]) if cfg.get("cmd") else None,
            "Image": st.image,
            "Volumes": None,
            "WorkingDir": cfg.get("cwd") or "",
            "Entrypoint": list(cfg["entrypoint"]) if cfg.get("entrypoint") else None,
            "OnBuild": None,
            "Labels": dict(st.labels or {}),
        },
        "Minictr": {
            "Status": st.status,
            "Bundle": st.bundle,
            "Namespaces": list(cfg.get("namespaces") or ()),
            "SupervisorPid": st.supervisor_pid,
            "Ports": list(st.ports or ()),
        },
    }


def security_host_config(saved: dict) -> dict:
    """docker's HostConfig security names (CapAdd, CapDrop, Privileged, SecurityOpt, ...) from a saved config."""
    from .config import Security
    from .security.options import host_config

    known = {k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items() if k in Security._fields}
    known["seccomp_filter"] = b""  # saved as its size (JSON has no bytes); inspect shows the setting
    return host_config(Security(**known))
