"""L2: the small supervisor that a foreground ``minictr run`` turns into once its container runs.

After ``start`` the CLI has only a few jobs left: pass signals on to the
container's init, wait for it, record how it ended (exit status, OOM) in the
state file, remove the cgroup, and for ``--rm`` remove what is left. The CLI
process that set the container up still holds argparse, ctypes, the image
store and some 70 modules (about 14 MB RSS) while it waits. So it replaces
itself (execve(2)) with a fresh ``python -I -S`` that runs this file::

    python -I -S .../minictr/supervise.py CHECKOUT CONTAINER_ID

Why execve keeps every guarantee:

- The PID stays the same, so this program is still the init's parent
  (``waitpid`` works, and the init's PR_SET_PDEATHSIG still fires if we die)
  and ``/proc/PID/stat``'s start time is unchanged, so the state file's
  ``supervisor_pid``/``supervisor_start`` still name us and ``gc`` still
  cleans up after a SIGKILL.
- The CLI blocks the forwarded signals before execve. A blocked signal stays
  pending across execve (signal(7)); we unblock them once our handlers are in
  place, so a Ctrl-C that comes in between is forwarded, not lost.
- stdin/stdout/stderr are the same open files.

With ``-t`` the CLI keeps its own, bigger process: it relays the pty (tty.py).

This is the CLI's continuation, so like cli.py it prints (the OOM line, an
error) and exits. Man pages: execve(2), signal(7), sigprocmask(2), waitpid(2).
"""

import _signal as signal  # the signal module without its enums (importing enum costs ~3 ms)
import os
import sys

#: What a foreground ``run`` passes on to the container: ``process.FORWARDED_SIGNALS``, copied
#: because the supervisor must not import process (and ctypes) while it waits; a test keeps them equal.
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH)


def oom_message(name: str, memory_limit: int | None) -> str:
    """The line ``minictr run`` prints when the kernel's OOM killer stopped the container."""
    limit = ""
    if memory_limit:
        from minictr.cgroups.units import format_bytes
        limit = f" (limit {format_bytes(memory_limit)})"
    return f"container {name} was killed: out of memory{limit}"


def handoff(container_id: str) -> None:
    """Replace this process with the small supervisor. Returns only if execve failed."""
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        os.execv(sys.executable, [sys.executable, "-I", "-S", os.path.abspath(__file__), checkout, container_id])
    finally:  # still here: execve failed, so this process goes on supervising
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)


def supervise(container_id: str) -> int:
    """Forward signals, wait for the init, record the end, clean up. Returns the exit status."""
    from minictr import state

    st = state.load_id(container_id)

    def forward(signum, _frame):
        try:
            os.kill(st.pid, signum)
        except ProcessLookupError:
            pass  # it has just exited; waitpid will tell

    for sig in FORWARDED:
        signal.signal(sig, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    try:
        _, wait_status = os.waitpid(st.pid, 0)
    finally:
        for sig in FORWARDED:
            signal.signal(sig, signal.SIG_IGN)  # from here on, the cleanup must not be interrupted
    from minictr.cgroups import manager  # only now: the modules loaded during the wait are its memory
    state.record_exit(st, wait_status, manager.open(container_id))
    if st.auto_remove:
        if st.bundle:
            from minictr.fsutil import remove_tree
            remove_tree(st.bundle, ignore_errors=True)
        st.remove()
    if st.oom_killed:
        memory = ((st.config or {}).get("resources") or {}).get("memory")
        print(oom_message(st.name, memory), file=sys.stderr)
    return st.exit_code


def main(argv: list[str]) -> None:
    checkout, container_id = argv[1], argv[2]
    here = os.path.dirname(os.path.abspath(__file__))
    # Python 3.10 puts this file's directory first on sys.path even with -I
    # (3.11's -I implies -P); minictr's modules must not shadow the standard library's.
    sys.path[:] = [checkout] + [p for p in sys.path if p != here]
    try:
        code = supervise(container_id)
    except Exception as e:  # as cli.main: one line, exit 125
        if os.environ.get("MINICTR_DEBUG"):
            import traceback
            traceback.print_exc()
        print(f"minictr: {e}", file=sys.stderr)
        code = 125
    sys.stderr.flush()
    os._exit(code & 0xFF)


if __name__ == "__main__":
    main(sys.argv)
