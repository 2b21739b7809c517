"""L0: one frozen ``ContainerConfig`` that says everything about a container.

It is built from the image's config and the command-line flags, and validated
*before* anything forks, so a bad flag is a clean one-line error and never a
half-made container. Later, the OCI runtime command line will build the same
object from a bundle's ``config.json``.

It sits at the bottom (L0) as the shared vocabulary: rootfs, cgroups and
images read its records, so it imports nothing but ``errors`` and ``record``.

The image-config rules follow docker exactly (see the OCI image spec,
"config.md", and docker's run reference):

- arguments after the image replace ``Cmd``; ``--entrypoint`` replaces
  ``Entrypoint`` *and* clears ``Cmd``;
- ``Env`` is the image's, then each ``-e`` in order (a later one wins);
- ``WorkingDir`` is used unless ``-w`` is given, and is created if missing;
- ``User`` is used unless ``-u`` is given.
"""

from __future__ import annotations

from .errors import ConfigError
from .record import Record

#: Namespaces a container gets by default. "user" and "time" are later lessons.
DEFAULT_NAMESPACES = frozenset({"mount", "uts", "ipc", "net", "pid", "cgroup"})

# The checks below are character sets, not regular expressions: ``re`` costs
# about 5 ms to import, a quarter of a container start (see bench/).
_HEX = frozenset("0123456789abcdef")
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_CHARS = _ALNUM | frozenset("_.-")
_LABEL_CHARS = _ALNUM | frozenset("-")


def is_id(text: str) -> bool:
    """64 lower-case hex digits, as a container id is."""
    return len(text) == 64 and _HEX.issuperset(text)


def is_name(text: str) -> bool:
    """docker's container names: ``[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}``."""
    return 0 < len(text) <= 128 and text[0] in _ALNUM and _NAME_CHARS.issuperset(text)


def is_hostname(text: str) -> bool:
    """Dot-separated labels of letters, digits and '-', 1-63 long, neither starting nor ending with '-' (RFC 1123)."""
    return all(0 < len(label) <= 63 and label[0] in _ALNUM and label[-1] in _ALNUM
               and _LABEL_CHARS.issuperset(label) for label in text.split("."))


class Rootfs(Record):
    """The directory that becomes ``/``.

    With ``lowers`` set, the container's init mounts an overlayfs at ``path``
    (inside its own mount namespace, so the mount dies with the container):
    ``lowerdir`` is the image layers, topmost first, ``upper``/``work`` are the
    container's own writable layer.
    """

    path: str
    lowers: tuple[str, ...] = ()
    upper: str | None = None
    work: str | None = None
    readonly: bool = False
    volatile: bool = False  # overlay "volatile": no syncs of a writable layer that is thrown away (run --rm)
    # overlay "userxattr": mounted inside a user namespace (Linux 5.11+), overlayfs keeps its opaque
    # marks in user.overlay.* xattrs, as an unprivileged user can set no trusted.* ones
    userxattr: bool = False

    @property
    def is_overlay(self) -> bool:
        return bool(self.lowers)


class Resources(Record):
    """cgroup limits, in the kernel's units (bytes, microseconds). None means no limit."""

    memory: int | None = None
    memory_swap: int | None = None
    pids_limit: int | None = None
    cpus: float | None = None
    cpu_shares: int | None = None
    cpuset_cpus: str | None = None

    def any(self) -> bool:
        return any(getattr(self, f) is not None for f in self._fields)


