"""L4: the image commands: ``images``, ``rmi``, ``pull``, ``load``, ``import``, ``save``, ``inspect``,
``image build-default`` (and ``image ls|rm|prune``).

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

    p = sub.add_parser("tag", help="give an image another name")
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")
    p.set_defaults(func=cmd_tag)

    p = sub.add_parser("pull", help="pull an image from a registry")
    p.add_argument("image", metavar="NAME[:TAG|@DIGEST]")
    p.add_argument("--insecure", action="store_true",
                   help="allow plain http and unverified TLS (127.0.0.0/8 is always allowed plain http)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="pull this platform instead of the host's")
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("load", help="load images from a docker-archive, oci-archive or OCI layout dir")
    p.add_argument("-i", "--input", required=True, metavar="FILE|DIR", help="the archive or layout directory")
    p.add_argument("-q", "--quiet", action="store_true", help="only print the image names")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("import", help="make a one-layer image from a rootfs tarball")
    p.add_argument("file", metavar="FILE", help="a .tar or .tar.gz of a root file system")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
    p.add_argument("-c", "--change", action="append", default=[], metavar="INSTRUCTION",
                   help="CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE or LABEL, as in a Dockerfile")
    p.add_argument("-m", "--message", default="", help="a commit message for the history")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("save", help="write images to an oci-archive tarball")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: stdout, if it is not a terminal)")
    p.add_argument("--format", choices=("oci-archive", "docker-archive"), default="oci-archive",
                   help="oci-archive (default; podman load, skopeo) or docker-archive (docker load)")
    p.set_defaults(func=cmd_save)

    p = sub.add_parser("inspect", help="low-level JSON about containers or images")
    p.add_argument("names", nargs="+", metavar="NAME|ID")
    p.add_argument("--type", choices=("container", "image"), help="only look for this kind of object")
    p.add_argument("-f", "--format", help="a Go-template subset: '{{.Config.Cmd}}', '{{json .Config}}'")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("image", help="manage images (build-default, ls, rm, prune)")
    isub = p.add_subparsers(dest="image_command", metavar="COMMAND")
    b = isub.add_parser("build-default", help="build the default busybox image offline")
    b.add_argument("--name", default="busybox", help="repository name to give it (default busybox)")
    b.add_argument("--busybox", metavar="PATH", help="a static busybox binary to use instead of the host's")
    b.set_defaults(func=cmd_build_default)
    _images_flags(isub.add_parser("ls", help="list images (same as `minictr images`)"))
    _rmi_flags(isub.add_parser("rm", help="remove images (same as `minictr rmi`)"))
    pr = isub.add_parser("prune", help="remove unnamed images and unreferenced blobs and layers")
    pr.set_defaults(func=cmd_prune)
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


def _containers() -> list:
    """Every container's state (the core's state module; none in an images-only checkout)."""
    try:
        from . import state
    except ImportError:
        return []
    return state.list_states()


def _lowers_in(store, st) -> set[str]:
    """The names of this store's layer dirs that a container has as lowerdirs (another store's do not count)."""
    import os
    base = os.path.realpath(store.layers_dir)
    out = set()
    for lower in ((st.config or {}).get("rootfs") or {}).get("lowers") or ():
        if os.path.dirname(os.path.realpath(lower)) == base:
            out.add(os.path.basename(lower))
    return out


def layers_in_use(store, states: list) -> set[str]:
    """Layer dir names that containers have as overlay lowerdirs: gc must keep them."""
    used: set[str] = set()
    for st in states:
        used |= _lowers_in(store, st)
    return used


def containers_using(store, img, states: list) -> list:
    """Containers made from ``img``: its layers are their lowerdirs, or their image ref resolves to it."""
    from .image.layers import layer_dir
    mine = {layer_dir(store, d).name for d in img.diff_ids}
    users = []
    for st in states:
        lowers = ((st.config or {}).get("rootfs") or {}).get("lowers") or ()
        if lowers:
            if (_lowers_in(store, st) - {"empty"}) == mine and mine:
                users.append(st)
        else:
            import os
            path = ((st.config or {}).get("rootfs") or {}).get("path") or ""
            if not os.path.realpath(path).startswith(os.path.realpath(store.root) + os.sep):
                continue  # not a copy made from this store (a tarball, a directory, another store)
            try:
                found = store.find(st.image)
            except Exception:  # a tarball path, or a ref that no longer parses
                found = None
            if found is not None and found.manifest_digest == img.manifest_digest:
                users.append(st)
    return users


def _name_of(ref: str) -> str | None:
    from .image import refs
    try:
        return refs.parse(ref).name
    except ValueError:
        return None


def cmd_tag(args) -> int:
    from .image import Store, refs

    store = Store()
    img = store.lookup(args.source)
    target = refs.parse(args.target)
    if target.digest:
        from .errors import ConfigError
        raise ConfigError("tag", args.target, "a tag cannot contain a digest", hint="use NAME[:TAG]")
    store.add_image(img.manifest_digest, [target.name])
    return 0


def cmd_rmi(args) -> int:
    from .errors import ImageError, ImageNotFound
    from .image import Store

    store = Store()
    states = _containers()
    keep = layers_in_use(store, states)
    failed: list[ImageError] = []
    for ref in args.images:
        try:
            img = store.find(ref)
            if img is None:
                raise ImageNotFound(f"image {ref!r} not found in the store at {store.root}",
                                    hint="see `minictr images`")
            users = containers_using(store, img, states)
            # docker: dropping one of several names is always fine; the last name or the id is not
            untag_only = len(img.names) > 1 and _name_of(ref) in img.names
            if users and not args.force and not untag_only:
                st = users[0]
                raise ImageError(f"image {ref!r} is used by container {st.name} ({st.short_id}, {st.status})",
                                 hint="remove the container first (`minictr rm`), or force with `minictr rmi -f`")
            for line in store.remove(ref, force=args.force, keep_layers=keep):
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


def cmd_load(args) -> int:
    from .image import Store, archive

    imgs = archive.load(Store(), args.input)
    for img in imgs:
        if img.names:
            print(img.ref if args.quiet else f"Loaded image: {img.ref}")
        else:
            print(img.id if args.quiet else f"Loaded image ID: {img.id}")
    return 0


def cmd_import(args) -> int:
    from .image import Store, archive

    config = parse_changes(args.change)
    img = archive.import_rootfs(Store(), args.file, args.reference, config=config, message=args.message)
    print(img.id)
    return 0


def parse_changes(changes: list[str]) -> dict:
    """``docker import -c``: Dockerfile instructions that set the image config."""
    import json
    import shlex

    from .errors import ConfigError

    cfg: dict = {}
    for change in changes:
        instr, _, rest = change.strip().partition(" ")
        instr, rest = instr.upper(), rest.strip()
        if not rest:
            raise ConfigError("change", change, "needs an argument", hint='e.g. -c \'CMD ["sh"]\'')
        if instr in ("CMD", "ENTRYPOINT"):
            if rest.startswith("["):
                try:
                    argv = json.loads(rest)
                except ValueError:
                    raise ConfigError("change", change, "the exec form must be a JSON list of strings") from None
                if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
                    raise ConfigError("change", change, "the exec form must be a JSON list of strings")
            else:
                argv = ["/bin/sh", "-c", rest]  # the shell form
            cfg["Cmd" if instr == "CMD" else "Entrypoint"] = argv
        elif instr == "ENV":
            pairs = shlex.split(rest)
            if "=" not in pairs[0]:  # ENV KEY VALUE
                pairs = [f"{pairs[0]}={rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ''}"]
            env = cfg.setdefault("Env", [])
            for pair in pairs:
                if "=" not in pair:
                    raise ConfigError("change", change, "ENV wants KEY=VALUE")
                key = pair.split("=", 1)[0]
                env[:] = [e for e in env if e.split("=", 1)[0] != key] + [pair]
        elif instr == "WORKDIR":
            cfg["WorkingDir"] = rest
        elif instr == "USER":
            cfg["User"] = rest
        elif instr == "EXPOSE":
            for port in rest.split():
                cfg.setdefault("ExposedPorts", {})[port if "/" in port else f"{port}/tcp"] = {}
        elif instr == "LABEL":
            for pair in shlex.split(rest):
                k, sep, v = pair.partition("=")
                if not sep:
                    raise ConfigError("change", change, "LABEL wants KEY=VALUE")
                cfg.setdefault("Labels", {})[k] = v
        else:
            raise ConfigError("change", change, f"{instr} cannot be changed by import",
                              hint="use CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE or LABEL")
    return cfg


def cmd_save(args) -> int:
    from .errors import ConfigError
    from .image import Store, archive

    if args.output and args.output != "-":
        archive.save(Store(), args.images, args.output, format=args.format)
        return 0
    if sys.stdout.isatty():
        raise ConfigError("output", "a terminal", "refusing to write a tarball to a terminal",
                          hint="use -o FILE or redirect stdout")
    sys.stdout.flush()
    archive.save(Store(), args.images, sys.stdout.buffer, format=args.format)
    sys.stdout.buffer.flush()
    return 0


def cmd_inspect(args) -> int:
    import json

    from .errors import ImageError, ImageNotFound, MinictrError, NotFound
    from .image import Store
    from .image.store import inspect_image

    store = Store()
    out = []
    for ref in args.names:
        obj = None
        if args.type in (None, "container"):
            try:
                from . import container  # the lead's core; absent in an images-only checkout
            except ImportError:
                container = None
            if container is not None:
                try:
                    obj = container.inspect(ref)
                except NotFound:
                    obj = None
        if obj is None and args.type in (None, "image"):
            try:
                obj = inspect_image(store.lookup(ref, build_default=False))
            except (ImageNotFound, ValueError):
                obj = None
        if obj is None:
            kind = f"{args.type} " if args.type else "container or image "
            raise MinictrError(f"no such {kind}{ref!r}", hint="see `minictr ps -a` and `minictr images`")
        out.append(obj)
    if args.format:
        for obj in out:
            print(render_format(args.format, obj))
    else:
        print(json.dumps(out, indent=4))
    return 0


def _go_str(v) -> str:
    """Print a value the way Go's text/template does: [a b], map[k:v], <no value>."""
    if v is None:
        return "<no value>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + " ".join(_go_str(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_go_str(v[k])}" for k in sorted(v)) + "]"
    return str(v)


