"""L1: connect the user's terminal to the container's pty (``run -t``).

The container's init opens a pty inside its own devpts and passes us the
master end. Before the command starts, ``Terminal`` puts our terminal in raw
mode (so Ctrl-C, Ctrl-Z and arrow keys go to the container's line
discipline, which then signals the container's foreground job) and gives the
pty our window size; ``relay`` then copies bytes both ways, and passes on
window size changes (SIGWINCH).

Three details make it behave like a terminal:

- the size is set *before* the command starts, so ``stty size`` or a shell's
  line editor sees it from its first instruction;
- raw mode is set with TCSANOW, not TCSAFLUSH (``tty.setraw``'s default), so
  what the user typed before the shell started is kept and delivered;
- if our stdout is closed (``minictr run -t ... | head -1``), we hang the pty
  up, as a terminal that goes away does: the container's programs then get
  SIGHUP (a shell) or EIO on their next write, and the run ends quietly.

Man pages: pty(7), termios(3) (TCSANOW, TCSAFLUSH), tty_ioctl(4) (TIOCGWINSZ,
TIOCSWINSZ), select(2).
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


class Terminal:
    """Our side of a container's pty, set up before the command starts. Close it when done."""

    def __init__(self, master: int, stdin: int = 0, stdout: int = 1):
        import termios
        import tty as tty_mod

        self.master, self.stdin, self.stdout = master, stdin, stdout
        self.saved = None
        if os.isatty(stdin):
            self.saved = termios.tcgetattr(stdin)
            # TCSANOW: TCSAFLUSH would discard the input typed ahead.
            tty_mod.setraw(stdin, termios.TCSANOW)
            _copy_winsize(stdin, master)
        self.old_winch = signal.signal(signal.SIGWINCH, lambda *_: _copy_winsize(stdin, master))

    def relay(self, pid: int) -> int | None:
        """Copy stdin -> master and master -> stdout until the container exits.

        Returns the container's wait status when this loop reaped it, else None
        (the pty was hung up: the caller waits for the container).
        """
        master, stdin = self.master, self.stdin
        reading_stdin = True
        try:
            while True:
                fds = [master] + ([stdin] if reading_stdin else [])
                ready, _, _ = select.select(fds, [], [], 0.1)
                if master in ready:
                    data = _read(master)
                    if not data:
                        return None
                    self._write_out(data)
                if stdin in ready:
                    data = os.read(stdin, 65536)
                    if data:
                        os.write(master, data)
                    else:  # our stdin ended: send the terminal's end-of-file (Ctrl-D)
                        reading_stdin = False
                        os.write(master, b"\x04")
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    # Drain what the container wrote just before it exited.
                    while select.select([master], [], [], 0.05)[0]:
                        data = _read(master)
                        if not data:
                            break
                        self._write_out(data)
                    return status
        except _Closed:
            self.hang_up()
            return None

    def _write_out(self, data: bytes) -> None:
        try:
            os.write(self.stdout, data)
        except OSError as e:
            if e.errno in (errno.EPIPE, errno.EIO):  # nobody reads our output any more
                raise _Closed() from None
            raise

    def hang_up(self) -> None:
        """Close the master end: the kernel hangs up the container's terminal (SIGHUP, then EIO)."""
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def close(self) -> None:
        import termios

        signal.signal(signal.SIGWINCH, self.old_winch)
        if self.saved is not None:
            termios.tcsetattr(self.stdin, termios.TCSADRAIN, self.saved)
            self.saved = None
        self.hang_up()


class _Closed(Exception):
    """Our stdout's reader is gone."""


def _read(master: int) -> bytes:
    try:
        return os.read(master, 65536)
    except OSError as e:  # EIO: every slave fd is closed
        if e.errno != errno.EIO:
            raise
        return b""


def relay(master: int, pid: int, stdin: int = 0, stdout: int = 1) -> int | None:
    """Set up the terminal, relay until the container exits, restore it. See ``Terminal``."""
    term = Terminal(master, stdin, stdout)
    try:
        return term.relay(pid)
    finally:
        term.close()
