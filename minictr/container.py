"""L3: a container's life: prepare, create, start, wait, kill, delete, list.

These are kept apart on purpose (the OCI runtime's verbs): ``create`` builds
the namespaces and the root and leaves the init waiting at exec; ``start``
lets it exec; ``wait`` reaps it; ``delete`` removes what is left. ``run`` is
just all of them in a row, which is what ``minictr run`` does::

    cfg = prepare("busybox", ["echo", "hi"], rm=True)
    with Container.create(cfg) as c:     # namespaces, mounts, pivot_root; waits at exec
        c.start()                        # exec: the command is running now, as PID 1
        code = c.wait()                  # its exit status (128+N for signal N)

Nothing may leak. The container's mounts live in its own mount namespace
and vanish with it. What lives on the host (the cgroup, the state file, the
container's storage) is removed by ``wait``/``delete``, and by ``gc()`` when
the supervising process was killed before it could.

Why over 400 lines: this is the one core that both front ends drive (prepare, create,
start, wait, kill, delete, run); the states a container passes through read best in one
place. What is not the life cycle lives elsewhere: reaper.py, inspect_view.py, lifecycle.py.
"""

from __future__ import annotations

import _signal  # the signal module without its enums (see process.py)
import os
import time
from _signal import SIGKILL, SIGTERM, SIGWINCH

from . import process, state
from .config import (DEFAULT_NAMESPACES, ContainerConfig, Network, Resources, Rootfs, Security, VolumeMount,
                     command_line, image_config_problems, merge_env, validate_name)
from .errors import ImageNotFound, InvalidImage, InvalidTransition, NotFound, StartInterrupted
from .fsutil import remove_tree
from .names import random_name
from .reaper import network_down, remove_leftovers as _remove_leftovers
from .record import replace
from .rootfs import volatile_overlay_supported
from .syscalls import Syscalls, linux


def _store_root() -> str:
    from .image.quick import store_root
    return store_root()