class Security(Record):
    """What root in the container may do (lesson 10). The defaults are docker's.

    ``None`` in ``capabilities``, ``masked_paths``, ``readonly_paths`` and
    ``devices`` means "the default" (docker's 14 capabilities, runc's masked
    and read-only paths, docker's device allow list; see ``minictr.security``),
    so a config built by hand is confined too. ``cap_add``/``cap_drop`` keep
    the flags as given (normalised to ``CAP_X`` or ``ALL``), for ``inspect``;
    ``capabilities`` is the set they resolve to. ``devices`` are rules in the
    devices cgroup's words: ``"c 1:3 rwm"``, ``"b *:* m"``, ``"a *:* rwm"``.
    ``seccomp`` is ``"default"``, ``"unconfined"`` or a profile's path;
    ``seccomp_filter`` the compiled classic-BPF program the init loads last
    (empty: none).
    """

    capabilities: tuple[str, ...] | None = None
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    no_new_privileges: bool = False
    seccomp: str = "default"
    seccomp_filter: bytes = b""
    masked_paths: tuple[str, ...] | None = None
    readonly_paths: tuple[str, ...] | None = None
    devices: tuple[str, ...] | None = None
    sys_writable: bool = False  # /sys read-write (only --privileged)


class VolumeMount(Record):
    """One of ``-v``, ``--mount``, ``--tmpfs`` (and the network's /etc files), resolved (see ``minictr.volumes``).

    ``kind`` is ``bind`` (``source`` a host path; a named volume is a bind of
    its directory in the store) or ``tmpfs`` (``options`` its mount data).
    ``file``: the source is a file, so the target is a file too.
    """

    kind: str
    target: str
    source: str = ""
    readonly: bool = False
    file: bool = False
    options: str = ""


class Network(Record):
    """How the container is networked: ``mode`` is ``none``, ``host``, ``bridge`` or a network's name.

    ``ports`` are ``(host_ip, host_port, container_port, proto)``, ``host_ip``
    "" for all; ``add_hosts`` are ``(name, ip)`` pairs.
    """

    mode: str = "none"
    ports: tuple[tuple[str, int, int, str], ...] = ()
    dns: tuple[str, ...] = ()
    add_hosts: tuple[tuple[str, str], ...] = ()


class ContainerConfig(Record):
    """Everything needed to create and start one container. Immutable once built."""

    id: str
    name: str
    image: str
    rootfs: Rootfs
    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    user: str | None = None
    hostname: str = ""
    tty: bool = False
    interactive: bool = False
    init: bool = False
    pivot: bool = True
    auto_remove: bool = False
    stop_signal: str = "SIGTERM"  # the image's StopSignal: what `minictr stop` sends first
    restart_policy: str = "no"  # run --restart: no, always, on-failure[:N] (the monitor carries it out)
    namespaces: frozenset[str] = DEFAULT_NAMESPACES
    resources: Resources = Resources()  # frozen, so one shared default is safe
    labels: tuple[tuple[str, str], ...] = ()
    security: Security = Security()  # frozen, so one shared default is safe
    image_id: str = ""  # the id (config digest) of the store image it was made from, as docker records it
    # docker's Config.Entrypoint and Config.Cmd (``args`` is what they became) and the image's ExposedPorts
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    exposed_ports: tuple[str, ...] = ()
    network: Network = Network()  # "none": lo only (the CLI's default is "bridge")
    mounts: tuple[VolumeMount, ...] = ()
    # The user namespace's maps, as OCI's linux.uidMappings/gidMappings: (container_id, host_id, size)
    # triples, in order; empty = no maps. Set with "user" in ``namespaces`` (see minictr.userns).
    uid_map: tuple[tuple[int, int, int], ...] = ()
    gid_map: tuple[tuple[int, int, int], ...] = ()

    def validate(self) -> "ContainerConfig":
        """Raise ``ConfigError`` for anything the kernel would refuse later. Returns self."""
        if not is_id(self.id):
            raise ConfigError("container id", self.id, "must be 64 lower-case hex digits")
        validate_name(self.name)
        if not self.args:
            raise ConfigError("command", "", "the image has no Cmd or Entrypoint and none was given",
                              hint="name a command after the image, e.g. `minictr run busybox sh`")
        if self.hostname and not is_hostname(self.hostname):
            raise ConfigError("hostname", self.hostname, "must be letters, digits, '-' and '.', at most 63 per label")
        if not self.cwd.startswith("/"):
            raise ConfigError("working dir", self.cwd, "must be an absolute path", hint="use -w /some/dir")
        for item in self.env:
            key = item.split("=", 1)[0]
            if "=" not in item or not key or "\0" in key:
                raise ConfigError("environment variable", item, "must look like KEY=VALUE", hint="use -e KEY=VALUE")
        unknown = self.namespaces - {"mount", "uts", "ipc", "net", "pid", "cgroup", "user", "time"}
        if unknown:
            raise ConfigError("namespaces", sorted(unknown), "unknown namespace kind")
        parse_restart_policy(self.restart_policy)
        validate_id_map("uid_map", self.uid_map)
        validate_id_map("gid_map", self.gid_map)
        if ("user" in self.namespaces) != bool(self.uid_map and self.gid_map):
            raise ConfigError("namespaces", "user" if "user" in self.namespaces else "no user",
                              "a user namespace needs both a uid_map and a gid_map, and maps need a user namespace",
                              hint="use --userns=auto, or leave both maps empty")
        if self.pivot is False and "mount" not in self.namespaces:
            raise ConfigError("namespaces", "no mount", "a chroot container still needs its own mount namespace")
        return self


