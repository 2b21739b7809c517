"""ImageTree (lesson 08): an OCI image layout as a tree, index -> manifest -> config and layers.

``image_tree()`` reads the layout into ``ImageNode``s; ``ImageTree`` shows them.
Reference: the OCI image-spec (image-layout.md, image-index.md, manifest.md, config.md).
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass

from ._display import _Displayable, _ipywidgets

__all__ = ["ImageNode", "image_tree", "ImageTree"]


@dataclass
class ImageNode:
    """One blob of an image: the index, a manifest, a config or a layer."""

    kind: str                  # "index", "manifest", "config", "layer"
    label: str                 # one line: "manifest busybox:latest (479 B)"
    digest: str = ""
    media_type: str = ""
    size: int = 0
    content: object = None     # the parsed JSON (None for a layer: it is a tarball)
    children: list = None      # list[ImageNode]

    def __post_init__(self):
        if self.children is None:
            self.children = []

    def walk(self, path: tuple[int, ...] = ()):
        """(path, node) for this node and every node below it, depth first."""
        yield path, self
        for i, c in enumerate(self.children):
            yield from c.walk(path + (i,))


def _read_blob(layout: str, digest: str) -> bytes:
    algo, hexpart = digest.split(":", 1)
    with open(os.path.join(layout, "blobs", algo, hexpart), "rb") as f:
        return f.read()


def _size(n: int) -> str:
    from ..cgroups import format_bytes

    return format_bytes(n) if n >= 1024 else f"{n}B"


def image_tree(layout: str, ref: str | None = None) -> ImageNode:
    """Read an OCI image layout (``index.json`` and ``blobs/``) into ``ImageNode``s.

    index -> manifests (only ``ref``'s when given: the name in the
    ``org.opencontainers.image.ref.name`` annotation) -> config and layers.
    Nested indexes (multi-platform images) are followed.
    """
    import json

    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)

    def manifest_node(desc: dict) -> ImageNode:
        data = json.loads(_read_blob(layout, desc["digest"]))
        name = (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name", "")
        media = desc.get("mediaType") or data.get("mediaType", "")
        if "index" in media or "manifest.list" in media:
            node = ImageNode("index", f"index {name} ({_size(desc.get('size', 0))})".replace("  ", " "),
                             desc["digest"], media, desc.get("size", 0), data)
            node.children = [manifest_node(d) for d in data.get("manifests", [])]
            return node
        node = ImageNode("manifest", f"manifest {name} ({_size(desc.get('size', 0))})".replace("  ", " "),
                         desc["digest"], media, desc.get("size", 0), data)
        c = data["config"]
        cfg = json.loads(_read_blob(layout, c["digest"]))
        node.children.append(ImageNode("config", f"config ({_size(c.get('size', 0))})", c["digest"],
                                       c.get("mediaType", ""), c.get("size", 0), cfg))
        for i, layer in enumerate(data.get("layers", [])):
            node.children.append(ImageNode("layer", f"layer {i} ({_size(layer.get('size', 0))})",
                                           layer["digest"], layer.get("mediaType", ""), layer.get("size", 0)))
        return node

    manifests = index.get("manifests", [])
    if ref is not None:
        manifests = [d for d in manifests
                     if (d.get("annotations") or {}).get("org.opencontainers.image.ref.name") == ref]
        if not manifests:
            from ..errors import ImageNotFound

            raise ImageNotFound(f"no image {ref!r} in the layout {layout}",
                                hint="the name is the org.opencontainers.image.ref.name annotation in index.json")
    root = ImageNode("index", "index.json", "", index.get("mediaType", ""), 0, index)
    root.children = [manifest_node(d) for d in manifests]
    return root


class ImageTree(_Displayable):
    """An OCI image as a tree you can click through: index -> manifest -> config and layers.

    ``ImageTree(layout_dir, ref)`` reads an OCI image layout (minictr's store
    is one: ``image.store_root()``). ``root`` is the ``ImageNode`` tree,
    ``nodes`` lists ``(path, node)`` depth first, ``select(i)`` (or the list
    box) picks ``nodes[i]``, and ``selected``/``detail`` tell which node is
    shown and the text shown for it (its descriptor and, except for layers,
    its JSON).
    """

    def __init__(self, layout: str, ref: str | None = None):
        self.layout = str(layout)
        self.ref = ref
        self.root = image_tree(self.layout, ref)
        self.nodes = list(self.root.walk())
        self.selected: ImageNode | None = None
        self.detail = ""
        w = _ipywidgets()
        options = [("    " * len(p) + n.label, i) for i, (p, n) in enumerate(self.nodes)]
        self.list = w.Select(options=options, value=None, rows=min(12, len(options)),
                             layout=w.Layout(width="45%"))
        self.list.observe(lambda ch: ch["new"] is not None and self.select(ch["new"]), names="value")
        self.view = w.HTML()
        self.widget = w.HBox([self.list, self.view])
        self.widget.add_class("minictr-image-tree")
        self.select(0)

    def find(self, kind: str) -> list[ImageNode]:
        return [n for _p, n in self.nodes if n.kind == kind]

    def select(self, i: int) -> "ImageTree":
        import json

        _path, node = self.nodes[i]
        self.selected = node
        lines = [f"{node.kind}: {node.label}"]
        if node.digest:
            lines.append(f"digest: {node.digest}")
        if node.media_type:
            lines.append(f"mediaType: {node.media_type}")
        if node.content is not None:
            lines.append(json.dumps(node.content, indent=2, sort_keys=True))
        else:
            lines.append(f"a tarball of files: blobs/{node.digest.replace(':', '/')}")
        self.detail = "\n".join(lines)
        self.view.value = f"<pre style='font-size:85%'>{html.escape(self.detail)}</pre>"
        if self.list.value != i:
            self.list.value = i
        return self

    def summary(self) -> str:
        kinds = [n.kind for _p, n in self.nodes]
        return (f"image tree{' of ' + self.ref if self.ref else ''}: {kinds.count('manifest')} manifest(s), "
                f"{kinds.count('config')} config(s), {kinds.count('layer')} layer(s)")
