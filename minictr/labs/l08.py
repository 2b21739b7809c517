"""Lesson 08 (image metadata): two overlayfs exercises, checked on the real kernel.

``08.mount_layers``: the learner writes::

    def mount_layers(sys, layers: list[str], upper: str, work: str, target: str) -> None

which mounts overlayfs at ``target`` over the unpacked image ``layers``, given
bottom first as in the manifest, with ``upper``/``work`` as the container's
writable part. The trap: overlayfs's ``lowerdir=`` lists the *topmost* layer
first.

``08.whiteouts``: the learner writes::

    def convert_whiteouts(layer: str) -> None

which turns the OCI whiteout markers in an unpacked layer into overlayfs's own
format, in place: ``.wh.NAME`` becomes a character device 0:0 named ``NAME``
(mknod(2)), and ``.wh..wh..opq`` in a directory becomes the xattr
``trusted.overlay.opaque=y`` on that directory (setxattr(2)); the markers go.

Both are checked in a forked child that first makes a private mount
namespace of its own (``kit.private_mount_namespace``): the overlay
mounts die with the child and never appear on the host. The layers live in a
temporary directory that is removed afterwards.

The references are minictr's own code: ``rootfs.plan`` builds the overlay
mount of a ``config.Rootfs`` (``lowers`` topmost first), and
``tarball.extract(whiteouts="overlay")`` converts markers while unpacking.

Specs: the OCI image spec's layer.md ("Whiteouts"); the kernel's
Documentation/filesystems/overlayfs.rst; mount(2), mknod(2), xattr(7).
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile

from .kit import Case, CaseFailed, Exercise, in_child, private_mount_namespace, register
from .lesson import Lesson

LESSON = Lesson("08", "Image metadata", needs_root=True, tools=("skopeo", "docker-registry"), namespaces=("mnt",),
                filesystems=("overlay",), privilege="root")


# -- references: minictr's own code ---------------------------------------------------------

def mount_layers(sys, layers: list[str], upper: str, work: str, target: str) -> None:
    """minictr's answer: the overlay step of ``rootfs.plan``, made with ``sys.mount``."""
    from ..config import Rootfs
    from ..rootfs import Mount, plan

    rootfs = Rootfs(path=target, lowers=tuple(reversed(layers)), upper=upper, work=work)
    step = next(s for s in plan(rootfs) if isinstance(s, Mount) and s.fstype == "overlay")
    sys.mount(step.source, step.target, step.fstype, step.flags, step.data)


def convert_whiteouts(layer: str) -> None:
    """minictr's answer: pack the layer again and unpack it with ``whiteouts="overlay"``."""
    from .. import tarball

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in sorted(os.listdir(layer)):
            tar.add(os.path.join(layer, name), arcname=name)
    for name in os.listdir(layer):
        p = os.path.join(layer, name)
        shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
    buf.seek(0)
    tarball.extract(buf, layer, whiteouts="overlay")


# -- helpers shared by the checks and the notebook ------------------------------------------

