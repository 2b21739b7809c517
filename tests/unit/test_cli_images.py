"""`minictr images`, `rmi` and `image build-default` through cli.main (no root)."""

import pytest

from minictr import cli
from minictr.cli_format import human_duration, human_size
from minictr.image import Store

from minictr.image.synthetic import add_image


def test_build_default_then_images_table(capsys):
    assert cli.main(["image", "build-default"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("built busybox:latest ")
    assert cli.main(["images"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    img = Store().lookup("busybox")
    row = lines[1].split()
    assert row[:3] == ["busybox", "latest", img.short_id] and row[-2] == "ago" and row[-1].endswith("MB")


def test_images_quiet_filter_and_no_trunc(capsys):
    a = add_image(Store(), [{"a": "1"}], name="app:v1")
    b = add_image(Store(), [{"b": "1"}], name="other:v1")
    Store().add_image(a.manifest_digest, ["app:v2"])
    cli.main(["images", "-q"])
    assert sorted(capsys.readouterr().out.split()) == sorted([a.short_id, b.short_id])
    cli.main(["images", "app"])
    rows = capsys.readouterr().out.splitlines()[1:]
    assert sorted(r.split()[1] for r in rows) == ["v1", "v2"]
    cli.main(["images", "--no-trunc", "app:v2"])
    rows = capsys.readouterr().out.splitlines()[1:]
    assert len(rows) == 1 and a.id in rows[0]


def test_rmi_and_missing_image_exit_1_as_docker(capsys):
    add_image(Store(), [{"a": "1"}], name="app:v1")
    assert cli.main(["rmi", "app:v1"]) == 0
    out = capsys.readouterr().out
    assert "Untagged: app:v1" in out and "Deleted: sha256:" in out
    assert cli.main(["rmi", "app:v1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("minictr: image 'app:v1' not found") and err.count("\n") == 1


def test_rmi_goes_on_after_a_failure(capsys):
    add_image(Store(), [{"a": "1"}], name="app:v1")
    assert cli.main(["rmi", "nothere", "app:v1"]) == 1
    assert "Untagged: app:v1" in capsys.readouterr().out
    assert Store().images() == []


@pytest.mark.parametrize("seconds, text", [(0.2, "Less than a second"), (1, "1 second"), (45, "45 seconds"),
                                           (61, "About a minute"), (600, "10 minutes"), (3600, "About an hour"),
                                           (5 * 3600, "5 hours"), (3 * 86400, "3 days"), (20 * 86400, "2 weeks"),
                                           (90 * 86400, "3 months"), (800 * 86400, "2 years")])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


@pytest.mark.parametrize("n, text", [(512, "512B"), (1037022, "1.04MB"), (4_260_000, "4.26MB"),
                                     (1_200_000_000, "1.2GB"), (12_345, "12.3kB")])
def test_human_size(n, text):
    assert human_size(n) == text


def test_load_save_import_inspect_through_the_cli(tmp_path, capsys):
    import json
    import tarfile

    from minictr.image.synthetic import make_tar

    add_image(Store(), [{"a": "1"}], name="app:v1", config={"Cmd": ["sh"], "Env": ["A=1"]})
    out = tmp_path / "app.tar"
    assert cli.main(["save", "-o", str(out), "app:v1"]) == 0
    assert tarfile.is_tarfile(out)
    assert cli.main(["rmi", "app:v1"]) == 0
    capsys.readouterr()
    assert cli.main(["load", "-i", str(out)]) == 0
    assert capsys.readouterr().out == "Loaded image: app:v1\n"

    (tmp_path / "root.tar").write_bytes(make_tar({"bin": None, "bin/x": "x"}))
    assert cli.main(["import", "-c", 'CMD ["/bin/x", "-v"]', "-c", "ENV B=2", "-c", "WORKDIR /srv",
                     str(tmp_path / "root.tar"), "imp:1"]) == 0
    iid = capsys.readouterr().out.strip()
    assert iid.startswith("sha256:") and Store().lookup("imp:1").id == iid

    assert cli.main(["inspect", "--type", "image", "imp:1", "app:v1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["RepoTags"] for d in data] == [["imp:1"], ["app:v1"]]
    assert data[0]["Config"] == {"Cmd": ["/bin/x", "-v"], "Env": ["B=2"], "WorkingDir": "/srv"}
    assert data[1]["RootFS"]["Layers"] == Store().lookup("app:v1").diff_ids
    assert cli.main(["inspect", "-f", "{{.Config.Cmd}} {{json .Config.Env}} {{.Os}}", "imp:1"]) == 0
    assert capsys.readouterr().out == '[/bin/x -v] ["B=2"] linux\n'
    assert cli.main(["inspect", "--type", "image", "nothere"]) == 1
    assert "no such image 'nothere'" in capsys.readouterr().err


def test_save_refuses_a_terminal(monkeypatch, capsys):
    add_image(Store(), [{"a": "1"}], name="app:v1")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert cli.main(["save", "app:v1"]) == 1
    assert "terminal" in capsys.readouterr().err


def test_image_prune_removes_dangling(capsys):
    add_image(Store(), [{"a": "1"}], name="app:v1")
    add_image(Store(), [{"a": "2"}], name="app:v1")  # the first one loses its name
    assert len(Store().images()) == 2
    assert cli.main(["image", "prune"]) == 0
    assert "removed 1 unnamed images, 3 blobs" in capsys.readouterr().out
    assert [i.names for i in Store().images()] == [["app:v1"]]


@pytest.mark.parametrize("change, cfg", [
    ('CMD ["a", "b"]', {"Cmd": ["a", "b"]}),
    ("CMD echo hi", {"Cmd": ["/bin/sh", "-c", "echo hi"]}),
    ('ENTRYPOINT ["/init"]', {"Entrypoint": ["/init"]}),
    ("ENV A=1 B='x y'", {"Env": ["A=1", "B=x y"]}),
    ("ENV GREETING hello world", {"Env": ["GREETING=hello world"]}),
    ("WORKDIR /app", {"WorkingDir": "/app"}),
    ("USER learner:users", {"User": "learner:users"}),
    ("EXPOSE 80 53/udp", {"ExposedPorts": {"80/tcp": {}, "53/udp": {}}}),
    ('LABEL a=1 "b=two words"', {"Labels": {"a": "1", "b": "two words"}}),
])
def test_import_changes(change, cfg):
    from minictr.image.changes import parse_changes
    assert parse_changes([change]) == cfg


@pytest.mark.parametrize("bad", ["RUN make", "CMD", 'CMD ["a", 1]', "CMD [oops", "LABEL novalue"])
def test_bad_import_changes(bad):
    from minictr.image.changes import parse_changes
    from minictr.errors import ConfigError
    with pytest.raises(ConfigError):
        parse_changes([bad])


def test_containers_using_and_layers_in_use(tmp_path):
    from types import SimpleNamespace

    from minictr.image.gc import containers_using, layers_in_use
    from minictr.image.layers import layer_dir

    store = Store()
    a = add_image(store, [{"a": "1"}, {"b": "2"}], name="a:1")
    b = add_image(store, [{"c": "3"}], name="b:1")
    lowers = [str(layer_dir(store, d)) for d in reversed(a.diff_ids)]
    on_overlay = SimpleNamespace(name="x", image="a:1", config={"rootfs": {"lowers": lowers}})
    copied = SimpleNamespace(name="y", image="b:1", config={"rootfs": {"lowers": [],
                                                                        "path": str(store.root / "containers/y/rootfs")}})
    copied_elsewhere = SimpleNamespace(name="v", image="b:1", config={"rootfs": {"path": "/srv/other/rootfs"}})
    from_tar = SimpleNamespace(name="z", image="/tmp/rootfs.tar", config={})
    other_store = SimpleNamespace(name="w", image="a:1", config={"rootfs": {"lowers": [
        str(tmp_path / "elsewhere" / "layers" / d[7:]) for d in a.diff_ids]}})
    states = [on_overlay, copied, from_tar, other_store, copied_elsewhere]
    assert containers_using(store, a, states) == [on_overlay]   # not the one on another store
    assert containers_using(store, b, states) == [copied]
    assert layers_in_use(store, states) == {d[7:] for d in a.diff_ids}


def test_tag_adds_a_name_and_moves_it(capsys):
    a = add_image(Store(), [{"a": "1"}], name="app:v1")
    b = add_image(Store(), [{"b": "1"}], name="other:v1")
    assert cli.main(["tag", "app:v1", "127.0.0.1:5000/app:prod"]) == 0
    assert sorted(Store().lookup("app:v1").names) == ["127.0.0.1:5000/app:prod", "app:v1"]
    assert cli.main(["tag", b.short_id, "127.0.0.1:5000/app:prod"]) == 0   # the name moves
    assert Store().lookup("127.0.0.1:5000/app:prod").id == b.id
    assert Store().lookup("app:v1").names == ["app:v1"] and a.id == Store().lookup("app:v1").id
    assert cli.main(["tag", "app:v1", f"x@sha256:{'0' * 64}"]) == 1
    assert cli.main(["tag", "nothere", "x:1"]) == 1
