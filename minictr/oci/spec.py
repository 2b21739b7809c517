"""config.json -> ``ContainerConfig``: read a bundle, check every field, name the field at fault.

    cfg = load_bundle("/path/to/bundle", "web")        # reads bundle/config.json
    cfg = from_oci(doc, bundle_dir, "web", warn=log.append)
    doc = to_oci(cfg)                                  # the other way (emit.py)

An invalid field is a ``SpecError`` (a ``ConfigError``) whose message names its
JSON path: ``config.json: linux.namespaces[2].type: "foo" is not a namespace kind``.
A field minictr does not apply but may ignore, as the spec allows (apparmor,
selinux, intelRdt ...), is reported to ``warn`` (a callable or a list), never printed.

The runtime spec, v1.1: config.md, config-linux.md. Man pages: namespaces(7),
capabilities(7), setrlimit(2), personality(2), proc(5) (oom_score_adj), sysctl(8).
"""

from __future__ import annotations

import hashlib
import json
import os

from ..config import (ContainerConfig, DeviceNode, Hook, MountSpec, Network, Resources, Rootfs, Security,
                      is_id, is_name)
from ..errors import ConfigError, SpecError
from .emit import default_spec, to_oci  # noqa: F401  (re-exported: one module to import)

#: config.json's namespace types -> minictr's kind names (namespaces.KINDS)
NAMESPACE_KINDS = {"pid": "pid", "network": "net", "mount": "mount", "ipc": "ipc", "uts": "uts",
                   "user": "user", "cgroup": "cgroup", "time": "time"}
HOOK_STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
PROPAGATIONS = ("private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable")
#: Fields a runtime may ignore; minictr does, with a warning (config.md: "Platform-specific").
IGNORED_PROCESS = ("apparmorProfile", "selinuxLabel", "ioPriority", "scheduler", "execCPUAffinity")
IGNORED_LINUX = ("intelRdt", "mountLabel", "timeOffsets", "memoryPolicy", "netDevices")


def config_id(container_id: str) -> str:
    """The 64-hex ``ContainerConfig.id`` of an OCI container id: itself if it is one (podman's
    are), else the sha256 of it, so that one OCI id always maps to the same minictr id."""
    return container_id if is_id(container_id) else hashlib.sha256(container_id.encode()).hexdigest()


