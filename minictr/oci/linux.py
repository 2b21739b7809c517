"""config.json's ``linux`` object: namespaces, id maps, devices, resources, propagation, personality.

Each function reads one part into minictr's records (``config.Resources``,
``config.DeviceNode`` ...) with a ``Reader``, so that an error names the field.
The runtime spec, v1.1: config-linux.md. Man pages: namespaces(7),
user_namespaces(7) (the maps), mknod(2), personality(2), mount_namespaces(7).
"""

from __future__ import annotations

import os

from ..config import DeviceNode, Resources
from .reader import Reader

#: config.json's namespace types -> minictr's kind names (namespaces.KINDS)
NAMESPACE_KINDS = {"pid": "pid", "network": "net", "mount": "mount", "ipc": "ipc", "uts": "uts",
                   "user": "user", "cgroup": "cgroup", "time": "time"}
PROPAGATIONS = ("private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable")


def namespaces(r: Reader, linux: dict) -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
    kinds, joins = set(), []
    for where, ns in r.objects(linux, "namespaces", "linux"):
        kind = NAMESPACE_KINDS.get(r.get(ns, "type", where, str, required=True))
        if kind is None:
            raise r.bad(f"{where}.type", ns["type"], "is not a namespace kind",
                        hint="one of " + ", ".join(NAMESPACE_KINDS))
        if kind in kinds:
            raise r.bad(f"{where}.type", ns["type"], "is given twice")
        kinds.add(kind)
        path = r.get(ns, "path", where, str, "")
        if path:
            if not path.startswith("/"):
                raise r.bad(f"{where}.path", path, "must be an absolute path", hint="e.g. /proc/1234/ns/net")
            if not os.path.exists(path):
                raise r.bad(f"{where}.path", path, "does not exist")
            joins.append((kind, path))
    if "mount" not in kinds:
        raise r.bad("linux.namespaces", [n.get("type") for n in linux.get("namespaces") or []],
                    "has no mount namespace: minictr builds the root in a mount namespace of its own",
                    hint='add {"type": "mount"}')
    return frozenset(kinds), tuple(joins)


def mappings(r: Reader, linux: dict, key: str) -> tuple[tuple[int, int, int], ...]:
    out = []
    for where, m in r.objects(linux, key, "linux"):
        c, h, n = (r.get(m, k, where, int, required=True) for k in ("containerID", "hostID", "size"))
        if min(c, h) < 0 or n < 1:
            raise r.bad(where, m, "needs ids >= 0 and a size >= 1")
        out.append((c, h, n))
    return tuple(out)


def devices(r: Reader, linux: dict) -> tuple[DeviceNode, ...]:
    out = []
    for where, d in r.objects(linux, "devices", "linux"):
        path = r.get(d, "path", where, str, required=True)
        if not path.startswith("/dev/") or ".." in path.split("/"):
            raise r.bad(f"{where}.path", path, "must be a path under /dev without '..'")
        kind = r.get(d, "type", where, str, required=True)
        if kind not in ("c", "b", "u", "p"):
            raise r.bad(f"{where}.type", kind, "is not a device type", hint="c, b, u or p")
        numbers = [r.get(d, k, where, int, 0, required=kind != "p") for k in ("major", "minor")]
        mode = r.get(d, "fileMode", where, int, 0o666)
        if not 0 <= mode <= 0o7777:
            raise r.bad(f"{where}.fileMode", mode, "must be a permission mode (0 to 0o7777)")
        out.append(DeviceNode(path, "c" if kind == "u" else kind, *numbers, mode,
                              r.get(d, "uid", where, int, 0), r.get(d, "gid", where, int, 0)))
    return tuple(out)


