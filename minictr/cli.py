"""L4: the command line. The only module family that prints or exits.

Exit codes, as docker's CLI gives them:

====  =====================================================
1     a command other than ``run`` failed (``rm`` of an unknown
      container, ``rmi`` of an image in use, a bad archive to ``load``)
125   a bad command line (any command), or ``run`` itself failed
      (unknown image, bad limit, setup error)
126   ``run``: the command was found but cannot be invoked
127   ``run``: the command was not found
N     ``run``: otherwise the container's own exit status
128+N ``run``: the container was killed by signal N
141   stdout was closed under us (``minictr images | head -1``), as
      a Unix tool that SIGPIPE ends (128 + 13)
====  =====================================================

The core commands (run, ps, rm) are here. Every other area lives in its own
``cli_*.py`` module with a ``register(subparsers)`` function, listed in
``SUBCOMMAND_MODULES``. Each command function takes the parsed args and
returns an exit code; errors are raised as ``MinictrError`` and printed
here, once, as one line.

Why over 400 lines: it holds the three core commands (run, ps, rm), the fast run-flag
reader that keeps a start lean, and the one place that turns errors into a line and an
exit status; other commands live in the cli_* modules.
"""

from __future__ import annotations

import _signal  # the signal module without its enums (importing enum costs ~3 ms of a start)
import os
import sys
import time

from . import __version__
from .errors import MinictrError

EXIT_RUNTIME_ERROR = 125
EXIT_COMMAND_FAILED = 1
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE

#: Commands whose own failures exit 125 (and that pass on the container's
#: status otherwise); every other command's failure is 1, as docker's and podman's.
RUN_COMMANDS = ("run", "build")

#: Modules that add subcommands. Each has register(subparsers).
SUBCOMMAND_MODULES: tuple[str, ...] = ("minictr.cli_images", "minictr.cli_doctor", "minictr.cli_stats",
                                        "minictr.cli_life", "minictr.cli_build", "minictr.cli_network")


# ---------------------------------------------------------------- run
#: ``run``'s own flags, as data: ``(names, kind, metavar, help)``. argparse
#: builds ``--help`` from them; ``parse_run_fast`` reads a common command line
#: with them and no argparse at all (importing argparse is 4-7 ms of a ~20 ms
#: start). The resource flags come from ``cli_flags.RESOURCE_FLAGS``.
BOOL, VALUE, APPEND = "bool", "value", "append"
RUN_FLAGS: tuple[tuple[tuple[str, ...], str, str | None, str], ...] = (
    (("--name",), VALUE, None, "assign a name to the container"),
    (("--rm",), BOOL, None, "remove the container when it exits"),
    (("-d", "--detach"), BOOL, None, "run in the background under a monitor; print the container's id"),
    (("--restart",), VALUE, "POLICY", "no, always, unless-stopped, on-failure[:N] (the monitor restarts it)"),
    (("-e", "--env"), APPEND, "KEY=VAL", "set an environment variable (repeatable)"),
    (("-w", "--workdir"), VALUE, None, "working directory inside the container"),
    (("-u", "--user"), VALUE, None, "user[:group] or uid[:gid] to run as"),
    (("--entrypoint",), VALUE, None, "override the image's Entrypoint (clears its Cmd)"),
    (("-h", "--hostname"), VALUE, None, "container hostname (default: the short id)"),
    (("-i", "--interactive"), BOOL, None, "keep stdin attached"),
    (("-t", "--tty"), BOOL, None, "allocate a pseudo-terminal"),
    (("--init",), BOOL, None, "run a small init as PID 1 that reaps zombies and forwards signals"),
    (("--read-only",), BOOL, None, "mount the container's root read-only"),
    (("--no-pivot",), BOOL, None, "use chroot instead of pivot_root (insecure: lesson 03 shows the breakout)"),
    (("--cap-add",), APPEND, "CAP", "add a capability, e.g. NET_ADMIN, or ALL (repeatable)"),
    (("--cap-drop",), APPEND, "CAP", "drop a capability, e.g. NET_RAW, or ALL (repeatable)"),
    (("--privileged",), BOOL, None, "every capability and device, no seccomp, no masked paths, /sys read-write"),
    (("--security-opt",), APPEND, "OPT", "no-new-privileges, seccomp=unconfined|PROFILE.json, "
                                         "systempaths=unconfined (repeatable)"),
    (("-p", "--publish"), APPEND, "[IP:]HOST:CTR[/udp]", "publish a container port on the host, e.g. 8081:80 "
                                                         "(repeatable)"),
    (("-P", "--publish-all"), BOOL, None, "publish every port the image EXPOSEs on a free host port"),
    (("--network",), VALUE, "NET", "bridge (root's default), slirp4netns (rootless default), none (lo only), "
                                   "host (the host's), or a network's name"),
    (("--userns",), VALUE, "MODE", "host (root's default), auto (a user namespace: root inside is not root "
                                   "outside; rootless default), keep-id (rootless: your uid inside too)"),
    (("--dns",), APPEND, "IP", "a nameserver for the container's /etc/resolv.conf (repeatable)"),
    (("--add-host",), APPEND, "NAME:IP", "a line in the container's /etc/hosts (repeatable)"),
    (("-v", "--volume"), APPEND, "SRC:CTR[:ro]", "bind a host path or a named volume (repeatable)"),
    (("--mount",), APPEND, "type=...,target=...", "a bind, volume or tmpfs mount, in docker's --mount words "
                                                   "(repeatable)"),
    (("--tmpfs",), APPEND, "PATH[:OPTS]", "mount a tmpfs at PATH (repeatable)"),
)


