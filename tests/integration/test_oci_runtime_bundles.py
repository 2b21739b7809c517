"""minictr-runtime with real bundles: ``runc spec``'s config.json runs under it (root.path and args
set), as does its own ``spec``; the six hook stages run at their moments with the state on stdin;
a bad config.json is one line naming the field, in the JSON log too, and leaves nothing."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_oci_runtime import RUNTIME, Oci, oci  # noqa: F401  (the fixture, with its leak checks)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces, mounts and cgroups")


def make_bundle(where: Path, rootfs: str, args: list[str], generator=("runc", "spec"), edit=None) -> Path:
    where.mkdir()
    if generator[0] == "runc":
        subprocess.run([*generator], cwd=where, check=True)
    else:
        subprocess.run([*RUNTIME, "spec"], cwd=where, check=True)
    doc = json.loads((where / "config.json").read_text())
    doc["root"]["path"] = rootfs  # the shared busybox tree, read-only (runc spec says readonly: true)
    doc["process"]["args"] = args
    doc["process"]["terminal"] = False
    if edit:
        edit(doc)
    (where / "config.json").write_text(json.dumps(doc, indent=1))
    return where


def create(o: Oci, bundle: Path, cid: str, out: Path, *flags):
    return o("create", "--bundle", str(bundle), *flags, cid, out=out)


def wait_for(path: Path, text: str, timeout: float = 5) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = path.read_text() if path.exists() else ""
        if text in got:
            return got
        time.sleep(0.02)
    return path.read_text() if path.exists() else ""


@pytest.mark.parametrize("generator", [("runc", "spec"), ("minictr-runtime", "spec")])
def test_a_spec_bundle_runs_after_setting_root_path_and_args(oci, tmp_path, generator):
    bundle = make_bundle(tmp_path / "bundle", oci.rootfs,
                         ["sh", "-c", "echo hi from $(hostname); grep -E '^(CapEff|NoNewPrivs):' /proc/self/status"],
                         generator, edit=lambda d: d.update(hostname="specbox", annotations={"org.example.k": "v"}))
    out = tmp_path / "out"
    r = create(oci, bundle, "spec1", out, "--pid-file", str(tmp_path / "pid"))
    assert r.returncode == 0, out.read_text()
    st = oci.state("spec1")
    assert (st["status"], st["bundle"], st["annotations"]) == ("created", str(bundle), {"org.example.k": "v"})
    assert (tmp_path / "pid").read_text() == str(st["pid"])
    assert oci("start", "spec1").returncode == 0
    text = wait_for(out, "NoNewPrivs")
    # the config's hostname, runc spec's three capabilities (AUDIT_WRITE, KILL, NET_BIND_SERVICE), noNewPrivileges
    assert text.splitlines() == ["hi from specbox", "CapEff:\t0000000020000420", "NoNewPrivs:\t1"]
    assert oci.wait_status("spec1", "stopped")["status"] == "stopped"
    assert oci("delete", "spec1").returncode == 0


def test_a_rootless_spec_bundle_makes_its_user_namespace(oci, tmp_path):
    """`runc spec --rootless`: a new user namespace with the bundle's maps, /dev from the host's nodes."""
    bundle = make_bundle(tmp_path / "bundle", oci.rootfs,
                         ["sh", "-c", "id -u; cat /proc/self/uid_map; echo x > /dev/null && echo devnull"],
                         ("runc", "spec", "--rootless"))
    out = tmp_path / "out"
    assert create(oci, bundle, "rl1", out).returncode == 0, out.read_text()
    assert oci("start", "rl1").returncode == 0
    text = wait_for(out, "devnull")
    assert text.split() == ["0", "0", "0", "1", "devnull"]  # root inside, mapped to the one uid the spec names
    assert oci.wait_status("rl1", "stopped")["status"] == "stopped"
    assert oci("delete", "rl1").returncode == 0


def test_a_bad_config_is_one_line_naming_the_field_and_leaves_nothing(oci, tmp_path):
    bundle = make_bundle(tmp_path / "bundle", oci.rootfs, ["true"],
                         edit=lambda d: d["process"].update(cwd="relative/dir"))
    out = tmp_path / "out"
    r = create(oci, bundle, "bad", out)
    assert r.returncode == 1
    assert len(out.read_text().splitlines()) == 1 and "process.cwd" in out.read_text()
    (line,) = [json.loads(x) for x in oci.log.read_text().splitlines() if '"error"' in x]
    assert "process.cwd" in line["msg"]
    assert not oci.root.exists() or os.listdir(oci.root) == []


def test_fields_minictr_ignores_are_warnings_in_the_log(oci, tmp_path):
    bundle = make_bundle(tmp_path / "bundle", oci.rootfs, ["true"],
                         edit=lambda d: d["process"].update(apparmorProfile="docker-default"))
    assert create(oci, bundle, "warned", tmp_path / "out").returncode == 0
    lines = [json.loads(x) for x in oci.log.read_text().splitlines()]
    assert any(x["level"] == "warning" and "apparmorProfile" in x["msg"] for x in lines)


def test_the_hooks_run_at_their_moments_with_the_state_on_stdin(oci, tmp_path):
    seen = tmp_path / "seen"
    seen.mkdir()

    def host_hook(stage):  # on the host: records its stage and the state it was given
        return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {seen}/{stage}.json; echo {stage} >> {seen}/order"]}

    def edit(doc):
        doc["mounts"].append({"destination": "/seen", "type": "bind", "source": str(seen), "options": ["rbind", "rw"]})
        doc["hooks"] = {stage: [host_hook(stage)] for stage in ("prestart", "createRuntime", "createContainer",
                                                                "poststart", "poststop")}
        # in the container, before the command: its own /bin/sh and the bind mount above
        doc["hooks"]["startContainer"] = [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /seen/startContainer.json; "
                                                                        "echo startContainer >> /seen/order"]}]

    bundle = make_bundle(tmp_path / "bundle", oci.rootfs, ["sh", "-c", "echo command >> /seen/order"], edit=edit)
    out = tmp_path / "out"
    assert create(oci, bundle, "hooked", out).returncode == 0, out.read_text()
    assert (seen / "order").read_text().split() == ["prestart", "createRuntime", "createContainer"]
    assert oci("start", "hooked").returncode == 0
    oci.wait_status("hooked", "stopped")
    assert oci("delete", "hooked").returncode == 0
    order = (seen / "order").read_text().split()
    # poststart runs after start returned from the exec: the command may have written first
    assert order[:4] == ["prestart", "createRuntime", "createContainer", "startContainer"]
    assert sorted(order[4:6]) == ["command", "poststart"] and order[6:] == ["poststop"]
    for stage, status in (("createRuntime", "creating"), ("startContainer", "created"), ("poststart", "running"),
                          ("poststop", "stopped")):
        st = json.loads((seen / f"{stage}.json").read_text())
        assert (st["id"], st["status"], st["bundle"]) == ("hooked", status, str(bundle)), stage
    assert json.loads((seen / "createRuntime.json").read_text())["pid"] > 0


def test_a_failing_create_hook_fails_create_and_leaves_nothing(oci, tmp_path):
    def edit(doc):
        doc["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 3"]}]}

    bundle = make_bundle(tmp_path / "bundle", oci.rootfs, ["true"], edit=edit)
    out = tmp_path / "out"
    r = create(oci, bundle, "hookfail", out)
    assert r.returncode == 1 and "exited with status 3: nope" in out.read_text()
    assert not oci.root.exists() or os.listdir(oci.root) == []


def test_without_a_cgroup_namespace_the_container_sees_its_own_groups(oci, tmp_path):
    """runc spec has no cgroup namespace (nor has podman's config on cgroup v1): /sys/fs/cgroup then
    holds the container's own groups, bound read-only, with its limits, not the host's tree."""
    def edit(doc):
        doc["linux"]["resources"] = {"pids": {"limit": 42}, "memory": {"limit": 64 << 20}}

    script = "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes; " \
             "ls /sys/fs/cgroup/pids | grep -c -v '^pids\\|^cgroup\\|^notify\\|^tasks\\|^release'; " \
             "echo x > /sys/fs/cgroup/pids/pids.max || echo read-only"
    bundle = make_bundle(tmp_path / "bundle", oci.rootfs, ["sh", "-c", script], edit=edit)
    out = tmp_path / "out"
    assert create(oci, bundle, "nocgns", out).returncode == 0, out.read_text()
    assert oci("start", "nocgns").returncode == 0
    oci.wait_status("nocgns", "stopped")
    lines = out.read_text().splitlines()
    assert lines[:3] == ["42", str(64 << 20), "0"], lines  # no child groups: it is the container's own group
    assert lines[-1] == "read-only"


def test_the_cgroups_path_is_where_the_container_goes(oci, tmp_path):
    """linux.cgroupsPath (podman's /libpod_parent/libpod-ID), from each tree's root, as runc places it."""
    name = f"minictr-oci-test-{os.getpid()}"
    bundle = make_bundle(tmp_path / "bundle", oci.rootfs, ["sleep", "30"],
                         edit=lambda d: d["linux"].update(cgroupsPath=f"/{name}",
                                                          resources={"pids": {"limit": 9}}))
    assert create(oci, bundle, "placed", tmp_path / "out").returncode == 0, (tmp_path / "out").read_text()
    pid = oci.state("placed")["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    pids_line = [x for x in lines if ":pids:" in x][0]
    assert pids_line.endswith(f":/{name}")
    assert open(f"/sys/fs/cgroup/pids/{name}/pids.max").read().strip() == "9"
    assert oci("delete", "--force", "placed").returncode == 0
    assert not os.path.exists(f"/sys/fs/cgroup/pids/{name}")