def resources(r: Reader, res: dict) -> tuple[Resources, tuple[str, ...] | None]:
    memory = r.get(res, "memory", "linux.resources", dict, {})
    limit = r.get(memory, "limit", "linux.resources.memory", int)
    swap = r.get(memory, "swap", "linux.resources.memory", int)
    if limit is not None and limit < 0:
        limit = None  # -1: no limit
    if swap is not None and limit is not None and 0 <= swap < limit:
        raise r.bad("linux.resources.memory.swap", swap, f"must be at least memory.limit ({limit}): "
                    "it is memory plus swap")
    if swap is not None and limit is None:
        swap = None
    for key in memory:
        if key not in ("limit", "swap") and memory[key] not in (None, False, 0):
            r.warn(f"linux.resources.memory.{key}", "ignored: not implemented by minictr")
    cpu = r.get(res, "cpu", "linux.resources", dict, {})
    quota = r.get(cpu, "quota", "linux.resources.cpu", int)
    period = r.get(cpu, "period", "linux.resources.cpu", int) or 100000
    cpus = round(quota / period, 3) if quota is not None and quota > 0 else None
    shares = r.get(cpu, "shares", "linux.resources.cpu", int)
    if shares is not None and not 2 <= shares <= 262144:
        raise r.bad("linux.resources.cpu.shares", shares, "must be from 2 to 262144")
    for key in cpu:
        if key not in ("quota", "period", "shares", "cpus") and cpu[key] not in (None, "", 0):
            r.warn(f"linux.resources.cpu.{key}", "ignored: not implemented by minictr")
    pids = r.get(r.get(res, "pids", "linux.resources", dict, {}), "limit", "linux.resources.pids", int)
    if pids is not None and pids <= 0:
        pids = None  # 0 or -1: no limit
    for key in res:
        if key not in ("memory", "cpu", "pids", "devices") and res[key]:
            r.warn(f"linux.resources.{key}", "ignored: not implemented by minictr")
    return (Resources(memory=limit, memory_swap=swap, pids_limit=pids, cpus=cpus, cpu_shares=shares,
                      cpuset_cpus=r.get(cpu, "cpus", "linux.resources.cpu", str) or None),
            device_rules(r, res))


def device_rules(r: Reader, res: dict) -> tuple[str, ...] | None:
    """linux.resources.devices -> the devices cgroup's allow list (``config.Security.devices``).

    minictr's list starts from "deny all" and allows; so the first entry must deny everything
    (as runc's and podman's do). Without the list, every device is allowed (as runc does).
    A later deny removes an allow given before it exactly; any other deny is refused, since
    leaving it out would allow more than asked. The devices every container has are
    allowed after the list (``security.devices.DEFAULT``), as runc allows them.
    """
    from ..security.devices import DEFAULT as IMPLIED
    entries = r.get(res, "devices", "linux.resources", list)
    if entries is None:
        return ("a *:* rwm",)
    allow: list[str] = []
    for i, e in enumerate(entries):
        where = f"linux.resources.devices[{i}]"
        if not isinstance(e, dict):
            raise r.bad(where, e, "must be an object")
        ok = r.get(e, "allow", where, bool, required=True)
        kind = r.get(e, "type", where, str, "a")
        if kind not in ("a", "c", "b"):
            raise r.bad(f"{where}.type", kind, "is not a device type", hint="a, c or b")
        access = r.get(e, "access", where, str, "rwm")
        if not access or set(access) - set("rwm"):
            raise r.bad(f"{where}.access", access, "must be letters from rwm")
        nums = [r.get(e, k, where, int) for k in ("major", "minor")]
        rule = f"{kind} {'*' if nums[0] is None or nums[0] < 0 else nums[0]}:" \
               f"{'*' if nums[1] is None or nums[1] < 0 else nums[1]} {access}"
        if ok:
            allow.append("a *:* rwm" if rule.startswith("a ") else rule)
        elif rule.startswith("a *:* ") and set(access) == set("rwm"):
            allow.clear()
        elif rule in allow:
            allow.remove(rule)
        elif i == 0 or allow:
            raise r.bad(where, e, "a deny rule other than 'deny all' cannot be applied by minictr",
                        hint='start the list with {"allow": false, "access": "rwm"}, then allow rules')
    if not entries or (entries[0].get("allow") is not False):
        if "a *:* rwm" not in allow:
            allow.insert(0, "a *:* rwm")
    # Every runtime allows the devices it makes itself (/dev/null, /dev/pts/* ...), as runc
    # does; these are docker's defaults too. to_oci leaves them out again.
    if "a *:* rwm" in allow:
        return ("a *:* rwm",)  # every device: the other rules add nothing (devices.ALL)
    return tuple(allow) + tuple(rule for rule in IMPLIED if rule not in allow)


def propagation(r: Reader, linux: dict) -> str:
    value = r.get(linux, "rootfsPropagation", "linux", str, "")
    if value and value not in PROPAGATIONS:
        raise r.bad("linux.rootfsPropagation", value, "is not a propagation type", hint=", ".join(PROPAGATIONS))
    return value


def personality(r: Reader, linux: dict) -> str:
    p = r.get(linux, "personality", "linux", dict)
    if p is None:
        return ""
    domain = r.get(p, "domain", "linux.personality", str, required=True)
    if domain not in ("LINUX", "LINUX32"):
        raise r.bad("linux.personality.domain", domain, "is not a personality", hint="LINUX or LINUX32")
    if p.get("flags"):
        r.warn("linux.personality.flags", "ignored: not implemented by minictr")
    return domain