def add_run_flags(p) -> None:
    import argparse
    from .cli_flags import add_resource_flags

    p.add_argument("--help", action="help", help="show this help message and exit")
    for names, kind, metavar, help in RUN_FLAGS:
        if kind == BOOL:
            p.add_argument(*names, action="store_true", help=help)
        elif kind == APPEND:
            p.add_argument(*names, action="append", default=[], metavar=metavar, help=help)
        else:
            p.add_argument(*names, metavar=metavar, help=help)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    add_resource_flags(p)
    p.add_argument("image", metavar="IMAGE", help="image name, rootfs tarball (.tar, .tar.gz) or rootfs directory")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]",
                   help="command to run (default: the image's Entrypoint and Cmd)")


class Args:
    """Parsed flags as attributes, like argparse's Namespace."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self) -> str:
        return f"Args({self.__dict__})"


def parse_run_fast(argv: list[str]) -> Args | None:
    """``run``'s flags, IMAGE and COMMAND from ``argv`` (what follows ``run``), without argparse.

    It reads only what it is sure of: long and short flags from the tables,
    ``--flag=value``, ``-eKEY=VAL``, and bundled short switches such as
    ``-it``. Anything else (``--help``, an unknown or abbreviated flag, a
    missing value, a value that starts with '-', no IMAGE) returns None, and
    argparse reads the line instead: it has the last word, and the wording of
    the errors. tests/unit/test_cli_fast.py checks that both agree.
    """
    from .cli_flags import RESOURCE_FLAGS, flag_dest

    table = {}
    args = Args()
    for names, kind, _metavar, _help in RUN_FLAGS + tuple((n, VALUE, m, h) for n, m, h in RESOURCE_FLAGS):
        for name in names:
            table[name] = (kind, flag_dest(names))
        setattr(args, flag_dest(names), False if kind == BOOL else [] if kind == APPEND else None)
    table["--debug"] = (BOOL, "debug")
    args.debug = False  # the top-level parser's default
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-") or arg == "-":  # IMAGE: everything after it is the command
            args.image, args.command = arg, argv[i + 1:]
            if args.command[:1] == ["--"]:  # as argparse does
                del args.command[0]
            return args
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            found = table.get(name)
            if found is None or (found[0] == BOOL and eq):
                return None
            if found[0] != BOOL and not eq:
                i += 1
                if i == len(argv) or argv[i].startswith("-"):
                    return None
                value = argv[i]
            _store(args, *found, value)
        elif arg[:2] in table and table[arg[:2]][0] != BOOL:  # -e KEY=VAL, -eKEY=VAL
            value = arg[2:]
            if not value:
                i += 1
                if i == len(argv) or argv[i].startswith("-"):
                    return None
                value = argv[i]
            _store(args, *table[arg[:2]], value)
        else:  # -i, -t, -it: switches only
            for ch in arg[1:]:
                found = table.get("-" + ch)
                if found is None or found[0] != BOOL:
                    return None
                _store(args, *found, None)
        i += 1
    return None  # no IMAGE: argparse says so


def _store(args: Args, kind: str, dest: str, value: str | None) -> None:
    if kind == BOOL:
        setattr(args, dest, True)
    elif kind == APPEND:
        getattr(args, dest).append(value)
    else:
        setattr(args, dest, value)


def _handoff(container_id: str) -> None:
    from .supervise import handoff  # only for a container that runs longer than a moment
    handoff(container_id)


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise MinictrError(f"{what} needs root: namespaces, mounts and cgroups are privileged",
                           hint="run it with sudo, or use the lab VM; `minictr doctor` explains what is missing")


def _security(args):
    """The ``Security`` of the confinement flags; None (docker's defaults) without any, importing nothing."""
    if not (args.cap_add or args.cap_drop or args.privileged or args.security_opt):
        return None
    from .security.options import from_flags
    return from_flags(args.cap_add, args.cap_drop, args.privileged, args.security_opt)


def network_from_args(args):
    """The ``Network`` of -p, --network, --dns, --add-host (the default network is ``bridge``, as docker's)."""
    from .config import Network
    mode = args.network or default_network()
    if not (args.publish or args.dns or args.add_host):
        return Network(mode=mode)
    from .network.ports import parse
    from .network.resolv import parse_add_host
    return Network(mode=mode, ports=tuple(parse(p) for p in args.publish), dns=tuple(args.dns),
                   add_hosts=tuple(parse_add_host(h) for h in args.add_host))


def default_network() -> str:
    """docker's ``bridge`` for root; rootless, podman's ``slirp4netns`` where it is installed, else ``none``."""
    if os.geteuid() == 0:
        return "bridge"
    from .userns import which
    return "slirp4netns" if which("slirp4netns") else "none"


def volumes_from_args(args) -> list:
    """``(kind, VolumeMount)`` pairs of -v, --mount and --tmpfs."""
    if not (args.volume or args.mount or args.tmpfs):
        return []
    from . import volumes
    return ([volumes.parse_volume(v) for v in args.volume] + [volumes.parse_mount(m) for m in args.mount]
            + [("tmpfs", volumes.parse_tmpfs(t)) for t in args.tmpfs])


def cmd_run(args) -> int:
    from . import cli_flags, container

    if args.restart not in (None, "no"):
        if not args.detach:
            raise UsageError("run: --restart needs -d: the monitor of a detached container restarts it",
                             hint="add -d")
        if args.rm:
            raise UsageError("run: --restart and --rm conflict", hint="use one of them")
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    cfg = container.prepare(
        args.image, command, name=args.name, env=args.env, workdir=args.workdir, user=args.user,
        hostname=args.hostname, entrypoint=args.entrypoint, tty=args.tty, interactive=args.interactive,
        init=args.init, pivot=not args.no_pivot, rm=args.rm, readonly=args.read_only,
        resources=cli_flags.resources_from_args(args), security=_security(args),
        restart=args.restart or "no",
        network=network_from_args(args), publish_all=args.publish_all, volumes=volumes_from_args(args),
        userns=args.userns, notify=lambda line: print(line, file=sys.stderr),
    )
    if args.detach:
        from . import lifecycle
        print(lifecycle.run_detached(cfg))
        return 0
    # Once the container runs, this process becomes a small supervisor (same
    # PID, a fraction of the memory); with -t it stays, to relay the pty.
    c = container.run(cfg, handoff=None if cfg.tty else _handoff)
    st = c.state
    if st.oom_killed:
        from .supervise import oom_message
        print(oom_message(st.name, cfg.resources.memory), file=sys.stderr)
    return st.exit_code


# ---------------------------------------------------------------- ps
def cmd_ps(args) -> int:
    from . import container
    from .cli_format import format_table
    from .cli_listing import PS_FILTERS, PS_HEADERS, parse_filters, ps_filter, ps_row, render_rows

    filters = parse_filters(args.filter, PS_FILTERS)
    # docker: -l and -n look at every container; so do status= and exited= filters
    every = args.all or args.latest or args.last not in (None, -1) or "status" in filters or "exited" in filters
    states = list(reversed(container.list_containers(all=every)))  # newest first, as docker
    if filters:
        states = ps_filter(states, filters, _image_id_of)
    if args.latest:
        states = states[:1]
    elif args.last not in (None, -1):
        states = states[:max(args.last, 0)]
    if args.quiet:
        for st in states:
            print(st.id if args.no_trunc else st.short_id)
        return 0
    now = time.time()
    rows = [ps_row(st, now, trunc=not args.no_trunc) for st in states]
    if args.format and args.format != "table":
        if rows or args.format.startswith("table"):
            print(render_rows(args.format, rows, PS_HEADERS))
        return 0
    cols = ("ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names")
    print(format_table([[PS_HEADERS[c] for c in cols]] + [[r[c] for c in cols] for r in rows]))
    return 0


def _image_id_of(ref: str) -> str | None:
    """The id of the store image ``ref`` names, for ``ps --filter ancestor=``; None if there is none."""
    from .image import Store
    try:
        img = Store().find(ref)
    except MinictrError:
        return None
    return img.id if img else None


# ---------------------------------------------------------------- rm
def cmd_rm(args) -> int:
    from . import container

    collected = container.gc()  # a killed start's leftovers go here; naming one is then fine
    failed = 0
    for ref in args.containers:
        try:
            container.remove(ref, force=args.force, collected=collected)
            print(ref)
        except MinictrError as e:
            print(f"minictr: {e}", file=sys.stderr)
            failed = 1
    return EXIT_COMMAND_FAILED if failed else 0


# ---------------------------------------------------------------- main
class UsageError(MinictrError):
    """A bad command line: one line, and where to read more."""


def _parser_class():
    import argparse

    class _Parser(argparse.ArgumentParser):
        """argparse, but a usage error is a one-line MinictrError (exit 125, as docker), not usage + exit 2."""

        def error(self, message: str):
            where = self.prog.replace("minictr", "", 1).strip()
            raise UsageError(f"{where}: {message}" if where else message, hint=f"see `{self.prog} --help`")

    return _Parser


def build_parser(only: str | None = None):
    """The whole command line; with ``only="run"`` (say), just that one subcommand.

    ``main`` asks for only the command it is about to run: building every
    subparser, and importing every ``cli_*`` module to do it, is startup time
    that ``minictr run`` does not need.
    """
    import importlib

    _Parser = _parser_class()
    parser = _Parser(
        prog="minictr",
        description="A small, real container runtime for learning how containers work.",
    )
    parser.add_argument("--version", action="version", version=f"minictr {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and setup details")
    sub = parser.add_subparsers(dest="command_name", metavar="COMMAND", parser_class=_Parser)

    if only in (None, "run"):
        _add_run(sub)
    if only in (None, "ps"):
        _add_ps(sub)
    if only in (None, "rm"):
        _add_rm(sub)
    if only is None:
        for modname in SUBCOMMAND_MODULES:
            importlib.import_module(modname).register(sub)
    return parser


def _add_run(sub) -> None:
    run = sub.add_parser("run", add_help=False, help="run a command in a new container",
                         usage="minictr run [OPTIONS] IMAGE [COMMAND [ARG...]]",
                         description="Run a command in a new container. Everything after IMAGE "
                                     "belongs to the command, as in docker.")
    add_run_flags(run)
    run.set_defaults(func=cmd_run)


def _add_ps(sub) -> None:
    ps = sub.add_parser("ps", help="list containers")
    ps.add_argument("-a", "--all", action="store_true", help="show all containers (default: running)")
    ps.add_argument("-q", "--quiet", action="store_true", help="only show ids")
    ps.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    ps.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                    help="status=, name=, id=, ancestor=, label=, exited= (repeatable)")
    ps.add_argument("--format", metavar="TEMPLATE",
                    help="a Go template per container: '{{.ID}} {{.Names}} {{.Status}}', or 'table ...'")
    ps.add_argument("-l", "--latest", action="store_true", help="only the latest created container (any state)")
    ps.add_argument("-n", "--last", type=int, default=-1, metavar="N", help="the N last created containers (any state)")
    ps.set_defaults(func=cmd_ps)


