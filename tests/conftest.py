"""Shared test set-up: privileged tests skip only where the probe says so, with the reason."""

import os

import pytest

ROOT_REASON = ("needs root for namespaces, mounts and cgroups; run `sudo make test` "
               "(in CI, as root, nothing is skipped)")


@pytest.fixture(autouse=True)
def private_minictr_dirs(tmp_path, monkeypatch):
    """Every test gets its own image store and runtime dir, so no test touches
    /var/lib/minictr or /run/minictr, and tests running side by side never share state."""
    monkeypatch.setenv("MINICTR_ROOT", str(tmp_path / "store"))
    monkeypatch.setenv("MINICTR_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.delenv("MINICTR_NO_OVERLAY", raising=False)


@pytest.fixture
def store(tmp_path):
    """The test's private image store (the one MINICTR_ROOT names), laid out and empty."""
    from minictr.image import Store

    return Store(tmp_path / "store").ensure()


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    for item in items:
        if "integration" in item.nodeid.split("/") or item.get_closest_marker("root"):
            item.add_marker(pytest.mark.skip(reason=ROOT_REASON))


# Under pytest-xdist (`make test`: -n 2) the integration tests' session fixture
# ``remove_the_default_bridge`` does nothing on a worker: one worker finishing early would remove
# the bridge under the other's containers (refused while they run, but made again and again in
# between). The controller removes it once, after every worker is done, if an integration test ran.
_integration_ran = []


def pytest_runtest_logreport(report):
    if report.when == "call" and report.nodeid.startswith("tests/integration/") and not _integration_ran:
        _integration_ran.append(report.nodeid)


def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput") or not _integration_ran or os.geteuid() != 0:
        return
    if not getattr(session.config.option, "numprocesses", None):
        return   # one process: the integration conftest's session fixture removed it already
    import shutil
    import subprocess
    import sys
    import tempfile

    tmp = tempfile.mkdtemp(prefix="minictr-bridge-rm-")
    try:
        subprocess.run([sys.executable, "-m", "minictr", "network", "rm", "bridge"], capture_output=True,
                       env=dict(os.environ, MINICTR_ROOT=f"{tmp}/store", MINICTR_RUNTIME_DIR=f"{tmp}/run"),
                       timeout=60, check=False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
