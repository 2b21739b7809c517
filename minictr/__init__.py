"""minictr: a small, real container runtime that you build lesson by lesson.

A container is just a process, isolated from the others by kernel features:
namespaces and cgroups. This package does the isolation with real syscalls,
and the notebooks in ``notebooks/`` build it up one step at a time.

The layers: a module imports only from its own layer or below, and never in
a circle. ``minictr/layers.py`` holds this table as data (a ``*`` row covers
a package, or a family of modules), and ``tests/unit/test_layers.py`` checks
every import of every module against it::

    L4  the front ends and the teaching code: the CLI, the labs, the widgets
        __main__          python -m minictr
        cli               run, ps, rm, and the dispatch to the cli_* modules
        cli_*             any other area of commands, one module each
        cli_images        images, rmi, tag, pull, load, save, import, inspect, image ...
        cli_life          logs, attach, exec, start, stop, restart, kill, wait
        cli_build         build, history, image from-binary
        cli_stats         stats: live CPU, memory and pids
        cli_network       port, network create/ls/rm/inspect, volume create/ls/rm/inspect/prune
        cli_doctor        doctor: what this machine offers the lessons
        cli_flags         docker's resource flags -> config.Resources
        cli_format*       tables, durations, sizes, Go templates, progress bars
        labs.*            one module per lesson: its exercise cases and reference answers
        exercises         the names the notebooks import from the check framework (a re-export)
        reference         the reference answers notebooks import by their old name (a re-export)
        widgets*          ipywidgets for the notebooks: quiz, explorers, gauge, tree
    L3  a container's life: one core for every front end
        container         prepare, create, start, wait, kill, delete, list
        inspect_view      docker container inspect's JSON for a container
        build.builder     minictr build: the steps run (RUN in a container), the cache, the commit
        doctor            can this machine run the lessons, and if not, why
        doctor_rootless   doctor for an ordinary user: user namespaces, subuids, delegation, lessons
        doctor_sec        doctor: what the host supports of a container's confinement
        lifecycle         run -d (double fork, then the monitor), start, stop, kill, restart, wait
        enter             exec: a second process joins a running container's namespaces
    L2  the container's process, and its state on disk
        process           the container's init, and the parent<->child protocol
        state             container state on disk, one JSON file per container
        reaper            collect what dead runs and killed CLIs left: state, storage, cgroups
        supervise         the small supervisor that a foreground run becomes
        monitor           the small monitor of a detached container: reaps, logs, attach, restarts
    L1  kernel features, one package or module each
        namespaces        namespace kinds, their CLONE_* flags, /proc/PID/ns
        userns            user namespaces: --userns plans, subuid ranges, writing the maps, host refusals
        rootfs            the mount plan as data, and the one loop that applies it
        users             an image's User (or -u) to uid, gid and groups
        tty               the user's terminal <-> the container's pty (run -t)
        network           container networking: the package, and lesson 05's names (a lazy re-export)
        network.veth      a veth pair between the host and a container (lesson 05)
        network.runner    run ip and nft without subprocess (in a netns too), and a recording fake
        network.ipam      addresses from a subnet that misses the host's routes, in a locked JSON file
        network.bridge    the Linux bridge of a network, ip_forward and route_localnet
        network.nft       minictr's own nftables table: masquerade and published ports, as data
        network.ports     -p/-P parsing, the ps PORTS column, host ports in use
        network.slirp     a rootless container's network: slirp4netns, -p through its API socket
        network.resolv    the container's /etc/resolv.conf and /etc/hosts
        network.networks  the bridge network and user-defined ones: create, ls, rm, inspect
        network.attach    a container's network set-up and teardown, recorded in its state
        volumes           -v, --mount, --tmpfs, named volumes, and their mount steps
        child*            fork a child (in another process's namespaces) and collect its result
        tarball*          unpack a tarball safely: source, resolve, extract, whiteouts
        tarcorpus         malicious and tricky tarballs for any extractor (lesson 02, tests)
        cgroups.*         cgroup v1, v2 and hybrid: one manager, units, stats, a fake cgroupfs
        image.*           OCI images: store, blobs, layers, archives, pulls, the default busybox
        security.*        capabilities, seccomp, masked and read-only paths, devices
        build.*           building images: Containerfile parser, context, layer diff, cache keys, ELF
    L0  the shared vocabulary and pure helpers
        __init__          the public names: the exception tree and the version
        errors            the exception tree: what failed, why, a hint, an exit status
        record            Record: plain-data classes that cost nothing to import
        config            ContainerConfig and Resources, validated: the shared vocabulary
        syscalls          the only ctypes module: the kernel's calls, and a recording fake
        procfs*           /proc readers: status fields, capabilities, namespace links, start times
        leanjson          JSON for the run path, without importing re
        fsutil            rm -rf for the run path, without importing shutil
        names             random docker-style container names
        timing            time commands side by side (bench/, lesson 00)
        layers            this table
        paths             where the store and the state live: root's dirs, or the user's XDG dirs
        logs              a container's log in docker's json-file format: write, read, --since, --tail

Only ``syscalls.py`` touches ctypes. Only the front ends print or exit: the
``cli*`` modules, ``supervise.py`` (the process a foreground run turns into,
which reports an OOM kill as the CLI would), ``monitor.py`` (a detached
container's monitor, whose stderr is ``monitor.log`` in the state dir), and
the lesson checks, which print to the notebook.
"""

__version__ = "0.1.0"

from .errors import (
    ConfigError, ContainerSetupError, ContainerStateError, ImageError, ImageNotFound,
    MinictrError, SyscallError, UnsafeLayerEntry,
)

__all__ = [
    "__version__", "MinictrError", "ConfigError", "ContainerSetupError", "ContainerStateError",
    "ImageError", "ImageNotFound", "SyscallError", "UnsafeLayerEntry",
]
