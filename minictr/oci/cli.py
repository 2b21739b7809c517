"""L4: ``minictr-runtime``: runc's command line, so that podman (through conmon) can drive minictr.

    minictr-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND ...

    create --bundle B [--pid-file P] [--console-socket S] [--preserve-fds N] [--no-pivot] ID
    start ID | state ID | kill [--all] ID [SIGNAL] | delete [--force] ID
    exec [--process spec.json | ...] [--pid-file P] [--console-socket S] [--detach] [--tty]
         [--env K=V] [--cwd D] [--user UID[:GID]] ID [ARGS...]
    list | ps ID | pause ID | resume ID | features | spec [--bundle B] [--rootless]

What callers really send (podman 4.3 with conmon, see the notes): ``create --bundle B
--pid-file P [--console-socket S] ID``, ``start ID``, ``kill ID 15``, ``delete --force ID``,
``exec --pid-file P --process F --detach ID``, ``pause``/``resume``, and ``--version``.

Errors: one line on stderr, the same line in ``--log`` (``--log-format json``: the
``{"level":"error","msg":"...","time":"..."}`` lines that conmon and podman read, as
runc writes them), exit status 1. ``--debug`` adds the traceback.

The flags are read from a table, without argparse (4-7 ms of every call; podman makes
three or four calls per container). Go's flag package, which runc uses, also takes
``-flag`` for ``--flag`` and ``--flag=value``; so does this parser.
"""

from __future__ import annotations

import os
import sys

from ..errors import ConfigError, MinictrError

DEFAULT_ROOT = "/run/minictr-runtime"

BOOL, VALUE, APPEND = "bool", "value", "append"

#: Global flags: name -> (key, kind). ``--rootless`` and ``--criu`` are accepted and ignored, as runc's.
GLOBAL_FLAGS = {
    "--root": ("root", VALUE), "--log": ("log", VALUE), "--log-format": ("log_format", VALUE),
    "--systemd-cgroup": ("systemd_cgroup", BOOL), "--debug": ("debug", BOOL),
    "--rootless": ("rootless", VALUE), "--criu": ("criu", VALUE),
    "--help": ("help", BOOL), "-h": ("help", BOOL), "--version": ("version", BOOL), "-v": ("version", BOOL),
}

#: command -> (its flags, positional names; "ARGS..." takes the rest verbatim).
COMMANDS = {
    "create": ({"--bundle": ("bundle", VALUE), "-b": ("bundle", VALUE), "--pid-file": ("pid_file", VALUE),
                "--console-socket": ("console_socket", VALUE), "--preserve-fds": ("preserve_fds", VALUE),
                "--no-pivot": ("no_pivot", BOOL), "--no-new-keyring": ("no_new_keyring", BOOL)}, ("ID",)),
    "start": ({}, ("ID",)),
    "state": ({}, ("ID",)),
    "kill": ({"--all": ("all", BOOL), "-a": ("all", BOOL)}, ("ID", "SIGNAL?")),
    "delete": ({"--force": ("force", BOOL), "-f": ("force", BOOL)}, ("ID",)),
    "exec": ({"--process": ("process", VALUE), "-p": ("process", VALUE), "--pid-file": ("pid_file", VALUE),
              "--console-socket": ("console_socket", VALUE), "--detach": ("detach", BOOL), "-d": ("detach", BOOL),
              "--tty": ("tty", BOOL), "-t": ("tty", BOOL), "--env": ("env", APPEND), "-e": ("env", APPEND),
              "--cwd": ("cwd", VALUE), "--user": ("user", VALUE), "-u": ("user", VALUE),
              "--preserve-fds": ("preserve_fds", VALUE), "--no-new-privs": ("no_new_privs", BOOL),
              "--cap": ("cap", APPEND), "-c": ("cap", APPEND)}, ("ID", "ARGS...")),
    "list": ({"--format": ("format", VALUE), "-f": ("format", VALUE), "--quiet": ("quiet", BOOL),
              "-q": ("quiet", BOOL)}, ()),
    "ps": ({"--format": ("format", VALUE), "-f": ("format", VALUE)}, ("ID",)),
    "pause": ({}, ("ID",)),
    "resume": ({}, ("ID",)),
    "features": ({}, ()),
    "spec": ({"--bundle": ("bundle", VALUE), "-b": ("bundle", VALUE), "--rootless": ("rootless", BOOL)}, ()),
}

