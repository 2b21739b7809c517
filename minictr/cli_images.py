"""L4: the image commands: ``images``, ``rmi``, ``image build-default`` (and ``image ls|rm``).

Flag names and output columns follow docker's (``docker images``, ``docker
rmi``). The work is done in ``minictr.image``; this module only parses and
prints. Heavy modules are imported inside the command functions so that
``minictr run`` does not pay for them at start-up.
"""

from __future__ import annotations

import argparse
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("images", help="list images in the local store")
    _images_flags(p)

    p = sub.add_parser("rmi", help="remove one or more images")
    _rmi_flags(p)

    p = sub.add_parser("image", help="manage images (build-default, ls, rm)")
    isub = p.add_subparsers(dest="image_command", metavar="COMMAND")
    b = isub.add_parser("build-default", help="build the default busybox image offline")
    b.add_argument("--name", default="busybox", help="repository name to give it (default busybox)")
    b.add_argument("--busybox", metavar="PATH", help="a static busybox binary to use instead of the host's")
    b.set_defaults(func=cmd_build_default)
    _images_flags(isub.add_parser("ls", help="list images (same as `minictr images`)"))
    _rmi_flags(isub.add_parser("rm", help="remove images (same as `minictr rmi`)"))
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def _images_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("repository", nargs="?", help="only images of this repository (NAME or NAME:TAG)")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image ids")
    p.add_argument("--no-trunc", action="store_true", help="show full image ids")
    p.add_argument("--digests", action="store_true", help="show manifest digests")
    p.set_defaults(func=cmd_images)


def _rmi_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--force", action="store_true", help="remove an image with several names, by id")
    p.set_defaults(func=cmd_rmi)


def human_duration(seconds: float) -> str:
    """docker's wording: 'Less than a second', '5 minutes', 'About an hour', '3 weeks'."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def human_size(n: float) -> str:
    """docker's SI sizes: 4.26MB, 1.2GB, 512B (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.3g}PB"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def cmd_images(args) -> int:
    from .image import Store, refs

    store = Store()
    want = None
    if args.repository:
        p = refs.parse(args.repository)
        want = (p.familiar_name, p.tag if ":" in args.repository.rsplit("/", 1)[-1] else None)
    rows = [["REPOSITORY", "TAG"] + (["DIGEST"] if args.digests else []) + ["IMAGE ID", "CREATED", "SIZE"]]
    ids = []
    now = time.time()
    for img in store.images():
        names = img.names or ["<none>:<none>"]
        for name in names:
            repo, _, tag = name.rpartition(":")
            if want and (repo != want[0] or (want[1] and tag != want[1])):
                continue
            iid = img.id if args.no_trunc else img.short_id
            created = f"{human_duration(now - img.created.timestamp())} ago" if img.created else "N/A"
            rows.append([repo, tag] + ([img.manifest_digest] if args.digests else [])
                        + [iid, created, human_size(img.size)])
            if iid not in ids:
                ids.append(iid)
    if args.quiet:
        if ids:
            print("\n".join(ids))
    else:
        print(_table(rows))
    return 0


def cmd_rmi(args) -> int:
    from .errors import ImageError
    from .image import Store

    store = Store()
    failed: list[ImageError] = []
    for ref in args.images:
        try:
            for line in store.remove(ref, force=args.force):
                print(line)
        except ImageError as e:  # go on with the others, as docker does
            if failed:
                print(f"minictr: {failed[-1]}", file=sys.stderr)
            failed.append(e)
    if failed:
        raise failed[-1]
    return 0


def cmd_build_default(args) -> int:
    from .image import Store, build_default

    t0 = time.monotonic()
    img = build_default(Store(), args.name, busybox=args.busybox)
    print(f"built {img.ref} {img.short_id} in {time.monotonic() - t0:.2f}s "
          f"({len(img.layers)} layer, {human_size(img.size)}) in {Store().root}")
    return 0
