"""Run ``ip`` and ``nft`` for the run path: fork, exec, collect, without ``subprocess``.

``minictr run`` sets up a bridge network on every start, so these commands
are on the run path, where ``subprocess`` (and the ``signal``, ``threading``
and ``selectors`` it imports) costs several milliseconds of a ~20 ms start
(tests/unit/test_lean_run_path.py). A command here is small: its input fits
a pipe, and its output is read to the end before we wait.

A runner is any callable ``runner(argv, input=None, netns_pid=None) ->
Result``. ``run`` is the real one; ``FakeRunner`` records the commands, so
unit tests see what would run, without root and without patching.

Man pages: fork(2), execve(2), pipe(2), setns(2).
"""

from __future__ import annotations

import os

from ..errors import MinictrError
from ..record import Record


class Result(Record):
    argv: tuple[str, ...]
    returncode: int
    output: str = ""   # stdout and stderr together: what a failure shows


def run(argv, input: str | None = None, netns_pid: int | None = None) -> Result:
    """Run ``argv`` (found on PATH), in the network namespace of ``netns_pid`` if given.

    ``input`` is written to its stdin (``nft -f -``, ``ip -batch -``).
    """
    argv = tuple(argv)
    fds = None
    if netns_pid is not None:
        from ..child import open_namespaces
        try:
            fds = open_namespaces(netns_pid, ("net",))
        except FileNotFoundError:
            raise MinictrError(f"{argv[0]}: process {netns_pid} is gone",
                               hint="the container exited before its network was set up") from None
    out_r, out_w = os.pipe()
    in_r, in_w = os.pipe() if input is not None else (None, None)
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            if fds:
                from ..child import enter_namespaces
                enter_namespaces(fds)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            if in_r is not None:
                os.dup2(in_r, 0)
            else:
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.execvp(argv[0], argv)
        except BaseException:
            os._exit(127)
    os.close(out_w)
    if fds:
        for fd in fds:
            os.close(fd)
    if in_r is not None:
        os.close(in_r)
        try:
            os.write(in_w, input.encode())  # small scripts: far below a pipe's 64 KiB
        finally:
            os.close(in_w)
    chunks = []
    while True:
        chunk = os.read(out_r, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(out_r)
    status = os.waitpid(pid, 0)[1]
    code = os.waitstatus_to_exitcode(status)
    if code == 127 and not chunks:
        raise MinictrError(f"the {argv[0]} command is missing",
                           hint="install it: apt-get install iproute2 nftables")
    return Result(argv, code, b"".join(chunks).decode(errors="replace"))


def check(result: Result, hint: str = "needs root (CAP_NET_ADMIN); see `minictr doctor`") -> Result:
    """``result``, or one clear error if the command failed."""
    if result.returncode != 0:
        text = result.output.strip().splitlines()
        raise MinictrError(f"{' '.join(result.argv[:4])}: {text[-1] if text else 'exit status ' + str(result.returncode)}",
                           hint=hint)
    return result


class FakeRunner:
    """A recording runner: nothing runs. ``ran`` holds ``(argv, input, netns_pid)`` in order.

    A command whose argv starts with a prefix in ``fail`` fails with that text.
    """

    def __init__(self, fail: dict | None = None, output: str = "") -> None:
        self.ran: list[tuple[tuple[str, ...], str | None, int | None]] = []
        self.fail = dict(fail or {})
        self.output = output

    def __call__(self, argv, input=None, netns_pid=None) -> Result:
        argv = tuple(argv)
        self.ran.append((argv, input, netns_pid))
        for prefix, text in self.fail.items():
            if argv[:len(prefix)] == tuple(prefix):
                return Result(argv, 1, text)
        return Result(argv, 0, self.output)

    def commands(self) -> list[str]:
        return [" ".join(a) for a, _i, _n in self.ran]
