"""Root: images made by real tools (buildah, podman, skopeo, Debian's docker-registry).

Everything the tools store goes under tmp_path (``--root/--runroot``, vfs
driver: plain directories, nothing mounted on the host), the registry
listens on 127.0.0.1 with its storage in tmp_path, and every fixture stops
and removes what it started, even when a test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

from minictr import cli
from minictr.image import Store, archive, lookup_or_build, oci, prepare_rootfs, registry
from minictr.image.synthetic import tree

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: buildah/podman storage and overlay mounts")


def run(cmd: list[str], **kw) -> str:
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert p.returncode == 0, f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr[-2000:]}"
    return p.stdout


def mounts_under(path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [l for l in f if str(path) in l]


class Tools:
    """buildah/podman/skopeo with private storage under ``root``."""

    def __init__(self, root):
        self.root = root
        conf = root / "containers.conf"
        root.mkdir(parents=True, exist_ok=True)
        # this host cannot raise rlimits; podman wants these explicit
        conf.write_text('[containers]\ndefault_ulimits = ["nofile=1024:1024","nproc=1024:1024"]\n')
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf), "TMPDIR": str(root)}
        # podman refuses a runroot longer than 50 characters, and pytest's tmp paths are long
        self.runroot = tempfile.mkdtemp(prefix="minictr-rr-")
        self.storage = ["--root", str(root / "storage"), "--runroot", self.runroot, "--storage-driver", "vfs"]

    def buildah(self, *args) -> str:
        return run(["buildah", *self.storage, *args], env=self.env).strip()

    def podman(self, *args) -> str:
        return run(["podman", *self.storage, *args], env=self.env).strip()

    def skopeo(self, *args) -> str:
        return run(["skopeo", *args], env=self.env).strip()

    def cleanup(self) -> None:
        subprocess.run(["buildah", *self.storage, "rm", "--all"], env=self.env, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.runroot, ignore_errors=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A two-layer image made by buildah, saved by podman as docker-archive and oci-archive.

    layer 1: the busybox rootfs + /data/{file1, keep, olddir/o, replaced/{r1,r2}, dir2file/x}
    layer 2 (through `buildah mount`): rm data/file1, rm -r data/olddir, data/replaced replaced
             wholesale by a new dir, data/dir2file replaced by a file; Entrypoint, Cmd, Env,
             WorkingDir and a named User.
    """
    top = tmp_path_factory.mktemp("buildah")
    tools = Tools(top / "tools")
    try:
        store = Store(top / "bb-store")
        base = prepare_rootfs(store, lookup_or_build(store, "busybox"), top / "bb", overlay=False).path
        data = os.path.join(base, "data")
        for d in ("olddir", "replaced", "dir2file"):
            os.makedirs(os.path.join(data, d))
        for name, text in {"file1": "1", "keep": "keep", "olddir/o": "o", "replaced/r1": "r1",
                           "replaced/r2": "r2", "dir2file/x": "x"}.items():
            with open(os.path.join(data, name), "w") as f:
                f.write(text)
        c = tools.buildah("from", "scratch")
        tools.buildah("copy", c, base + "/", "/")
        tools.buildah("commit", "-q", c, "localhost/base:1")
        c2 = tools.buildah("from", "localhost/base:1")
        mnt = tools.buildah("mount", c2)  # vfs: a plain directory, nothing mounted
        shutil.rmtree(os.path.join(mnt, "data", "olddir"))
        os.unlink(os.path.join(mnt, "data", "file1"))
        shutil.rmtree(os.path.join(mnt, "data", "replaced"))
        os.mkdir(os.path.join(mnt, "data", "replaced"))
        with open(os.path.join(mnt, "data", "replaced", "new"), "w") as f:
            f.write("new")
        shutil.rmtree(os.path.join(mnt, "data", "dir2file"))
        with open(os.path.join(mnt, "data", "dir2file"), "w") as f:
            f.write("now a file")
        tools.buildah("umount", c2)
        tools.buildah("config", "--entrypoint", '["/bin/echo","entry"]', "--cmd", '["from","cmd"]',
                      "--env", "A=1", "--env", "B=two words", "--workingdir", "/data", "--user", "learner",
                      "--label", "made.by=buildah", "--port", "8080/tcp", c2)
        tools.buildah("commit", "-q", c2, "localhost/multi:1")
        out = {"tools": tools, "docker": top / "multi-docker.tar", "oci": top / "multi-oci.tar"}
        tools.podman("save", "-q", "--format", "docker-archive", "-o", str(out["docker"]), "localhost/multi:1")
        tools.podman("save", "-q", "--format", "oci-archive", "-o", str(out["oci"]), "localhost/multi:1")
        assert mounts_under(top) == []
        yield out
    finally:
        tools.cleanup()


