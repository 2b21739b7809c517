"""Run one OCI hook: a program on the host, with the container's state as JSON on its stdin.

config.json's ``hooks`` name programs the runtime runs at fixed moments of a
container's life (runtime spec, config.md "POSIX-platform Hooks" and
runtime.md "Lifecycle"):

- ``createRuntime``: after the namespaces exist, before pivot_root, in the runtime's namespace;
- ``createContainer``: the same moment, in the container's mount namespace;
- ``startContainer``: in the container, just before the command is executed;
- ``poststart``: after the command started; ``poststop``: after the container was deleted;
- ``prestart`` (deprecated): as ``createRuntime``.

Each hook gets the state (``ociVersion``, ``id``, ``status``, ``pid``, ``bundle``,
``annotations``) on stdin, its own ``args`` (``args[0]`` is argv[0], as execv(3)
takes it) and ``env`` (only those variables), and at most ``timeout`` seconds.
The runtime command (``minictr-runtime``) decides when; this module only runs one.

Man pages: execve(2), pipe(7).
"""

from __future__ import annotations

import json
import subprocess

from ..errors import MinictrError


class HookError(MinictrError):
    """A hook failed: it could not be run, exited non-zero, or ran past its timeout."""

    exit_code = 1


def run_hook(hook, state: dict, *, default_timeout: float | None = None) -> None:
    """Run ``hook`` (a ``config.Hook`` or config.json's dict: path, args, env, timeout) with ``state``.

    Raises ``HookError`` naming the hook and what its stderr said. A hook runs with the
    runtime's own privileges: it comes from the bundle, which the caller trusts.
    """
    if isinstance(hook, dict):
        path, args, env, timeout = hook["path"], hook.get("args") or [], hook.get("env") or [], hook.get("timeout")
    else:
        path, args, env, timeout = hook.path, list(hook.args), list(hook.env), hook.timeout
    argv = list(args) or [path]
    environment = dict(item.split("=", 1) for item in env if "=" in item)
    name = f"hook {path}"
    try:
        done = subprocess.run(argv, executable=path, input=json.dumps(state).encode(), env=environment,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout if timeout is not None else default_timeout, close_fds=True)
    except subprocess.TimeoutExpired:
        raise HookError(f"{name}: still running after {timeout}s: killed",
                        hint="raise its timeout in config.json, or make the hook quicker") from None
    except OSError as e:
        raise HookError(f"{name}: cannot run it: {e.strerror}",
                        hint="hooks run on the host: the path must be an executable there") from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise HookError(f"{name}: exited with status {done.returncode}" + (f": {said[-1]}" if said else ""))