def load_bundle(bundle_dir: str, container_id: str, warn=None) -> ContainerConfig:
    """Read ``bundle_dir/config.json`` and convert it (``from_oci``). Raises SpecError."""
    path = os.path.join(bundle_dir, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise SpecError("(file)", path, f"cannot be read: {e.strerror}",
                        hint="give the bundle directory that holds config.json (--bundle)") from None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise SpecError("(file)", path, f"is not JSON: {e}") from None
    return from_oci(doc, bundle_dir, container_id, warn)


class _Reader:
    """Typed access to the document, with the JSON path of each value for the error."""

    def __init__(self, warn):
        self._warn = warn.append if isinstance(warn, list) else warn

    def warn(self, field: str, why: str) -> None:
        if self._warn is not None:
            self._warn(f"config.json: {field}: {why}")

    @staticmethod
    def bad(field: str, value, why: str, hint: str | None = None) -> SpecError:
        return SpecError(field, value, why, hint=hint)

    def get(self, obj: dict, key: str, where: str, kind, default=None, required: bool = False):
        field = f"{where}.{key}" if where else key
        if key not in obj or obj[key] is None:
            if required:
                raise self.bad(field, None, "is missing", hint="the runtime spec requires it")
            return default
        value = obj[key]
        if kind is int and (type(value) is not int):
            raise self.bad(field, value, "must be an integer")
        if kind is bool and type(value) is not bool:
            raise self.bad(field, value, "must be true or false")
        if kind in (str, dict, list) and not isinstance(value, kind):
            raise self.bad(field, value, f"must be {_WORDS[kind]}")
        return value

    def strings(self, obj: dict, key: str, where: str, required: bool = False) -> tuple[str, ...]:
        value = self.get(obj, key, where, list, [], required)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.bad(f"{where}.{key}[{i}]" if where else f"{key}[{i}]", item, "must be a string")
        return tuple(value)


_WORDS = {str: "a string", dict: "an object", list: "a list"}


def from_oci(doc: dict, bundle_dir: str, container_id: str, warn=None) -> ContainerConfig:
    """The ``ContainerConfig`` of a config.json document. ``root.path`` is relative to ``bundle_dir``.

    ``warn`` (a callable or a list) gets one line per field that minictr ignores.
    """
    r = _Reader(warn)
    if not isinstance(doc, dict):
        raise r.bad("(top)", type(doc).__name__, "must be a JSON object")
    version = r.get(doc, "ociVersion", "", str, required=True)
    if not version.startswith("1."):
        raise r.bad("ociVersion", version, "is not a version 1 runtime spec", hint="minictr reads spec 1.0 to 1.1")
    if not is_name(container_id):
        raise ConfigError("container id", container_id, "must start with a letter or digit and use only "
                          "[a-zA-Z0-9_.-]", hint="as runc's ids")
    root = r.get(doc, "root", "", dict, required=True)
    root_path = r.get(root, "path", "root", str, required=True)
    full_root = os.path.normpath(os.path.join(os.path.abspath(bundle_dir), root_path))
    if not os.path.isdir(full_root):
        raise r.bad("root.path", root_path, f"is not a directory ({full_root})",
                    hint="the bundle's root filesystem must exist before create")
    linux = r.get(doc, "linux", "", dict, {})
    process = r.get(doc, "process", "", dict, required=True)
    proc = _process(r, process)
    namespaces, joins = _namespaces(r, linux)
    hostname = r.get(doc, "hostname", "", str, "")
    if r.get(doc, "domainname", "", str, ""):
        r.warn("domainname", "ignored: minictr sets only the hostname")
    for key in IGNORED_LINUX:
        if linux.get(key):
            r.warn(f"linux.{key}", "ignored: not implemented by minictr")
    for key in ("selinux", "apparmor", "windows", "solaris", "vm", "zos"):
        if doc.get(key):
            r.warn(key, "ignored: not for this platform or not implemented by minictr")
    rootfs = Rootfs(path=full_root, readonly=r.get(root, "readonly", "root", bool, False),
                    propagation=_propagation(r, linux))
    resources, device_rules = _resources(r, r.get(linux, "resources", "linux", dict, {}))
    security = _security(r, linux, proc.pop("caps"), proc.pop("no_new_privileges"), device_rules,
                         root_user=proc["user"].startswith("0:"))
    cfg = ContainerConfig(
        id=config_id(container_id), name=container_id, image="", rootfs=rootfs, hostname=hostname,
        namespaces=namespaces, join_namespaces=joins,
        network=Network(mode="none" if "net" in namespaces else "host"),
        resources=resources, security=security, mounts=(), spec_mounts=_mounts(r, doc),
        hooks=_hooks(r, r.get(doc, "hooks", "", dict, {})),
        annotations=tuple(sorted(_string_map(r, doc, "annotations", "").items())),
        uid_map=_mappings(r, linux, "uidMappings"), gid_map=_mappings(r, linux, "gidMappings"),
        devices=_devices(r, linux), cgroups_path=r.get(linux, "cgroupsPath", "linux", str, ""),
        sysctl=tuple(_string_map(r, linux, "sysctl", "linux").items()),
        personality=_personality(r, linux), **proc)
    if cfg.uid_map and "user" not in namespaces:
        raise r.bad("linux.uidMappings", [list(m) for m in cfg.uid_map], "need a user namespace",
                    hint='add {"type": "user"} to linux.namespaces')
    try:
        return cfg.validate()
    except SpecError:
        raise
    except ConfigError as e:  # a check of config.py: say which config.json field it came from
        raise r.bad(_FIELD_OF.get(e.field, e.field), e.value, e.message.split(": ", 1)[-1], hint=e.hint) from None


#: ConfigError.field of ContainerConfig.validate -> the config.json field
_FIELD_OF = {"command": "process.args", "working dir": "process.cwd", "environment variable": "process.env",
             "hostname": "hostname", "sysctl": "linux.sysctl", "rlimit": "process.rlimits",
             "oom_score_adj": "process.oomScoreAdj", "umask": "process.user.umask",
             "namespace path": "linux.namespaces", "personality": "linux.personality.domain",
             "namespaces": "linux.namespaces", "container id": "(container id)"}


def _process(r: _Reader, p: dict) -> dict:
    args = r.strings(p, "args", "process", required=True)
    if not args:
        raise r.bad("process.args", [], "must name a command", hint='e.g. "args": ["sh"]')
    env = r.strings(p, "env", "process")
    for i, item in enumerate(env):
        if "=" not in item or item.startswith("="):
            raise r.bad(f"process.env[{i}]", item, "must look like KEY=VALUE")
    cwd = r.get(p, "cwd", "process", str, required=True)
    if not cwd.startswith("/"):
        raise r.bad("process.cwd", cwd, "must be an absolute path")
    user = r.get(p, "user", "process", dict, {})
    uid, gid = (r.get(user, k, "process.user", int, 0) for k in ("uid", "gid"))
    for key, value in (("uid", uid), ("gid", gid)):
        if not 0 <= value < 1 << 32:
            raise r.bad(f"process.user.{key}", value, "must be from 0 to 2**32-1")
    if user.get("username"):
        r.warn("process.user.username", "ignored on Linux: uid and gid are used")
    gids = r.get(user, "additionalGids", "process.user", list, [])
    for i, g in enumerate(gids):
        if type(g) is not int or not 0 <= g < 1 << 32:
            raise r.bad(f"process.user.additionalGids[{i}]", g, "must be a gid from 0 to 2**32-1")
    umask = r.get(user, "umask", "process.user", int)
    if umask is not None and not 0 <= umask <= 0o777:
        raise r.bad("process.user.umask", umask, "must be from 0 to 511 (0777)")
    console = r.get(p, "consoleSize", "process", dict)
    size = None
    if console is not None:
        size = (r.get(console, "height", "process.consoleSize", int, 0),
                r.get(console, "width", "process.consoleSize", int, 0))
    rlimits = []
    for i, item in enumerate(r.get(p, "rlimits", "process", list, [])):
        where = f"process.rlimits[{i}]"
        if not isinstance(item, dict):
            raise r.bad(where, item, "must be an object")
        kind = r.get(item, "type", where, str, required=True)
        soft, hard = (r.get(item, k, where, int, required=True) for k in ("soft", "hard"))
        from ..config import RLIMITS
        if kind not in RLIMITS:
            raise r.bad(f"{where}.type", kind, "is not a resource limit", hint="e.g. RLIMIT_NOFILE (getrlimit(2))")
        if any(n == kind for n, _s, _h in rlimits):
            raise r.bad(f"{where}.type", kind, "is given twice")
        if not 0 <= soft <= hard:
            raise r.bad(f"{where}.soft", soft, f"must be from 0 to the hard limit ({hard})")
        rlimits.append((kind, soft, hard))
    oom = r.get(p, "oomScoreAdj", "process", int)
    if oom is not None and not -1000 <= oom <= 1000:
        raise r.bad("process.oomScoreAdj", oom, "must be from -1000 to 1000")
    for key in IGNORED_PROCESS:
        if p.get(key):
            r.warn(f"process.{key}", "ignored: not implemented by minictr")
    return dict(args=args, env=env, cwd=cwd, user=f"{uid}:{gid}", additional_gids=tuple(gids), umask=umask,
                tty=r.get(p, "terminal", "process", bool, False), console_size=size, rlimits=tuple(rlimits),
                oom_score_adj=oom, caps=_capabilities(r, r.get(p, "capabilities", "process", dict, {})),
                no_new_privileges=r.get(p, "noNewPrivileges", "process", bool, False))


def _capabilities(r: _Reader, caps: dict) -> dict:
    from ..security.capabilities import NUMBERS
    out = {}
    for key in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        names = r.strings(caps, key, "process.capabilities")
        for i, name in enumerate(names):
            if name not in NUMBERS:
                raise r.bad(f"process.capabilities.{key}[{i}]", name, "is not a capability",
                            hint="full names from capabilities(7), e.g. CAP_NET_ADMIN")
        out[key] = tuple(sorted(set(names), key=NUMBERS.__getitem__))
    for key in caps:
        if key not in out:
            raise r.bad(f"process.capabilities.{key}", caps[key], "is not a capability set",
                        hint="bounding, effective, permitted, inheritable or ambient")
    return out


def _security(r: _Reader, linux: dict, caps: dict, nnp: bool, device_rules, root_user: bool) -> Security:
    bounding = caps["bounding"]
    derived = bounding if root_user else ()  # what confine() gives without explicit sets
    sets = {k: (None if caps[k] == derived else caps[k]) for k in ("effective", "permitted")}
    sets.update({k: (caps[k] or None) for k in ("inheritable", "ambient")})
    seccomp = r.get(linux, "seccomp", "linux", dict)
    spec, program = "", b""
    if seccomp is not None:
        from .seccomp import compile_oci
        spec, program = compile_oci(seccomp, bounding, r)
    return Security(capabilities=bounding, cap_effective=sets["effective"], cap_permitted=sets["permitted"],
                    cap_inheritable=sets["inheritable"], cap_ambient=sets["ambient"], no_new_privileges=nnp,
                    seccomp="config.json" if spec else "unconfined", seccomp_filter=program, seccomp_spec=spec,
                    masked_paths=_paths(r, linux, "maskedPaths"), readonly_paths=_paths(r, linux, "readonlyPaths"),
                    devices=device_rules, sys_writable=True)


def _paths(r: _Reader, linux: dict, key: str) -> tuple[str, ...]:
    paths = r.strings(linux, key, "linux")
    for i, p in enumerate(paths):
        if not p.startswith("/") or ".." in p.split("/"):
            raise r.bad(f"linux.{key}[{i}]", p, "must be an absolute path without '..'")
    return paths


def _namespaces(r: _Reader, linux: dict) -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
    kinds, joins = set(), []
    for i, ns in enumerate(r.get(linux, "namespaces", "linux", list, [])):
        where = f"linux.namespaces[{i}]"
        if not isinstance(ns, dict):
            raise r.bad(where, ns, "must be an object")
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
    if "user" in kinds and not any(k == "user" for k, _p in joins):
        r.warn("linux.namespaces", "user: a new user namespace is made only where minictr's rootless support is")
    return frozenset(kinds), tuple(joins)


def _mappings(r: _Reader, linux: dict, key: str) -> tuple[tuple[int, int, int], ...]:
    out = []
    for i, m in enumerate(r.get(linux, key, "linux", list, [])):
        where = f"linux.{key}[{i}]"
        if not isinstance(m, dict):
            raise r.bad(where, m, "must be an object")
        c, h, n = (r.get(m, k, where, int, required=True) for k in ("containerID", "hostID", "size"))
        if min(c, h) < 0 or n < 1:
            raise r.bad(where, m, "needs ids >= 0 and a size >= 1")
        out.append((c, h, n))
    return tuple(out)


def _devices(r: _Reader, linux: dict) -> tuple[DeviceNode, ...]:
    out = []
    for i, d in enumerate(r.get(linux, "devices", "linux", list, [])):
        where = f"linux.devices[{i}]"
        if not isinstance(d, dict):
            raise r.bad(where, d, "must be an object")
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


def _resources(r: _Reader, res: dict) -> tuple[Resources, tuple[str, ...] | None]:
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
            _device_rules(r, res))