EXPECTED_DATA = {"data": "dir", "data/keep": "keep", "data/replaced": "dir", "data/replaced/new": "new",
                 "data/dir2file": "now a file"}


def check_multi(img, tmp_path):
    assert img.names == ["localhost/multi:1"]
    c = img.config
    assert c["Entrypoint"] == ["/bin/echo", "entry"] and c["Cmd"] == ["from", "cmd"]
    assert "A=1" in c["Env"] and "B=two words" in c["Env"]
    assert c["WorkingDir"] == "/data" and c["User"] == "learner"
    assert c["Labels"]["made.by"] == "buildah" and "8080/tcp" in c["ExposedPorts"]
    assert len(img.layers) == 2
    store = Store()
    for overlay in (False, True):
        rootfs = prepare_rootfs(store, img, tmp_path / f"c-{overlay}", overlay=overlay)
        if overlay:
            listing = subprocess.run(
                ["unshare", "--mount", "--propagation", "private", "sh", "-euc",
                 f"mount -t overlay overlay -o lowerdir={':'.join(rootfs.lowers)},upperdir={rootfs.upper},"
                 f"workdir={rootfs.work} {rootfs.path}; cd {rootfs.path}; "
                 "find data | sort; cat data/dir2file data/replaced/new; echo; chroot . /bin/id learner"],
                check=True, capture_output=True, text=True).stdout.split("\n")
            assert listing[:5] == sorted(EXPECTED_DATA)
            assert listing[5] == "now a filenew"
            assert listing[6].startswith("uid=1000(learner)")
        else:
            files = {k: v for k, v in tree(rootfs.path).items() if k.startswith("data")}
            assert files == EXPECTED_DATA
            assert os.path.islink(os.path.join(rootfs.path, "bin", "sh"))
    assert mounts_under(tmp_path) == []


def test_load_podman_docker_archive(built, tmp_path):
    assert archive.detect_format(built["docker"]) == "docker-archive"
    [img] = archive.load(Store(), built["docker"])
    check_multi(img, tmp_path)


def test_load_podman_oci_archive(built, tmp_path):
    assert archive.detect_format(built["oci"]) == "oci-archive"
    [img] = archive.load(Store(), built["oci"])
    check_multi(img, tmp_path)


INSIDE = "pwd; id; echo A=$A B=$B; ls /data; cat /data/dir2file; echo; ls /data/replaced"
INSIDE_OUT = ("/data\nuid=1000(learner) gid=1000(learner) groups=10(wheel),100(users),1000(learner)\n"
              "A=1 B=two words\ndir2file\nkeep\nreplaced\nnow a file\nnew\n")


def check_runs(mc, ref):
    """In a real container: Entrypoint + Cmd, WorkingDir, the named User, Env and the layer's whiteouts."""
    r = mc("run", "--rm", ref)
    assert (r.returncode, r.stdout) == (0, "entry from cmd\n"), r.stderr
    r = mc("run", "--rm", ref, "other", "args")                       # args replace Cmd only
    assert r.stdout == "entry other args\n"
    r = mc("run", "--rm", "--entrypoint", "sh", ref, "-c", INSIDE)   # --entrypoint clears Cmd
    assert (r.returncode, r.stdout) == (0, INSIDE_OUT), r.stderr
    r = mc("run", "--rm", "-u", "root", "-w", "/", "-e", "A=over", "--entrypoint", "sh", ref,
           "-c", "pwd; id -u; echo $A")
    assert r.stdout == "/\n0\nover\n"


