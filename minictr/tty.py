"""L1: connect the user's terminal to the container's pty (``run -t``).

The container's init opens a pty inside its own devpts and passes us the
master end. We put our terminal in raw mode (so Ctrl-C, Ctrl-Z and arrow keys
go to the container's line discipline, which then signals the container's
foreground job), copy bytes both ways, and pass on window size changes.

Man pages: pty(7), termios(3), tty_ioctl(4) (TIOCGWINSZ, TIOCSWINSZ), select(2).
"""

from __future__ import annotations

import errno
import os
import select
import signal


def _copy_winsize(src: int, dst: int) -> None:
    import fcntl
    import termios

    try:
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except OSError:
        pass  # our stdin is not a terminal: the pty keeps its default size


def relay(master: int, pid: int, stdin: int = 0, stdout: int = 1) -> int | None:
    """Copy stdin -> master and master -> stdout until the container exits.

    Returns the container's wait status when this loop reaped it, else None.
    """
    import termios
    import tty as tty_mod

    saved = None
    if os.isatty(stdin):
        saved = termios.tcgetattr(stdin)
        tty_mod.setraw(stdin)
        _copy_winsize(stdin, master)
    old_winch = signal.signal(signal.SIGWINCH, lambda *_: _copy_winsize(stdin, master))
    status = None
    reading_stdin = True
    try:
        while True:
            fds = [master] + ([stdin] if reading_stdin else [])
            ready, _, _ = select.select(fds, [], [], 0.1)
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError as e:  # EIO: every slave fd is closed
                    if e.errno != errno.EIO:
                        raise
                    data = b""
                if not data:
                    break
                os.write(stdout, data)
            if stdin in ready:
                data = os.read(stdin, 65536)
                if data:
                    os.write(master, data)
                else:  # our stdin ended: send the terminal's end-of-file (Ctrl-D)
                    reading_stdin = False
                    os.write(master, b"\x04")
            if status is None:
                done, st = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = st
                    # Drain what the container wrote just before it exited.
                    while select.select([master], [], [], 0.05)[0]:
                        try:
                            data = os.read(master, 65536)
                        except OSError:
                            break
                        if not data:
                            break
                        os.write(stdout, data)
                    break
    finally:
        signal.signal(signal.SIGWINCH, old_winch)
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        os.close(master)
    return status
