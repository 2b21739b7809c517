"""Fixtures for the pure cgroup v2 tests (`make test-v2` runs them in a Debian 12 VM).

They reuse the integration fixtures (``mc``, ``rootfs_dir``: a private store and a
busybox root, with a leak check after each test). On a host that is not pure v2,
or whose PID 1 is not systemd, a test skips with the reason; in the VM, where
``MINICTR_REQUIRE_V2=1``, that skip is a failure instead: the VM must be pure v2.
"""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from minictr import cgroups

_INTEGRATION = Path(__file__).resolve().parent.parent / "integration"
if str(_INTEGRATION) not in sys.path:
    sys.path.insert(0, str(_INTEGRATION))  # its conftest imports its helper modules (patience) by name
_spec = importlib.util.spec_from_file_location("integration_conftest", _INTEGRATION / "conftest.py")
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)
mc = _integration.mc
rootfs_dir = _integration.rootfs_dir
Minictr = _integration.Minictr


def _unavailable(reason: str):
    if os.environ.get("MINICTR_REQUIRE_V2") == "1":
        pytest.fail(f"MINICTR_REQUIRE_V2=1 but {reason}")
    pytest.skip(f"{reason}: run `make test-v2`, which boots a pure cgroup v2 VM")


def _pure_v2():
    if os.geteuid() != 0:
        _unavailable("these tests need root")
    layout = cgroups.detect()
    if layout.kind != "v2":
        _unavailable(f"this host's cgroups are {layout.kind}, not pure v2")
    return layout


def _systemd():
    layout = _pure_v2()
    if not os.path.isdir("/run/systemd/system"):
        _unavailable("PID 1 is not systemd")
    return layout


@pytest.fixture
def v2():
    """The layout of this pure v2 host (skips, or fails in the VM, anywhere else)."""
    return _pure_v2()


@pytest.fixture
def systemd():
    """A pure v2 host whose PID 1 is systemd (sd_booted(3): /run/systemd/system exists)."""
    return _systemd()


@pytest.fixture(scope="module")
def systemd_module():
    """``systemd`` for a module's fixtures (a user, a hub): checked before they make anything."""
    return _systemd()
