"""L1: run a function in a forked child, optionally inside another process's namespaces.

Namespace work changes the *calling* process for good: after ``unshare(2)`` or
``setns(2)`` there is no way back. So doctor's probes, the lessons' checks and
experiments, and ``network.run_in_netns`` never do it in their own process
(which may be a Jupyter kernel); they fork a throwaway child and do it there::

    call(fn, timeout=10.0, join=(pid, ("net", "uts")))

1. In the parent: open ``/proc/PID/ns/KIND`` for each kind of ``join`` (so a
   vanished process is a clean error here, not in the child), and make a pipe(2).
2. fork(2). The child setns(2)s into each namespace (``user`` first, ``mnt``
   last: joining the mount namespace changes the root and cwd, and the later
   opens would miss), calls ``fn()``, writes one JSON document to the pipe and
   leaves with ``os._exit``, whatever happens: it never returns into the
   caller's code.
3. The parent reads the pipe until EOF or ``timeout`` (then SIGKILLs the
   child), reaps it with waitpid(2), and returns ``fn``'s result (which must be
   JSON-able) or raises ``ChildFailed`` with the child's exception as data:
   ``.exc_type`` (its class name), ``.line`` (``"Type: first line"``) and
   ``.plain`` (the message alone: a MinictrError without its hint, an OSError
   as ``strerror: filename``). A timeout is ``ChildTimeout``; a child that died
   without an answer is ``ChildFailed`` with ``exc_type`` ``""``.

``open_namespaces`` and ``enter_namespaces`` are the two halves of the join,
for a caller whose child is made by someone else (``subprocess``'s
``preexec_fn`` in ``network.run_in_netns``).

Man pages: fork(2), setns(2), pipe(2), waitpid(2), namespaces(7), nsenter(1).
"""

from __future__ import annotations

import os

from .errors import MinictrError

__all__ = ["call", "ChildFailed", "ChildTimeout", "open_namespaces", "enter_namespaces", "SETNS_ORDER"]

#: The order in which the child joins namespaces (nsenter(1) uses the same).
SETNS_ORDER = ("user", "ipc", "uts", "net", "pid", "cgroup", "time", "mnt")


class ChildFailed(MinictrError):
    """The function in the child raised (or the child died): its exception, as data."""

    def __init__(self, exc_type: str, line: str, plain: str):
        super().__init__(line)
        self.exc_type = exc_type
        self.line = line
        self.plain = plain


class ChildTimeout(ChildFailed):
    def __init__(self, timeout: float):
        text = f"timed out after {timeout:g} s"
        super().__init__("TimeoutError", text, text)
        self.timeout = timeout


def _describe(e: BaseException) -> dict:
    text = str(e).splitlines()[0] if str(e) else ""
    plain = getattr(e, "message", None) if isinstance(e, MinictrError) else None
    if plain is None:
        if isinstance(e, OSError) and e.strerror:
            plain = e.strerror + (f": {e.filename}" if e.filename else "")
        else:
            plain = str(e)
    return {"error": type(e).__name__, "line": f"{type(e).__name__}: {text}" if text else type(e).__name__,
            "plain": plain}


def open_namespaces(pid: int | str, kinds, proc: str = "/proc") -> list[int]:
    """Open ``/proc/PID/ns/KIND`` for each kind, in ``SETNS_ORDER``. Raises OSError (FileNotFoundError: gone)."""
    fds: list[int] = []
    try:
        for kind in sorted(kinds, key=SETNS_ORDER.index):
            fds.append(os.open(f"{proc}/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC))
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return fds


def enter_namespaces(fds: list[int], kernel=None) -> None:
    """In the child: setns(2) into each namespace fd (nstype 0: the fd says which kind)."""
    if kernel is None:
        from .syscalls import linux
        kernel = linux()
    for fd in fds:
        kernel.setns(fd, 0)


def call(fn, *, timeout: float = 10.0, join: tuple | None = None, kernel=None):
    """``fn()`` in a forked child (first joined to ``join = (pid, kinds)``); its JSON-able result.

    Raises ``ChildFailed`` (the child's exception, or its death) and
    ``ChildTimeout`` (killed after ``timeout`` seconds). ``kernel`` is the
    syscalls object for setns (loaded here, before the fork, when not given).
    """
    import json
    import select
    import signal
    import time

    fds: list[int] = []
    if join is not None:
        if kernel is None:
            from .syscalls import linux
            kernel = linux()  # load libc in the parent, not in every child
        fds = open_namespaces(join[0], join[1])
    try:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never return into the caller's code
            code = 0
            try:
                os.close(r)
                try:
                    enter_namespaces(fds, kernel)
                    payload = {"ok": fn()}
                except BaseException as e:  # report everything, even SystemExit, to the parent
                    payload = _describe(e)
                try:
                    data = json.dumps(payload).encode()
                except (TypeError, ValueError) as e:
                    data = json.dumps(_describe(e)).encode()
                view = memoryview(data)
                while view:
                    view = view[os.write(w, view):]
            except BaseException:
                code = 1
            finally:
                os._exit(code)
    finally:
        for fd in fds:
            os.close(fd)
    os.close(w)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                raise ChildTimeout(timeout)
            ready, _, _ = select.select([r], [], [], left)
            if ready:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    if not chunks:
        raise ChildFailed("", "the child died without an answer", "the child died without an answer")
    payload = json.loads(b"".join(chunks))
    if "error" in payload:
        raise ChildFailed(payload["error"], payload["line"], payload["plain"])
    return payload["ok"]
