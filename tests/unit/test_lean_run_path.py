"""The run path stays lean: what `minictr run` imports, and the fast exit."""

import os
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]

#: Modules `minictr run` must not import when the image's layers are cached.
HEAVY = ("hashlib", "_hashlib", "platform", "tarfile", "tempfile", "datetime", "subprocess",
         "dataclasses", "typing", "inspect",
         "minictr.tarball", "minictr.cli_images", "minictr.image.default", "minictr.oci", "minictr.mountspec")


def test_run_path_imports_nothing_heavy(tmp_path):
    code = (
        "import sys\n"
        "from minictr import cli, container, image\n"
        "from minictr.image import layers\n"
        "from minictr import cgroups, process, syscalls\n"
        "cli.build_parser(only='run').parse_args(['run', '--rm', 'busybox', 'true'])\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), MINICTR_ROOT=str(tmp_path / "s"), MINICTR_RUNTIME_DIR=str(tmp_path / "r"))
    out = subprocess.run([sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def test_python_m_minictr_flushes_output_before_its_fast_exit(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), MINICTR_ROOT=str(tmp_path / "s"), MINICTR_RUNTIME_DIR=str(tmp_path / "r"))
    out = subprocess.run([sys.executable, "-m", "minictr", "ps", "-a"], env=env, capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.startswith("CONTAINER ID") and out.stdout.endswith("\n")
    bad = subprocess.run([sys.executable, "-m", "minictr", "rm", "no-such-container"], env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 1  # rm's own failure: 1, as docker's CLI
    assert bad.stdout == "" and "no such container: no-such-container" in bad.stderr
