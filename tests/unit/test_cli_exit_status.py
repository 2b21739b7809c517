"""Exit statuses as docker's CLI gives them, and a closed stdout that ends a command quietly."""

import os
import subprocess
import sys
from pathlib import Path

from minictr import cli
from minictr.errors import ConfigError, ContainerSetupError, MinictrError, NotFound
from minictr.image import Store
from minictr.image.synthetic import add_image

REPO = Path(__file__).resolve().parents[2]


def test_exit_status_is_1_for_other_commands_and_125_for_run_and_usage():
    assert cli.exit_status(NotFound("no such container: x"), "rm") == 1
    assert cli.exit_status(ConfigError("image reference", "../x", "bad"), "tag") == 1
    assert cli.exit_status(NotFound("no such container: x"), "run") == 125
    assert cli.exit_status(ContainerSetupError("exec", "not found", exit_code=127), "run") == 127
    assert cli.exit_status(cli.UsageError("rm: unrecognized arguments: --bogus"), "rm") == 125
    assert cli.exit_status(MinictrError("broken"), None) == 1


def test_rm_and_rmi_of_something_unknown_exit_1(capsys):
    assert cli.main(["rm", "nothere"]) == 1
    assert cli.main(["rmi", "nothere"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("minictr: ") for line in err)


def test_bad_command_lines_stay_125_for_every_command(capsys):
    assert cli.main(["rm", "--bogus", "x"]) == 125
    assert cli.main(["images", "--bogus"]) == 125
    assert cli.main(["run", "--bogus", "busybox"]) == 125


def _with_closed_stdout(*args) -> subprocess.CompletedProcess:
    """Run ``python -m minictr ARGS`` with a stdout pipe whose reader is already gone."""
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run([sys.executable, "-m", "minictr", *args], stdout=w, stderr=subprocess.PIPE,
                              text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60)
    finally:
        os.close(w)


def test_a_closed_stdout_ends_a_command_quietly_with_141():
    # Small output is written by the final flush; big output by print() itself: both quiet.
    add_image(Store(), [{"a": "1"}], name="app:v1", config={"Cmd": ["sh"], "Labels": {"big": "x" * 100_000}})
    for args in (["ps", "-a"], ["images"], ["inspect", "app:v1"]):
        r = _with_closed_stdout(*args)
        assert (r.returncode, r.stderr) == (cli.EXIT_BROKEN_PIPE, ""), args


def test_an_unrelated_broken_pipe_is_still_reported(monkeypatch, capsys):
    def broken(args):
        raise BrokenPipeError(32, "Broken pipe")  # a socket, say: our stdout is fine
    monkeypatch.setattr(cli, "cmd_ps", broken)
    assert cli.main(["ps"]) == 1
    assert "unexpected error: BrokenPipeError" in capsys.readouterr().err