def make_layer(path: str, files: dict[str, str | None]) -> str:
    """Write ``files`` under ``path``: a value is the file's text, None a directory."""
    os.makedirs(path, exist_ok=True)
    for name, content in files.items():
        p = os.path.join(path, name)
        if content is None:
            os.makedirs(p, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(content)
    return path


def view(top: str) -> dict[str, str | None]:
    """Everything under ``top`` as {relative path: text, or None for a directory}, sorted."""
    out: dict[str, str | None] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        rel = os.path.relpath(dirpath, top)
        if rel != ".":
            out[rel] = None
        for n in sorted(filenames):
            p = os.path.join(dirpath, n)
            try:
                with open(p) as f:
                    out[os.path.normpath(os.path.join(rel, n))] = f.read()
            except OSError as e:
                out[os.path.normpath(os.path.join(rel, n))] = f"<{e.strerror}>"
    return dict(sorted(out.items()))


def in_overlay(layers: list[str], upper: str, work: str, target: str, body, mount=mount_layers,
               timeout: float = 10.0):
    """In a forked child with a private mount namespace: mount, then return ``body()``."""
    def child():
        from ..syscalls import linux

        private_mount_namespace()
        for d in (upper, work, target):
            os.makedirs(d, exist_ok=True)
        mount(linux(), layers, upper, work, target)
        return body()

    return in_child(child, timeout=timeout)


BOTTOM = {"etc": None, "etc/motd": "from the bottom layer\n", "etc/hosts": "127.0.0.1 localhost\n",
          "bin": None, "bin/tool": "v1\n", "old": None, "old/notes": "old\n",
          "cache": None, "cache/a": "a\n", "cache/b": "b\n"}
TOP = {"etc": None, "etc/motd": "from the top layer\n", "bin": None, "bin/tool": "v2\n"}
#: The top layer of the whiteout check, as it comes out of an OCI tarball (markers as plain files).
TOP_WITH_MARKERS = {"etc": None, "etc/.wh.hosts": "", ".wh.old": "",
                    "cache": None, "cache/.wh..wh..opq": "", "cache/c": "c\n"}


class _Work:
    """A temporary directory for one check, removed afterwards."""

    def __enter__(self) -> str:
        self.base = tempfile.mkdtemp(prefix="minictr-l08-")
        return self.base

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


# -- 08.mount_layers ---------------------------------------------------------------------------

def _mount_cases() -> list[Case]:
    def setup(base: str, n: int = 2) -> list[str]:
        layers = [make_layer(os.path.join(base, "layer0"), BOTTOM), make_layer(os.path.join(base, "layer1"), TOP)]
        if n == 3:
            layers.append(make_layer(os.path.join(base, "layer2"), {"etc": None, "etc/motd": "third\n"}))
        return layers

    def merged(fn):
        with _Work() as base:
            layers = setup(base)
            got = in_overlay(layers, f"{base}/upper", f"{base}/work", f"{base}/merged",
                             lambda: view(f"{base}/merged"), mount=fn)
        if got.get("etc/motd") != TOP["etc/motd"]:
            raise CaseFailed(f"/etc/motd reads {got.get('etc/motd')!r}, expected {TOP['etc/motd']!r}: the top "
                             "layer must win; lowerdir= lists the topmost layer first")
        if got.get("old/notes") != BOTTOM["old/notes"]:
            raise CaseFailed("/old/notes, only in the bottom layer, is missing from the merged view")

    def three(fn):
        with _Work() as base:
            layers = setup(base, 3)
            got = in_overlay(layers, f"{base}/upper", f"{base}/work", f"{base}/merged",
                             lambda: view(f"{base}/merged"), mount=fn)
        want = {"etc/motd": "third\n", "bin/tool": "v2\n", "cache/a": "a\n"}
        wrong = {k: got.get(k) for k, v in want.items() if got.get(k) != v}
        if wrong:
            raise CaseFailed(f"with three layers the merged view has {wrong}, expected {want}: order the "
                             "lowerdirs topmost first")

    def writes(fn):
        with _Work() as base:
            layers = setup(base)

            def body():
                with open(f"{base}/merged/new-file", "w") as f:
                    f.write("written in the container\n")
                with open(f"{base}/merged/bin/tool", "w") as f:
                    f.write("changed\n")
                return True

            in_overlay(layers, f"{base}/upper", f"{base}/work", f"{base}/merged", body, mount=fn)
            upper = view(f"{base}/upper")
            lowers = [view(p) for p in layers]
        if upper.get("new-file") != "written in the container\n" or upper.get("bin/tool") != "changed\n":
            raise CaseFailed(f"writes did not land in upper (it holds {sorted(upper)}): pass upperdir= and workdir=")
        if lowers[1].get("bin/tool") != "v2\n" or "new-file" in lowers[0] or "new-file" in lowers[1]:
            raise CaseFailed("a write changed an image layer: the layers must stay read-only (lowerdir=)")

    return [
        Case("two layers: the top one wins, the bottom one shows through", merged),
        Case("three layers, in the manifest's order (bottom first)", three),
        Case("writes go to upper, and copy-up leaves the layers alone", writes),
    ]


# -- 08.whiteouts ------------------------------------------------------------------------------

def _whiteout_cases() -> list[Case]:
    cache: dict[int, dict] = {}

    def run(fn) -> dict:
        if id(fn) in cache:
            return cache[id(fn)]
        with _Work() as base:
            bottom = make_layer(os.path.join(base, "layer0"), BOTTOM)
            top = make_layer(os.path.join(base, "layer1"), TOP_WITH_MARKERS)

            def body():
                return view(f"{base}/merged")

            def child_convert_then_mount(sys, layers, upper, work, target):
                fn(top)  # as root, in the child: mknod and trusted.* xattrs need CAP_MKNOD / CAP_SYS_ADMIN
                mount_layers(sys, layers, upper, work, target)

            got = in_overlay([bottom, top], f"{base}/upper", f"{base}/work", f"{base}/merged", body,
                             mount=child_convert_then_mount)
        cache[id(fn)] = got
        return got

    def hides_file(fn):
        got = run(fn)
        if "etc/hosts" in got:
            raise CaseFailed("/etc/hosts still shows: .wh.hosts must become a character device 0:0 named "
                             "hosts (os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0)))")
        if got.get("etc/motd") != BOTTOM["etc/motd"]:
            raise CaseFailed("/etc/motd of the bottom layer must still show: only hosts was deleted")

    def hides_dir(fn):
        got = run(fn)
        if any(k == "old" or k.startswith("old/") for k in got):
            raise CaseFailed("/old still shows: .wh.old must become a whiteout named old")

    def opaque(fn):
        got = run(fn)
        cache_dir = sorted(k for k in got if k.startswith("cache/"))
        if cache_dir != ["cache/c"]:
            raise CaseFailed(f"/cache holds {cache_dir}, expected only cache/c: .wh..wh..opq makes the directory "
                             "opaque (setxattr trusted.overlay.opaque = b'y'), hiding what lower layers put there")

    def no_markers(fn):
        got = run(fn)
        left = [k for k in got if ".wh." in k]
        if left:
            raise CaseFailed(f"markers still show in the merged view: {left}; remove them after converting")

    return [
        Case("a whiteout hides a file of a lower layer", hides_file),
        Case("a whiteout hides a whole directory", hides_dir),
        Case("an opaque directory hides the lower layers' content, keeps its own", opaque),
        Case("no .wh. marker is left in the merged view", no_markers),
    ]


register(Exercise(
    id="08.mount_layers", title="Mount overlayfs over an image's layers",
    function="mount_layers",
    signature="def mount_layers(sys, layers: list[str], upper: str, work: str, target: str) -> None",
    cases=_mount_cases,
    reference=lambda: mount_layers,
    needs_root=True,
))
register(Exercise(
    id="08.whiteouts", title="Turn OCI whiteouts into overlayfs whiteouts",
    function="convert_whiteouts", signature="def convert_whiteouts(layer: str) -> None",
    cases=_whiteout_cases,
    reference=lambda: convert_whiteouts,
    needs_root=True,
))


# The lesson's quizzes, out of the notebook's sight (minictr.labs.quizzes reads this table as data;
# the notebook shows one with Quiz.lab(id), its options shuffled).
QUIZZES = {
    "08.entrypoint-cmd": {
        "question": 'An image has Entrypoint ["ping", "-c", "1"] and Cmd ["localhost"]. '
                    "What does `minictr run IMAGE 10.0.0.1` run?",
        "right": {"ping -c 1 10.0.0.1": "Arguments after the image replace Cmd, and are appended to Entrypoint."},
        "wrong": {
            "ping -c 1 localhost 10.0.0.1": "The arguments do not add to Cmd: they replace it.",
            "10.0.0.1": "That would replace the Entrypoint too; only --entrypoint does that.",
            "ping -c 1 localhost": "That is what runs with no arguments after the image.",
        },
    },
    "08.whiteout": {
        "question": "A layer deletes /etc/hosts of a lower layer. What does the layer's tarball contain?",
        "right": {
            "an empty file etc/.wh.hosts":
                "The OCI format marks a deletion with a .wh. file in the tarball. A runtime turns it into "
                "overlayfs's own mark when it unpacks the layer.",
        },
        "wrong": {
            "nothing: layers cannot delete files":
                "They can: without a mark the lower layer's file would show through.",
            "a character device etc/hosts with number 0:0":
                "That is overlayfs's own format on disk, which a runtime makes from the tarball's .wh. file.",
            "a new manifest without etc/hosts": "A manifest lists layers, never files.",
        },
    },
}
