"""L1: the Containerfile (Dockerfile) parser: text in, a list of stages of instructions out.

It follows the Dockerfile reference (https://docs.docker.com/reference/dockerfile/):

- **Lines.** An instruction ends at a line that does not end in the escape
  character (``\\``, or the one of ``# escape=``). Comment lines (``#`` first)
  and empty lines inside a continuation are dropped, so a comment can sit in
  the middle of a long RUN. A ``#`` elsewhere in a line is not a comment.
- **Parser directives** (``# escape=``` ``, ``# syntax=...``) count only at the
  very top, before any comment, empty line or instruction; each at most once.
  ``syntax`` is noted and ignored (minictr reads the file itself).
- **Stages.** Each ``FROM image [AS name]`` starts one. An ``ARG`` before the
  first FROM is global: usable in FROM lines, and inside a stage only after
  ``ARG NAME`` redeclares it there. ``--platform`` is ignored, with a note.
- **Forms.** RUN, CMD, ENTRYPOINT, COPY, ADD, VOLUME have an exec (JSON) form
  besides the shell form; SHELL has only the JSON form. As docker does, a
  line that merely starts with ``[`` (``RUN [ -f x ] && ...``) is the shell
  form, but one that starts like a JSON array of strings (``["``) must be valid.
- **Substitution** (see ``words.py``) in ENV, ADD, COPY, WORKDIR, EXPOSE, VOLUME,
  USER, LABEL, STOPSIGNAL, ARG and FROM, from the stage's ARGs and ENVs (and the
  base image's Env, through ``base_env``); RUN, CMD and ENTRYPOINT are left to
  the shell. ONBUILD, HEALTHCHECK, heredocs and ``RUN --mount`` are refused.
- **Graph.** ``FROM other-stage`` and ``COPY --from=stage|index`` make the build
  a graph, checked after all stages are read: a cycle, or an index that names
  no stage, is refused. A ``--from`` that names no stage is an image reference.

Every refusal is one ``BuildError`` line: ``Containerfile:7: what is wrong (hint)``.

A little over 400 lines: one instruction table and its argument rules; the line
splitting lives in lines.py, the words and substitution in words.py.
"""

from __future__ import annotations

import json
import re

from ..errors import BuildError
from ..image.oci import host_platform
from ..record import Record
from .lines import read_lines
from .stages import Containerfile, Stage, base_order, check_graph
from .words import WordError, expand, split_words

__all__ = ["parse", "Instruction", "Stage", "Containerfile", "INSTRUCTIONS", "DEFAULT_SHELL"]

#: What each instruction accepts: its flags (name -> takes a value), and whether
#: its arguments are substituted.
INSTRUCTIONS = {
    "FROM": ({"platform": True}, True), "RUN": ({}, False), "CMD": ({}, False),
    "ENTRYPOINT": ({}, False), "COPY": ({"from": True, "chown": True, "chmod": True, "link": False}, True),
    "ADD": ({"chown": True, "chmod": True, "link": False}, True), "ENV": ({}, True),
    "ARG": ({}, True), "WORKDIR": ({}, True), "USER": ({}, True), "EXPOSE": ({}, True),
    "LABEL": ({}, True), "STOPSIGNAL": ({}, True), "SHELL": ({}, False), "VOLUME": ({}, True),
    "MAINTAINER": ({}, False),
}
REFUSED = {
    "ONBUILD": "ONBUILD is not supported by minictr build",
    "HEALTHCHECK": "HEALTHCHECK is not supported by minictr build",
}
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")
_HEREDOC = re.compile(r"<<-?\s*[\"']?[A-Za-z_][A-Za-z0-9_]*[\"']?")
_PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$", re.I)
DEFAULT_SHELL = ("/bin/sh", "-c")


def platform_args() -> dict:
    """BuildKit's automatic platform ARGs (TARGETPLATFORM, BUILDARCH ...), for this host:
    usable in FROM lines, and in a stage after ``ARG TARGETARCH`` declares one."""
    p = host_platform()
    plat = f"{p['os']}/{p['architecture']}" + (f"/{p['variant']}" if "variant" in p else "")
    out = {}
    for who in ("TARGET", "BUILD"):
        out.update({who + "PLATFORM": plat, who + "OS": p["os"], who + "ARCH": p["architecture"],
                    who + "VARIANT": p.get("variant", "")})
    return out


