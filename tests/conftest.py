"""Shared test set-up: privileged tests skip only where the probe says so, with the reason."""

import os

import pytest

ROOT_REASON = ("needs root for namespaces, mounts and cgroups; run `sudo make test` "
               "(in CI, as root, nothing is skipped)")


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    for item in items:
        if "integration" in item.nodeid.split("/") or item.get_closest_marker("root"):
            item.add_marker(pytest.mark.skip(reason=ROOT_REASON))
