"""L1: what the metadata instructions do to the image config, and each step's history line.

ENV, ARG, WORKDIR, USER, ENTRYPOINT, CMD, EXPOSE, LABEL, STOPSIGNAL, SHELL,
VOLUME and MAINTAINER change no file: they change the OCI image config
(image-spec config.md, the ``config`` object) and add a history entry with
``empty_layer: true``. The rules, from the Dockerfile reference:

- ``ENV K=V`` sets ``K`` in ``Env`` (replacing an earlier ``K=``);
- ``WORKDIR p``: a relative ``p`` is joined to the current ``WorkingDir``
  (``/`` when unset); the builder also creates the directory when a later step
  needs it;
- ``CMD`` / ``ENTRYPOINT`` in the shell form run ``SHELL + [text]``
  (``/bin/sh -c`` by default); setting ``ENTRYPOINT`` clears a ``Cmd`` that came
  from the base image (not one set earlier in this stage);
- ``EXPOSE 80/tcp`` adds ``ExposedPorts["80/tcp"] = {}``; ``VOLUME /d`` adds
  ``Volumes["/d"] = {}``; ``LABEL`` sets ``Labels``; ``STOPSIGNAL``
  ``StopSignal``; ``USER`` ``User``; ``MAINTAINER`` the top-level ``author``;
- ``SHELL`` changes only how later shell forms run (the OCI config has no field
  for it); ``ARG`` changes nothing but the history.

``created_by`` writes a step's history text as buildah does:
``/bin/sh -c #(nop) ENV A=1`` for a metadata step, the shell and the command
(``/bin/sh -c make``) or the argv for a RUN, ``/bin/sh -c #(nop) COPY ...`` for
COPY and ADD.
"""

from __future__ import annotations

import posixpath

from ..record import Record, replace
from .parser import DEFAULT_SHELL

METADATA = ("ENV", "ARG", "WORKDIR", "USER", "ENTRYPOINT", "CMD", "EXPOSE", "LABEL", "STOPSIGNAL",
            "SHELL", "VOLUME", "MAINTAINER")


class StageState(Record):
    """The config a stage has built so far, plus what the config does not hold."""
    config: dict                      # the OCI config's "config" object (Env, Cmd, ...)
    author: str | None = None
    shell: tuple = DEFAULT_SHELL
    cmd_set: bool = False             # CMD was set in this stage (so ENTRYPOINT keeps it)


def start(base_config: dict | None, author: str | None = None) -> StageState:
    """The state after ``FROM``: a copy of the base image's config (None for scratch)."""
    return StageState(_copy(base_config or {}), author)


def apply(state: StageState, ins) -> StageState:
    """The state after the metadata instruction ``ins`` (a new state; ``state`` is unchanged)."""
    if ins.cmd not in METADATA:
        raise ValueError(f"{ins.cmd} changes files; only {', '.join(METADATA)} are metadata")
    cfg = _copy(state.config)
    if ins.cmd == "ENV":
        env = list(cfg.get("Env") or [])
        for key, value in ins.pairs:
            env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
        cfg["Env"] = env
    elif ins.cmd == "WORKDIR":
        cfg["WorkingDir"] = posixpath.normpath(posixpath.join(cfg.get("WorkingDir") or "/", ins.args[0]))
    elif ins.cmd == "USER":
        cfg["User"] = ins.args[0]
    elif ins.cmd in ("CMD", "ENTRYPOINT"):
        argv = list(ins.args) if ins.exec_form else list(state.shell) + list(ins.args)
        if ins.cmd == "CMD":
            cfg["Cmd"] = argv
            return replace(state, config=cfg, cmd_set=True)
        cfg["Entrypoint"] = argv
        if not state.cmd_set:
            cfg.pop("Cmd", None)
    elif ins.cmd == "EXPOSE":
        cfg["ExposedPorts"] = {**(cfg.get("ExposedPorts") or {}), **{p: {} for p in ins.args}}
    elif ins.cmd == "VOLUME":
        cfg["Volumes"] = {**(cfg.get("Volumes") or {}), **{v: {} for v in ins.args}}
    elif ins.cmd == "LABEL":
        cfg["Labels"] = {**(cfg.get("Labels") or {}), **dict(ins.pairs)}
    elif ins.cmd == "STOPSIGNAL":
        cfg["StopSignal"] = ins.args[0]
    elif ins.cmd == "SHELL":
        return replace(state, shell=tuple(ins.args))
    elif ins.cmd == "MAINTAINER":
        return replace(state, author=ins.args[0])
    return replace(state, config=cfg)


def created_by(ins, shell: tuple = DEFAULT_SHELL) -> str:
    """The history entry's ``created_by`` for ``ins``, as buildah writes it."""
    if ins.cmd == "RUN":
        return " ".join(ins.args) if ins.exec_form else " ".join(list(shell) + list(ins.args))
    return f"{' '.join(DEFAULT_SHELL)} #(nop) {ins.original}"


def history_entry(ins, created: str, shell: tuple = DEFAULT_SHELL, author: str | None = None) -> dict:
    """One ``history`` item of the image config (``empty_layer`` for metadata steps)."""
    entry = {"created": created, "created_by": created_by(ins, shell)}
    if author:
        entry["author"] = author
    if ins.cmd in METADATA:
        entry["empty_layer"] = True
    return entry


def _copy(cfg: dict) -> dict:
    """A copy deep enough that no list or dict is shared with the base image's config."""
    return {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
            for k, v in cfg.items()}
