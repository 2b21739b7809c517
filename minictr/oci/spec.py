"""config.json -> ``ContainerConfig``: read a bundle, check every field, name the field at fault.

    cfg = load_bundle("/path/to/bundle", "web")        # reads bundle/config.json
    cfg = from_oci(doc, bundle_dir, "web", warn=log.append)
    doc = to_oci(cfg)                                  # the other way (emit.py)
    cfg2 = with_process(cfg, json.load(process_json))  # exec --process: another process, same container

An invalid field is a ``SpecError`` (a ``ConfigError``) whose message names its
JSON path: ``config.json: linux.namespaces[2].type: "foo" is not a namespace kind``.
A field minictr does not apply but may ignore, as the spec allows (apparmor,
selinux, intelRdt ...), is reported to ``warn`` (a callable or a list), never printed.

The runtime spec, v1.1: config.md, config-linux.md. Man pages: namespaces(7),
capabilities(7), setrlimit(2), personality(2), proc(5) (oom_score_adj), sysctl(8).
"""

from __future__ import annotations

import os

from .. import leanjson
from ..config import (ContainerConfig, Hook, MountSpec, Network, Rootfs, Security,
                      is_id, is_name)
from ..errors import ConfigError, SpecError
from . import linux as linux_part
from .emit import default_spec, to_oci  # noqa: F401  (re-exported: one module to import)
from .linux import NAMESPACE_KINDS, PROPAGATIONS  # noqa: F401  (re-exported)
from .reader import Reader

HOOK_STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
#: Fields a runtime may ignore; minictr does, with a warning (config.md: "Platform-specific").
IGNORED_PROCESS = ("apparmorProfile", "selinuxLabel", "ioPriority", "scheduler", "execCPUAffinity")
IGNORED_LINUX = ("intelRdt", "mountLabel", "timeOffsets", "memoryPolicy", "netDevices")


def config_id(container_id: str) -> str:
    """The 64-hex ``ContainerConfig.id`` of an OCI container id: itself if it is one (podman's
    are), else the sha256 of it, so that one OCI id always maps to the same minictr id."""
    if is_id(container_id):
        return container_id
    try:  # CPython's builtin sha256: ``import hashlib`` loads OpenSSL first (~4-17 ms of a create)
        from _sha256 import sha256
    except ImportError:  # pragma: no cover - another Python
        from hashlib import sha256
    return sha256(container_id.encode()).hexdigest()


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
        doc = leanjson.loads(raw)  # json's own C scanner, without importing json (re, enum)
    except (ValueError, UnicodeDecodeError) as e:
        raise SpecError("(file)", path, f"is not JSON: {e}") from None
    return from_oci(doc, bundle_dir, container_id, warn)


def from_oci(doc: dict, bundle_dir: str, container_id: str, warn=None) -> ContainerConfig:
    """The ``ContainerConfig`` of a config.json document. ``root.path`` is relative to ``bundle_dir``.

    ``warn`` (a callable or a list) gets one line per field that minictr ignores.
    """
    r = Reader(warn)
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
    namespaces, joins = linux_part.namespaces(r, linux)
    hostname = r.get(doc, "hostname", "", str, "")
    if hostname and "uts" not in namespaces:
        raise r.bad("hostname", hostname, "needs a uts namespace: it would rename the host",
                    hint='add {"type": "uts"} to linux.namespaces, or drop "hostname"')
    if r.get(doc, "domainname", "", str, ""):
        r.warn("domainname", "ignored: minictr sets only the hostname")
    for key in IGNORED_LINUX:
        if linux.get(key):
            r.warn(f"linux.{key}", "ignored: not implemented by minictr")
    for key in ("selinux", "apparmor", "windows", "solaris", "vm", "zos"):
        if doc.get(key):
            r.warn(key, "ignored: not for this platform or not implemented by minictr")
    rootfs = Rootfs(path=full_root, readonly=r.get(root, "readonly", "root", bool, False),
                    propagation=linux_part.propagation(r, linux))
    resources, device_rules = linux_part.resources(r, r.get(linux, "resources", "linux", dict, {}))
    security = _security(r, linux, proc.pop("caps"), proc.pop("no_new_privileges"), device_rules,
                         root_user=proc["user"].startswith("0:"))
    cfg = ContainerConfig(
        id=config_id(container_id), name=container_id, image="", rootfs=rootfs, hostname=hostname,
        namespaces=namespaces, join_namespaces=joins,
        network=Network(mode="none" if "net" in namespaces else "host"),
        resources=resources, security=security, mounts=(), spec_mounts=_mounts(r, doc, bundle_dir),
        hooks=_hooks(r, r.get(doc, "hooks", "", dict, {})),
        annotations=tuple(sorted(_string_map(r, doc, "annotations", "").items())),
        uid_map=linux_part.mappings(r, linux, "uidMappings"), gid_map=linux_part.mappings(r, linux, "gidMappings"),
        devices=linux_part.devices(r, linux), cgroups_path=r.get(linux, "cgroupsPath", "linux", str, ""),
        sysctl=tuple(_string_map(r, linux, "sysctl", "linux").items()),
        personality=linux_part.personality(r, linux), **proc)
    if cfg.uid_map and "user" not in namespaces:
        raise r.bad("linux.uidMappings", [list(m) for m in cfg.uid_map], "need a user namespace",
                    hint='add {"type": "user"} to linux.namespaces')
    try:
        return cfg.validate()
    except SpecError:
        raise
    except ConfigError as e:  # a check of config.py: say which config.json field it came from
        raise r.bad(_FIELD_OF.get(e.field, e.field), e.value, e.message.split(": ", 1)[-1], hint=e.hint) from None


