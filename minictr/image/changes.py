"""L1: Dockerfile instructions that change an image config (``import --change``).

``docker import -c 'CMD ["sh"]' -c 'ENV A=1' rootfs.tar name`` sets parts of
the new image's config with Dockerfile instructions. This module turns those
instructions into the OCI image config's ``config`` fields:

============  ===========================================================
CMD           ``Cmd``: the exec form (a JSON list of strings) or the shell
              form (``["/bin/sh", "-c", TEXT]``)
ENTRYPOINT    ``Entrypoint``, the same two forms
ENV           ``Env``: ``KEY=VALUE ...`` or the old ``KEY VALUE``; a key set
              again replaces the earlier value
WORKDIR       ``WorkingDir``
USER          ``User``
EXPOSE        ``ExposedPorts``: ``80`` means ``80/tcp``
LABEL         ``Labels``: ``KEY=VALUE ...``
============  ===========================================================

Anything else is a ``ConfigError`` (field ``change``) with a hint.

References: the Dockerfile reference (CMD, ENTRYPOINT, ENV, WORKDIR, USER,
EXPOSE, LABEL), docker-import(1), the OCI image spec's config.md.
"""

from __future__ import annotations

import json
import shlex

from ..errors import ConfigError

INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "WORKDIR", "USER", "EXPOSE", "LABEL")


def parse_changes(changes: list[str]) -> dict:
    """``docker import -c``: Dockerfile instructions -> the image config's ``config`` fields."""
    cfg: dict = {}
    for change in changes:
        instr, _, rest = change.strip().partition(" ")
        instr, rest = instr.upper(), rest.strip()
        if not rest:
            raise ConfigError("change", change, "needs an argument", hint='e.g. -c \'CMD ["sh"]\'')
        if instr in ("CMD", "ENTRYPOINT"):
            cfg["Cmd" if instr == "CMD" else "Entrypoint"] = _argv(change, rest)
        elif instr == "ENV":
            _env(cfg.setdefault("Env", []), change, rest)
        elif instr == "WORKDIR":
            cfg["WorkingDir"] = rest
        elif instr == "USER":
            cfg["User"] = rest
        elif instr == "EXPOSE":
            for port in rest.split():
                cfg.setdefault("ExposedPorts", {})[port if "/" in port else f"{port}/tcp"] = {}
        elif instr == "LABEL":
            for pair in shlex.split(rest):
                k, sep, v = pair.partition("=")
                if not sep:
                    raise ConfigError("change", change, "LABEL wants KEY=VALUE")
                cfg.setdefault("Labels", {})[k] = v
        else:
            raise ConfigError("change", change, f"{instr} cannot be changed by import",
                              hint="use " + ", ".join(INSTRUCTIONS[:-1]) + " or " + INSTRUCTIONS[-1])
    return cfg


def _argv(change: str, rest: str) -> list[str]:
    """CMD and ENTRYPOINT: the exec form (JSON) or the shell form."""
    if not rest.startswith("["):
        return ["/bin/sh", "-c", rest]
    try:
        argv = json.loads(rest)
    except ValueError:
        raise ConfigError("change", change, "the exec form must be a JSON list of strings") from None
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise ConfigError("change", change, "the exec form must be a JSON list of strings")
    return argv


def _env(env: list[str], change: str, rest: str) -> None:
    """ENV KEY=VALUE ... (or ENV KEY VALUE): set each, replacing an earlier value of the key."""
    pairs = shlex.split(rest)
    if "=" not in pairs[0]:  # ENV KEY VALUE
        pairs = [f"{pairs[0]}={rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ''}"]
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError("change", change, "ENV wants KEY=VALUE")
        key = pair.split("=", 1)[0]
        env[:] = [e for e in env if e.split("=", 1)[0] != key] + [pair]