USAGE = """usage: minictr-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND [ARGS]

minictr behind runc's command line (the OCI runtime command line), for podman and friends.
commands: create, start, state, kill, delete, exec, list, ps, pause, resume, features, spec"""


class UsageError(ConfigError):
    """A command line runc's grammar does not allow."""

    def __init__(self, message: str):
        self.field, self.value = "command line", ""
        MinictrError.__init__(self, message, hint="`minictr-runtime --help` lists the commands")


def _flag(table: dict, arg: str):
    """``(key, kind, inline value or None)`` for ``arg``, or None if it is not in ``table``."""
    name, eq, inline = arg.partition("=")
    for candidate in (name, "-" + name if name.startswith("-") and not name.startswith("--") else None):
        if candidate in table:
            key, kind = table[candidate]
            return key, kind, inline if eq else None
    return None


def _take(table: dict, args: list[str], i: int, out: dict, where: str) -> int:
    """Read the flag at ``args[i]`` into ``out``; return the index after it."""
    found = _flag(table, args[i])
    if found is None:
        raise UsageError(f"{where}: unknown flag {args[i].partition('=')[0]}")
    key, kind, inline = found
    if kind == BOOL:
        if inline is not None and inline.lower() not in ("true", "false", "1", "0"):
            raise UsageError(f"{where}: {args[i]} takes true or false")
        out[key] = inline is None or inline.lower() in ("true", "1")
        return i + 1
    if inline is None:
        if i + 1 >= len(args):
            raise UsageError(f"{where}: flag {args[i]} needs a value")
        inline, i = args[i + 1], i + 1
    if kind == APPEND:
        out.setdefault(key, []).append(inline)
    else:
        out[key] = inline
    return i + 1


def parse_globals(argv: list[str]) -> tuple[dict, int]:
    """The global flags before the command, and the index of the command. Raises UsageError."""
    glob: dict = {}
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        i = _take(GLOBAL_FLAGS, argv, i, glob, "minictr-runtime")
    return glob, i


def parse(argv: list[str]) -> tuple[dict, str, dict, list[str]]:
    """``(global flags, command, its flags, its positionals)``. Raises UsageError."""
    glob, i = parse_globals(argv)
    if i >= len(argv):
        if glob.get("help") or glob.get("version"):
            return glob, "", {}, []
        raise UsageError("no command given")
    command = argv[i]
    if command not in COMMANDS:
        raise UsageError(f"unknown command {command!r}")
    table, names = COMMANDS[command]
    opts: dict = {}
    pos: list[str] = []
    i += 1
    rest = "ARGS..." in names
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            pos += argv[i + 1:]
            break
        if arg.startswith("-") and arg != "-" and not (rest and pos):  # after exec's ID: the command's own words
            i = _take(table, argv, i, opts, command)
            continue
        pos.append(arg)
        i += 1
    required = [n for n in names if not n.endswith(("?", "..."))]
    most = len(names) if not rest else len(argv)
    if len(pos) < len(required) or len(pos) > most:
        shown = " ".join(n.rstrip("?") if not n.endswith("?") else f"[{n[:-1]}]" for n in names)
        raise UsageError(f"{command} takes {shown or 'no arguments'}, got {len(pos)} argument(s)")
    return glob, command, opts, pos


class Log:
    """``--log FILE`` in ``--log-format``: text (logrus' ``time=... level=... msg=...``) or json lines."""

    def __init__(self, path: str | None, fmt: str = "text", debug: bool = False):
        if fmt not in ("text", "json"):
            raise UsageError(f"--log-format {fmt!r}: use text or json")
        self.path, self.fmt, self.debug_on = path, fmt, debug

    def write(self, level: str, msg: str) -> None:
        if not self.path or (level == "debug" and not self.debug_on):
            return
        import time

        from .. import leanjson
        from .state import rfc3339
        now = rfc3339(time.time())
        if self.fmt == "json":
            line = leanjson.dumps({"level": level, "msg": msg, "time": now})
        else:
            line = f'time="{now}" level={level} msg={leanjson.dumps(msg)}'
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass  # a log we cannot write must not hide the error itself (it goes to stderr too)