def prepare(image: str, args=(), *, name: str | None = None, env=(), workdir: str | None = None,
            user: str | None = None, hostname: str | None = None, entrypoint: str | None = None,
            tty: bool = False, interactive: bool = False, init: bool = False, pivot: bool = True,
            rm: bool = False, resources: Resources | None = None, readonly: bool = False,
            security: Security | None = None, restart: str = "no", network: Network | None = None,
            publish_all: bool = False, volumes=(), userns: str | None = None, notify=None) -> ContainerConfig:
    """Resolve the image, make the container's root, and return a validated config.

    ``image`` is an image in the store (``busybox``), a rootfs tarball
    (``.tar``, ``.tar.gz``) or a rootfs directory (used in place, as runc does).
    ``security`` is what root in the container may do (default: docker's
    confinement; ``security.options.from_flags`` builds one from the flags).
    ``network`` (default: ``none``, lo only; the CLI's default is ``bridge``)
    has its host ports picked and checked here, before anything is made
    (``publish_all``: also the image's EXPOSEd ports, as ``-P``).
    ``volumes`` are ``(kind, VolumeMount)`` pairs from ``minictr.volumes.parse_*``.
    ``userns`` is ``--userns`` (host, auto, keep-id; see ``minictr.userns``): an
    ordinary user's container always gets a user namespace, root's only when asked.
    ``notify(line)`` is told a note for the user (the CLI prints it), e.g. that
    newuidmap is missing and only one uid is mapped.
    """
    maps = _user_maps(userns, resources, network)  # refusals first: one line, nothing made
    if maps.note and notify is not None:
        notify(maps.note)
    security = with_seccomp_filter(security or Security())
    container_id = os.urandom(32).hex()
    if name is None:
        name = random_name({s.name for s in state.list_states()})
    else:
        validate_name(name)
        state.check_name_free(name)
    bundle = os.path.join(_store_root(), "containers", container_id)
    image_config: dict = {}
    image_id = ""
    from .inspect_view import docker_config  # small: time and state only
    # First thing, before anything else is made: a state naming this process
    # as the creator (PID and start time). If we are killed from here on, the
    # next `ps -a`, `rm` or `image prune` (gc) finds a dead creator and removes
    # what we made; the storage dir is only made after this.
    me = os.getpid()
    stub = state.State(id=container_id, name=name, image=image, command=list(args), auto_remove=rm,
                       bundle=bundle, supervisor_pid=me, supervisor_start=state.process_start(me) or 0)
    stub.save(create=True)
    try:
        if os.path.isdir(image):
            root = Rootfs(path=os.path.abspath(image), readonly=readonly)
        elif os.path.isfile(image):
            from .tarball import extract
            _make_bundle(bundle, stub)
            os.mkdir(os.path.join(bundle, "rootfs"), mode=0o700)
            extract(image, os.path.join(bundle, "rootfs"))
            root = Rootfs(path=os.path.join(bundle, "rootfs"), readonly=readonly)
        elif "/" in image and (image.endswith((".tar", ".tar.gz", ".tgz")) or image.startswith((".", "/"))):
            raise ImageNotFound(f"no such file: {image}", hint="check the path to the rootfs tarball")
        else:
            from .image import quick
            # root's container in a user namespace gets a copy whose owners are shifted into its range
            shifted = bool(maps.uid_map) and os.geteuid() == 0
            found = None if shifted else quick.find(image)  # the common case, without importing the whole store
            if found is not None:
                image_config, image_id = found.config, found.id
                _make_bundle(bundle, stub)
                root = quick.make_root(found, bundle)
            else:
                from . import image as images
                store = images.Store()
                img = images.lookup_or_build(store, image)  # builds busybox when it is missing
                image_config, image_id = img.config or {}, img.id
                _make_bundle(bundle, stub)
                root = images.prepare_rootfs(store, img, bundle, overlay=False if shifted else None)
                if shifted:
                    from .userns import shift_owners
                    shift_owners(bundle, root.path, maps.uid_map, maps.gid_map)
            volatile = rm and root.is_overlay and volatile_overlay_supported()
            if readonly or volatile:
                root = replace(root, readonly=readonly, volatile=volatile)
        problems = image_config_problems(image_config)  # an image loaded before load checked them
        if problems:
            raise InvalidImage(f"image {image}: bad image config: {'; '.join(problems)}",
                               hint=f"remove it (`minictr rmi {image}`) and load or pull a good one")
        network = _resolve_network(network or Network(), image_config if publish_all else None)
        mounts = _resolve_volumes(volumes, root)
        argv = command_line(image_config.get("Entrypoint"), image_config.get("Cmd"), list(args), entrypoint)
        cfg = ContainerConfig(
            id=container_id, name=name, image=image, rootfs=root, args=argv,
            restart_policy=restart, stop_signal=image_config.get("StopSignal") or "SIGTERM",
            env=merge_env(image_config.get("Env") or [], list(env)),
            cwd=workdir or image_config.get("WorkingDir") or "/",
            user=user if user is not None else (maps.user or image_config.get("User") or None),
            hostname=hostname or container_id[:12], tty=tty, interactive=interactive, init=init,
            pivot=pivot, auto_remove=rm, resources=resources or Resources(),
            labels=tuple(sorted((image_config.get("Labels") or {}).items())), image_id=image_id,
            security=security, network=network, mounts=mounts,
            namespaces=(DEFAULT_NAMESPACES - {"net"} if network.mode == "host" else DEFAULT_NAMESPACES)
            | ({"user"} if maps.uid_map else set()), uid_map=maps.uid_map, gid_map=maps.gid_map,
            **docker_config(image_config, list(args), entrypoint),
        )
        return cfg.validate()
    except BaseException:
        remove_tree(bundle, ignore_errors=True)
        stub.remove()
        raise


def _user_maps(mode: str | None, resources: Resources | None, network: Network | None):
    """The user namespace maps of ``--userns`` (``userns.UserMaps``), and what a rootless run refuses.

    Root without ``--userns`` reads nothing. An ordinary user: the host's
    settings that forbid a user namespace, limits without a delegated cgroup,
    and a bridge network are refused here, each with one line, before anything is made.
    """
    if os.geteuid() == 0 and mode in (None, "host"):
        from .userns import UserMaps
        return UserMaps()
    from . import userns
    maps = userns.plan_for_me(mode)
    if maps.uid_map:
        userns.check_host()
    if os.geteuid() != 0:
        if resources is not None and resources.any():
            from .cgroups.delegation import check_limits
            check_limits(resources)
        if network is not None and network.mode not in ("none", "host", "slirp4netns"):
            from .errors import ConfigError
            raise ConfigError("--network", network.mode, "a bridge needs root: veths and the host's bridge are "
                              "made in the host's network namespace",
                              hint="use --network slirp4netns (outbound, and -p) or --network none, or run as root")
    return maps