class Instruction(Record):
    """One instruction, ready for the builder: words substituted where docker substitutes."""
    cmd: str                 # the keyword, upper case: "COPY"
    line: int                # the line it starts on (1-based)
    original: str            # its text as written, continuation lines joined with " "
    args: tuple = ()         # COPY/ADD: sources and dest; RUN/CMD/ENTRYPOINT: (cmdline,) or argv; ...
    exec_form: bool = False  # the JSON form
    flags: tuple = ()        # (("from", "build"), ("chown", "1:1")), substituted
    pairs: tuple = ()        # ENV, LABEL, ARG: (("K", "v"), ...); an ARG without a value: ("K", None)
    build_args: tuple = ()   # (name, value) of the ARGs it depends on: part of its cache key

    def flag(self, name: str, default=None):
        for key, value in self.flags:
            if key == name:
                return value
        return default


def parse(text: str, *, filename: str = "Containerfile", build_args: dict | None = None,
          target: str | None = None, base_env=None) -> Containerfile:
    """Parse a Containerfile. ``build_args`` are ``--build-arg`` values; ``target`` is checked
    to name a stage; ``base_env(image) -> dict | None`` gives an image's Env for substitution."""
    return _Parser(text, filename, build_args or {}, base_env).run(target)


class _Parser:
    def __init__(self, text: str, filename: str, build_args: dict, base_env):
        self.text, self.file, self.build_args, self.base_env = text, filename, build_args, base_env
        self.escape, self.syntax, self.notes = "\\", None, []

    def fail(self, line: int, why: str, hint: str | None = None):
        raise BuildError(self.file, line, why, hint=hint)

    # ---- the whole file ----------------------------------------------------------------------
    def run(self, target: str | None) -> Containerfile:
        global_env: dict = platform_args()
        global_args: list = []
        raw_stages: list[list] = []
        read = read_lines(self.text, self.file)
        self.escape, self.syntax, self.notes = read.escape, read.syntax, list(read.notes)
        for line, text in read.lines:
            cmd, rest = (re.split(r"\s+", text, maxsplit=1) + [""])[:2]
            cmd, rest = cmd.upper(), rest.strip()
            if cmd in REFUSED:
                self.fail(line, REFUSED[cmd], "remove it; minictr build has no equivalent")
            if cmd not in INSTRUCTIONS:
                self.fail(line, f"unknown instruction: {text.split()[0]}",
                          "the instructions are " + ", ".join(sorted(INSTRUCTIONS)))
            if cmd in ("RUN", "COPY", "ADD") and not rest.startswith("[") and _HEREDOC.search(rest):
                # Refused here, before the heredoc's body is read as instructions.
                self.fail(line, f"heredocs ({_HEREDOC.search(rest).group(0)}...) are not supported",
                          "write the lines as RUN commands, or COPY a file from the context")
            if cmd == "FROM":
                raw_stages.append([(line, cmd, rest, text)])
            elif not raw_stages:
                if cmd != "ARG":
                    self.fail(line, f"{cmd} before the first FROM",
                              "only ARG may come before FROM; start the stage with FROM image")
                for name, raw in self.arg_words(line, rest):
                    value = self.build_args.get(name, None if raw is None else self.word(line, raw, global_env))
                    global_args.append((name, value))
                    if value is not None:
                        global_env[name] = value
            else:
                raw_stages[-1].append((line, cmd, rest, text))
        if not raw_stages:
            self.fail(0, "no FROM instruction", "a Containerfile starts with FROM image (or FROM scratch)")
        heads = [self.from_line(*stage[0][:3], global_env) for stage in raw_stages]
        names = {}
        for i, (name, base, flags, line) in enumerate(heads):
            if name is not None:
                if name in names:
                    self.fail(line, f"duplicate stage name {name!r}", "each AS name must be unique")
                names[name] = i
        bases = [names.get(base.lower()) for _, base, _, _ in heads]
        froms = [[(ln, self.from_flag(ln, cmd, rest, global_env)) for ln, cmd, rest, _ in st[1:]
                  if cmd == "COPY"] for st in raw_stages]
        check_graph(self.file, heads, bases, froms, names)
        if target is not None and target.lower() not in names:
            self.fail(0, f"--target {target!r} names no stage",
                      "the named stages are: " + (", ".join(names) or "none"))
        stages: list = [None] * len(raw_stages)
        for i in base_order(bases):
            name, base, flags, line = heads[i]
            if bases[i] is not None:
                env = dict(stages[bases[i]].env)
            elif base != "scratch" and self.base_env is not None:
                env = dict(self.base_env(base) or {})
            else:
                env = {}
            first = raw_stages[i][0]
            from_instr = Instruction("FROM", line, first[3], (base,) + (("AS", name) if name else ()),
                                     flags=flags, build_args=self.used_globals(first[2], global_env))
            body = [from_instr]
            scope = _Scope(env, global_env, self.build_args)
            for ln, cmd, rest, text in raw_stages[i][1:]:
                body.append(self.instruction(ln, cmd, rest, text, scope))
            stages[i] = Stage(i, name, base, bases[i], line, tuple(body), tuple(scope.env_only.items()))
        unused = sorted(set(self.build_args) - _consumed(stages, global_args))
        if unused:
            self.notes.append(f"{self.file}: build args not consumed: {', '.join(unused)}")
        return Containerfile(self.file, tuple(stages), tuple(global_args), self.escape, self.syntax,
                             tuple(self.notes))

    def from_line(self, line: int, cmd: str, rest: str, global_env: dict):
        """``FROM [--platform=P] image [AS name]``: (name, image, flags, line)."""
        flags, rest = self.flags(line, cmd, rest)
        words = [self.word(line, w, global_env) for w in self.split(line, rest)]
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].upper() != "AS"):
            self.fail(line, "FROM needs one image, optionally followed by AS name",
                      "write FROM image or FROM image AS name")
        if not words[0]:
            self.fail(line, f"FROM names no image after substitution ({rest!r})",
                      "declare the ARG before the first FROM, or pass --build-arg")
        name = None
        if len(words) == 3:
            name = words[2].lower()
            if not _STAGE_NAME.match(name):
                self.fail(line, f"invalid stage name {words[2]!r}",
                          "a stage name starts with a letter and has only letters, digits, -, _ and .")
        if any(k == "platform" for k, _ in flags):
            self.notes.append(f"{self.file}:{line}: FROM --platform is ignored: minictr builds for this host")
        return name, words[0], tuple(flags), line

    def from_flag(self, line: int, cmd: str, rest: str, global_env: dict) -> str | None:
        flags, _ = self.flags(line, cmd, rest)
        ref = dict(flags).get("from")
        return None if ref is None else self.word(line, ref, global_env)

    # ---- one instruction ---------------------------------------------------------------------
    def instruction(self, line: int, cmd: str, rest: str, text: str, scope: "_Scope") -> Instruction:
        flags, rest = self.flags(line, cmd, rest)
        used: set = set()

        def word(w: str) -> str:
            return self.word(line, w, scope.env, used)
        flags = tuple((k, word(v) if isinstance(v, str) else v) for k, v in flags)
        if not rest:
            self.fail(line, f"{cmd} needs arguments", _USAGE.get(cmd))
        pairs: tuple = ()
        exec_form, argv = self.json_form(line, cmd, rest)
        if cmd in ("RUN", "CMD", "ENTRYPOINT"):
            args = tuple(argv) if exec_form else (rest,)
            if cmd == "RUN":  # docker passes every ARG in scope to RUN as environment
                used = set(scope.args)
        elif cmd == "SHELL":
            if not exec_form or not argv:
                self.fail(line, "SHELL needs the JSON form", 'write SHELL ["/bin/sh", "-c"]')
            args = tuple(argv)
        elif cmd in ("COPY", "ADD", "VOLUME"):
            args = tuple(word(w) for w in argv) if exec_form else \
                tuple(word(w) for w in self.split(line, rest))
            if cmd != "VOLUME":
                self.check_copy(line, cmd, args, flags)
        elif cmd in ("ENV", "LABEL"):
            # All pairs are substituted first: "ENV A=1 B=$A" gives B the A from before (docker).
            pairs, args = tuple(self.name_values(line, cmd, rest, scope.env, used)), ()
            if cmd == "ENV":
                for k, v in pairs:
                    scope.set_env(k, v)
        elif cmd == "ARG":
            out = []
            for name, raw in self.arg_words(line, rest):
                scope.declare(name, None if raw is None else word(raw))
                out.append((name, scope.args.get(name)))  # None: declared, but no value
            pairs, args = tuple(out), ()
        elif cmd == "EXPOSE":
            args = tuple(self.port(line, word(w)) for w in self.split(line, rest))
        elif cmd == "MAINTAINER":
            args = (rest,)
        else:  # WORKDIR, USER, STOPSIGNAL: one word
            words = [rest] if cmd == "WORKDIR" else self.split(line, rest)  # WORKDIR: the whole rest
            if len(words) != 1:
                self.fail(line, f"{cmd} takes exactly one argument", _USAGE.get(cmd))
            args = (word(words[0]),)
            if cmd == "STOPSIGNAL":
                args = (self.signal(line, args[0]),)
            if not args[0]:
                self.fail(line, f"{cmd} is empty after substitution", _USAGE.get(cmd))
        build_args = tuple(sorted((k, scope.args[k]) for k in used if k in scope.args
                                  and k not in scope.env_only))
        return Instruction(cmd, line, text, args, exec_form, flags, pairs, build_args)

    def flags(self, line: int, cmd: str, rest: str) -> tuple[list, str]:
        known, out = INSTRUCTIONS[cmd][0], []
        while rest.startswith("--"):
            word, rest = (re.split(r"\s+", rest, maxsplit=1) + [""])[:2]
            name, eq, value = word[2:].partition("=")
            if cmd == "RUN" and name in ("mount", "network", "security"):
                self.fail(line, f"RUN --{name} is not supported by minictr build",
                          "remove the flag; RUN runs confined with no network")
            if name not in known:
                self.fail(line, f"unknown flag for {cmd}: --{name}",
                          "known: " + (", ".join("--" + k for k in known) or "none"))
            if known[name] and not (eq and value):
                self.fail(line, f"{cmd} --{name} needs a value", f"write --{name}=VALUE")
            out.append((name, value if known[name] else True))
        return out, rest

    def json_form(self, line: int, cmd: str, rest: str) -> tuple[bool, list]:
        if not rest.startswith("[") or cmd not in ("RUN", "CMD", "ENTRYPOINT", "COPY", "ADD",
                                                    "VOLUME", "SHELL"):
            return False, []
        try:
            value = json.loads(rest)
        except ValueError as e:
            if cmd == "SHELL" or re.match(r'^\[\s*("|\])', rest):
                self.fail(line, f"{cmd}: bad JSON array: {e.msg} at column {e.colno}",
                          'write ["prog", "arg"] with double quotes, or drop the brackets for the shell form')
            return False, []  # "RUN [ -f x ] && ..." is the shell form, as in docker
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(line, f"{cmd}: the JSON form must be an array of strings",
                      'write ["prog", "arg"]')
        return True, value

    def split(self, line: int, text: str) -> list[str]:
        try:
            return split_words(text, self.escape)
        except WordError as e:
            self.fail(line, str(e), "close the quote, or escape it")

    def word(self, line: int, w: str, env: dict, used: set | None = None) -> str:
        try:
            return expand(w, env, self.escape, used)
        except WordError as e:
            self.fail(line, str(e), "check the ${...} and the quotes")

    def arg_words(self, line: int, rest: str) -> list:
        """``ARG a b=2``: [("a", None), ("b", "2")], values not yet substituted."""
        out = []
        for w in self.split(line, rest):
            name, eq, value = w.partition("=")
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
                self.fail(line, f"invalid ARG name {name!r}", "write ARG NAME or ARG NAME=default")
            out.append((name, value if eq else None))
        return out

    def name_values(self, line: int, cmd: str, rest: str, env: dict, used: set | None = None) -> list:
        words = self.split(line, rest)
        if "=" not in words[0]:  # the old form: ENV NAME the rest of the line
            if len(words) < 2:
                self.fail(line, f"{cmd} needs a value: {cmd} {words[0]} VALUE", "or write NAME=VALUE")
            value = rest[len(words[0]):].strip()
            return [(self.word(line, words[0], env, used), self.word(line, value, env, used))]
        out = []
        for w in words:
            name, eq, value = w.partition("=")
            if not eq:
                self.fail(line, f"{cmd}: {w!r} is not NAME=VALUE",
                          "quote values with spaces: NAME=\"a b\"")
            name = self.word(line, name, env, used)
            if not name:
                self.fail(line, f"{cmd}: a name cannot be empty", "write NAME=VALUE")
            out.append((name, self.word(line, value, env, used)))
        return out

    def check_copy(self, line: int, cmd: str, args: tuple, flags: tuple) -> None:
        if len(args) < 2:
            self.fail(line, f"{cmd} needs a source and a destination", _USAGE[cmd])
        if len(args) > 2 and not args[-1].endswith("/"):
            self.fail(line, f"{cmd} with more than one source needs a destination that ends in /",
                      f"write {args[-1]}/")
        if cmd == "ADD" and any(re.match(r"^[a-z][a-z0-9+.-]*://", a, re.I) for a in args[:-1]):
            self.fail(line, "ADD from a URL is not supported: minictr builds offline",
                      "download the file into the build context and COPY or ADD it from there")

    def port(self, line: int, spec: str) -> str:
        m = _PORT.match(spec)
        if not m or not 0 < int(m.group(1)) < 65536 or (m.group(2) and not
                                                          int(m.group(1)) <= int(m.group(2)) < 65536):
            self.fail(line, f"invalid port {spec!r}", "write PORT or PORT/tcp, PORT/udp, START-END/tcp")
        return f"{m.group(1)}{'-' + m.group(2) if m.group(2) else ''}/{(m.group(3) or 'tcp').lower()}"

    def signal(self, line: int, spec: str) -> str:
        import signal as _signal
        name = spec.upper()
        if name.isdigit():
            if 0 < int(name) < 65:
                return name
        else:
            if not name.startswith("SIG"):
                name = "SIG" + name
            if hasattr(_signal.Signals, name) or re.match(r"^SIGRTM(IN|AX)([+-]\d+)?$", name):
                return name
        self.fail(line, f"invalid stop signal {spec!r}", "write a name such as SIGTERM or a number")

    def used_globals(self, rest: str, global_env: dict) -> tuple:
        used: set = set()
        try:
            expand(rest, global_env, self.escape, used)
        except WordError:
            pass
        return tuple(sorted((k, global_env[k]) for k in used if k in global_env))


