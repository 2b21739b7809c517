"""-v, --mount, --tmpfs parsing, named volumes (copy-up), and their steps in the mount plan, as data."""

import pytest

from minictr import volumes
from minictr.config import Rootfs, VolumeMount
from minictr.errors import ConfigError
from minictr.rootfs import File, Mount, ReadOnly, plan
from minictr.syscalls import MountFlags as MS


@pytest.fixture(autouse=True)
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICTR_ROOT", str(tmp_path / "store"))


def test_parse_volume(tmp_path):
    kind, m = volumes.parse_volume(f"{tmp_path}:/data:ro")
    assert kind == "bind" and m == VolumeMount("bind", "/data", str(tmp_path.resolve()), readonly=True)
    kind, m = volumes.parse_volume("db:/var/lib/db")
    assert kind == "volume" and m.source == "db" and not m.readonly
    for bad in ("/nonexistent-dir-xyz:/d", "db:relative", "db:/", "db", "a:b:c:d", "bad name:/d", "db:/a/../b"):
        with pytest.raises(ConfigError):
            volumes.parse_volume(bad)


def test_parse_mount_and_tmpfs(tmp_path):
    assert volumes.parse_mount(f"type=bind,source={tmp_path},target=/h,readonly") == (
        "bind", VolumeMount("bind", "/h", str(tmp_path.resolve()), readonly=True))
    assert volumes.parse_mount("type=volume,src=v,dst=/v")[0] == "volume"
    assert volumes.parse_mount("type=tmpfs,target=/t,tmpfs-size=1m")[1] == VolumeMount("tmpfs", "/t", "tmpfs",
                                                                                         options="size=1m")
    assert volumes.parse_tmpfs("/run:size=64m") == VolumeMount("tmpfs", "/run", "tmpfs", options="size=64m")
    for bad in ("type=nfs,target=/x", "type=bind,source=rel,target=/x", "type=volume,target=/x",
                "type=tmpfs,target=/t,color=red"):
        with pytest.raises(ConfigError):
            volumes.parse_mount(bad)


def test_a_new_named_volume_is_filled_from_the_topmost_image_layer(tmp_path):
    upper, lower = tmp_path / "l1", tmp_path / "l0"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "conf").write_text("top")
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "conf").write_text("bottom")
    m = volumes.resolve("volume", VolumeMount("bind", "/etc", "cfg"), (str(upper), str(lower)))
    assert m.source.endswith("/volumes/cfg/_data")
    with open(m.source + "/conf") as f:
        assert f.read() == "top"
    (upper / "etc" / "conf").write_text("changed")
    volumes.resolve("volume", VolumeMount("bind", "/etc", "cfg"), (str(upper),))  # not new: not filled again
    with open(m.source + "/conf") as f:
        assert f.read() == "top"
    assert volumes.list_names() == ["cfg"]


def test_steps_bind_recursively_privately_and_read_only():
    mounts = (VolumeMount("bind", "/data", "/srv/data", readonly=True),
              VolumeMount("bind", "/etc/hosts", "/run/x/hosts", file=True),
              VolumeMount("tmpfs", "/t", "tmpfs", options="size=1m"))
    assert volumes.steps(mounts, "/r") == [
        Mount("/srv/data", "/r/data", None, MS.BIND | MS.REC),
        Mount(None, "/r/data", None, MS.PRIVATE | MS.REC, mkdir=False),
        ReadOnly("/r/data"),
        File("/r/etc/hosts", ""),
        Mount("/run/x/hosts", "/r/etc/hosts", None, MS.BIND | MS.REC, mkdir=False),
        Mount(None, "/r/etc/hosts", None, MS.PRIVATE | MS.REC, mkdir=False),
        Mount("tmpfs", "/r/t", "tmpfs", MS.NOSUID | MS.NODEV, "size=1m"),
    ]
    assert File("/r/etc/hosts", "") not in volumes.steps(mounts[1:2], "/r", own_root=False)


def test_the_plan_puts_volumes_after_the_kernel_file_systems_and_before_the_read_only_root():
    extra = volumes.steps((VolumeMount("bind", "/data", "/srv"),), "/r")
    steps = plan(Rootfs("/r", readonly=True), extra=extra)
    i = steps.index(extra[0])
    assert any(s.target == "/r/sys" for s in steps[:i] if isinstance(s, Mount))
    assert steps[-1] == Mount("/r", "/r", None, MS.BIND | MS.REMOUNT | MS.RDONLY, mkdir=False)