def _resolve_network(network: Network, image_config: dict | None) -> Network:
    """The network with every host port picked and checked (``PortInUse``: one line, nothing made)."""
    if network.mode == "slirp4netns":
        if network.ports or image_config is not None:
            from .network.ports import exposed, resolve
            ports = list(network.ports) + (exposed(image_config) if image_config is not None else [])
            return replace(network, ports=tuple(resolve(ports, ())))
        return network
    if network.mode in ("none", "host"):
        if network.ports or image_config is not None:
            from .errors import ConfigError
            raise ConfigError("-p", network.mode, f"ports cannot be published with --network {network.mode}",
                              hint="use the default bridge network, or a network of your own")
        return network
    from .network import networks
    if network.mode != networks.DEFAULT:
        networks.load(network.mode)  # an unknown network: one line, before anything is made
    ports = list(network.ports)
    if image_config is not None:
        from .network.ports import exposed
        ports += exposed(image_config)
    if not ports:
        return network
    from .network.ports import resolve
    elsewhere = [tuple(p) for s in state.list_states() if s.status in ("created", "running")
                 for p in (s.network or {}).get("ports", ())]
    return replace(network, ports=tuple(resolve(ports, elsewhere)))


def _resolve_volumes(volumes, root: Rootfs) -> tuple[VolumeMount, ...]:
    if not volumes:
        return ()
    from .volumes import resolve
    image_dirs = root.lowers if root.is_overlay else (root.path,)
    return tuple(resolve(kind, m, image_dirs) for kind, m in volumes)


def _network_files(cfg: ContainerConfig, dir: str, own_root: bool) -> tuple[VolumeMount, ...]:
    """Bind mounts of the container's hosts, hostname and resolv.conf (written by network.attach.prepare)."""
    out = []
    for name in ("hosts", "hostname", "resolv.conf"):
        if own_root or os.path.exists(os.path.join(cfg.rootfs.path, "etc", name)):
            out.append(VolumeMount("bind", "/etc/" + name, os.path.join(dir, name), file=True))
    return tuple(out)


def network_up(c: "Container") -> None:
    """Plug a created container (its init waits at exec) into its network. Recorded first."""
    if c.state.network.get("network") == "slirp4netns":
        from .network import slirp
        slirp.start(c.state.network, c.init.pid, os.path.dirname(c.state.path()))
        c.state.save()
        return
    from .network import attach
    attach.connect(c.state.network, c.init.pid)


def with_seccomp_filter(security: Security) -> Security:
    """``security`` with its seccomp program compiled (or read from the cache), before anything starts.

    Compiling in the parent means a bad profile is one line and exit 125 with
    nothing made, and the init only has to load the bytes as its last step.
    """
    if security.seccomp_filter:
        return security
    from .security import capabilities
    from .security.seccomp_cache import program_for

    caps = capabilities.DEFAULT if security.capabilities is None else security.capabilities
    program = program_for(security.seccomp, caps)
    return replace(security, seccomp_filter=program) if program else security


def _make_bundle(bundle: str, st: state.State) -> None:
    """Make the storage dir whole, with a ``.state`` file naming its state dir.

    Made as ``.new-<id>-<pid>.<start>`` and renamed: a kill leaves either no
    storage dir or one that says whose it is, so gc (reaper.py) removes it
    once that state is gone, whichever runtime dir it lives in.
    """
    new = os.path.join(os.path.dirname(bundle), f".new-{st.id}-{st.supervisor_pid}.{st.supervisor_start}")
    os.makedirs(new, mode=0o700)
    with open(os.path.join(new, ".state"), "w") as f:
        f.write(os.path.dirname(st.path()))
    os.rename(new, bundle)


def bundle_of(cfg: ContainerConfig) -> str:
    """The container's own storage directory, when it has one."""
    candidate = os.path.join(_store_root(), "containers", cfg.id)
    return candidate if os.path.isdir(candidate) else ""