def _device_rules(r: _Reader, res: dict) -> tuple[str, ...] | None:
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
    return tuple(allow) + tuple(rule for rule in IMPLIED if rule not in allow)


def _propagation(r: _Reader, linux: dict) -> str:
    value = r.get(linux, "rootfsPropagation", "linux", str, "")
    if value and value not in PROPAGATIONS:
        raise r.bad("linux.rootfsPropagation", value, "is not a propagation type", hint=", ".join(PROPAGATIONS))
    return value


def _personality(r: _Reader, linux: dict) -> str:
    p = r.get(linux, "personality", "linux", dict)
    if p is None:
        return ""
    domain = r.get(p, "domain", "linux.personality", str, required=True)
    if domain not in ("LINUX", "LINUX32"):
        raise r.bad("linux.personality.domain", domain, "is not a personality", hint="LINUX or LINUX32")
    if p.get("flags"):
        r.warn("linux.personality.flags", "ignored: not implemented by minictr")
    return domain


def _string_map(r: _Reader, obj: dict, key: str, where: str) -> dict[str, str]:
    value = r.get(obj, key, where, dict, {})
    field = f"{where}.{key}" if where else key
    for k, v in value.items():
        if not isinstance(v, str):
            raise r.bad(f"{field}.{k}", v, "must be a string")
    return dict(value)