def render_format(template: str, obj: dict) -> str:
    """A small subset of docker's ``--format``: ``{{.A.B}}`` and ``{{json .A.B}}``."""
    import json
    import re

    from .errors import ConfigError

    def value(path: str):
        if path == ".":
            return obj
        cur = obj
        for part in path.lstrip(".").split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        return cur

    def sub(m: re.Match) -> str:
        expr = m.group(1).strip()
        if expr.startswith("json "):
            return json.dumps(value(expr[5:].strip()))
        if expr.startswith("."):
            return _go_str(value(expr))
        raise ConfigError("format", template, f"{{{{{expr}}}}} is not supported",
                          hint="use {{.Field.Sub}} or {{json .Field}}")
    return re.sub(r"\{\{(.*?)\}\}", sub, template)


def cmd_prune(args) -> int:
    from .image import Store

    store = Store()
    keep = layers_in_use(store, _containers())

    def count() -> tuple[int, int]:
        return tuple(len(list(d.iterdir())) if d.is_dir() else 0 for d in (store.blobs_dir, store.layers_dir))

    before = count()
    images = 0
    for img in store.images():
        if not img.names:
            for line in store.remove(img.manifest_digest, force=True, keep_layers=keep):
                print(line)
            images += 1
    store.gc(keep_layers=keep)
    after = count()
    print(f"removed {images} unnamed images, {before[0] - after[0]} blobs, {before[1] - after[1]} unpacked layers")
    return 0