class Container:
    """One container, from create to delete. Use ``Container.create(cfg)``."""

    def __init__(self, cfg: ContainerConfig, st: state.State, kernel: Syscalls):
        self.config = cfg
        self.state = st
        self.kernel = kernel
        self.init: process.Init | None = None
        self.cgroup = None
        self.keep_storage = False

    @property
    def pid(self) -> int:
        return self.state.pid

    @property
    def id(self) -> str:
        return self.state.id

    @property
    def name(self) -> str:
        return self.state.name

    @classmethod
    def create(cls, cfg: ContainerConfig, kernel: Syscalls | None = None, *, save: bool = True,
               keep_storage: bool = False) -> "Container":
        """Fork the init, build the container around it, and stop just before exec.

        ``save=False`` leaves the state file at "creating" (``run`` starts the
        container at once, and its next write says "running"). ``keep_storage``
        (``start`` of a stopped container): if this fails, the container stays,
        stopped, with its writable layer, instead of being removed.
        """
        kernel = kernel or linux()
        st = state.State(id=cfg.id, name=cfg.name, image=cfg.image, image_id=cfg.image_id, command=list(cfg.args),
                         auto_remove=cfg.auto_remove, bundle=bundle_of(cfg),
                         labels=dict(cfg.labels), config=_config_dict(cfg))
        st.supervisor_pid, st.supervisor_start = os.getpid(), state.process_start(os.getpid()) or 0
        net = cfg.network
        if net.mode == "slirp4netns":
            from .network import slirp
            from .network.ports import show
            st.network = slirp.intent(net.ports)
            st.ports = [show(p) for p in net.ports]
        elif net.mode not in ("none", "host"):
            from .network import attach
            from .network.ports import show
            # Recorded before anything is made: a killed CLI's leftovers are found from this.
            st.network = attach.intent(cfg.id, net.mode, net.ports)
            st.ports = [show(p) for p in net.ports]
        st.save(create=True)
        c = cls(cfg, st, kernel)
        c.keep_storage = keep_storage
        try:
            if st.network and net.mode != "slirp4netns":
                dir = os.path.dirname(st.path())
                if cfg.uid_map and os.geteuid() == 0 and st.bundle:
                    # root's --userns: the container's root (an unprivileged id outside) cannot
                    # enter the state dir (0700, root's) to bind these; its own dir it can.
                    dir = os.path.join(st.bundle, "etc")
                    os.makedirs(dir, mode=0o755, exist_ok=True)
                attach.prepare(st.network, cfg.id, cfg.name, cfg.hostname, dir, net.dns, net.add_hosts)
                st.save()
                cfg = c.config = replace(cfg, mounts=_network_files(cfg, dir, bool(st.bundle)) + cfg.mounts)
            c.cgroup = _cgroup_create(cfg, kernel)
            join = c.cgroup.join_files() if c.cgroup is not None else ()
            c.init = process.spawn(cfg, kernel, _cgroupfs_view(c.cgroup, cfg), own_root=bool(st.bundle), join=join)
            st.pid, st.pid_start = c.init.pid, state.process_start(c.init.pid) or 0
            c.init.setup()
            if st.network:
                network_up(c)
        except BaseException:
            c._abort()
            raise
        st.status = "created"
        if save:
            st.save()
        return c

    def start(self) -> None:
        if self.state.status != "created" or self.init is None:
            raise InvalidTransition(f"container {self.name} is {self.state.status}, not created")
        try:
            self.init.start()
        except BaseException:
            self._finish(self._reap())
            raise
        self.state.status = "running"
        self.state.started = time.time()
        self.state.save()

    @property
    def pty_master(self) -> int | None:
        return self.init.pty_master if self.init else None

    def kill(self, sig: int = SIGTERM) -> None:
        if self.state.status in ("created", "running") and self.pid:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float | None = None, wait_status: int | None = None) -> int:
        """Reap the container's init and record how it ended. Returns its exit status."""
        if self.state.status == "stopped":
            return self.state.exit_code
        if wait_status is None:
            wait_status = self._reap(timeout)
        self._finish(wait_status)
        return self.state.exit_code

    def _reap(self, timeout: float | None = None) -> int:
        if timeout is None:
            return os.waitpid(self.pid, 0)[1]
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"container {self.name} still running after {timeout}s")
            time.sleep(0.01)

    def _finish(self, wait_status: int) -> None:
        cgroup, self.cgroup = self.cgroup, None
        state.record_exit(self.state, wait_status, cgroup)

    def delete(self, force: bool = False) -> None:
        """Remove everything the container left on the host."""
        if self.state.status in ("created", "running"):
            if not force:
                raise InvalidTransition(f"container {self.name} is {self.state.status}",
                                        hint=f"`minictr rm -f {self.name}` kills it first, then removes it")
            self.kill(SIGKILL)
            self.wait(timeout=10)
        _remove_leftovers(self.state)

    def _abort(self) -> None:
        """create() failed half-way: undo what was done."""
        if self.init is not None:
            try:
                os.kill(self.init.pid, SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self.init.pid, 0)
            self.init.channel.close()
        if self.cgroup is not None:
            self.cgroup.destroy()
            self.cgroup = None
        if self.keep_storage:  # a stopped container started again: it stays, with its writable layer
            self.state.status, self.state.finished = "stopped", time.time()
            self.state.exit_code = 125 if self.state.exit_code is None else self.state.exit_code
            self.state.save()
            return
        _remove_leftovers(self.state)

    def __enter__(self) -> "Container":
        return self

    def __exit__(self, *exc) -> None:
        self.delete(force=True)


