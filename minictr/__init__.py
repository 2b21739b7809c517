"""minictr: a small, real container runtime that you build lesson by lesson.

A container is just a process, isolated from the others by kernel features:
namespaces and cgroups. This package does the isolation with real syscalls,
and the notebooks in ``notebooks/`` build it up one step at a time.

The layers only import downward::

    L4  cli.py                      argparse, exit codes, the only printer
    L3  container.py                create, start, wait, kill, delete, list
    L2  config.py process.py state.py
    L1  rootfs.py namespaces.py tarball.py cgroups/ image/
    L0  syscalls.py errors.py       ctypes, the exception tree
"""

__version__ = "0.1.0"

from .errors import (
    ConfigError, ContainerSetupError, ContainerStateError, ImageError, ImageNotFound,
    MinictrError, SyscallError, UnsafeLayerEntry,
)

__all__ = [
    "__version__", "MinictrError", "ConfigError", "ContainerSetupError", "ContainerStateError",
    "ImageError", "ImageNotFound", "SyscallError", "UnsafeLayerEntry",
]