def _add_rm(sub) -> None:
    rm = sub.add_parser("rm", help="remove one or more containers")
    rm.add_argument("-f", "--force", action="store_true", help="kill a running container first")
    rm.add_argument("containers", nargs="+", metavar="CONTAINER", help="id, id prefix or name")
    rm.set_defaults(func=cmd_rm)


def _debug_before_command(argv: list[str]) -> bool:
    """``minictr --debug ...``, known before parsing, so that a usage error can show its traceback too.

    Only the leading flags count: in ``run busybox sh --debug`` the flag is the command's own.
    """
    for arg in argv:
        if not arg.startswith("-"):
            return False
        if arg == "--debug":
            return True
    return False


def exit_status(err: MinictrError, command: str | None) -> int:
    """What the CLI exits with for ``err``: 125 for a bad command line and for
    ``run``'s own failures (or the error's own 126/127...), 1 for the failure of any
    other command, as docker's CLI does (``docker rm nothere; echo $?`` says 1)."""
    if isinstance(err, UsageError) or command in RUN_COMMANDS:
        return err.exit_code
    return EXIT_COMMAND_FAILED


def _stdout_closed() -> bool:
    """Is the reader of our stdout or stderr gone (``| head -1`` has exited)?

    poll(2) reports POLLERR on the write end of a pipe whose read end is
    closed, so a BrokenPipeError from elsewhere (a registry's socket) is not
    mistaken for it.
    """
    import select
    poller = select.poll()
    for fd in (1, 2):
        poller.register(fd, select.POLLOUT)
    return any(ev & (select.POLLERR | select.POLLHUP) for _fd, ev in poller.poll(0))


