"""`minictr images`, `rmi` and `image build-default` through cli.main (no root)."""

import pytest

from minictr import cli
from minictr.cli_images import human_duration, human_size
from minictr.image import Store

from minictr.image.synthetic import add_image


@pytest.fixture(autouse=True)
def _dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICTR_ROOT", str(tmp_path / "store"))
    monkeypatch.setenv("MINICTR_RUNTIME_DIR", str(tmp_path / "run"))


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


def test_rmi_and_missing_image_exit_125(capsys):
    add_image(Store(), [{"a": "1"}], name="app:v1")
    assert cli.main(["rmi", "app:v1"]) == 0
    out = capsys.readouterr().out
    assert "Untagged: app:v1" in out and "Deleted: sha256:" in out
    assert cli.main(["rmi", "app:v1"]) == 125
    err = capsys.readouterr().err
    assert err.startswith("minictr: image 'app:v1' not found") and err.count("\n") == 1


def test_rmi_goes_on_after_a_failure(capsys):
    add_image(Store(), [{"a": "1"}], name="app:v1")
    assert cli.main(["rmi", "nothere", "app:v1"]) == 125
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