def _config_dict(cfg: ContainerConfig) -> dict:
    from .record import asdict
    d = asdict(cfg)
    d["namespaces"] = sorted(cfg.namespaces)
    d["security"]["seccomp_filter"] = len(cfg.security.seccomp_filter)  # its size: JSON has no bytes
    return d


def _cgroup_create(cfg: ContainerConfig, kernel: Syscalls):
    """The container's cgroups, with its limits and its device allow list."""
    from . import cgroups
    if os.geteuid() != 0:
        # Rootless: a group only for limits, in the subtree delegated to the user
        # (prepare refused the limits otherwise); no device rules: the devices
        # cgroup is root's, and the user namespace already denies mknod and raw devices.
        return cgroups.create(cfg.id, cfg.resources) if cfg.resources.any() else None
    from .security import devices
    mgr = cgroups.create(cfg.id, cfg.resources)
    try:
        devices.confine(mgr, devices.rules(cfg.security), kernel)
    except BaseException:
        mgr.destroy(timeout=1.0)
        raise
    return mgr


def _cgroupfs_view(mgr, cfg: ContainerConfig) -> tuple:
    """The host's cgroup hierarchies, as the plain data ``rootfs.plan`` mounts inside.

    Only with a cgroup namespace: without one, the container would see the host's whole tree.
    """
    if mgr is None or "cgroup" not in cfg.namespaces:
        return ()
    out = []
    joined = {g.hierarchy.mount for g in mgr.groups}
    for h in mgr.layout.hierarchies:
        if h.mount not in joined:  # its namespace root would be our own group there: not the container's
            continue
        sub = os.path.relpath(h.mount, mgr.layout.root)
        if h.version == 2:
            out.append((sub, "cgroup2", None))
        elif h.controllers:
            out.append((sub, "cgroup", ",".join(h.controllers)))
    return tuple(out)


