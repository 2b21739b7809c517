"""A real `minictr run busybox` imports only what it needs (the bench's lean-path goal).

`python -X importtime` lists every module a process imports. The run path
must not pull in the modules whose import costs milliseconds and which it
does not need: each of these was once on it, and was taken off (see bench/).
"""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Not on the run path of a cached image: each costs 1-10 ms to import on this kind of machine.
NOT_ON_THE_RUN_PATH = (
    "re", "enum", "json", "argparse", "pathlib", "socket", "signal", "random", "shutil",
    "tarfile", "tempfile", "hashlib", "dataclasses", "typing", "subprocess", "datetime",
    "minictr.image.store", "minictr.image.layers", "minictr.image.refs", "minictr.tarball",
    "minictr.image.blobs", "minictr.image.gc", "minictr.image.default", "minictr.cli_format",
)


def imported_by(argv, env):
    r = subprocess.run([sys.executable, "-X", "importtime", *argv], env=env, capture_output=True, text=True)
    mods = {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    return r, mods


def test_run_busybox_imports_nothing_heavy():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    # The first run builds the image and unpacks its layer: that path may import anything.
    subprocess.run([sys.executable, "-m", "minictr", "run", "--rm", "busybox", "true"], env=env, check=True,
                   capture_output=True)
    r, mods = imported_by(["-m", "minictr", "run", "--rm", "busybox", "--", "sh", "-c", "echo hi"], env)
    assert r.returncode == 0 and r.stdout == "hi\n", r.stderr[-2000:]
    assert "minictr.image.quick" in mods and "ctypes" in mods  # the module list is real
    assert sorted(m for m in NOT_ON_THE_RUN_PATH if m in mods) == []


def test_an_odd_command_line_still_works_through_argparse():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r, mods = imported_by(["-m", "minictr", "run", "--rm", "--memory-swap", "-1", "-m", "32m", "busybox", "true"], env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "argparse" in mods  # a value starting with '-': the fast reader stepped aside


def test_an_rm_containers_overlay_is_volatile_a_kept_ones_is_not():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    show = ["sh", "-c", "grep -c 'overlay.*volatile' /proc/mounts || true"]
    rm = subprocess.run([sys.executable, "-m", "minictr", "run", "--rm", "busybox", *show], env=env,
                        capture_output=True, text=True)
    kept = subprocess.run([sys.executable, "-m", "minictr", "run", "--name", "kept-one", "busybox", *show], env=env,
                          capture_output=True, text=True)
    subprocess.run([sys.executable, "-m", "minictr", "rm", "kept-one"], env=env, check=True, capture_output=True)
    assert (rm.stdout, kept.stdout) == ("1\n", "0\n"), rm.stderr + kept.stderr
