"""L3: ``minictr build``: a Containerfile's steps, run one by one into an image in the store.

The lower layers do the reading (``parser``), the context rules (``ignore``),
the layer diff (``diff``), the cache keys (``cache``) and the config
(``metadata``); this module runs the steps::

    FROM       the base: an image in the store, ``scratch``, or an earlier stage
    RUN        a minictr container (container.py) on an overlay of the stage's
               layers with a fresh upper dir; confined (the default Security),
               no network unless ``network="host"``; the upper dir becomes the layer
    COPY/ADD   no container: the files are written into a fresh upper dir
               (ADD of a local tar: through the safe extractor)
    the rest   the config only (``empty_layer: true`` in history)

Each step's cache key (``cache.cache_key``) is looked up in ``build-cache.json``
under the store; a hit reuses the layer (or, for a metadata step, only says
so). A step's layer is written to the store's blobs at once and unpacked
into the layer cache (``layers/<diff id>``), so the next step's overlay and a
later build can use it. The image (config, manifest, names) is written only
at the end, in one store transaction: a failed build leaves no image, no
container and no mount; its work dir under the store's ``tmp/`` is removed.

``timestamp`` (``--timestamp``, ``SOURCE_DATE_EPOCH``) sets every ``created``
and every file's mtime, so two builds of the same context give the same
image digest. Output goes through ``say(line)``, as buildah prints it:
``STEP 3/9: RUN make``, ``--> Using cache 1a2b...``, ``--> 3c4d...``,
``COMMIT name``, and the image ID.

Man pages and specs: overlayfs.rst (upper, work, whiteouts), the Dockerfile
reference, image-spec config.md (history, rootfs.diff_ids).

A little over 400 lines: the steps of a build, their cache and the commit are one
sequence; the file rules of COPY/ADD live in files.py.

Why some imports are inside the functions: a rebuild with nothing changed
reads the Containerfile, hashes the COPY sources and looks up the cache; it
runs no container, writes no layer and unpacks nothing. ``container`` (and
the run path under it), ``diff`` (and the tar code with dataclasses under it),
``image.layers`` and ``files`` are imported by the steps that need them, so a
cached build does not pay for them (about 15 ms of CPU of its 80 here).
"""

from __future__ import annotations

import _signal  # the signal module without its enums, as container.py
import hashlib
import json
import os
import posixpath
import shutil
import tempfile
import time

from ..errors import BuildError, MinictrError
from ..image import oci
from ..image.store import Store
from ..record import Record, replace
from . import cache, metadata
from .ignore import read_ignore, select_sources
from .parser import parse
from .stages import find_stage

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CACHE_FILE = "build-cache.json"
#: Signals that stop a build; blocked while a RUN step's container is made and started.
STOP_SIGNALS = {_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP}


class Built(Record):
    """What a build gives: the image and how many steps came from the cache."""
    image: object
    steps: int
    cached: int


class _Stage(Record, frozen=False):
    """A stage as it is being built."""
    layers: list        # [(descriptor, diff_id)], bottom first
    history: list
    meta: object        # metadata.StageState
    key: str            # the cache key of the last step (the parent of the next)
    base_config: dict   # the base's OCI config (architecture, os, ...)


def find_containerfile(context: str, file: str | None) -> str:
    if file:
        path = file if os.path.isabs(file) or os.path.exists(file) else os.path.join(context, file)
        if not os.path.isfile(path):
            raise BuildError(file, 0, "no such Containerfile", hint="check the -f path")
        return path
    for name in ("Containerfile", "Dockerfile"):
        if os.path.isfile(os.path.join(context, name)):
            return os.path.join(context, name)
    raise BuildError(os.path.join(context, "Containerfile"), 0, "no Containerfile or Dockerfile in the context",
                     hint="write one, or name it with -f FILE")


