"""`make lab` installs every host command a lesson runs (the LESSON records' `tools`).

`make lab` runs `make setup`, whose `apt` rule installs $(APT_BASE) $(APT_LAB). Each
tool's Debian package is found with `dpkg -S` (the package that owns the command's
file); it must be in that list or be Essential (always installed on Debian).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from minictr import labs

REPO = Path(__file__).resolve().parents[2]


def make_variable(name: str) -> list[str]:
    text = (REPO / "Makefile").read_text()
    m = re.search(rf"^{name}\s*:=\s*(.*)$", text, re.M)
    assert m, f"the Makefile has no {name} :="
    return m.group(1).split()


def apt_rule_packages() -> set[str]:
    text = (REPO / "Makefile").read_text()
    m = re.search(r"^apt:.*\n\t@bash \.ci/apt-ensure (.*)$", text, re.M)
    assert m, "the Makefile's apt rule must run .ci/apt-ensure"
    return {p for var in re.findall(r"\$\((\w+)\)", m.group(1)) for p in make_variable(var)}


def owner(tool: str) -> str:
    """The Debian package that owns ``tool`` on $PATH (usrmerge: /usr/bin/x may be listed as /bin/x)."""
    where = shutil.which(tool)
    if where is None:
        pytest.fail(f"{tool} is not installed here, so its package cannot be looked up; install it")
    real = os.path.realpath(where)
    candidates = {where, real}
    for p in list(candidates):
        if p.startswith("/usr/"):
            candidates.add(p[len("/usr"):])
    for path in sorted(candidates):
        out = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout.split(":", 1)[0].split(",")[0].strip()
    pytest.fail(f"dpkg -S finds no package for {tool} ({where})")


def essential(package: str) -> bool:
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Essential}", package], capture_output=True, text=True)
    return out.stdout.strip() == "yes"


def test_the_lab_rule_runs_apt():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^lab: setup\b", makefile, re.M) and re.search(r"^setup: apt\b", makefile, re.M)


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs Debian's dpkg to name the packages")
def test_every_lesson_tool_is_installed_by_make_lab():
    installed = apt_rule_packages()
    uncovered = {}
    for lesson in labs.lessons():
        for tool in lesson.tools:
            package = owner(tool)
            if package not in installed and not essential(package):
                uncovered.setdefault(f"{tool} ({package})", []).append(lesson.number)
    assert uncovered == {}, f"add these packages to APT_LAB in the Makefile: {uncovered}"


def test_lesson_08s_registry_tools_are_in_make_lab():
    assert {"skopeo", "docker-registry"} <= apt_rule_packages()