def with_process(cfg: ContainerConfig, process: dict, warn=None) -> ContainerConfig:
    """``cfg`` with the process of a ``process.json`` (``minictr-runtime exec --process``): the same
    checks and field names as config.json's ``process``; the namespaces, root and cgroups stay."""
    from ..record import replace
    r = Reader(warn)
    if not isinstance(process, dict):
        raise r.bad("process", type(process).__name__, "must be a JSON object")
    proc = _process(r, process)
    caps = proc.pop("caps")
    bounding = caps["bounding"]
    derived = bounding if proc["user"].startswith("0:") else ()
    sec = replace(cfg.security, capabilities=bounding, no_new_privileges=proc.pop("no_new_privileges"),
                  cap_effective=None if caps["effective"] == derived else caps["effective"],
                  cap_permitted=None if caps["permitted"] == derived else caps["permitted"],
                  cap_inheritable=caps["inheritable"] or None, cap_ambient=caps["ambient"] or None)
    return replace(cfg, security=sec, **proc)


#: ConfigError.field of ContainerConfig.validate -> the config.json field
_FIELD_OF = {"command": "process.args", "working dir": "process.cwd", "environment variable": "process.env",
             "hostname": "hostname", "sysctl": "linux.sysctl", "rlimit": "process.rlimits",
             "oom_score_adj": "process.oomScoreAdj", "umask": "process.user.umask",
             "namespace path": "linux.namespaces", "personality": "linux.personality.domain",
             "namespaces": "linux.namespaces", "container id": "(container id)"}


def _process(r: Reader, p: dict) -> dict:
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
    for where, item in r.objects(p, "rlimits", "process"):
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


def _capabilities(r: Reader, caps: dict) -> dict:
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


def _security(r: Reader, linux: dict, caps: dict, nnp: bool, device_rules, root_user: bool) -> Security:
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
                    devices=device_rules)  # /sys is what the bundle's mounts say


def _paths(r: Reader, linux: dict, key: str) -> tuple[str, ...]:
    paths = r.strings(linux, key, "linux")
    for i, p in enumerate(paths):
        if not p.startswith("/") or ".." in p.split("/"):
            raise r.bad(f"linux.{key}[{i}]", p, "must be an absolute path without '..'")
    return paths


def _string_map(r: Reader, obj: dict, key: str, where: str) -> dict[str, str]:
    value = r.get(obj, key, where, dict, {})
    field = f"{where}.{key}" if where else key
    for k, v in value.items():
        if not isinstance(v, str):
            raise r.bad(f"{field}.{k}", v, "must be a string")
    return dict(value)


def _hooks(r: Reader, hooks: dict) -> tuple[Hook, ...]:
    out = []
    for stage, entries in hooks.items():
        if stage not in HOOK_STAGES:
            raise r.bad(f"hooks.{stage}", entries, "is not a hook stage", hint=", ".join(HOOK_STAGES))
        for where, h in r.objects(hooks, stage, "hooks"):
            path = r.get(h, "path", where, str, required=True)
            if not path.startswith("/"):
                raise r.bad(f"{where}.path", path, "must be an absolute path")
            timeout = r.get(h, "timeout", where, int)
            if timeout is not None and timeout <= 0:
                raise r.bad(f"{where}.timeout", timeout, "must be a number of seconds above 0")
            out.append(Hook(stage, path, r.strings(h, "args", where), r.strings(h, "env", where), timeout))
    return tuple(out)


def _mounts(r: Reader, doc: dict, bundle_dir: str) -> tuple[MountSpec, ...]:
    from ..mountspec import check_options, is_bind
    out = []
    for where, m in r.objects(doc, "mounts", ""):
        dest = r.get(m, "destination", where, str, required=True)
        if not dest.startswith("/") or ".." in dest.split("/"):
            raise r.bad(f"{where}.destination", dest, "must be an absolute path without '..'")
        spec = MountSpec(dest, r.get(m, "type", where, str, ""), r.get(m, "source", where, str, ""),
                         r.strings(m, "options", where))
        problem = check_options(spec)
        if problem:
            raise r.bad(f"{where}.options", list(spec.options), problem)
        if is_bind(spec) and not spec.source.startswith("/"):  # relative to the bundle (config.md, "Mounts")
            if not spec.source:
                raise r.bad(f"{where}.source", spec.source, "a bind mount needs a source")
            spec = MountSpec(spec.destination, spec.type, os.path.join(os.path.abspath(bundle_dir), spec.source),
                             spec.options)
        for key in ("uidMappings", "gidMappings"):
            if m.get(key):
                raise r.bad(f"{where}.{key}", m[key], "id-mapped mounts are not implemented by minictr")
        out.append(spec)
    return tuple(out)
