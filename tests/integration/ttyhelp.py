"""Reading a pty in the terminal tests: what the container printed, up to a needle."""

import os
import select
import time


def read_until(fd: int, needle: bytes, timeout: float = 10) -> bytes:
    """Read ``fd`` until ``needle`` appears; AssertionError naming what came if it does not in time.
    Stops early at end of file (the other side closed)."""
    buf = b""
    deadline = time.time() + timeout
    while needle not in buf:
        if time.time() > deadline:
            raise AssertionError(f"never saw {needle!r} in {buf!r}")
        if select.select([fd], [], [], 0.1)[0]:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            buf += data
    return buf
