"""The Makefile says what it does: `make help` lists every target, `test` names every step,
and the venv gets this checkout through a plain .pth line (mk/devinstall.py)."""

import re
import subprocess
from pathlib import Path
from scriptload import load_script

try:
    import tomllib
except ImportError:  # Python 3.10: pip vendors the same parser
    from pip._vendor import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
MAKEFILES = [REPO / "Makefile", *sorted((REPO / "mk").glob("*.mk"))]
RULE = re.compile(r"^([a-z][a-z0-9-]*)\s*:(?![:=])(.*)$")


def rules() -> list[tuple[str, str, str]]:
    """``(file name, target, rest of the line)`` for every rule of a named target."""
    found = []
    for path in MAKEFILES:
        for line in path.read_text().splitlines():
            m = RULE.match(line)
            if m:
                found.append((path.name, m.group(1), m.group(2)))
    return found


def test_every_target_has_a_help_line_and_make_help_lists_it():
    missing = [f"{f}: {t}" for f, t, rest in rules() if "## " not in rest]
    assert missing == [], "add `## what it does` to the rule line of: " + ", ".join(missing)
    out = subprocess.run(["make", "-s", "--no-print-directory", "-C", str(REPO), "help"],
                         capture_output=True, text=True, check=True).stdout
    listed = re.findall(r"^  make (\S+)", out, re.M)
    assert listed == [t for _f, t, _r in rules()]
    assert {"lab", "test", "nbval", "check-notebooks", "clean"} <= set(listed)


def test_the_test_rule_names_every_step_in_one_place():
    test_rules = [(f, rest) for f, t, rest in rules() if t == "test"]
    assert len(test_rules) == 1 and test_rules[0][0] == "Makefile", test_rules
    prerequisites = test_rules[0][1].split("##")[0].split()
    assert prerequisites == ["setup-test", "check-notebooks"]
    # ... and one pytest run does the rest: strict nbval of every notebook (as `make nbval`) and tests/,
    # on workers that keep a file together (a notebook's cells need one kernel).
    out = subprocess.run(["make", "-s", "--no-print-directory", "-n", "-C", str(REPO), "test",
                          "-o", "setup-test", "-o", "check-notebooks"],
                         capture_output=True, text=True, check=True).stdout.replace("\\\n", " ")
    pytest_lines = [line for line in out.splitlines() if " -m pytest " in line]
    assert len(pytest_lines) == 1, out
    args = pytest_lines[0].split()
    nbval = subprocess.run(["make", "-s", "--no-print-directory", "-n", "-C", str(REPO), "nbval",
                            "-o", "venv", "-o", "image"], capture_output=True, text=True, check=True).stdout.replace("\\\n", " ")
    nbval_args = next(line for line in nbval.splitlines() if " -m pytest " in line).split()
    assert set(nbval_args[nbval_args.index("pytest"):]) - {"notebooks/"} <= set(args)
    assert {"tests", "notebooks/", "--dist", "loadfile", "-n", "--no-loadscope-reorder"} <= set(args)
    assert args.index("tests") < args.index("notebooks/")   # tests/browser/test_lab.py, the longest file, goes first
    assert args[args.index("--dist") + 1] == "loadfile" and args[args.index("-n") + 1] == "2"


def devinstall():
    return load_script("mk/devinstall.py")


def test_devinstall_installs_the_extras_requirements_and_a_plain_script():
    di = devinstall()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    reqs = di.requirements(pyproject, ["lab", "test"])
    assert "nbval==0.11.0" in reqs and "jupyterlab>=4,<5" in reqs and len(reqs) == len(set(reqs))
    assert not any(r.startswith("minictr") for r in reqs)
    assert di.script_text("/venv/bin/python", pyproject["project"]["scripts"]["minictr"]) == (
        "#!/venv/bin/python\nfrom minictr.cli import entry\nentry()\n")


def test_the_makefile_no_longer_builds_an_editable_install():
    text = (REPO / "Makefile").read_text()
    assert "editable_mode" not in text and "pip install -q -e" not in text
    assert "mk/devinstall.py lab test site" in text  # site: tests/browser/test_site.py builds the site


def test_the_build_backend_is_new_enough_for_the_license_string():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert isinstance(pyproject["project"]["license"], str)  # PEP 639: setuptools 77 or later
    assert pyproject["build-system"]["requires"] == ["setuptools>=77"]


def test_devinstall_makes_a_minictr_runtime_script_that_runs(tmp_path):
    """The OCI runtime command podman is pointed at (``--runtime .venv/bin/minictr-runtime``)."""
    import os
    import subprocess
    import sys
    di = devinstall()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    text = di.script_text(sys.executable, pyproject["project"]["scripts"]["minictr-runtime"])
    assert text == f"#!{sys.executable}\nfrom minictr.oci.cli import entry\nentry()\n"
    script = tmp_path / "minictr-runtime"
    script.write_text(text)
    script.chmod(0o755)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([str(script), "--version"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("minictr-runtime version "), r.stderr
