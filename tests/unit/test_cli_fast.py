"""``run``'s fast reader of the command line agrees with argparse, or steps aside.

``cli.parse_run_fast`` reads common ``minictr run`` lines without importing
argparse (a start-up cost). argparse stays the reference: for every line
here, the fast reader either gives exactly argparse's result, or None.
"""

import pytest

from minictr import cli

AGREES = [
    ["busybox"],
    ["--rm", "busybox", "--", "/bin/true"],
    ["--rm", "busybox", "/bin/true"],
    ["busybox", "--", "--", "x"],
    ["busybox", "sh", "--", "x"],
    ["-it", "busybox", "sh"],
    ["-i", "-t", "--rm", "busybox", "sh", "-c", "echo $$"],
    ["--name", "web", "-e", "A=1", "-eB=2", "--env", "C=3", "--env=D=4", "busybox", "env"],
    ["-w", "/tmp", "-u", "1000:1000", "-h", "box", "--hostname=other", "busybox"],
    ["--entrypoint", "/bin/echo", "busybox", "hi"],
    ["--init", "--read-only", "--no-pivot", "busybox", "ls", "--rm", "-it"],  # after IMAGE: the command's
    ["-m", "32m", "--memory-swap", "64m", "--pids-limit", "10", "--cpus", "0.5", "-c", "512",
     "--cpuset-cpus", "0", "busybox"],
    ["--memory=32m", "-m64m", "busybox"],
    ["--debug", "busybox", "true"],
    ["-p", "8081:80", "-p127.0.0.1:53:53/udp", "--publish=9090:90", "-P", "--network", "none", "busybox"],
    ["-itP", "--dns", "192.0.2.1", "--add-host", "db:192.0.2.7", "--network=mynet", "busybox", "sh"],
    ["-v", "/srv:/srv:ro", "-vdata:/data", "--volume=x:/x", "--mount", "type=tmpfs,target=/t",
     "--tmpfs", "/run:size=1m", "busybox"],
    ["./rootfs.tar", "/bin/sh"],
    ["", "x"],
    ["--name=", "busybox"],
    ["--cap-add", "NET_ADMIN", "--cap-add=sys_time", "--cap-drop=ALL", "--privileged",
     "--security-opt", "no-new-privileges", "--security-opt=seccomp=unconfined", "busybox"],
    ["-d", "--restart", "on-failure:3", "busybox", "sleep", "9"],
    ["-dit", "--restart=always", "--name", "web", "busybox"],
    ["--detach", "busybox", "-d"],  # after IMAGE: the command's
]

STEPS_ASIDE = [
    [],                                  # no IMAGE
    ["--rm"],                            # no IMAGE
    ["--help"],
    ["--nam", "x", "busybox"],           # an abbreviation argparse may accept
    ["--name"],                          # no value
    ["--memory-swap", "-1", "-m", "6m", "busybox"],  # a value starting with '-': argparse decides
    ["-e", "--rm", "busybox"],
    ["--rm=yes", "busybox"],
    ["-ix", "busybox"],
    ["-ti5", "busybox"],
    ["--", "busybox"],
    ["--bogus", "busybox"],
]


def slow(argv):
    return vars(cli.build_parser(only="run").parse_args(["run", *argv]))


@pytest.mark.parametrize("argv", AGREES, ids=lambda a: " ".join(a) or "(empty)")
def test_fast_reader_gives_what_argparse_gives(argv):
    fast = cli.parse_run_fast(argv)
    assert fast is not None
    expected = slow(argv)
    expected.pop("func"), expected.pop("command_name")
    assert vars(fast) == expected


@pytest.mark.parametrize("argv", STEPS_ASIDE, ids=lambda a: " ".join(a) or "(empty)")
def test_fast_reader_leaves_odd_lines_to_argparse(argv):
    assert cli.parse_run_fast(argv) is None


def test_every_run_flag_in_help_is_one_the_fast_reader_knows():
    parser = cli.build_parser(only="run")
    run = parser._subparsers._group_actions[0].choices["run"]
    flags = {s for a in run._actions for s in a.option_strings} - {"--help"}
    for flag in sorted(flags):
        line = [flag] if flag in ("--rm", "-i", "-t", "--interactive", "--tty", "--init", "--read-only",
                                  "--no-pivot", "--debug", "--privileged") else [flag, "1"]
        assert cli.parse_run_fast(line + ["busybox"]) is not None, flag


def test_main_uses_argparse_for_errors(capsys):
    assert cli.main(["run", "--bogus", "busybox"]) == 125
    err = capsys.readouterr().err
    assert "unrecognized arguments: --bogus" in err and err.count("\n") == 1
    assert "see `minictr run --help`" in err