#: The kernel takes at most 340 lines in a uid_map or gid_map (user_namespaces(7), Linux 4.15+).
MAX_MAP_LINES = 340
_ID_MAX = 2**32 - 1  # (uid_t)-1 is no id at all


def validate_id_map(field: str, entries) -> None:
    """Refuse a map the kernel would refuse when it is written (user_namespaces(7), "uid_map and gid_map files").

    Each entry is ``(container_id, host_id, size)`` with ``size >= 1``; neither
    the container ranges nor the host ranges may overlap; at most 340 entries.
    """
    if len(entries) > MAX_MAP_LINES:
        raise ConfigError(field, len(entries), f"has more than {MAX_MAP_LINES} entries (the kernel's limit)")
    for entry in entries:
        if (not isinstance(entry, tuple) or len(entry) != 3
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in entry)):
            raise ConfigError(field, entry, "each entry must be (container_id, host_id, size), three integers")
        inside, outside, size = entry
        if size < 1 or inside < 0 or outside < 0 or inside + size > _ID_MAX or outside + size > _ID_MAX:
            raise ConfigError(field, entry, "ids must be 0 or more, size at least 1, and the ranges below 2**32-1")
    for which, label in ((0, "container"), (1, "host")):
        ranges = sorted((e[which], e[which] + e[2]) for e in entries)
        for (_a, end), (start, _b) in zip(ranges, ranges[1:]):
            if start < end:
                raise ConfigError(field, entries, f"two entries overlap in their {label} ids",
                                  hint="each id may be mapped once in each direction")


RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")


def parse_restart_policy(text: str) -> tuple[str, int]:
    """``--restart``'s value -> ``(policy, max retries)``; 0 retries means no limit. Raises ConfigError.

    As docker: ``no``, ``always``, ``unless-stopped``, ``on-failure`` or
    ``on-failure:N`` (at most N restarts after a non-zero exit).
    """
    policy, sep, count = text.partition(":")
    if policy not in RESTART_POLICIES:
        raise ConfigError("--restart", text, "is not a restart policy",
                          hint="use no, always, unless-stopped, on-failure or on-failure:N")
    if not sep:
        return policy, 0
    if policy != "on-failure":
        raise ConfigError("--restart", text, f"{policy} takes no retry count", hint="only on-failure:N has one")
    if not count.isdigit() or int(count) < 1:
        raise ConfigError("--restart", text, "the retry count must be a positive integer", hint="e.g. on-failure:3")
    return policy, int(count)


def should_restart(policy_text: str, exit_code: int, restarts: int, stopped_by_user: bool) -> bool:
    """Does the monitor run the container again after it exited with ``exit_code``?

    Never after ``stop``, ``kill`` or ``rm -f`` (``stopped_by_user``), as docker.
    """
    policy, limit = parse_restart_policy(policy_text)
    if stopped_by_user or policy == "no":
        return False
    if policy == "on-failure":
        return exit_code != 0 and (limit == 0 or restarts < limit)
    return True  # always, unless-stopped