def _hooks(r: _Reader, hooks: dict) -> tuple[Hook, ...]:
    out = []
    for stage, entries in hooks.items():
        if stage not in HOOK_STAGES:
            raise r.bad(f"hooks.{stage}", entries, "is not a hook stage", hint=", ".join(HOOK_STAGES))
        for i, h in enumerate(r.get(hooks, stage, "hooks", list, [])):
            where = f"hooks.{stage}[{i}]"
            if not isinstance(h, dict):
                raise r.bad(where, h, "must be an object")
            path = r.get(h, "path", where, str, required=True)
            if not path.startswith("/"):
                raise r.bad(f"{where}.path", path, "must be an absolute path")
            timeout = r.get(h, "timeout", where, int)
            if timeout is not None and timeout <= 0:
                raise r.bad(f"{where}.timeout", timeout, "must be a number of seconds above 0")
            out.append(Hook(stage, path, r.strings(h, "args", where), r.strings(h, "env", where), timeout))
    return tuple(out)


def _mounts(r: _Reader, doc: dict) -> tuple[MountSpec, ...]:
    from ..mountspec import check_options
    out = []
    for i, m in enumerate(r.get(doc, "mounts", "", list, [])):
        where = f"mounts[{i}]"
        if not isinstance(m, dict):
            raise r.bad(where, m, "must be an object")
        dest = r.get(m, "destination", where, str, required=True)
        if not dest.startswith("/") or ".." in dest.split("/"):
            raise r.bad(f"{where}.destination", dest, "must be an absolute path without '..'")
        spec = MountSpec(dest, r.get(m, "type", where, str, ""), r.get(m, "source", where, str, ""),
                         r.strings(m, "options", where))
        problem = check_options(spec)
        if problem:
            raise r.bad(f"{where}.options", list(spec.options), problem)
        for key in ("uidMappings", "gidMappings"):
            if m.get(key):
                raise r.bad(f"{where}.{key}", m[key], "id-mapped mounts are not implemented by minictr")
        out.append(spec)
    return tuple(out)
