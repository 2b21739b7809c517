"""Volumes on real containers: named volumes keep data, :ro is read-only, tmpfs, copy-up, no mounts left.

The ``mc`` fixture checks after each test that no mount under the test's
temp dir (the store, where named volumes live) is left on the host.
"""

import json


def test_a_named_volume_keeps_data_across_rm_and_run(mc):
    assert mc("run", "--network", "none", "--name", "w", "-v", "data:/data", "busybox", "sh", "-c",
              "echo kept > /data/x").returncode == 0
    assert mc("rm", "w").returncode == 0
    out = mc("run", "--rm", "--network", "none", "-v", "data:/data", "busybox", "cat", "/data/x")
    assert out.stdout == "kept\n"
    assert mc("volume", "ls", "-q").stdout == "data\n"
    info = json.loads(mc("volume", "inspect", "data").stdout)[0]
    assert info["Mountpoint"].endswith("/volumes/data/_data")
    assert mc("volume", "rm", "data").returncode == 0
    assert mc("volume", "ls", "-q").stdout == ""


def test_a_new_named_volume_is_filled_from_the_image(mc):
    out = mc("run", "--rm", "--network", "none", "-v", "etc:/etc", "busybox", "cat", "/etc/passwd")
    assert out.returncode == 0 and out.stdout.startswith("root:")
    assert (mc.tmp / "store" / "volumes" / "etc" / "_data" / "passwd").exists()


def test_a_read_only_bind_cannot_be_written(mc, tmp_path):
    host = tmp_path / "hostdir"
    host.mkdir()
    (host / "f").write_text("from host\n")
    out = mc("run", "--rm", "--network", "none", "-v", f"{host}:/h:ro", "busybox", "sh", "-c",
             "cat /h/f; echo changed > /h/f; echo status=$?")
    assert out.stdout == "from host\nstatus=1\n"
    assert "Read-only file system" in out.stderr
    assert (host / "f").read_text() == "from host\n"
    rw = mc("run", "--rm", "--network", "none", "--mount", f"type=bind,source={host},target=/h", "busybox",
            "sh", "-c", "echo changed > /h/f")
    assert rw.returncode == 0 and (host / "f").read_text() == "changed\n"


def test_tmpfs_mounts(mc):
    out = mc("run", "--rm", "--network", "none", "--tmpfs", "/scratch:size=1m", "busybox", "sh", "-c",
             "grep ' /scratch ' /proc/mounts")
    assert out.stdout.startswith("tmpfs /scratch tmpfs ") and "size=1024k" in out.stdout


def test_a_volume_in_use_is_not_removed(mc):
    assert mc("run", "--network", "none", "--name", "u", "-v", "busy:/d", "busybox", "true").returncode == 0
    r = mc("volume", "rm", "busy")
    assert r.returncode == 1 and "in use by u" in r.stderr
    mc("rm", "u")
    assert mc("volume", "prune").stdout == "busy\n"