def _silence_stdout() -> None:
    """Point fds 1 and 2 at /dev/null, so that the exit's flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = argv[0] if argv else None
    debug = _debug_before_command(argv) or bool(os.environ.get("MINICTR_DEBUG"))
    command = first  # until the parser has said which command it is
    try:
        # The core commands come first on the line (no global flags before
        # them): build only their own parser. Anything else gets the full one.
        args = parse_run_fast(argv[1:]) if first == "run" else None
        if args is not None:
            args.func, args.command_name = cmd_run, "run"
        else:
            parser = build_parser(only=first if first in ("run", "ps", "rm") else None)
            args, extra = parser.parse_known_args(argv)
            if extra:  # say which command did not know them (argparse would name the top level)
                where = getattr(args, "command_name", None)
                message = f"unrecognized arguments: {' '.join(extra)}"
                raise UsageError(f"{where}: {message}" if where else message,
                                 hint=f"see `minictr {where + ' ' if where else ''}--help`")
        if not getattr(args, "func", None):
            parser.print_help()
            return 0
        debug = debug or getattr(args, "debug", False)
        command = getattr(args, "command_name", None)
        return int(args.func(args) or 0)
    except MinictrError as e:
        if debug:
            import traceback
            traceback.print_exc()
        print(f"minictr: {e}", file=sys.stderr)
        return exit_status(e, command)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug or an unforeseen OS error: still one line unless --debug
        if isinstance(e, BrokenPipeError) and _stdout_closed():
            # Our reader is gone (`minictr images | head -1`): stop quietly, as
            # a Unix tool that SIGPIPE ends. Not SIGPIPE's default action
            # itself: `run` must live on to clean up its container.
            _silence_stdout()
            return EXIT_BROKEN_PIPE
        if debug:
            raise
        print(f"minictr: unexpected error: {type(e).__name__}: {e} (hint: rerun with --debug, "
              "and report it if it looks like a bug)", file=sys.stderr)
        return EXIT_RUNTIME_ERROR if command in RUN_COMMANDS else EXIT_COMMAND_FAILED


def entry() -> None:
    """``python -m minictr`` (and a good console-script target): ``main()``, then a fast exit.

    Why ``os._exit``: a normal interpreter exit finalises every module and
    frees every object one by one, 10-15 ms of CPU for a CLI whose work is
    done and whose files are closed. Only the stdio buffers still matter, so
    they are flushed first. (An exception that escapes ``main``, such as the
    SystemExit of ``--help``, still takes the normal way out.)

    Why ``gc.set_threshold``: the cyclic garbage collector runs after every
    700 new objects, and each pass walks the objects made so far; importing
    minictr's modules makes tens of thousands, so a start paid about 1 ms for
    collections that find nothing (reference counting frees the rest at
    once). A process that stays longer (``run -t`` relays a terminal) still
    collects, only less often.
    """
    import gc
    gc.set_threshold(50_000)
    if sys.argv[1:2] == ["run"]:
        # A SIGINT or SIGTERM that came before run's handlers are in place
        # would kill this process half-way, and leave a container with no
        # supervisor. Blocked, it stays pending until container.run looks:
        # before the start it ends the start cleanly, after it the signal is
        # forwarded to the container. signal(7), sigprocmask(2).
        from .supervise import FORWARDED
        _signal.pthread_sigmask(_signal.SIG_BLOCK, FORWARDED)
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # a closed pipe (`minictr images | head -1`): what was buffered is lost
            if code == 0:
                code = EXIT_BROKEN_PIPE
        except (OSError, ValueError):  # a closed stream
            pass
    os._exit(code & 0xFF)