class ProgressBars:
    """docker-style progress on stderr: one line per layer, with bytes, and a total line.

    On a terminal the lines are redrawn in place (ANSI "cursor up", at most 10
    times a second); otherwise one line is printed per finished layer.
    """

    WIDTH = 30

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.layers: dict[str, list] = {}  # digest -> [done, total, status]
        self.drawn = 0
        self.last = 0.0

    def __call__(self, digest: str, done: int, total: int, status: str) -> None:
        old = self.layers.get(digest)
        self.layers[digest] = [done, total, status]
        if self.tty:
            now = time.monotonic()
            if status in ("downloading",) and now - self.last < 0.1:
                return
            self.last = now
            self.draw()
        elif status in ("complete", "exists") and (old is None or old[2] != status):
            word = "Pull complete" if status == "complete" else "Already exists"
            print(f"{digest[7:19]}: {word} ({human_size(total)})", file=self.stream, flush=True)

    def line(self, digest: str, done: int, total: int, status: str) -> str:
        if status == "exists":
            return f"{digest[7:19]}: Already exists"
        if status == "complete":
            return f"{digest[7:19]}: Pull complete {human_size(total):>10}"
        if status == "waiting":
            return f"{digest[7:19]}: Waiting"
        frac = min(1.0, done / total) if total else 0.0
        fill = int(frac * self.WIDTH)
        bar = "=" * fill + (">" if fill < self.WIDTH else "") + " " * (self.WIDTH - fill - 1)
        return f"{digest[7:19]}: Downloading [{bar[:self.WIDTH]}] {human_size(done):>8}/{human_size(total)}"

    def total_line(self) -> str:
        done = sum(v[0] for v in self.layers.values())
        total = sum(v[1] for v in self.layers.values())
        return f"total: {human_size(done)}/{human_size(total)}"

    def draw(self) -> None:
        lines = [self.line(d, *v) for d, v in self.layers.items()] + [self.total_line()]
        out = ("\x1b[1A\x1b[2K" * self.drawn) if self.drawn else ""
        out += "".join(f"\x1b[2K{l}\n" for l in lines)
        self.stream.write(out)
        self.stream.flush()
        self.drawn = len(lines)


def cmd_pull(args) -> int:
    from .errors import ConfigError
    from .image import Store, refs, registry

    ref = refs.parse(args.image)
    platform = None
    if args.platform:
        parts = args.platform.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ConfigError("platform", args.platform, "must be OS/ARCH or OS/ARCH/VARIANT", hint="e.g. linux/arm64")
        platform = {"os": parts[0], "architecture": parts[1], **({"variant": parts[2]} if len(parts) == 3 else {})}
    if not args.quiet:
        print(f"{ref.tag or ref.digest}: Pulling from {ref.familiar_name if ref.registry != 'docker.io' else ref.repository}",
              file=sys.stderr)
    bars = None if args.quiet else ProgressBars()
    img = registry.pull(Store(), args.image, insecure=args.insecure, progress=bars, platform=platform)
    if bars is not None:
        if not bars.tty:
            print(bars.total_line(), file=sys.stderr)
        print(f"Digest: {img.manifest_digest}", file=sys.stderr)
        print(f"Status: Downloaded image for {ref}", file=sys.stderr)
    print(f"{ref.registry}/{ref.repository}{':' + ref.tag if ref.tag else ''}{'@' + ref.digest if ref.digest else ''}")
    return 0