def parse_signal(text: str) -> int:
    """``15``, ``TERM``, ``SIGTERM`` or ``sigterm`` -> 15. Raises ConfigError."""
    import _signal
    if text.isdigit():
        number = int(text)
        if 0 < number < _signal.NSIG:
            return number
    else:
        name = text.upper()
        value = getattr(_signal, name if name.startswith("SIG") else "SIG" + name, None)
        if isinstance(value, int) and not name.startswith("SIG_"):
            return value
    raise ConfigError("signal", text, "is not a signal name or number", hint="e.g. TERM, SIGKILL or 9")


def _check_id(container_id: str) -> str:
    from ..config import is_name
    if not is_name(container_id):
        raise ConfigError("container id", container_id, "must start with a letter or digit and use only "
                          "[a-zA-Z0-9_.-]", hint="podman's 64-hex ids fit; so does mybox")
    return container_id


# ---------------------------------------------------------------- commands
def cmd_create(opts: dict, pos: list[str], log: Log) -> int:
    from . import runtime
    container_id = _check_id(pos[0])
    bundle = os.path.abspath(opts.get("bundle") or ".")
    cfg = load_config(bundle, container_id, log)
    if opts.get("no_pivot"):
        from ..record import replace
        cfg = replace(cfg, pivot=False)
    # --no-new-keyring: minictr never makes a session keyring, so there is nothing to skip.
    preserve = opts.get("preserve_fds", "0")
    if not preserve.isdigit():
        raise ConfigError("--preserve-fds", preserve, "must be a number")
    runtime.create(cfg, bundle, pid_file=opts.get("pid_file"), console_socket=opts.get("console_socket"),
                   preserve_fds=int(preserve))
    return 0


def load_config(bundle: str, container_id: str, log: Log):
    """The bundle's config.json as a ContainerConfig (minictr.oci.spec, the one converter)."""
    try:
        from .spec import load_bundle
    except ImportError:
        raise MinictrError("this minictr has no config.json reader yet (minictr.oci.spec)",
                           hint="update minictr") from None
    # Fields minictr ignores (apparmor, selinux, intelRdt ...) are warnings in the log, as the spec allows.
    return load_bundle(bundle, container_id, warn=lambda line: log.write("warning", line))


def cmd_start(opts, pos, log) -> int:
    from . import runtime
    runtime.start(pos[0], warn=lambda line: log.write("warning", line))
    return 0


def cmd_state(opts, pos, log) -> int:
    from . import runtime
    from .state import document
    st, current = runtime.load(pos[0])
    _print_object(document(st, current))
    return 0


def cmd_kill(opts, pos, log) -> int:
    from . import runtime
    runtime.kill(pos[0], parse_signal(pos[1] if len(pos) > 1 else "SIGTERM"), all=bool(opts.get("all")))
    return 0


def cmd_delete(opts, pos, log) -> int:
    from . import runtime
    runtime.delete(pos[0], force=bool(opts.get("force")), warn=lambda line: log.write("warning", line))
    return 0


def cmd_pause(opts, pos, log) -> int:
    from . import runtime
    runtime.pause(pos[0])
    return 0


def cmd_resume(opts, pos, log) -> int:
    from . import runtime
    runtime.resume(pos[0])
    return 0


def cmd_exec(opts, pos, log) -> int:
    from . import runtime
    container_id, words = pos[0], pos[1:]
    env, cwd, user, tty = list(opts.get("env") or []), opts.get("cwd"), opts.get("user"), bool(opts.get("tty"))
    process = None
    if opts.get("process"):  # podman's form: the whole process, as config.json's (spec.with_process reads it)
        if words:
            raise UsageError("exec: give the command either in --process or after the id, not both")
        process = _read_json(opts["process"], "--process")
    code, error = runtime.exec_process(container_id, words, env=env, cwd=cwd, user=user, tty=tty,
                                       detach=bool(opts.get("detach")), pid_file=opts.get("pid_file"),
                                       console_socket=opts.get("console_socket"), process=process,
                                       warn=lambda line: log.write("warning", line))
    if error:
        raise _ExitWith(code or 1, error)
    return code


class _ExitWith(MinictrError):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.exit_code = code


def cmd_list(opts, pos, log) -> int:
    from . import runtime
    from .state import document
    rows = [document(st, current) for st, current in runtime.containers()]
    if opts.get("quiet"):
        print("\n".join(r["id"] for r in rows))
        return 0

    def table():
        yield f"{'ID':<20} {'PID':<8} {'STATUS':<10} {'BUNDLE':<40} CREATED"
        for r in rows:
            yield f"{r['id']:<20} {r['pid']:<8} {r['status']:<10} {r['bundle']:<40} {r['created']}"
    return _print_as(opts, rows, table)