def validate_name(name: str) -> str:
    if not is_name(name):
        raise ConfigError("container name", name, "must start with a letter or digit and use only [a-zA-Z0-9_.-]",
                          hint="for example --name web_1")
    return name


def merge_env(image_env: list[str] | tuple[str, ...], cli_env: list[str] | tuple[str, ...],
              host_env: dict[str, str] | None = None) -> tuple[str, ...]:
    """The image's Env, then ``-e`` flags, as docker merges them.

    - ``-e KEY=VALUE`` replaces the image's KEY *in place* (order kept), or is appended;
    - ``-e KEY`` (no ``=``) takes KEY's value from the host environment
      (``host_env``, default ``os.environ``); if the host has no KEY, KEY is
      removed, even when the image sets it.
    """
    import os

    host = os.environ if host_env is None else host_env
    out: dict[str, str] = {}
    for item in image_env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError("image environment variable", item, "must look like KEY=VALUE",
                              hint="the image config is broken; fix its Env")
        out[key] = value
    for item in cli_env:
        key, sep, value = item.partition("=")
        if not key or "\0" in item:
            raise ConfigError("environment variable", item, "must look like KEY=VALUE or KEY",
                              hint="use -e KEY=VALUE")
        if sep:
            out[key] = value
        elif key in host:
            out[key] = host[key]
        else:
            out.pop(key, None)
    return tuple(f"{k}={v}" for k, v in out.items())


#: The types of an image config's "config" fields that minictr reads (OCI image-spec
#: config.md): "strings" is a list of strings, "labels" an object of strings.
IMAGE_CONFIG_TYPES: tuple[tuple[str, str], ...] = (
    ("Entrypoint", "strings"), ("Cmd", "strings"), ("Env", "strings"), ("WorkingDir", "string"),
    ("User", "string"), ("Labels", "labels"), ("ExposedPorts", "object"), ("Volumes", "object"),
    ("StopSignal", "string"),
)

_KIND_WORDS = {"strings": "a list of strings", "string": "a string", "labels": "an object of strings",
               "object": "an object"}


def image_config_problems(config: object) -> list[str]:
    """What is wrong with the types of an image config's ``config`` part, one phrase each.

    ``null`` is allowed everywhere (the field is absent). An image whose
    ``Env`` is a string or whose ``Cmd`` is a number is refused when it is
    loaded, with the field named, rather than failing at ``run``.
    """
    if config is None:
        return []
    if not isinstance(config, dict):
        return [f"config must be an object, not {_json_kind(config)}"]
    problems = []
    for field, kind in IMAGE_CONFIG_TYPES:
        value = config.get(field)
        if value is None:
            continue
        if kind == "strings":
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        elif kind == "string":
            ok = isinstance(value, str)
        elif kind == "labels":
            ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        else:
            ok = isinstance(value, dict)
        if not ok:
            problems.append(f"{field} must be {_KIND_WORDS[kind]}, not {_json_kind(value)}")
        elif field == "Env":
            bad = next((v for v in value if "=" not in v or v.startswith("=")), None)
            if bad is not None:
                problems.append(f"Env entry {bad!r} is not KEY=VALUE")
    return problems


def _json_kind(value: object) -> str:
    """What a JSON value is, in JSON's words: ``a string``, ``a number``, ``a list`` ..."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list" if all(isinstance(v, str) for v in value) else "a list with a non-string in it"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else type(value).__name__


def command_line(entrypoint: list[str] | None, cmd: list[str] | None, cli_args: list[str],
                 cli_entrypoint: str | None) -> tuple[str, ...]:
    """docker's rule for the final argv.

    ======================  ===========================
    given                   argv
    ======================  ===========================
    nothing                 Entrypoint + Cmd
    args                    Entrypoint + args
    --entrypoint E          [E]            (Cmd is cleared)
    --entrypoint E + args   [E] + args
    ======================  ===========================
    """
    if cli_entrypoint is not None:
        ep = [cli_entrypoint] if cli_entrypoint else []
        return tuple(ep + list(cli_args))
    ep = list(entrypoint or [])
    return tuple(ep + (list(cli_args) if cli_args else list(cmd or [])))
