"""L4: ``build``, ``history`` and ``image from-binary``.

``minictr build [-t NAME[:TAG]]... [-f FILE] [--build-arg K=V]... [--target STAGE]
[--no-cache] [--label K=V]... [--network none|host] [--timestamp T] CONTEXT``
prints its steps as buildah does (buildah-bud(1)); ``history IMAGE`` shows an
image's steps in docker's columns (docker-history(1)); ``image from-binary
PATH... -t NAME [--add SRC[:DEST]]...`` makes a minimal image from host
programs. The work is in ``minictr.build`` (builder.py, minimal.py). A
failed build exits 125, as ``run`` does for its own failures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="build an image from a Containerfile")
    p.add_argument("context", metavar="CONTEXT", help="the build context directory")
    p.add_argument("-t", "--tag", action="append", default=[], metavar="NAME[:TAG]", help="name the image (repeatable)")
    p.add_argument("-f", "--file", metavar="FILE", help="the Containerfile (default CONTEXT/Containerfile or Dockerfile)")
    p.add_argument("--build-arg", action="append", default=[], metavar="K=V", help="set a build ARG (repeatable)")
    p.add_argument("--target", metavar="STAGE", help="build this stage, not the last")
    p.add_argument("--no-cache", action="store_true", help="build every step again")
    p.add_argument("--label", action="append", default=[], metavar="K=V", help="add a label (repeatable)")
    p.add_argument("--network", default="none", choices=("none", "host"), help="RUN steps' network (default none)")
    p.add_argument("--timestamp", type=int, metavar="SECONDS",
                   help="set every created time and mtime (reproducible builds; default $SOURCE_DATE_EPOCH)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image ID")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("history", help="show the steps an image was built with")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--no-trunc", action="store_true", help="do not shorten the output")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image ids")
    p.set_defaults(func=cmd_history)


def register_image_commands(isub: argparse._SubParsersAction) -> None:
    """``image from-binary`` (called by cli_images, which owns ``image``)."""
    p = isub.add_parser("from-binary", help="a minimal image from host programs and their libraries")
    p.add_argument("programs", nargs="+", metavar="PATH", help="ELF programs on this host")
    p.add_argument("-t", "--tag", required=True, metavar="NAME[:TAG]", help="the image's name")
    p.add_argument("--add", action="append", default=[], metavar="SRC[:DEST]",
                   help="a data file or directory to include (repeatable), e.g. /usr/lib/python3.11")
    p.add_argument("--timestamp", type=int, metavar="SECONDS", help="every mtime and created time")
    p.set_defaults(func=cmd_from_binary)


def _pairs(items, flag: str) -> dict:
    from .errors import ConfigError
    out = {}
    for item in items:
        k, eq, v = item.partition("=")
        if not k:
            raise ConfigError(flag, item, "must be KEY=VALUE", hint=f"write {flag} NAME=value")
        if eq:
            out[k] = v
        elif k in os.environ:  # "--build-arg NAME": the caller's value, as docker; unset: skipped
            out[k] = os.environ[k]
    return out


def _timestamp(value):
    if value is not None:
        return value
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        from .errors import ConfigError
        if not epoch.isdigit():
            raise ConfigError("SOURCE_DATE_EPOCH", epoch, "must be seconds since the epoch")
        return int(epoch)
    return None


def _stop_cleanly(signum, _frame):
    # Why: SIGTERM's default action ends the process at once, and a RUN step's container,
    # state file and work dir would be left. As an exception, the builder's finally blocks
    # kill and remove the container and the work dir, as they do for Ctrl-C.
    raise KeyboardInterrupt(f"signal {signum}")


def cmd_build(args) -> int:
    import signal

    from .build.builder import build

    def say(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop_cleanly)
    t0 = time.monotonic()
    done = build(args.context, file=args.file, tags=args.tag, build_args=_pairs(args.build_arg, "--build-arg"),
                 target=args.target, no_cache=args.no_cache, labels=_pairs(args.label, "--label"),
                 network=args.network, timestamp=_timestamp(args.timestamp), say=say)
    img = done.image
    if args.quiet:
        print(img.id.split(":", 1)[1])
        return 0
    for name in img.names:
        print(f"Successfully tagged {name}")
    print(img.id.split(":", 1)[1])
    print(f"({done.steps} steps, {done.cached} from the cache, {time.monotonic() - t0:.2f}s)", file=sys.stderr)
    return 0


def _layer_sizes(store, img) -> list[int]:
    """Each layer's unpacked size: gzip's trailer holds it (ISIZE, mod 2**32; RFC 1952)."""
    out = []
    for desc in img.layers:
        try:
            with open(store.blob_path(desc["digest"]), "rb") as f:
                f.seek(-4, 2)
                out.append(int.from_bytes(f.read(4), "little"))
        except OSError:
            out.append(int(desc.get("size", 0)))
    return out


def cmd_history(args) -> int:
    from .cli_format import ago, format_table, human_size
    from .image import Store

    store = Store()
    img = store.lookup(args.image)
    sizes = _layer_sizes(store, img)
    rows, n = [], 0
    for entry in img.oci_config.get("history") or []:
        size = 0
        if not entry.get("empty_layer"):
            size = sizes[n] if n < len(sizes) else 0
            n += 1
        rows.append((entry, size))
    rows.reverse()
    now = time.time()
    out = [["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]]
    ids = []
    for i, (entry, size) in enumerate(rows):
        iid = (img.id if args.no_trunc else img.short_id) if i == 0 else "<missing>"
        ids.append(iid)
        from .image.model import parse_time
        t = parse_time(entry.get("created"))
        by = entry.get("created_by", "")
        if not args.no_trunc and len(by) > 45:
            by = by[:44] + "…"
        out.append([iid, ago(t.timestamp(), now) if t else "N/A", by, human_size(size), entry.get("comment", "")])
    print("\n".join(ids) if args.quiet else format_table(out))
    return 0


def cmd_from_binary(args) -> int:
    from .build.minimal import from_binaries
    from .cli_format import human_size
    from .image import Store

    img = from_binaries(Store(), args.programs, name=args.tag, adds=args.add, timestamp=args.timestamp)
    print(f"{img.ref} {img.short_id} ({human_size(img.size)})")
    return 0
