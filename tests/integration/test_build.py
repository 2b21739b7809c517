"""``minictr build`` end to end: a multi-stage Containerfile with every instruction, the
cache, reproducible builds, minimal images, and bad input that leaves nothing behind.

Every build uses the ``mc`` fixture's private store and runtime dir (the fixture
checks that no container state and no mount is left); RUN steps run in real
confined minictr containers.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request

import pytest

from tests.integration.conftest import static_busybox

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: overlay mounts, namespaces")]

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python-app")

EVERYTHING = """\
# escape=\\
ARG BASE=busybox
FROM $BASE AS a
ARG GREETING=hi
ENV APP=/app \\
    MODE=test
WORKDIR /app
RUN echo "$GREETING $MODE" > made.txt && rm -rf /etc/group && mkdir -p /var/x && touch /var/x/y \\
    && echo "built as $(id -u) in $(pwd)"
COPY src/ ./src/
COPY --chown=1000:1000 --chmod=0640 src/a.txt /data/a.txt
ADD files.tar.gz /unpacked/

FROM busybox
LABEL org.example.who=builder
COPY --from=a /app /app
COPY --from=a /unpacked/ /unpacked/
COPY --from=a /data/a.txt /data/
COPY --chown=learner src/*.txt /home/learner/
SHELL ["/bin/sh", "-c"]
RUN cat /app/made.txt > /shell.txt
USER 1000:1000
EXPOSE 8080/tcp
VOLUME /data
STOPSIGNAL SIGINT
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/made.txt /app/src/a.txt /unpacked/t.txt; id -u; ls /app/src"]
"""


def make_context(root, containerfile: str = EVERYTHING):
    os.makedirs(root / "src" / "sub", exist_ok=True)
    (root / "src" / "a.txt").write_text("hello\n")
    (root / "src" / "sub" / "b.txt").write_text("sub\n")
    (root / "src" / "skip.log").write_text("ignored\n")
    (root / ".containerignore").write_text("**/*.log\n")
    data = b"in the tar\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        ti = tarfile.TarInfo("t.txt")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    (root / "files.tar.gz").write_bytes(buf.getvalue())
    (root / "Containerfile").write_text(containerfile)
    return root


def store_image(mc, ref: str):
    from minictr.image import Store
    return Store(mc.env["MINICTR_ROOT"]).lookup(ref)


def layer_names(mc, img, index: int) -> list[str]:
    path = os.path.join(mc.env["MINICTR_ROOT"], "blobs", "sha256", img.layers[index]["digest"][7:])
    with tarfile.open(path) as tf:
        return tf.getnames()


def assert_nothing_left(mc):
    root = mc.env["MINICTR_ROOT"]
    assert os.listdir(os.path.join(root, "tmp")) == [], "a build work dir was left"
    assert mc.states() == []
    with open("/proc/self/mountinfo") as f:
        assert [l for l in f if str(mc.tmp) in l] == []


def test_every_instruction_multi_stage_and_run(mc, tmp_path):
    ctx = make_context(tmp_path / "ctx")
    r = mc("build", "-t", "demo", "--label", "extra=yes", str(ctx), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "STEP 1/22: FROM $BASE AS a" in r.stdout and "STEP 22/22: CMD" in r.stdout
    assert "built as 0 in /app" in r.stdout  # the RUN's output streams; ENV and WORKDIR apply
    assert "COMMIT demo" in r.stdout and "Successfully tagged demo:latest" in r.stdout
    img = store_image(mc, "demo")
    assert r.stdout.split()[-1] == img.id[7:]
    cfg = img.config
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"] and cfg["User"] == "1000:1000"
    assert cfg["ExposedPorts"] == {"8080/tcp": {}} and cfg["Volumes"] == {"/data": {}}
    assert cfg["StopSignal"] == "SIGINT" and "WorkingDir" not in cfg  # WORKDIR was in stage a
    assert {k: cfg["Labels"][k] for k in ("org.example.who", "extra")} == {"org.example.who": "builder", "extra": "yes"}
    hist = img.oci_config["history"]
    assert sum(not h.get("empty_layer") for h in hist) == len(img.layers) == 6  # busybox + 4 COPY + RUN
    assert any(h.get("empty_layer") and "EXPOSE 8080/tcp" in h["created_by"] for h in hist)
    run = mc("run", "--rm", "demo")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:5] == ["hi test", "hello", "in the tar", "1000", "a.txt"]
    assert "skip.log" not in run.stdout  # .containerignore
    # COPY --chown/--chmod
    ls = mc("run", "--rm", "-u", "0", "demo", "stat -c '%u:%g %a' /data/a.txt /shell.txt /home/learner/*")
    assert ls.stdout.split("\n")[:3] == ["1000:1000 640", "0:0 644", "1000:1000 644"]  # learner is 1000
    hist_out = mc("history", "demo")
    assert hist_out.returncode == 0 and hist_out.stdout.splitlines()[0].split()[:3] == ["IMAGE", "CREATED", "CREATED"]
    assert "EXPOSE 8080/tcp" in hist_out.stdout and "<missing>" in hist_out.stdout
    # Stage a alone (--target): its RUN layer holds the whiteout of the deleted /etc/group
    t = mc("build", "-t", "stage-a", "--target", "a", str(ctx), timeout=120)
    assert t.returncode == 0, t.stderr
    a = store_image(mc, "stage-a")
    names = layer_names(mc, a, 1)
    assert "etc/.wh.group" in names and "app/made.txt" in names and "var/x/y" in names
    assert not any(n.startswith(("proc", "dev", "sys")) for n in names)
    assert "--> Using cache" in t.stdout  # stage a's steps were built by the first build
    assert_nothing_left(mc)


