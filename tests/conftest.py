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
