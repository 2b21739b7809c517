"""L0: the layer table: every module of minictr, its layer, and its one job.

A module imports only from its own layer or below, and never in a circle.
``tests/unit/test_layers.py`` reads every import of every module (at the top,
inside functions, relative ones, and module names handed to ``importlib``)
and fails on an upward import, on a cycle, and on a module this table does
not list. The package docstring and the README show ``table_text()``; the
same test checks that they agree with the data here.

Rows name modules without the ``minictr.`` in front (``"config"`` is
``minictr.config``, ``"__init__"`` the package itself). A row names one module
exactly, or ends in ``*`` and covers every module whose name starts with what
comes before it: ``"cli_*"`` covers ``minictr.cli_images``, and ``"image.*"``
covers ``minictr.image`` itself too. An exact row wins over a ``*`` row, and
a longer ``*`` row over a shorter one. A ``*`` row may name a package that
does not exist yet (several are being written); an exact row must name a
module that does.

Pure data: importing this module imports nothing.
"""

#: What each layer is for.
LAYER_NAMES = {
    0: "the shared vocabulary and pure helpers",
    1: "kernel features, one package or module each",
    2: "the container's process, and its state on disk",
    3: "a container's life: one core for every front end",
    4: "the front ends and the teaching code: the CLI, the labs, the widgets",
}

#: ``(row, layer, job)``: see the module docstring for what a row matches.
LAYERS = (
    ("__init__", 0, "the public names: the exception tree and the version"),
    ("errors", 0, "the exception tree: what failed, why, a hint, an exit status"),
    ("record", 0, "Record: plain-data classes that cost nothing to import"),
    ("config", 0, "ContainerConfig and Resources, validated: the shared vocabulary"),
    ("syscalls", 0, "the only ctypes module: the kernel's calls, and a recording fake"),
    ("procfs*", 0, "/proc readers: status fields, capabilities, namespace links, start times"),
    ("leanjson", 0, "JSON for the run path, without importing re"),
    ("fsutil", 0, "rm -rf for the run path, without importing shutil"),
    ("names", 0, "random docker-style container names"),
    ("timing", 0, "time commands side by side (bench/, lesson 00)"),
    ("layers", 0, "this table"),
    ("paths", 0, "where the store and the state live: root's dirs, or the user's XDG dirs"),
    ("logs", 0, "a container's log in docker's json-file format: write, read, --since, --tail"),
    ("namespaces", 1, "namespace kinds, their CLONE_* flags, /proc/PID/ns"),
    ("userns", 1, "user namespaces: --userns plans, subuid ranges, writing the maps, host refusals"),
    ("rootfs", 1, "the mount plan as data, and the one loop that applies it"),
    ("users", 1, "an image's User (or -u) to uid, gid and groups"),
    ("tty", 1, "the user's terminal <-> the container's pty (run -t)"),
    ("network", 1, "container networking: the package, and lesson 05's names (a lazy re-export)"),
    ("network.veth", 1, "a veth pair between the host and a container (lesson 05)"),
    ("network.runner", 1, "run ip and nft without subprocess (in a netns too), and a recording fake"),
    ("network.ipam", 1, "addresses from a subnet that misses the host's routes, in a locked JSON file"),
    ("network.bridge", 1, "the Linux bridge of a network, ip_forward and route_localnet"),
    ("network.nft", 1, "minictr's own nftables table: masquerade and published ports, as data"),
    ("network.ports", 1, "-p/-P parsing, the ps PORTS column, host ports in use"),
    ("network.slirp", 1, "a rootless container's network: slirp4netns, -p through its API socket"),
    ("network.resolv", 1, "the container's /etc/resolv.conf and /etc/hosts"),
    ("network.networks", 1, "the bridge network and user-defined ones: create, ls, rm, inspect"),
    ("network.attach", 1, "a container's network set-up and teardown, recorded in its state"),
    ("volumes", 1, "-v, --mount, --tmpfs, named volumes, and their mount steps"),
    ("child*", 1, "fork a child (in another process's namespaces) and collect its result"),
    ("tarball*", 1, "unpack a tarball safely: source, resolve, extract, whiteouts"),
    ("tarcorpus", 1, "malicious and tricky tarballs for any extractor (lesson 02, tests)"),
    ("cgroups.*", 1, "cgroup v1, v2 and hybrid: one manager, units, stats, a fake cgroupfs"),
    ("image.*", 1, "OCI images: store, blobs, layers, archives, pulls, the default busybox"),
    ("security.*", 1, "capabilities, seccomp, masked and read-only paths, devices"),
    ("build.*", 1, "building images: Containerfile parser, context, layer diff, cache keys, ELF"),
    ("process", 2, "the container's init, and the parent<->child protocol"),
    ("state", 2, "container state on disk, one JSON file per container"),
    ("reaper", 2, "collect what dead runs and killed CLIs left: state, storage, cgroups"),
    ("supervise", 2, "the small supervisor that a foreground run becomes"),
    ("monitor", 2, "the small monitor of a detached container: reaps, logs, attach, restarts"),
    ("container", 3, "prepare, create, start, wait, kill, delete, list"),
    ("inspect_view", 3, "docker container inspect's JSON for a container"),
    ("build.builder", 3, "minictr build: the steps run (RUN in a container), the cache, the commit"),
    ("doctor", 3, "can this machine run the lessons, and if not, why"),
    ("doctor_rootless", 3, "doctor for an ordinary user: user namespaces, subuids, delegation, lessons"),
    ("doctor_sec", 3, "doctor: what the host supports of a container's confinement"),
    ("lifecycle", 3, "run -d (double fork, then the monitor), start, stop, kill, restart, wait"),
    ("enter", 3, "exec: a second process joins a running container's namespaces"),
    ("__main__", 4, "python -m minictr"),
    ("cli", 4, "run, ps, rm, and the dispatch to the cli_* modules"),
    ("cli_*", 4, "any other area of commands, one module each"),
    ("cli_images", 4, "images, rmi, tag, pull, load, save, import, inspect, image ..."),
    ("cli_life", 4, "logs, attach, exec, start, stop, restart, kill, wait"),
    ("cli_build", 4, "build, history, image from-binary"),
    ("cli_stats", 4, "stats: live CPU, memory and pids"),
    ("cli_network", 4, "port, network create/ls/rm/inspect, volume create/ls/rm/inspect/prune"),
    ("cli_doctor", 4, "doctor: what this machine offers the lessons"),
    ("cli_flags", 4, "docker's resource flags -> config.Resources"),
    ("cli_format*", 4, "tables, durations, sizes, Go templates, progress bars"),
    ("labs.*", 4, "one module per lesson: its exercise cases and reference answers"),
    ("exercises", 4, "the names the notebooks import from the check framework (a re-export)"),
    ("reference", 4, "the reference answers notebooks import by their old name (a re-export)"),
    ("widgets*", 4, "ipywidgets for the notebooks: quiz, explorers, gauge, tree"),
)


def table_text(indent: str = "") -> str:
    """The table as text, highest layer first, as the package docstring and the README show it."""
    def shown(row: str) -> str:
        return "__init__" if row == "minictr" else row.removeprefix("")

    width = max(len(shown(row)) for row, _l, _j in LAYERS)
    lines = []
    for layer in sorted(LAYER_NAMES, reverse=True):
        lines.append(f"{indent}L{layer}  {LAYER_NAMES[layer]}")
        lines += [f"{indent}    {row:<{width}}  {job}" for row, rl, job in LAYERS if rl == layer]
    return "\n".join(lines)
