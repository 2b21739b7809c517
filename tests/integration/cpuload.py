"""A control for CPU tests: how much CPU an *unlimited* busy loop gets right now.

Other tests (and other people's tests) may be loading this 2-core machine, so
"a loop under --cpus 0.5 gets half a CPU" only holds when a whole CPU is free.
A control loop running in the same window tells what "free" means at the
moment: the limited loop should get about min(0.5, control), never more than 0.5.
"""

import os
import signal


class Spinner:
    """A forked busy loop outside any container; ``cpu_ns()`` reads its CPU time."""

    def __enter__(self) -> "Spinner":
        self.pid = os.fork()
        if self.pid == 0:
            try:
                while True:
                    pass
            finally:
                os._exit(0)
        return self

    def cpu_ns(self) -> int:
        with open(f"/proc/{self.pid}/schedstat") as f:  # first field: time on a CPU, in ns
            return int(f.read().split()[0])

    def __exit__(self, *exc) -> None:
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


def assert_about_half(limited: float, control: float) -> None:
    expected = min(0.5, control)
    detail = f"limited loop got {limited:.2f} of a CPU under --cpus 0.5; an unlimited one got {control:.2f}"
    assert limited < 0.6, detail
    assert limited > 0.7 * expected, detail