def test_buildah_image_runs_in_a_container(built, mc):
    r = mc("load", "-i", str(built["docker"]))
    assert r.stdout == "Loaded image: localhost/multi:1\n", r.stderr
    check_runs(mc, "localhost/multi:1")


def test_load_an_oci_layout_dir_from_skopeo(built, tmp_path):
    d = tmp_path / "layout"
    built["tools"].skopeo("copy", "-q", f"oci-archive:{built['oci']}", f"oci:{d}:localhost/multi:1")
    assert archive.detect_format(d) == "oci-dir"
    [img] = archive.load(Store(), d)
    check_multi(img, tmp_path)


def test_minictr_save_is_read_by_skopeo_and_podman(built, tmp_path, capsys):
    tools = built["tools"]
    [img] = archive.load(Store(), built["docker"])
    out = tmp_path / "saved.tar"
    assert cli.main(["save", "-o", str(out), "localhost/multi:1"]) == 0
    info = json.loads(tools.skopeo("inspect", f"oci-archive:{out}"))
    assert info["Digest"] == img.manifest_digest and len(info["Layers"]) == 2
    assert info["Env"][:2] == img.config["Env"][:2]
    cfg = json.loads(tools.skopeo("inspect", "--config", f"oci-archive:{out}"))
    assert cfg["config"]["User"] == "learner" and cfg["rootfs"]["diff_ids"] == img.diff_ids
    tools.podman("rmi", "-f", "localhost/multi:1")
    assert "Loaded image: localhost/multi:1" in tools.podman("load", "-i", str(out))
    pinfo = json.loads(tools.podman("image", "inspect", "localhost/multi:1"))[0]
    assert pinfo["Config"]["Entrypoint"] == ["/bin/echo", "entry"] and pinfo["Id"] == img.id[7:]
    # a docker-archive with two images, which podman loads in one go
    out3 = tmp_path / "two.tar"
    assert cli.main(["save", "--format", "docker-archive", "-o", str(out3), "localhost/multi:1", "busybox"]) == 0
    loaded = tools.podman("load", "-i", str(out3))
    assert "localhost/multi:1" in loaded and "busybox:latest" in loaded
    tools.podman("rmi", "-f", "localhost/multi:1", "docker.io/library/busybox:latest")
    # the default busybox too, named as docker would name it
    out2 = tmp_path / "bb.tar"
    assert cli.main(["save", "-o", str(out2), "busybox"]) == 0
    assert "docker.io/library/busybox:latest" in tools.podman("load", "-i", str(out2))
    tools.podman("rmi", "-f", "docker.io/library/busybox:latest")


