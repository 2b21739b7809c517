"""Lesson 07's Gauge/MemoryGauge and lesson 08's ImageTree: state through the widgets."""

from __future__ import annotations

import json

import pytest

from minictr.cgroups import Stats
from minictr.image import synthetic
from minictr.widgets import Gauge, ImageTree, MemoryGauge, image_tree


def test_gauge_fills_changes_colour_and_keeps_history():
    g = Gauge("pids", 10)
    assert (g.value, g.fraction, g.state, g.bar.bar_style) == (0, 0.0, "ok", "success")
    g.update(5, at=100.0)
    g.update(9, at=100.5)
    assert g.fraction == pytest.approx(0.9)
    assert (g.state, g.bar.bar_style, g.bar.value) == ("warn", "warning", 9.0)
    g.update(10, at=101.0)
    assert (g.state, g.bar.bar_style) == ("full", "danger")
    g.update(3, at=101.5)
    assert g.peak == 10 and g.value == 3 and g.state == "ok"
    assert g.history == [(0.0, 5), (0.5, 9), (1.0, 10), (1.5, 3)]
    assert "3 / 10 (30%), peak 10" in g.label.value
    assert repr(g) == "gauge pids: 3 / 10 (30%), peak 10"


def test_gauge_without_limit_has_no_fraction():
    g = Gauge("cpu", None).update(7, at=1.0)
    assert g.fraction is None and g.state == "ok" and g.bar.value == 0.0
    assert "no limit" in g.label.value


def test_memory_gauge_feeds_on_stats_and_learns_the_limit():
    g = MemoryGauge(None)
    g.feed(Stats(memory_usage=16 << 20, memory_limit=32 << 20, time=5.0))
    assert g.maximum == 32 << 20 and g.bar.max == float(32 << 20)
    assert g.fraction == pytest.approx(0.5)
    g.feed(Stats(memory_usage=32 << 20, memory_limit=32 << 20, time=5.25))
    assert g.state == "full" and g.history == [(0.0, 16 << 20), (0.25, 32 << 20)]
    assert "32MiB / 32MiB (100%)" in g.label.value
    assert repr(MemoryGauge(32 << 20)) == "gauge memory: 0B / 32MiB (0%), peak 0B"


def test_a_finished_download_is_green():
    g = Gauge("pull", 100)
    g.update(100, at=1.0)
    assert g.bar.bar_style == "danger"          # full, while it runs: a limit reached
    g.finish()
    assert (g.outcome, g.state, g.bar.bar_style) == ("done", "done", "success")
    assert repr(g) == "gauge pull: 100 / 100 (100%), peak 100, done"
    unsized = Gauge("pull", None).update(42, at=1.0).finish()
    assert unsized.bar.bar_style == "success" and unsized.bar.value == unsized.bar.max == 42.0


def test_an_oom_killed_memory_gauge_holds_its_peak_and_says_so():
    g = MemoryGauge(64 << 20)
    g.feed(Stats(memory_usage=40 << 20, memory_limit=64 << 20, time=1.0))
    g.feed(Stats(memory_usage=63 << 20, memory_limit=64 << 20, time=1.5))
    g.feed(Stats(memory_usage=0, memory_limit=64 << 20, time=2.0))       # the group after the kill
    assert g.bar.value == 0.0
    g.finish(oom_killed=True)
    assert (g.state, g.bar.bar_style, g.bar.value) == ("oom-killed", "danger", float(63 << 20))
    assert "OOM-killed" in g.label.value
    assert repr(g) == "gauge memory: 63MiB / 64MiB (98%), peak 63MiB, OOM-killed at its peak"
    assert g.history[-1] == (1.0, 0)             # the history keeps the real last reading


def test_image_tree_walks_index_manifest_config_layers(store):
    bottom = {"etc": None, "etc/motd": "hello"}
    top = {".wh.etc": ""}
    synthetic.add_image(store, [bottom, top], name="lesson:08", config={"Cmd": ["cat", "/etc/motd"]})
    synthetic.add_image(store, [bottom], name="other:1")
    t = ImageTree(store.root, "lesson:08")
    assert [n.kind for _p, n in t.nodes] == ["index", "manifest", "config", "layer", "layer"]
    assert [p for p, _n in t.nodes] == [(), (0,), (0, 0), (0, 1), (0, 2)]
    assert t.find("config")[0].content["config"]["Cmd"] == ["cat", "/etc/motd"]
    assert t.selected.kind == "index" and '"manifests"' in t.detail
    # choosing in the list box selects, and select() moves the list box
    t.list.value = 2
    assert t.selected.kind == "config" and '"Cmd"' in t.detail
    t.select(4)
    assert t.list.value == 4 and t.selected.kind == "layer" and t.selected.content is None
    assert "a tarball of files: blobs/sha256/" in t.detail
    manifest = t.find("manifest")[0]
    assert [d["digest"] for d in manifest.content["layers"]] == [n.digest for n in t.find("layer")]
    assert repr(t) == "image tree of lesson:08: 1 manifest(s), 1 config(s), 2 layer(s)"
    assert len(ImageTree(store.root).find("manifest")) == 2


def test_image_tree_follows_nested_index_and_refuses_unknown_ref(store, tmp_path):
    img = synthetic.add_image(store, [{"a": "1"}], name="x:1")
    # wrap the manifest in a nested index, as a multi-platform image has
    index = json.loads((store.root / "index.json").read_text())
    inner = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [dict(index["manifests"][0], annotations={})]}
    data = json.dumps(inner).encode()
    digest = store.put_blob(data)
    index["manifests"] = [{"mediaType": inner["mediaType"], "digest": digest, "size": len(data),
                           "annotations": {"org.opencontainers.image.ref.name": "multi:1"}}]
    (store.root / "index.json").write_text(json.dumps(index))
    root = image_tree(str(store.root), "multi:1")
    assert [n.kind for _p, n in root.walk()] == ["index", "index", "manifest", "config", "layer"]
    assert img.id  # the image made above is what the nested index points at
    from minictr.errors import ImageNotFound

    with pytest.raises(ImageNotFound, match="no image 'nope:1'"):
        image_tree(str(store.root), "nope:1")