def cmd_ps(opts, pos, log) -> int:
    from . import runtime
    pids = runtime.processes(pos[0])

    def table():
        from .. import procfs
        yield f"{'PID':<8} CMD"
        for pid in pids:
            yield f"{pid:<8} {procfs.status(pid).get('Name', '?')}"
    return _print_as(opts, pids, table)


def _print_as(opts, doc, table) -> int:
    """``--format json``: ``doc`` on one line; ``table`` (the default): the lines ``table()`` yields."""
    fmt = opts.get("format", "table")
    if fmt == "json":
        _print_json(doc, indent=None)
    elif fmt == "table":
        for line in table():
            print(line)
    else:
        raise ConfigError("--format", fmt, "use table or json")
    return 0


def cmd_features(opts, pos, log) -> int:
    from .features import document
    _print_json(document())
    return 0


def cmd_spec(opts, pos, log) -> int:
    try:
        from .spec import default_spec
    except ImportError:
        raise MinictrError("this minictr has no config.json writer yet (minictr.oci.spec)") from None
    path = os.path.join(opts.get("bundle") or ".", "config.json")
    if os.path.exists(path):
        raise ConfigError("config.json", path, "exists already", hint="remove it first, as runc spec asks")
    import json
    text = json.dumps(default_spec(rootless=bool(opts.get("rootless"))), indent="\t") + "\n"
    with open(path, "x") as f:
        f.write(text)
    return 0


def _read_json(path: str, what: str):
    import json
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise ConfigError(what, path, e.strerror or str(e)) from None
    except ValueError as e:
        raise ConfigError(what, path, f"is not JSON: {e}") from None


def _print_object(doc: dict) -> None:
    """A flat JSON object, one key a line as runc prints its state, without ``import json``
    (re and enum: ~5 ms of a ``state`` call, which podman makes often): leanjson's values."""
    from .. import leanjson
    lines = [f"  {leanjson.dumps(key)}: {leanjson.dumps(value)}" for key, value in doc.items()]
    print("{\n" + ",\n".join(lines) + "\n}" if lines else "{}")


def _print_json(value, indent: int | None = 2) -> None:
    import json
    print(json.dumps(value, indent=indent))


HANDLERS = {"create": cmd_create, "start": cmd_start, "state": cmd_state, "kill": cmd_kill, "delete": cmd_delete,
            "exec": cmd_exec, "list": cmd_list, "ps": cmd_ps, "pause": cmd_pause, "resume": cmd_resume,
            "features": cmd_features, "spec": cmd_spec}


def main(argv: list[str] | None = None) -> int:
    from .. import __version__
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv  # known before parsing, so that a usage error can show its traceback too
    log = Log(None)
    try:
        glob, _ = parse_globals(argv)  # first, so that an error in the rest reaches --log
        log = Log(glob.get("log"), glob.get("log_format", "text"), debug)
        glob, command, opts, pos = parse(argv)
        if glob.get("version"):
            from .state import OCI_VERSION
            print(f"minictr-runtime version {__version__}\nspec: {OCI_VERSION}")
            return 0
        if glob.get("help") or not command:
            print(USAGE)
            return 0
        log.write("debug", "minictr-runtime " + " ".join(argv))
        if glob.get("systemd_cgroup"):
            raise ConfigError("--systemd-cgroup", True, "the systemd cgroup driver is not supported",
                              hint="use cgroupfs (podman: --cgroup-manager cgroupfs)")
        # Every container lives in <root>/<id>: state.runtime_dir() reads this.
        os.environ["MINICTR_RUNTIME_DIR"] = os.path.abspath(glob.get("root") or DEFAULT_ROOT)
        return HANDLERS[command](opts, pos, log)
    except MinictrError as e:
        return _fail(log, str(e), getattr(e, "exit_code", 1) if isinstance(e, _ExitWith) else 1, debug)
    except OSError as e:
        what = f"{e.strerror}: {e.filename}" if e.filename else str(e)
        return _fail(log, what, 1, debug)
    except KeyboardInterrupt:
        return 130


def _fail(log: Log, message: str, code: int, debug: bool) -> int:
    if debug:
        import traceback
        traceback.print_exc()
    log.write("error", message)
    print(f"minictr-runtime: {message}", file=sys.stderr)
    return code


def entry() -> None:
    """The console script ``minictr-runtime``."""
    sys.exit(main())