# --- a real registry on 127.0.0.1 ------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def docker_registry(tmp_path):
    """Debian's docker-registry on 127.0.0.1:<free port>, storage in tmp_path; always stopped."""
    port = free_port()
    cfg = tmp_path / "registry.yml"
    cfg.write_text(f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {tmp_path / 'registry-data'}
http:
  addr: 127.0.0.1:{port}
""")
    proc = subprocess.Popen(["/usr/bin/docker-registry", "serve", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1) as r:
                    assert r.status == 200
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"docker-registry did not start: {proc.stderr.read().decode()[-500:]}")
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


@pytest.mark.parametrize("fmt, manifest_type", [("oci", oci.OCI_MANIFEST), ("v2s2", oci.DOCKER_MANIFEST)])
def test_pull_from_docker_registry_and_run(docker_registry, built, tmp_path, fmt, manifest_type, capsys, mc):
    tools = built["tools"]
    ref = f"{docker_registry}/demo/multi:{fmt}"
    tools.skopeo("copy", "-q", "--dest-tls-verify=false", "--format", fmt,
                 f"oci-archive:{built['oci']}", f"docker://{ref}")
    assert cli.main(["pull", ref]) == 0
    assert capsys.readouterr().out == f"{ref}\n"
    img = Store().lookup(ref)
    assert img.manifest["mediaType"] == manifest_type
    remote = json.loads(tools.skopeo("inspect", "--tls-verify=false", f"docker://{ref}"))
    assert img.manifest_digest == remote["Digest"]
    # the same files and config as the image buildah made
    img.names = ["localhost/multi:1"]
    check_multi(img, tmp_path)
    check_runs(mc, ref)


def test_pull_busybox_pushed_from_the_minictr_store(docker_registry, tmp_path, capsys):
    """Our store is an OCI layout, so skopeo can push straight from it."""
    store = Store()
    bb = lookup_or_build(store, "busybox")
    ref = f"{docker_registry}/library/busybox:minictr"
    run(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{store.root}:busybox:latest", f"docker://{ref}"])
    other = Store(tmp_path / "other")
    img = registry.pull(other, ref)
    assert img.id == bb.id and img.manifest_digest == bb.manifest_digest
    assert registry.pull(other, f"{docker_registry}/library/busybox@{bb.manifest_digest}").id == bb.id


def test_pull_errors_from_a_real_registry(docker_registry, tmp_path, capsys):
    src = Store(tmp_path / "src")
    lookup_or_build(src, "busybox")
    run(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{src.root}:busybox:latest",
         f"docker://{docker_registry}/library/busybox:there"])
    for ref, what in [(f"{docker_registry}/nothere/x:1", "repository nothere/x not found"),
                      (f"{docker_registry}/library/busybox:nope", "tag nope not found in library/busybox")]:
        assert cli.main(["pull", ref]) == 1
        err = capsys.readouterr().err
        assert what in err and err.strip().splitlines()[-1].startswith("minictr: ")
    assert "it has the tags: there" in err
    assert Store().images() == []


def test_rmi_refuses_an_image_a_container_uses_and_keeps_its_layers(mc, tmp_path):
    """A stopped container keeps its image (docker's rule); -f untags it but its lowerdirs stay."""
    r = mc("run", "--name", "keeper", "busybox", "true")
    assert r.returncode == 0, r.stderr
    r = mc("rmi", "busybox")
    assert r.returncode == 1 and "used by container keeper" in r.stderr
    r = mc("rmi", "-f", "busybox")
    assert r.returncode == 0 and "Untagged: busybox:latest" in r.stdout
    assert mc("images", "-q").stdout == ""
    layers = tmp_path / "store" / "layers"
    st = json.loads(next((tmp_path / "run").glob("*/state.json")).read_text())
    for lower in st["config"]["rootfs"]["lowers"]:
        assert os.path.isdir(lower) and os.path.dirname(lower) == str(layers)
    assert mc("rm", "keeper").returncode == 0
    r = mc("image", "prune")
    assert r.returncode == 0 and "1 unpacked layers" in r.stdout
    assert [p.name for p in layers.iterdir() if not p.name.startswith(".")] == []


def test_inspect_tries_the_container_then_the_image(mc):
    assert mc("run", "--name", "busybox", "busybox", "true").returncode == 0  # a container named like the image
    r = mc("inspect", "busybox")
    [c] = json.loads(r.stdout)
    assert c["Name"] == "/busybox" and c["State"]["Status"] == "exited" and c["State"]["ExitCode"] == 0
    [i] = json.loads(mc("inspect", "--type", "image", "busybox").stdout)
    assert i["RepoTags"] == ["busybox:latest"] and i["Config"]["Cmd"] == ["sh"]
    both = json.loads(mc("inspect", c["Id"][:12], i["Id"]).stdout)
    assert [both[0].get("Name"), both[1].get("RepoTags")] == ["/busybox", ["busybox:latest"]]
    r = mc("inspect", "--type", "container", "nothere")
    assert r.returncode == 1 and "no such container 'nothere'" in r.stderr
    assert mc("rm", "busybox").returncode == 0
