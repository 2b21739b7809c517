"""minictr.cli_format: one table, docker's duration and size wording, templates."""

import pytest

from minictr import cli_format
from minictr.cli_format import ago, format_table, human_duration, human_size, render_template
from minictr.errors import ConfigError

MIN, HOUR, DAY = 60, 3600, 86400


@pytest.mark.parametrize("seconds, text", [
    (-5, "Less than a second"), (0, "Less than a second"), (0.999, "Less than a second"),
    (1, "1 second"), (1.9, "1 second"), (2, "2 seconds"), (59.9, "59 seconds"),
    (60, "About a minute"), (119, "About a minute"), (120, "2 minutes"), (59 * MIN + 59, "59 minutes"),
    (HOUR, "About an hour"), (HOUR + 29 * MIN + 59, "About an hour"),          # hours are rounded
    (HOUR + 30 * MIN, "2 hours"), (47 * HOUR + 29 * MIN, "47 hours"),
    (47 * HOUR + 30 * MIN, "2 days"), (13 * DAY + 23 * HOUR, "13 days"),
    (15 * DAY, "2 weeks"),                                                     # ps said "15 days" before
    (14 * DAY, "2 weeks"), (59 * DAY, "8 weeks"), (60 * DAY, "2 months"),
    (729 * DAY, "24 months"), (730 * DAY, "2 years"), (3 * 365 * DAY, "3 years"),
])
def test_durations_follow_docker_go_units(seconds, text):
    assert human_duration(seconds) == text


def test_ago():
    assert ago(1000, 1000 + 3 * DAY) == "3 days ago"


@pytest.mark.parametrize("n, text", [(0, "0B"), (999, "999B"), (1000, "1kB"), (1037022, "1.04MB"),
                                     (4_260_000, "4.26MB"), (1_200_000_000, "1.2GB"), (10 ** 15, "1PB"),
                                     (999_999, "1e+03kB")])  # Go's %.3g does the same
def test_sizes_are_docker_si_sizes(n, text):
    assert human_size(n) == text


def test_one_table_for_every_command():
    out = format_table([("A", "BBBB"), ("long value", 3)]).splitlines()
    assert out[0].index("BBBB") == out[1].index("3") == len("long value") + 3
    assert out[0] == "A            BBBB" and not any(line.endswith(" ") for line in out)


def test_go_templates():
    obj = {"Config": {"Cmd": ["sh", "-c"], "Env": None, "Labels": {"b": "2", "a": "1"}}, "Os": "linux"}
    # a null list prints as docker's empty slice; only a missing key is <no value> (cli_template.py)
    assert render_template("{{.Os}} {{.Config.Cmd}} {{.Config.Env}} {{.Nope}}", obj) == "linux [sh -c] [] <no value>"
    assert render_template("{{.Config.Labels}}", obj) == "map[a:1 b:2]"
    assert render_template("{{json .Config.Cmd}}", obj) == '["sh","-c"]'
    with pytest.raises(ConfigError, match="not closed"):
        render_template("{{range .X}}", obj)


def test_every_cli_module_words_things_through_cli_format():
    import inspect

    from minictr import cli, cli_images, cli_stats
    for mod in (cli, cli_images, cli_stats):
        src = inspect.getsource(mod)
        assert "cli_format" in src, mod.__name__
        assert "def human_" not in src and "def format_table" not in src and "def _table" not in src
