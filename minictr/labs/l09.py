"""Lesson 09 (putting it together): the final challenge's command line.

The learner writes::

    def challenge_args(name: str, port: int) -> list[str]

returning the arguments of ``minictr run`` (everything after ``run``) that
start busybox's web server as a container named ``name``: in the foreground
(``httpd -f``), on ``port``, with a memory limit of at most 64 MiB, a pids
limit of at most 50, and a hostname of its own. The check parses the list
with minictr's real argument parser (``cli.build_parser``) and turns the
limits into ``config.Resources`` with ``cli_flags.resources_from_args``, as
``minictr run`` would; nothing is started. The notebook then runs it and
reaches the server from the host through a veth pair (``network.connect``).

Man pages: the busybox httpd applet (``busybox httpd --help``), docker-run(1).
"""

from __future__ import annotations

from ..errors import MinictrError
from .kit import Case, CaseFailed, Exercise, register
from .lesson import Lesson

LESSON = Lesson("09", "Putting it together", needs_root=True, tools=("nsenter",),
                namespaces=("mnt", "uts", "ipc", "net", "pid", "cgroup"), controllers=("memory", "pids"),
                filesystems=("overlay",), privilege="root")

MAX_MEMORY = 64 << 20
MAX_PIDS = 50


def challenge_args(name: str, port: int) -> list[str]:
    """A model answer: 32 MiB, 20 pids, hostname "web", httpd in the foreground serving /etc."""
    return ["--name", name, "--rm", "--memory", "32m", "--pids-limit", "20", "--hostname", "web",
            "busybox", "httpd", "-f", "-p", str(port), "-h", "/etc"]


def _parse(fn, name: str = "web-challenge", port: int = 8080):
    from ..cli_flags import resources_from_args
    from ..cli import build_parser

    args = fn(name, port)
    if not isinstance(args, (list, tuple)) or not all(isinstance(a, str) for a in args):
        raise CaseFailed(f"returned {args!r}: return a list of strings, the arguments after `minictr run`")
    parser = build_parser()
    parser.exit_on_error = False
    try:
        ns = parser.parse_args(["run", *args])
    except (SystemExit, MinictrError) as e:
        why = f": {e.message}" if isinstance(e, MinictrError) else ""
        raise CaseFailed(f"`minictr run {' '.join(args)}` is refused{why}") from None
    late = _flags_after_image(parser, ns)
    if late:
        raise CaseFailed(f"flags go before IMAGE: {late} come after the image {ns.image!r}, so they became "
                         f"part of the container's command ({[c for c in ns.command if c != '--'][:4]}...), "
                         "not options of `minictr run`; put them between `run` and the image")
    try:
        return args, ns, resources_from_args(ns)
    except MinictrError as e:
        raise CaseFailed(f"`minictr run {' '.join(args)}` is refused: {e.message}") from None


def _flags_after_image(parser, ns) -> list[str]:
    """The options of `minictr run` that landed in the command, after IMAGE.

    Everything after IMAGE is the container's command, so `busybox -m 32m httpd`
    runs a program called `-m`. Long options are caught anywhere (httpd has
    none); short ones only before the program, since httpd has its own -p, -h, -c ...
    """
    run = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices["run"]
    options = {o for a in run._actions for o in a.option_strings} - {"--help"}
    cmd = [c for c in ns.command if c != "--"]
    late = [c for c in cmd if c.startswith("--") and c.split("=", 1)[0] in options]
    if cmd and cmd[0].startswith("-") and cmd[0] in options and cmd[0] not in late:
        late.insert(0, cmd[0])
    return late


def _cases() -> list[Case]:
    def parses(fn):
        args, ns, _r = _parse(fn)
        if ns.name != "web-challenge":
            raise CaseFailed(f"the container's name is {ns.name!r}: pass --name with the name given")
        if ns.image != "busybox":
            raise CaseFailed(f"the image is {ns.image!r}: run the busybox image")

    def httpd(fn):
        _a, ns, _r = _parse(fn, port=8123)
        cmd = [c for c in ns.command if c != "--"]
        if cmd[:1] != ["httpd"] and cmd[:2] != ["busybox", "httpd"]:
            raise CaseFailed(f"the command is {cmd}: run busybox's httpd")
        if "-f" not in cmd:
            raise CaseFailed("httpd without -f goes to the background and the container's PID 1 exits at once: "
                             "pass -f (foreground)")
        ports = [cmd[i + 1] for i, c in enumerate(cmd[:-1]) if c == "-p"]
        if not ports or ports[-1].rsplit(":", 1)[-1] != "8123":
            raise CaseFailed(f"httpd does not listen on the port given (8123): pass -p PORT (got {ports})")

    def memory(fn):
        _a, _ns, r = _parse(fn)
        if r.memory is None or r.memory > MAX_MEMORY:
            raise CaseFailed(f"memory limit {r.memory}: pass --memory with at most 64m")

    def pids(fn):
        _a, _ns, r = _parse(fn)
        if r.pids_limit is None or not 0 < r.pids_limit <= MAX_PIDS:
            raise CaseFailed(f"pids limit {r.pids_limit}: pass --pids-limit with at most {MAX_PIDS}")

    def hostname(fn):
        _a, ns, _r = _parse(fn)
        if not ns.hostname:
            raise CaseFailed("no --hostname: give the container a hostname of its own")

    return [
        Case("the arguments parse as `minictr run`, busybox, named as asked", parses),
        Case("busybox httpd in the foreground on the given port", httpd),
        Case("a memory limit of at most 64 MiB", memory),
        Case(f"a pids limit of at most {MAX_PIDS}", pids),
        Case("a hostname of its own", hostname),
    ]


register(Exercise(
    id="09.challenge", title="The final challenge: a web server with limits",
    function="challenge_args", signature="def challenge_args(name: str, port: int) -> list[str]",
    cases=_cases,
    reference=lambda: challenge_args,
))


# The lesson's quizzes, out of the notebook's sight (minictr.labs.quizzes reads this table as data;
# the notebook shows one with Quiz.lab(id), its options shuffled).
QUIZZES = {
    "09.own": {
        "question": "Which of these does a container get of its own? (tick every right answer)",
        "right": {
            "its own PID numbers, starting at 1": "The PID namespace (lesson 06).",
            "its own mount table and root": "The mount namespace and pivot_root (lesson 04).",
            "its own memory limit": "Its cgroup (lesson 07).",
            "its own hostname": "The UTS namespace (lesson 05).",
        },
        "wrong": {
            "its own Linux kernel": "Every container shares the host's kernel: a container is a process.",
            "its own CPU instruction set": "It runs on the host's CPU, natively: no emulation.",
        },
        "explanation": "Namespaces give it its own view (PIDs, mounts, hostname, network); a cgroup gives it "
                       "limits. It shares the host's kernel and CPU: a container is a process.",
    },
    "09.order": {
        "question": "In which order does a runtime do these?",
        "right": {
            "cgroup, fork the init, join the cgroup, unshare, mount, pivot_root, exec":
                "The limits are in place before the command runs, the mounts happen in the new mount "
                "namespace, and exec comes last: after it, the runtime's code is gone from the process.",
        },
        "wrong": {
            "fork, exec, unshare, pivot_root, create the cgroup":
                "After exec the runtime's code is gone: nothing would be left to unshare or pivot_root.",
            "pivot_root, unshare, fork, exec, then the cgroup":
                "pivot_root before unshare would change the root of the runtime's own mount namespace.",
            "unshare, exec, fork, mount, then the cgroup":
                "The command would run before its mounts and limits exist.",
        },
    },
}
