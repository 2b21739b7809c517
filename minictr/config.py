"""L0: one frozen ``ContainerConfig`` that says everything about a container.

It is built from the image's config and the command-line flags, and validated
*before* anything forks, so a bad flag is a clean one-line error and never a
half-made container. The OCI side (``minictr.oci.spec``) builds the same
object from a bundle's ``config.json``, and writes one back (``to_oci``).

It sits at the bottom (L0) as the shared vocabulary: rootfs, cgroups and
images read its records, so it imports nothing but ``errors`` and ``record``.

Why over 400 lines: it is the one vocabulary of both front ends (docker's flags and
an OCI bundle's config.json); the records and the checks that keep them sound before
anything forks belong together.

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
    propagation: str = ""  # config.json's rootfsPropagation ("rslave", "shared" ...), set on / after pivot_root

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
    # config.json's other four capability sets (``capabilities`` is the bounding set). None: what
    # minictr derives, as docker: effective = permitted = bounding for root, none for another
    # user, inheritable and ambient empty.
    cap_effective: tuple[str, ...] | None = None
    cap_permitted: tuple[str, ...] | None = None
    cap_inheritable: tuple[str, ...] | None = None
    cap_ambient: tuple[str, ...] | None = None
    seccomp_spec: str = ""  # config.json's linux.seccomp as canonical JSON text ("" : none given)


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


class MountSpec(Record):
    """One entry of config.json's ``mounts``, as given (OCI runtime spec, config.md "Mounts").

    A config built from a bundle carries its whole mount list in
    ``ContainerConfig.spec_mounts``; ``minictr.mountspec`` turns it into mount plan steps.
    """

    destination: str
    type: str = ""
    source: str = ""
    options: tuple[str, ...] = ()


class DeviceNode(Record):
    """One of config.json's ``linux.devices``: a node made in the container's /dev (mknod(2)).
    ``type`` is ``c``, ``b``, ``u`` (unbuffered char: as ``c``) or ``p`` (a FIFO)."""

    path: str
    type: str
    major: int = 0
    minor: int = 0
    mode: int = 0o666
    uid: int = 0
    gid: int = 0


class Hook(Record):
    """One of config.json's hooks: ``stage`` is createRuntime, createContainer, startContainer,
    poststart, poststop or prestart; run by ``minictr.oci.hooks.run_hook``."""

    stage: str
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


#: sysctl prefixes a container may set, and the namespace that makes each one its own
#: (as runc checks them: the rest would change the host's kernel).
NAMESPACED_SYSCTLS = (("kernel.msgmax", "ipc"), ("kernel.msgmnb", "ipc"), ("kernel.msgmni", "ipc"),
                      ("kernel.sem", "ipc"), ("kernel.shmall", "ipc"), ("kernel.shmmax", "ipc"),
                      ("kernel.shmmni", "ipc"), ("kernel.shm_rmid_forced", "ipc"), ("fs.mqueue.", "ipc"),
                      ("kernel.hostname", "uts"), ("kernel.domainname", "uts"), ("net.", "net"))

#: The rlimits of setrlimit(2), as config.json names them.
RLIMITS = ("RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
           "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
           "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME")


def sysctl_namespace(key: str) -> str | None:
    """The namespace kind that makes sysctl ``key`` the container's own, or None (a host-wide one)."""
    for prefix, kind in NAMESPACED_SYSCTLS:
        if key == prefix or (prefix.endswith((".", "_")) and key.startswith(prefix)):
            return kind
    return None


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
    # User namespace maps, as OCI's linux.uidMappings: (container_id, host_id, size); empty: none.
    uid_map: tuple[tuple[int, int, int], ...] = ()
    gid_map: tuple[tuple[int, int, int], ...] = ()
    # The fields below come from a bundle's config.json (minictr.oci.spec); their defaults change
    # nothing. ``join_namespaces``: (kind, path) of namespaces to setns(2) into instead of making
    # new ones (the kind is in ``namespaces`` too).
    join_namespaces: tuple[tuple[str, str], ...] = ()
    devices: tuple[DeviceNode, ...] = ()  # extra nodes in /dev, beyond rootfs.DEFAULT_DEVICES
    additional_gids: tuple[int, ...] = ()
    umask: int | None = None  # None: the caller's
    rlimits: tuple[tuple[str, int, int], ...] = ()  # ("RLIMIT_NOFILE", soft, hard)
    oom_score_adj: int | None = None
    sysctl: tuple[tuple[str, str], ...] = ()  # only namespaced keys (see NAMESPACED_SYSCTLS)
    personality: str = ""  # "", "LINUX" or "LINUX32" (personality(2))
    hooks: tuple[Hook, ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    cgroups_path: str = ""  # config.json's linux.cgroupsPath ("": minictr's own place)
    spec_mounts: tuple[MountSpec, ...] | None = None  # None: minictr's own mount plan
    console_size: tuple[int, int] | None = None  # (height, width) of the pty, with tty

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
        if self.pivot is False and "mount" not in self.namespaces:
            raise ConfigError("namespaces", "no mount", "a chroot container still needs its own mount namespace")
        self._validate_spec_fields()
        return self

    def _validate_spec_fields(self) -> None:
        """The config.json fields: each refusal names the field (the OCI front end checks them first too)."""
        for kind, path in self.join_namespaces:
            if kind not in self.namespaces or not path.startswith("/"):
                raise ConfigError("namespace path", f"{kind}:{path}", "must be an absolute path of a namespace kind "
                                  "the container has")
        for key, _value in self.sysctl:
            kind = sysctl_namespace(key)
            if kind is None:
                raise ConfigError("sysctl", key, "is not namespaced: setting it would change the host's kernel",
                                  hint="only ipc (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*), "
                                       "uts (kernel.hostname, kernel.domainname) and net.* keys")
            if kind not in self.namespaces:
                raise ConfigError("sysctl", key, f"needs the container's own {kind} namespace",
                                  hint=f"add a {kind} namespace, or drop the key")
        for name, soft, hard in self.rlimits:
            if name not in RLIMITS:
                raise ConfigError("rlimit", name, "no such resource limit", hint="e.g. RLIMIT_NOFILE (getrlimit(2))")
            if soft > hard:
                raise ConfigError("rlimit", name, f"soft limit {soft} is above the hard limit {hard}")
        if self.oom_score_adj is not None and not -1000 <= self.oom_score_adj <= 1000:
            raise ConfigError("oom_score_adj", self.oom_score_adj, "must be from -1000 to 1000")
        if self.umask is not None and not 0 <= self.umask <= 0o777:
            raise ConfigError("umask", self.umask, "must be from 0 to 0o777")
        if self.personality not in ("", "LINUX", "LINUX32"):
            raise ConfigError("personality", self.personality, "must be LINUX or LINUX32")


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