def test_cache_hits_changes_and_no_cache(mc, tmp_path):
    ctx = make_context(tmp_path / "ctx", "FROM busybox\nENV A=1\nRUN echo run-one > /one\nWORKDIR /w\n"
                                         "COPY src/a.txt .\nRUN cat a.txt /one > /both\n")
    first = mc("build", "-t", "c", str(ctx))
    assert first.returncode == 0, first.stderr
    assert "Using cache" not in first.stdout
    second = mc("build", "-t", "c", str(ctx))
    assert second.stdout.count("--> Using cache") == 5  # every step after FROM
    assert second.stdout.split()[-1] == first.stdout.split()[-1]  # the same image
    (ctx / "src" / "a.txt").write_text("changed\n")
    third = mc("build", "-t", "c", str(ctx))
    steps = third.stdout.split("STEP ")
    assert all("Using cache" in steps[i] for i in (2, 3, 4))         # ENV, the first RUN, WORKDIR
    assert not any("Using cache" in steps[i] for i in (5, 6))       # COPY (into WORKDIR) and after
    assert mc("run", "--rm", "c", "cat", "/both").stdout == "changed\nrun-one\n"
    fourth = mc("build", "--no-cache", "-t", "c", str(ctx))
    assert fourth.returncode == 0 and "Using cache" not in fourth.stdout
    assert_nothing_left(mc)