def build(context: str, *, file: str | None = None, tags=(), build_args: dict | None = None,
          target: str | None = None, no_cache: bool = False, labels: dict | None = None,
          network: str = "none", timestamp: int | None = None, store: Store | None = None,
          say=lambda line: None, kernel=None) -> Built:
    """Build the Containerfile in ``context`` into ``store``; name the image ``tags``."""
    if not os.path.isdir(context):
        raise BuildError(context, 0, "the build context is not a directory", hint="give the context dir last")
    if network not in ("none", "host"):
        raise BuildError(context, 0, f"--network {network!r} is not supported by build",
                         hint="use --network none (the default) or --network host")
    store = (store or Store()).ensure()
    path = find_containerfile(context, file)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    shown = os.path.relpath(path)
    if shown.startswith("..") or os.path.isabs(file or ""):
        shown = os.path.abspath(path)
    return _Build(store, context, shown, build_args or {}, no_cache, labels or {}, network,
                  timestamp, say, kernel).run(text, target, tags)


class _Build:
    def __init__(self, store, context, file, build_args, no_cache, labels, network, timestamp, say, kernel):
        self.store, self.context, self.file = store, os.path.abspath(context), file
        self.build_args, self.no_cache, self.labels = build_args, no_cache, labels
        self.network, self.timestamp, self.say, self.kernel = network, timestamp, say, kernel
        self.ignore = read_ignore(self.context)
        self.cache = self.read_cache()
        self.hits = 0
        self.images: dict = {}

    def fail(self, line: int, why: str, hint: str | None = None):
        raise BuildError(self.file, line, why, hint=hint)

    # ---- the whole build ---------------------------------------------------------------------
    def run(self, text: str, target: str | None, tags) -> Built:
        cf = parse(text, filename=self.file, build_args=self.build_args, target=target,
                   base_env=self.base_env)
        for note in cf.notes:
            self.say(f"note: {note}")
        for line, ref, what in cf.images(target):
            if ref != "scratch" and self.find_image(ref) is None:
                self.fail(line, f"{what} {ref}: no such image in the store or stage in this file",
                          "load or pull the image first (minictr images lists them), or fix the stage name")
        plan = cf.plan(target)
        total = sum(len(st.instructions) for st in plan)
        self.work = tempfile.mkdtemp(dir=self.store.tmp_dir, prefix="build-")
        try:
            done: dict = {}
            n = 0
            for st in plan:
                cur = None
                for ins in st.instructions:
                    n += 1
                    self.say(f"STEP {n}/{total}: {ins.original}")
                    if ins.cmd == "FROM":
                        cur = self.from_step(st, done)
                    else:
                        cur = self.step(cf, st, ins, cur, done)
                done[st.index] = cur
            image = self.commit(done[plan[-1].index], list(tags))
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
        return Built(image, total, self.hits)

    def find_image(self, ref: str):
        if ref not in self.images:
            from ..image import lookup_or_build
            try:
                self.images[ref] = lookup_or_build(self.store, ref)
            except MinictrError:
                self.images[ref] = None
        return self.images[ref]

    def base_env(self, ref: str):
        img = self.find_image(ref)
        return None if img is None else dict(e.partition("=")[::2] for e in img.config.get("Env") or [])

    def from_step(self, st, done) -> _Stage:
        if st.base_stage is not None:
            prev = done[st.base_stage]
            meta = replace(metadata.start(prev.meta.config, prev.meta.author), shell=prev.meta.shell)
            return _Stage(list(prev.layers), list(prev.history), meta, prev.key, prev.base_config)
        stamp = "" if self.timestamp is None else f"@{self.timestamp}"
        if st.base == "scratch":
            return _Stage([], [], metadata.start(None), "scratch" + stamp, {})
        img = self.find_image(st.base)
        self.say(f"--> {img.short_id}")
        return _Stage(list(zip(img.layers, img.diff_ids)), list(img.oci_config.get("history") or []),
                      metadata.start(img.config, img.oci_config.get("author")), img.id + stamp, img.oci_config)

    # ---- one step ----------------------------------------------------------------------------
    def step(self, cf, st, ins, cur: _Stage, done) -> _Stage:
        sources = None
        if ins.cmd in ("COPY", "ADD"):
            root, ignore, place = self.source_root(cf, ins, done)
            matches = [m for src in ins.args[:-1] for m in
                       select_sources(root, src, ignore, file=self.file, line=ins.line, what=ins.cmd,
                                      place=place)]
            sources = cache.sources_digest(root, matches)
        parent = cur.key
        if ins.cmd == "RUN" and self.network != "none":  # another network can give another result
            parent += f"|network={self.network}"
        key = cache.cache_key(parent, ins, sources)
        if ins.cmd in metadata.METADATA:
            meta = metadata.apply(cur.meta, ins)
            hit = None if self.no_cache else self.cache.get(key)
            if hit and hit.get("kind") == "meta":
                self.hit(key)
            else:
                hit = {"kind": "meta", "created": self.created()}
                self.remember(key, hit)
                self.say(f"--> {key[7:19]}")
            entry = metadata.history_entry(ins, hit.get("created") or self.created(), cur.meta.shell, meta.author)
            return replace(cur, meta=meta, key=key, history=cur.history + [entry])
        hit = None if self.no_cache else self.cache.get(key)
        if hit and hit.get("kind") == "layer" and self.store.has_blob(hit["digest"]):
            self.hit(key)
            desc = {"mediaType": oci.OCI_LAYER_GZIP, "digest": hit["digest"], "size": hit["size"]}
            diff_id = hit["diff_id"]
        else:
            upper = tempfile.mkdtemp(dir=self.work, prefix="upper-")
            os.chmod(upper, 0o755)
            if ins.cmd == "RUN":
                self.run_step(ins, cur, upper)
            else:
                self.copy_step(ins, cur, upper, root, matches)
            desc, diff_id = self.write(upper)
            hit = {"kind": "layer", "digest": desc["digest"], "size": desc["size"], "diff_id": diff_id,
                   "created": self.created()}
            self.remember(key, hit)
            self.say(f"--> {key[7:19]}")
        # A step from the cache keeps the time it was built: an unchanged build is the same image.
        entry = metadata.history_entry(ins, hit.get("created") or self.created(), cur.meta.shell, cur.meta.author)
        return replace(cur, layers=cur.layers + [(desc, diff_id)], key=key, history=cur.history + [entry])

    def hit(self, key: str) -> None:
        self.hits += 1
        self.say(f"--> Using cache {key[7:]}")
        self.say(f"--> {key[7:19]}")

    def write(self, upper: str):
        """The upper dir as a layer blob in the store (``lowers`` unpacks it when a step needs it)."""
        from .diff import write_layer

        fd, tmp = tempfile.mkstemp(dir=self.work, suffix=".tar.gz")
        os.close(fd)
        layer = write_layer(upper, tmp, timestamp=self.timestamp)
        self.store.put_blob_file(tmp, layer.digest)
        os.unlink(tmp)
        shutil.rmtree(upper, ignore_errors=True)
        return {"mediaType": oci.OCI_LAYER_GZIP, "digest": layer.digest, "size": layer.size}, layer.diff_id

    def lowers(self, cur: _Stage) -> list[str]:
        """The stage's layers unpacked in the layer cache, top first (overlayfs' lowerdir order)."""
        from ..image.layers import ensure_layer

        dirs = [str(ensure_layer(self.store, d["digest"], diff_id)) for d, diff_id in cur.layers]
        if not dirs:  # FROM scratch: overlayfs needs one lower dir, so an empty one
            dirs = [os.path.join(self.work, "empty")]
            os.makedirs(dirs[0], mode=0o755, exist_ok=True)
        return list(reversed(dirs))

    def run_step(self, ins, cur: _Stage, upper: str) -> None:
        from .. import container
        from ..config import DEFAULT_NAMESPACES, ContainerConfig, Rootfs, Security
        from .files import drop_mount_points, make_dirs

        cfg_img = cur.meta.config
        argv = list(ins.args) if ins.exec_form else list(cur.meta.shell) + list(ins.args)
        env = list(cfg_img.get("Env") or [])
        if not any(e.startswith("PATH=") for e in env):
            env.insert(0, DEFAULT_PATH)
        names = {e.partition("=")[0] for e in env}
        env += [f"{k}={v}" for k, v in ins.build_args if k not in names]  # ARGs, under any ENV
        cwd = cfg_img.get("WorkingDir") or "/"
        lowers = self.lowers(cur)
        make_dirs(upper, cwd, lowers)
        rootfs, work = (tempfile.mkdtemp(dir=self.work, prefix=p) for p in ("rootfs-", "work-"))
        cid = os.urandom(32).hex()
        namespaces = DEFAULT_NAMESPACES - ({"net"} if self.network == "host" else set())
        cfg = ContainerConfig(id=cid, name=f"build-{cid[:12]}", image=f"build step {ins.line}",
                              rootfs=Rootfs(path=rootfs, lowers=tuple(lowers), upper=upper, work=work),
                              args=tuple(argv), env=tuple(env), cwd=cwd, user=cfg_img.get("User") or None,
                              hostname=cid[:12], namespaces=namespaces,
                              security=container.with_seccomp_filter(Security())).validate()
        # Why the mask: a stop (Ctrl-C, SIGTERM) that came while the container is being made
        # or started would leave it half-made (start() then waits for a command that nobody
        # killed). Blocked until the command runs, it is raised in wait(), and the finally
        # below kills and removes the container, as container.run does for its signals.
        mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, STOP_SIGNALS)
        c = None
        try:
            devnull = os.open(os.devnull, os.O_RDONLY)
            saved = os.dup(0)
            try:
                os.dup2(devnull, 0)  # the step's stdin is /dev/null (a build is not interactive)
                c = container.Container.create(cfg, self.kernel)
            finally:
                os.dup2(saved, 0)
                os.close(saved)
                os.close(devnull)
            c.start()
            _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)  # a pending stop is raised here
            code = c.wait()
        finally:
            _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)
            if c is not None:
                c.delete(force=True)
            shutil.rmtree(work, ignore_errors=True)
            os.rmdir(rootfs)
        if code != 0:
            self.fail(ins.line, f"RUN {' '.join(ins.args)}: exit status {code}",
                      "the command's output is above; fix the command and build again")
        drop_mount_points(upper, lowers)

    # ---- COPY and ADD ------------------------------------------------------------------------
    def source_root(self, cf, ins, done):
        """Where a COPY/ADD reads: the context, or a stage's or an image's files (``--from``)."""
        ref = ins.flag("from")
        if ref is None:
            return self.context, self.ignore, "the build context"
        found = find_stage(cf.stages, ref)
        if found is not None:
            layers, what = done[found].layers, f"stage {ref}"
        else:
            img = self.find_image(ref)
            layers, what = list(zip(img.layers, img.diff_ids)), f"image {ref}"
        if len(layers) == 1:  # one layer: its directory in the layer cache is the tree (read only)
            from ..image.layers import ensure_layer
            desc, diff_id = layers[0]
            return str(ensure_layer(self.store, desc["digest"], diff_id)), None, what
        root = os.path.join(self.work, "from-" + hashlib.sha256(ref.encode()).hexdigest()[:16])
        if not os.path.isdir(root):
            from ..image.layers import extract_layer
            tmp = root + ".tmp"
            os.makedirs(tmp, mode=0o755)
            for desc, diff_id in layers:
                extract_layer(self.store, desc["digest"], diff_id, tmp, "apply")
            os.rename(tmp, root)
        return root, None, what

    def copy_step(self, ins, cur: _Stage, upper: str, root: str, matches) -> None:
        from .files import copy_one, is_archive, lower_isdir, make_dirs

        lowers = self.lowers(cur)
        cwd = cur.meta.config.get("WorkingDir") or "/"
        dest = posixpath.normpath(posixpath.join(cwd, ins.args[-1]))
        last = ins.args[-1]
        into_dir = last.endswith(("/", "/.")) or last == "." or len(matches) > 1 or any(m.is_dir for m in matches) \
            or lower_isdir(lowers, dest)
        owner = self.chown(ins, lowers)
        mode = ins.flag("chmod")
        mode = int(mode, 8) if mode else None
        keep_owner = ins.flag("from") is not None
        if into_dir:
            make_dirs(upper, dest, lowers)
        else:
            make_dirs(upper, posixpath.dirname(dest), lowers)
        for m in matches:
            src_full = os.path.join(root, m.path) if m.path else root
            if m.is_dir:
                target = os.path.join(upper, dest.lstrip("/"))  # the contents go in, not the dir itself
                for e in m.entries:
                    copy_one(os.path.join(root, e.path), os.path.join(target, e.rel), owner, mode, keep_owner)
                continue
            name = posixpath.basename(m.src.rstrip("/"))
            target = os.path.join(upper, dest.lstrip("/"), name) if into_dir else \
                os.path.join(upper, dest.lstrip("/"))
            if ins.cmd == "ADD" and is_archive(src_full):
                from ..tarball import extract
                extract(src_full, os.path.join(upper, dest.lstrip("/")))  # an archive unpacks into DEST
                continue
            copy_one(src_full, target, owner, mode, keep_owner, follow=True)

    def chown(self, ins, lowers):
        spec = ins.flag("chown")
        if not spec:
            return None
        from ..users import resolve_user
        etc = next((d for d in lowers if os.path.exists(os.path.join(d, "etc", "passwd"))), None)
        try:
            user = resolve_user(spec, etc or "/nonexistent")
        except MinictrError as e:
            self.fail(ins.line, f"{ins.cmd} --chown={spec}: {e}", "use numeric ids, or a name in /etc/passwd")
        return user.uid, user.gid

    # ---- the image ---------------------------------------------------------------------------
    def created(self) -> str:
        t = time.time() if self.timestamp is None else self.timestamp
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

    def commit(self, cur: _Stage, tags: list):
        cfg = dict(cur.meta.config)
        if self.labels:
            cfg["Labels"] = {**(cfg.get("Labels") or {}), **self.labels}
        created = cur.history[-1].get("created") if cur.history else None
        doc = {"created": created or self.created(),
               "architecture": cur.base_config.get("architecture") or oci.host_platform()["architecture"],
               "os": "linux", "config": cfg,
               "rootfs": {"type": "layers", "diff_ids": [d for _, d in cur.layers]},
               "history": cur.history}
        if cur.meta.author:
            doc["author"] = cur.meta.author
        self.say(f"COMMIT {' '.join(tags)}".rstrip())
        with self.store.transaction():
            cfg_bytes = oci.canonical_json(doc)
            self._put(cfg_bytes)
            manifest = {"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                        "config": oci.descriptor(oci.OCI_CONFIG, cfg_bytes),
                        "layers": [_oci_layer(desc) for desc, _ in cur.layers]}
            digest = self._put(oci.canonical_json(manifest))
            return self.store.add_image(digest, tags)

    def _put(self, data: bytes) -> str:
        """A blob into the store; one that is there already (an unchanged rebuild's config and
        manifest) is claimed for the transaction rather than written again: put_blob would
        write and fsync a temp file, then drop it for the one in place."""
        digest = oci.sha256_digest(data)
        if not self.store.claim(digest):
            self.store.put_blob(data, digest)
        return digest

    # ---- the cache index ---------------------------------------------------------------------
    def read_cache(self) -> dict:
        try:
            with open(self.store.root / CACHE_FILE) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def remember(self, key: str, value: dict) -> None:
        """Add one result to the cache index (under the store's lock: builds may run at once)."""
        self.cache[key] = value
        with self.store.lock():
            now = self.read_cache()
            now[key] = value
            self.store._atomic_write(self.store.root / CACHE_FILE, json.dumps(now, sort_keys=True).encode())


def _oci_layer(desc: dict) -> dict:
    """A base image's layer descriptor in the OCI manifest we write: a docker media type
    becomes its OCI twin (same bytes), as buildah does when it commits an OCI image."""
    if desc.get("mediaType") == oci.DOCKER_LAYER_GZIP:
        return {**desc, "mediaType": oci.OCI_LAYER_GZIP}
    return desc
