"""``create`` from a ContainerConfig built here, not from a config.json: the OCI runtime's create
path (minictr.oci.runtime.create, as ``minictr-runtime create`` calls it), for the tests that
need no bundle converter. Run as a process of its own, which exits like ``create`` does:

    python oci_create.py ROOT ID ROOTFS [--tty] [--pid-file P] [--console-socket S]
                         [--preserve-fds N] -- ARGS...
"""

import os
import sys

from minictr.config import ContainerConfig, Rootfs
from minictr.container import with_seccomp_filter
from minictr.errors import MinictrError
from minictr.oci import runtime
from minictr.record import replace


def main(argv):
    root, cid, rootfs = argv[:3]
    rest = argv[3:]
    split = rest.index("--")
    flags, args = rest[:split], rest[split + 1:]
    opts = {"tty": "--tty" in flags}
    for name in ("--pid-file", "--console-socket", "--preserve-fds"):
        if name in flags:
            opts[name] = flags[flags.index(name) + 1]
    os.environ["MINICTR_RUNTIME_DIR"] = root
    cfg = ContainerConfig(id="0" * 64, name=cid, image=rootfs, rootfs=Rootfs(rootfs), args=tuple(args),
                          hostname="ocibox", tty=opts["tty"])
    cfg = replace(cfg, security=with_seccomp_filter(cfg.security))  # as prepare() does: docker's profile
    try:
        runtime.create(cfg, os.path.dirname(rootfs), pid_file=opts.get("--pid-file"),
                       console_socket=opts.get("--console-socket"),
                       preserve_fds=int(opts.get("--preserve-fds", 0)))
    except MinictrError as e:
        print(f"create: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
