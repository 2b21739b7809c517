"""L4: the image commands: ``images``, ``rmi``, ``pull``, ``load``, ``import``, ``save``, ``inspect``,
``image build-default`` (and ``image ls|rm|prune|check``).

Flag names and output columns follow docker's (docker-images(1), docker-rmi(1),
docker-pull(1), docker-import(1)). The work is done in ``minictr.image``
(``gc`` says which layers containers use, ``changes`` parses ``import
--change``); the wording (tables, durations, sizes, templates, progress bars)
is ``cli_format``'s; this module only parses and prints. Heavy modules are imported inside the command functions so that
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

    p = sub.add_parser("image", help="manage images (build-default, ls, rm, prune, check)")
    isub = p.add_subparsers(dest="image_command", metavar="COMMAND")
    b = isub.add_parser("build-default", help="build the default busybox image offline")
    b.add_argument("--name", default="busybox", help="repository name to give it (default busybox)")
    b.add_argument("--busybox", metavar="PATH", help="a static busybox binary to use instead of the host's")
    b.set_defaults(func=cmd_build_default)
    _images_flags(isub.add_parser("ls", help="list images (same as `minictr images`)"))
    _rmi_flags(isub.add_parser("rm", help="remove images (same as `minictr rmi`)"))
    pr = isub.add_parser("prune", help="remove unnamed images and unreferenced blobs and layers")
    pr.set_defaults(func=cmd_prune)
    ck = isub.add_parser("check", help="verify the store: every image's blobs are there and hash right")
    ck.add_argument("--fast", action="store_true", help="do not re-hash every blob, only check they exist")
    ck.set_defaults(func=cmd_check)
    from .cli_build import register_image_commands
    register_image_commands(isub)  # image from-binary
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def _images_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("repository", nargs="?", help="only images of this repository (NAME or NAME:TAG)")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image ids")
    p.add_argument("--no-trunc", action="store_true", help="show full image ids")
    p.add_argument("--digests", action="store_true", help="show manifest digests")
    p.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="reference=, dangling=, before=, since=, label= (repeatable)")
    p.add_argument("--format", metavar="TEMPLATE",
                   help="a Go template per image: '{{.Repository}}:{{.Tag}} {{.ID}}', or 'table ...'")
    p.set_defaults(func=cmd_images)


def _rmi_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--force", action="store_true", help="remove an image with several names, by id")
    p.set_defaults(func=cmd_rmi)


def cmd_images(args) -> int:
    from .cli_format import format_table
    from .cli_listing import IMAGE_FILTERS, IMAGE_HEADERS, image_rows, images_filter, parse_filters, render_rows
    from .image import Store, refs

    store = Store()
    filters = parse_filters(args.filter, IMAGE_FILTERS)
    rows = image_rows(store.images(), no_trunc=args.no_trunc)
    if args.repository:
        p = refs.parse(args.repository)
        want_tag = p.tag if ":" in args.repository.rsplit("/", 1)[-1] else None
        rows = [r for r in rows if r["Repository"] == p.familiar_name and (not want_tag or r["Tag"] == want_tag)]
    if filters:
        rows = images_filter(rows, filters, store.find)
    if args.quiet:
        ids = list(dict.fromkeys(r["ID"] for r in rows))
        if ids:
            print("\n".join(ids))
        return 0
    if args.format and args.format != "table":
        if rows or args.format.startswith("table"):
            print(render_rows(args.format, rows, IMAGE_HEADERS))
        return 0
    cols = ["Repository", "Tag"] + (["Digest"] if args.digests else []) + ["ID", "CreatedSince", "Size"]
    print(format_table([[IMAGE_HEADERS[c] for c in cols]] + [[r[c] for c in cols] for r in rows]))
    return 0


def _containers() -> list:
    """Every container's state (the core's state module; none in an images-only checkout)."""
    try:
        from . import state
    except ImportError:
        return []
    return state.list_states()


def _collect_containers() -> None:
    """Finish containers whose creator or supervisor died, and remove their leftovers (container.gc)."""
    try:
        from . import container
    except ImportError:
        return
    container.gc()


def cmd_check(args) -> int:
    from .image import Store
    from .image.check import check

    store = Store()
    problems = check(store, hashes=not args.fast)
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} problems in the store at {store.root}", file=sys.stderr)
        return 1
    print(f"the store at {store.root} is consistent")
    return 0


def _name_of(ref: str) -> str | None:
    from .image import refs
    try:
        return refs.parse(ref).name
    except ValueError:
        return None


def cmd_tag(args) -> int:
    from .image import Store, lookup_or_build, refs

    store = Store()
    img = lookup_or_build(store, args.source)
    target = refs.parse(args.target)
    if target.digest:
        from .errors import ConfigError
        raise ConfigError("tag", args.target, "a tag cannot contain a digest", hint="use NAME[:TAG]")
    store.add_image(img.manifest_digest, [target.name])
    return 0


def cmd_rmi(args) -> int:
    from .errors import ImageError, ImageNotFound
    from .image import Store
    from .image.gc import containers_using, layers_in_use

    store = Store()
    if args.force:  # a store that lost a blob: drop those images first, so rmi -f works again
        from .image.check import repair
        for line in repair(store):
            print(line)
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
                                 hint=(f"remove the container first (`minictr rm "
                                       f"{'-f ' if st.status in ('created', 'running') else ''}{st.name}`), "
                                       "or force with `minictr rmi -f`"))
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
    from .cli_format import human_size
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
    from .image.changes import parse_changes

    config = parse_changes(args.change)
    img = archive.import_rootfs(Store(), args.file, args.reference, config=config, message=args.message)
    print(img.id)
    return 0


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

    from .cli_format import render_template
    from .errors import ImageNotFound, MinictrError, NotFound
    from .image import Store
    from .image.model import inspect_image

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
                obj = inspect_image(store.lookup(ref))
            except (ImageNotFound, ValueError):
                obj = None
        if obj is None:
            kind = f"{args.type} " if args.type else "container or image "
            raise MinictrError(f"no such {kind}{ref!r}", hint="see `minictr ps -a` and `minictr images`")
        out.append(obj)
    if args.format:
        for obj in out:
            print(render_template(args.format, obj))
    else:
        print(json.dumps(out, indent=4))
    return 0


def cmd_prune(args) -> int:
    from .image import Store
    from .image.check import repair
    from .image.gc import layers_in_use

    _collect_containers()  # a killed start's leftovers first: then their layers are free
    store = Store()
    for line in repair(store):  # images that lost a blob can only be dropped
        print(line)
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


def cmd_pull(args) -> int:
    from .cli_format import ProgressBars
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