def run(cfg: ContainerConfig, kernel: Syscalls | None = None, handoff=None) -> Container:
    """What ``minictr run`` does: create, start, forward signals, wait, clean up.

    Returns the stopped container; its ``state`` has ``exit_code`` and ``oom_killed``.
    With ``handoff`` (the CLI passes ``supervise.handoff``): if the container
    is still running after ``HANDOFF_AFTER`` seconds, ``handoff(id)`` replaces
    this process with a small supervisor that does the rest (see
    supervise.py); it returns only if that failed. A short run does not pay
    for starting that second interpreter; a long one waits in a small process.

    Signals: the forwarded ones stay blocked until the command has started
    (the CLI blocks them at its very start). One that came before is still
    pending then: if it came before the start, the start is undone and
    ``StartInterrupted`` raised; once the command runs, they are forwarded to it.
    """
    forwarded = process.FORWARDED_SIGNALS
    mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, forwarded)  # the caller's, restored at the end
    try:
        c = Container.create(cfg, kernel, save=False)  # one write less: the next one says "running"
    except BaseException:
        _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)
        raise
    old = {}
    term = None
    try:
        early = _signal.sigpending() & (set(forwarded) - {SIGWINCH})  # a resized window is no reason to stop
        if early:  # asked to stop before it started: undo the start, leave nothing
            c.delete(force=True)
            raise StartInterrupted(min(early))
        if cfg.tty:
            from .tty import Terminal
            term = Terminal(c.pty_master)  # raw mode and the window size, before the command starts
        c.start()
        # With -t the terminal passes a new window size to the pty itself (the kernel then
        # signals the container's foreground job), so SIGWINCH keeps the terminal's handler.
        old = {sig: _signal.signal(sig, lambda signum, _f: c.kill(signum))
               for sig in forwarded if not (term is not None and sig == SIGWINCH)}
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, forwarded)  # a pending one is forwarded now
        if handoff is not None and not _exits_within(c.pid, HANDOFF_AFTER):
            handoff(c.id)
        status = term.relay(c.pid) if term is not None else None
        c.wait(wait_status=status)
        return c
    finally:
        if term is not None:
            term.close()
        if c.state.status != "stopped":  # an exception on the way: never leave it running
            c.kill(SIGKILL)
            c.wait()
        if cfg.auto_remove:
            _remove_leftovers(c.state, cgroup_gone=c.cgroup is None)
        for sig, handler in old.items():
            _signal.signal(sig, handler)
        _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)


#: How long ``run`` waits in its own (big) process before it hands off to the small supervisor.
HANDOFF_AFTER = 0.25


def _exits_within(pid: int, seconds: float) -> bool:
    """True if ``pid`` (our child) exits within ``seconds``. It stays unreaped, for wait().

    A pidfd becomes readable when the process exits (pidfd_open(2)), so
    poll(2) waits for "exited or timed out" without reaping and without a
    busy loop. A forwarded signal interrupts the poll; Python resumes it.
    """
    import select
    fd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(seconds * 1000))
    finally:
        os.close(fd)


def gc() -> list[str]:
    """Finish containers whose supervisor died, and remove what killed starts left (see reaper.py)."""
    from .reaper import gc as _gc
    return _gc()


def gc_leftovers() -> list[str]:
    """Remove state and storage dirs that no container owns any more (see reaper.py)."""
    from .reaper import gc_leftovers as _gc_leftovers
    return _gc_leftovers()


def _supervisor_alive(st: state.State) -> bool:
    return bool(st.supervisor_pid) and st.supervisor_pid != os.getpid() \
        and state.process_start(st.supervisor_pid) == st.supervisor_start


def remove(ref: str, force: bool = False, collected: "list[str] | tuple" = ()) -> state.State:
    """``rm``: remove a container, or the leftovers of one whose start was killed.

    ``collected``: ids a gc just cleaned up; naming one of them succeeds, as the
    leftover it was is gone now (``rm -f ID`` after a killed start).
    """
    try:
        st = state.load(ref)
    except NotFound:
        hits = [c for c in collected if len(ref) >= 3 and c.startswith(ref)]
        if len(set(hits)) == 1:
            return state.State(id=hits[0], name="", image="", command=[])
        raise
    if st.status in ("created", "running") and st.is_alive():
        if not force:
            raise InvalidTransition(f"container {st.name} is running",
                                    hint=f"`minictr stop {st.name}` first, or `minictr rm -f {st.name}` kills and removes it")
        from .monitor import mark_stopped_by_user
        mark_stopped_by_user(os.path.dirname(st.path()))  # a --restart monitor must not start it again
        os.kill(st.pid, SIGKILL)
        deadline = time.monotonic() + 10
        # Also until its supervisor has recorded the exit and gone: it writes the state file
        # once more, and would bring back the one removed here (it tears the network down first).
        while (st.is_alive() or _supervisor_alive(st)) and time.monotonic() < deadline:
            time.sleep(0.02)
    from .monitor import settle
    settle(st)  # a detached container's monitor records the end first, and restarts nothing
    _remove_leftovers(st)
    return st


def inspect(ref: str) -> dict:
    """``docker container inspect``'s JSON for a container (see inspect_view.py)."""
    from .inspect_view import container_json
    gc()
    return container_json(state.load(ref))



def list_containers(all: bool = False) -> list[state.State]:
    gc()
    states = state.list_states()
    return states if all else [s for s in states if s.status in ("created", "running")]