def test_timestamp_makes_builds_reproducible(mc, tmp_path):
    ctx = make_context(tmp_path / "ctx", "FROM busybox\nRUN echo same > /f && mkdir /d\nCOPY src/ /src/\n"
                                         "CMD [\"cat\", \"/f\"]\n")
    ids = []
    for _ in range(2):
        r = mc("build", "--no-cache", "--timestamp", "1700000000", "-t", "r", str(ctx))
        assert r.returncode == 0, r.stderr
        ids.append(store_image(mc, "r").manifest_digest)
    assert ids[0] == ids[1]
    env = dict(mc.env, SOURCE_DATE_EPOCH="1700000000")
    p = subprocess.run(mc.argv("build", "--no-cache", "-q", "-t", "r2", str(ctx)), env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and store_image(mc, "r2").manifest_digest == ids[0]
    assert store_image(mc, "r").created.timestamp() == 1700000000


@pytest.mark.parametrize("text, why", [
    ("FROM busybox\nFROBNICATE x\n", "Containerfile:2: unknown instruction: FROBNICATE"),
    ("FROM busybox\nRUN echo fine\nCOPY nothere /x\n", "Containerfile:3: COPY source 'nothere' does not exist"),
    ("FROM busybox\nCOPY ../etc/passwd /x\n", "Containerfile:2: COPY source '../etc/passwd' is outside the build context"),
    ("FROM busybox\nRUN echo about to fail; exit 3\n", "Containerfile:2: RUN echo about to fail; exit 3: exit status 3"),
    ("FROM busybox\nCOPY --from=nostage /a /b\n", "Containerfile:2: COPY --from nostage: no such image"),
    ("FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /x /x\n", "stage cycle"),
])
def test_bad_input_leaves_nothing(mc, tmp_path, text, why):
    ctx = make_context(tmp_path / "ctx", text)
    assert mc("image", "build-default").returncode == 0
    before = mc("images", "-q").stdout
    r = mc("build", "-t", "bad", str(ctx))
    assert r.returncode == 125 and why in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    if "exit 3" in text:
        assert "STEP 2/2: RUN echo about to fail" in r.stdout and "about to fail\n" in r.stdout
    assert mc("images", "-q").stdout == before
    assert mc("ps", "-aq").stdout == ""
    assert_nothing_left(mc)


def test_from_scratch_with_a_static_binary(mc, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    shutil.copy(static_busybox(), ctx / "busybox")
    (ctx / "Containerfile").write_text('FROM scratch\nCOPY busybox /bin/busybox\n'
                                       'RUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["echo", "from scratch"]\n')
    r = mc("build", "-t", "tiny", str(ctx))
    assert r.returncode == 0, r.stdout + r.stderr
    img = store_image(mc, "tiny")
    assert len(img.layers) == 2 and not any(n.startswith(("proc", "dev", "sys")) for n in layer_names(mc, img, 1))
    assert mc("run", "--rm", "tiny").stdout == "from scratch\n"


def test_python_app_from_binary_built_and_served(mc, tmp_path):
    """The slides' app: the host's python made minimal (from-binary), the multi-stage
    Containerfile of examples/python-app, and the app answering HTTP through its published
    port, as the slides run it (`run -d -p 18082:80`)."""
    python = "/usr/bin/python3"
    version = "%d.%d" % sys.version_info[:2]
    stdlib = f"/usr/lib/python{version}"
    if os.path.realpath(python) != f"/usr/bin/python{version}" or not os.path.isdir(stdlib):
        pytest.skip(f"{python} is not the Python {version} whose standard library is {stdlib}")
    r = mc("image", "from-binary", python, "--add", stdlib, "-t", "python-min", timeout=120)
    assert r.returncode == 0, r.stderr
    ldd = subprocess.run(["ldd", python], capture_output=True, text=True).stdout
    libs = [l.split("=>")[-1].split()[0] for l in ldd.splitlines() if "/" in l]
    names = set(layer_names(mc, store_image(mc, "python-min"), 0))
    for lib in libs:  # what ldd says the program needs is in the image (behind /lib -> usr/lib too)
        assert os.path.realpath(lib).lstrip("/") in names
    assert "usr/bin/python3" in names and f"usr/lib/python{version}/json/__init__.py" in names
    r = mc("build", "-t", "my-python-app", EXAMPLE, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    app = store_image(mc, "my-python-app")
    assert app.config["ExposedPorts"] == {"80/tcp": {}}
    assert not any(n.startswith(("bin/sh", "usr/bin/sh")) for n in layer_names(mc, app, 0))  # no shell
    # The slides' command: detached, with port 80 published on the host's 127.0.0.1.
    r = mc("run", "-d", "-p", "18082:80", "--name", "pyapp", "my-python-app")
    assert r.returncode == 0, r.stderr
    try:
        body = ""
        for _ in range(100):  # until the app listens
            try:
                with urllib.request.urlopen("http://127.0.0.1:18082/", timeout=5) as resp:
                    body = resp.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert body.startswith("hello from my-python-app on "), body
        assert "127.0.0.1:18082->80/tcp" in mc("ps").stdout or "0.0.0.0:18082->80/tcp" in mc("ps").stdout
    finally:
        mc("rm", "-f", "pyapp")


@pytest.mark.alone  # the host's interfaces now vs in the step: other tests' veths come and go
def test_run_steps_are_confined_and_have_no_network_unless_network_host(mc, tmp_path):
    ctx = make_context(tmp_path / "ctx", "FROM busybox\nRUN ls /sys/class/net > /nets && grep -E '^(CapEff|Seccomp):' "
                                         "/proc/self/status\nCMD [\"cat\", \"/nets\"]\n")
    r = mc("build", "-t", "n0", str(ctx))
    assert r.returncode == 0, r.stderr
    assert "CapEff:\t00000000a80425fb\nSeccomp:\t2\n" in r.stdout  # docker's 14 capabilities, seccomp on
    assert mc("run", "--rm", "n0").stdout.split() == ["lo"]  # a network namespace of its own
    r = mc("build", "--network", "host", "-t", "n1", str(ctx))
    assert r.returncode == 0 and "Using cache" not in r.stdout  # another network, another step
    assert sorted(mc("run", "--rm", "n1").stdout.split()) == sorted(os.listdir("/sys/class/net"))


def test_a_stopped_build_leaves_nothing(mc, tmp_path):
    """SIGTERM in the middle of a RUN: the step's container, its state and the work dir go."""
    ctx = make_context(tmp_path / "ctx", "FROM busybox\nRUN echo started && sleep 30\n")
    assert mc("image", "build-default").returncode == 0
    p = mc.popen("build", "-t", "stopped", str(ctx), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in p.stdout:
            if line == "started\n":  # the RUN's container is running
                break
        assert mc.states() != []
        p.terminate()
        assert p.wait(timeout=20) == 130
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()
    assert mc("images", "-q", "stopped").stdout == ""
    assert_nothing_left(mc)
