"""The command line: docker's argument rules, one-line errors, exit 125."""

import pytest

from minictr import cli, cli_format


def parse(*argv):
    return cli.build_parser().parse_args(list(argv))


def test_everything_after_the_image_belongs_to_the_command():
    a = parse("run", "--rm", "busybox", "ls", "-l", "--rm")
    assert a.image == "busybox" and a.command == ["ls", "-l", "--rm"] and a.rm


def test_a_double_dash_before_the_command_is_accepted():
    a = parse("run", "busybox", "--", "echo", "hi")
    assert a.command in (["--", "echo", "hi"], ["echo", "hi"])  # cmd_run strips a leading --


def test_docker_flag_names():
    a = parse("run", "-it", "-e", "A=1", "-e", "B=2", "-w", "/w", "-u", "nobody", "-h", "box",
              "--name", "web", "--init", "--entrypoint", "/bin/sh", "busybox")
    assert (a.interactive, a.tty, a.env, a.workdir, a.user, a.hostname, a.name, a.init, a.entrypoint) == \
        (True, True, ["A=1", "B=2"], "/w", "nobody", "box", "web", True, "/bin/sh")


def test_unknown_flag_is_one_line_and_125(capsys):
    assert cli.main(["run", "--bogus", "busybox"]) == 125
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--bogus" in err and "--help" in err


def test_missing_image_is_125(capsys):
    assert cli.main(["run"]) == 125
    assert "IMAGE" in capsys.readouterr().err


def test_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "--help"])
    assert e.value.code == 0
    assert "--memory" in capsys.readouterr().out


@pytest.mark.parametrize("seconds,text", [(0.2, "Less than a second"), (1, "1 second"), (5, "5 seconds"),
                                          (90, "About a minute"), (600, "10 minutes"),
                                          (4000, "About an hour"), (7300, "2 hours"), (3 * 86400, "3 days")])
def test_durations_read_like_docker(seconds, text):
    assert cli_format.human_duration(seconds) == text


def test_table_columns_line_up():
    out = cli_format.format_table([("A", "BBBB"), ("long value", "x")]).splitlines()
    assert out[0].index("BBBB") == out[1].index("x")


@pytest.mark.parametrize("argv,expected", [
    (["--debug", "run", "busybox"], True),
    (["run", "busybox", "sh", "--debug"], False),  # the command's own flag
    (["ps"], False),
])
def test_debug_is_read_only_from_the_leading_flags(argv, expected):
    assert cli._debug_before_command(argv) is expected


def test_debug_shows_the_traceback_of_a_usage_error(capsys):
    assert cli.main(["--debug", "run", "--bogus", "busybox"]) == 125
    assert "Traceback" in capsys.readouterr().err


def _commands(parser) -> dict:
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices


def test_command_modules_name_the_module_that_registers_each_command():
    import importlib

    registered = {}
    for modname in cli.SUBCOMMAND_MODULES:
        parser = cli._parser_class()(prog="minictr")
        importlib.import_module(modname).register(parser.add_subparsers(parser_class=cli._parser_class()))
        registered.update(dict.fromkeys(_commands(parser), modname))
    assert cli.COMMAND_MODULES == registered
    assert set(_commands(cli.build_parser())) == set(registered) | {"run", "ps", "rm"}


def _option_table(parser) -> list:
    return sorted((tuple(a.option_strings), a.dest, a.nargs, repr(a.default), str(a.choices), a.help)
                  for a in parser._actions)


@pytest.mark.parametrize("command", sorted(cli.COMMAND_MODULES))
def test_a_one_module_parser_reads_its_commands_as_the_full_one_does(command):
    full, small = _commands(cli.build_parser())[command], _commands(cli.build_parser(only=command))[command]
    assert _option_table(small) == _option_table(full) and small.format_help() == full.format_help()


def test_main_builds_only_the_parser_of_its_command(capsys):
    # an unknown image to `history` fails in cli_build's own command, parsed by its own parser
    assert cli.main(["history", "--no-trunc", "nosuchimage-xyz"]) == 1
    assert "nosuchimage-xyz" in capsys.readouterr().err
    assert cli.main(["build", "--bogus", "."]) == 125                  # its usage errors are still one line
    assert "build: unrecognized arguments: --bogus" in capsys.readouterr().err
    assert cli.main(["nosuchcommand"]) == 125                           # an unknown one: the full parser's word
    assert "invalid choice: 'nosuchcommand'" in capsys.readouterr().err