class _Scope:
    """The variables of one stage: its ARGs (with the build args applied) and its ENVs."""

    def __init__(self, env: dict, global_env: dict, build_args: dict):
        self.env_only = dict(env)     # ENV values (inherited and set here)
        self.args: dict = {}          # ARGs declared in this stage, with their values
        self.env = dict(env)          # what substitution sees: ARGs, then ENV over them
        self.global_env, self.build_args = global_env, build_args

    def declare(self, name: str, default: str | None) -> None:
        value = self.build_args.get(name, default if default is not None else self.global_env.get(name))
        if value is None:
            return
        self.args[name] = value
        if name not in self.env_only:  # an ENV of the same name wins over an ARG
            self.env[name] = value

    def set_env(self, name: str, value: str) -> None:
        self.env_only[name] = value
        self.env[name] = value


_USAGE = {
    "RUN": "write RUN command or RUN [\"prog\", \"arg\"]",
    "COPY": "write COPY [--from=stage] [--chown=u:g] [--chmod=mode] src... dest",
    "ADD": "write ADD [--chown=u:g] [--chmod=mode] src... dest",
    "ENV": "write ENV NAME=VALUE", "LABEL": "write LABEL NAME=VALUE", "ARG": "write ARG NAME[=default]",
    "WORKDIR": "write WORKDIR /path", "USER": "write USER name[:group]", "EXPOSE": "write EXPOSE 80/tcp",
    "STOPSIGNAL": "write STOPSIGNAL SIGTERM", "SHELL": 'write SHELL ["/bin/sh", "-c"]',
    "VOLUME": "write VOLUME /path", "MAINTAINER": "write MAINTAINER name",
}


def _consumed(stages, global_args) -> set:
    names = {k for k, _ in global_args}
    for st in stages:
        for ins in st.instructions:
            if ins.cmd == "ARG":
                names.update(k for k, _ in ins.pairs)
    return names
