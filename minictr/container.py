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
"""

from __future__ import annotations

import _signal  # the signal module without its enums (see process.py)
import os
import time
from _signal import SIGKILL, SIGTERM, SIGWINCH

from . import process, state
from .config import (DEFAULT_NAMESPACES, ContainerConfig, Network, Resources, Rootfs, Security, VolumeMount,
                     command_line, image_config_problems, merge_env, validate_name)
from .errors import ImageNotFound, InvalidImage, InvalidTransition, StartInterrupted
from .fsutil import remove_tree
from .names import random_name
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
            security: Security | None = None, network: Network | None = None, publish_all: bool = False,
            volumes=()) -> ContainerConfig:
    """Resolve the image, make the container's root, and return a validated config.

    ``image`` is an image in the store (``busybox``), a rootfs tarball
    (``.tar``, ``.tar.gz``) or a rootfs directory (used in place, as runc does).
    ``security`` is what root in the container may do (default: docker's
    confinement; ``security.options.from_flags`` builds one from the flags).
    ``network`` (default: ``none``, lo only; the CLI's default is ``bridge``)
    has its host ports picked and checked here, before anything is made
    (``publish_all``: also the image's EXPOSEd ports, as ``-P``).
    ``volumes`` are ``(kind, VolumeMount)`` pairs from ``minictr.volumes.parse_*``.
    """
    security = with_seccomp_filter(security or Security())
    container_id = os.urandom(32).hex()
    if name is None:
        name = random_name({s.name for s in state.list_states()})
    else:
        validate_name(name)
        state.check_name_free(name)
    bundle = os.path.join(_store_root(), "containers", container_id)
    image_config: dict = {}
    try:
        if os.path.isdir(image):
            root = Rootfs(path=os.path.abspath(image), readonly=readonly)
        elif os.path.isfile(image):
            from .tarball import extract
            os.makedirs(os.path.join(bundle, "rootfs"), mode=0o700)
            extract(image, os.path.join(bundle, "rootfs"))
            root = Rootfs(path=os.path.join(bundle, "rootfs"), readonly=readonly)
        elif "/" in image and (image.endswith((".tar", ".tar.gz", ".tgz")) or image.startswith((".", "/"))):
            raise ImageNotFound(f"no such file: {image}", hint="check the path to the rootfs tarball")
        else:
            from .image import quick
            found = quick.find(image)  # the common case, without importing the whole store
            if found is not None:
                image_config = found.config
                os.makedirs(bundle, mode=0o700)
                root = quick.make_root(found, bundle)
            else:
                from . import image as images
                store = images.Store()
                img = images.lookup_or_build(store, image)  # builds busybox when it is missing
                image_config = img.config or {}
                os.makedirs(bundle, mode=0o700)
                root = images.prepare_rootfs(store, img, bundle)
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
            env=merge_env(image_config.get("Env") or [], list(env)),
            cwd=workdir or image_config.get("WorkingDir") or "/",
            user=user if user is not None else (image_config.get("User") or None),
            hostname=hostname or container_id[:12], tty=tty, interactive=interactive, init=init,
            pivot=pivot, auto_remove=rm, resources=resources or Resources(),
            labels=tuple(sorted((image_config.get("Labels") or {}).items())),
            security=security, network=network, mounts=mounts,
            namespaces=DEFAULT_NAMESPACES - {"net"} if network.mode == "host" else DEFAULT_NAMESPACES,
        )
        return cfg.validate()
    except BaseException:
        remove_tree(bundle, ignore_errors=True)
        raise


def _resolve_network(network: Network, image_config: dict | None) -> Network:
    """The network with every host port picked and checked (``PortInUse``: one line, nothing made)."""
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
    from .network import attach
    attach.connect(c.state.network, c.init.pid)


def network_down(st: state.State) -> None:
    """Undo the container's network (ports, veth, address; the bridge with its last user). Idempotent."""
    if st.network and not st.network.get("down") and st.network.get("network") not in ("none", "host"):
        from .network import attach
        attach.detach(st.network, st.id)


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
    def create(cls, cfg: ContainerConfig, kernel: Syscalls | None = None, *, save: bool = True) -> "Container":
        """Fork the init, build the container around it, and stop just before exec.

        ``save=False`` leaves the state file at "creating" (``run`` starts the
        container at once, and its next write says "running").
        """
        kernel = kernel or linux()
        st = state.State(id=cfg.id, name=cfg.name, image=cfg.image, command=list(cfg.args),
                         auto_remove=cfg.auto_remove, bundle=bundle_of(cfg),
                         labels=dict(cfg.labels), config=_config_dict(cfg))
        st.supervisor_pid, st.supervisor_start = os.getpid(), state.process_start(os.getpid()) or 0
        net = cfg.network
        if net.mode not in ("none", "host"):
            from .network import attach
            from .network.ports import show
            # Recorded before anything is made: a killed CLI's leftovers are found from this.
            st.network = attach.intent(cfg.id, net.mode, net.ports)
            st.ports = [show(p) for p in net.ports]
        st.save()
        c = cls(cfg, st, kernel)
        try:
            if st.network:
                dir = os.path.dirname(st.path())
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
                                        hint=f"stop it first, or use `minictr rm -f {self.name}`")
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


def _destroy_cgroup(container_id: str) -> None:
    from . import cgroups
    mgr = cgroups.open(container_id)
    if mgr is not None:
        mgr.destroy()


def _remove_leftovers(st: state.State, cgroup_gone: bool = False) -> None:
    # cgroup_gone: this process destroyed the cgroup itself, so there is no
    # need to search the cgroup trees for it (a walk of every hierarchy).
    if not cgroup_gone:
        _destroy_cgroup(st.id)
    network_down(st)
    if st.bundle:
        remove_tree(st.bundle, ignore_errors=True)
    st.remove()


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
    """Finish containers whose supervisor died (a SIGKILLed CLI): returns their ids.

    A container is orphaned when neither its init nor the process that
    supervised it is alive. Its cgroup is removed and it is marked stopped;
    an ``--rm`` container is removed entirely.
    """
    done = []
    for st in state.list_states():
        if st.status == "stopped" or st.is_alive():
            continue
        sup_alive = state.process_start(st.supervisor_pid) == st.supervisor_start if st.supervisor_pid else False
        if sup_alive:
            continue
        from . import cgroups
        mgr = cgroups.open(st.id)
        if mgr is not None:
            st.oom_killed = st.oom_killed or mgr.oom_killed()
            mgr.destroy()
        if st.auto_remove:
            _remove_leftovers(st)
        else:
            network_down(st)
            st.ports = []
            st.status, st.finished = "stopped", st.finished or time.time()
            if st.exit_code is None:
                st.exit_code = 137 if st.pid else 125
            st.save()
        done.append(st.id)
    _collect_addresses()
    return done


def _collect_addresses() -> None:
    """Free the network addresses of containers whose state is gone (removed by hand, or a crash)."""
    from .network.networks import networks_dir
    if os.path.isdir(networks_dir()):
        from .network import attach
        attach.collect({s.id for s in state.list_states()})


def _supervisor_alive(st: state.State) -> bool:
    return bool(st.supervisor_pid) and st.supervisor_pid != os.getpid() \
        and state.process_start(st.supervisor_pid) == st.supervisor_start


def remove(ref: str, force: bool = False) -> state.State:
    st = state.load(ref)
    if st.status in ("created", "running") and st.is_alive():
        if not force:
            raise InvalidTransition(f"container {st.name} is running",
                                    hint=f"stop it first, or use `minictr rm -f {st.name}`")
        os.kill(st.pid, SIGKILL)
        deadline = time.monotonic() + 10
        # Also until its supervisor has recorded the exit and gone: it writes the state file
        # once more, and would bring back the one removed here (it tears the network down first).
        while (st.is_alive() or _supervisor_alive(st)) and time.monotonic() < deadline:
            time.sleep(0.02)
    _remove_leftovers(st)
    return st


def inspect(ref: str) -> dict:
    """The container's state as docker-ish JSON data."""
    from .record import asdict
    st = state.load(ref)
    d = asdict(st)
    d["alive"] = st.is_alive()
    d["HostConfig"] = host_config(st.config.get("security") or {})
    return d


def host_config(saved: dict) -> dict:
    """docker's HostConfig security names (CapAdd, CapDrop, Privileged, SecurityOpt) from a saved config."""
    from .security.options import host_config as from_security
    known = {k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items() if k in Security._fields}
    known["seccomp_filter"] = b""
    return from_security(Security(**known))


def list_containers(all: bool = False) -> list[state.State]:
    gc()
    states = state.list_states()
    return states if all else [s for s in states if s.status in ("created", "running")]

