"""Units and flags: docker's spellings in, the kernel's numbers out, ConfigError for the rest."""

import argparse

import pytest

from minictr.cgroups import format_bytes, units
from minictr.cli_flags import add_resource_flags, resources_from_args
from minictr.config import Resources
from minictr.errors import ConfigError


@pytest.mark.parametrize("text,expected", [
    ("32m", 32 << 20), ("32M", 32 << 20), ("32mb", 32 << 20), ("32MiB", 32 << 20),
    ("1g", 1 << 30), ("1.5g", 3 << 29), ("512k", 512 << 10), ("4096", 4096), ("4096b", 4096), ("2 m", 2 << 20),
])
def test_parse_bytes_docker_units(text, expected):
    assert units.parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "m", "32x", "-5m", "1,5g", "abc"])
def test_parse_bytes_rejects(text):
    with pytest.raises(ConfigError) as e:
        units.parse_bytes(text, "--memory")
    assert e.value.field == "--memory" and "not a size" in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("text", ["99999999999999999999g", "8192p", "9223372036854775808"])
def test_parse_bytes_has_an_upper_bound(text):
    with pytest.raises(ConfigError) as e:
        units.parse_bytes(text, "--memory")
    assert "more than the kernel's limits can hold" in str(e.value) and "\n" not in str(e.value)


def test_parse_bytes_is_exact_up_to_the_bound():
    assert units.parse_bytes("9223372036854775807") == (1 << 63) - 1  # no float rounding on the way
    assert units.parse_bytes("8191p") == 8191 << 50


@pytest.mark.parametrize("n,text", [
    (0, "0B"), (1023, "1023B"), (1024, "1KiB"), (1536, "1.5KiB"), (32 << 20, "32MiB"),
    (int(2.25 * (1 << 30)), "2.25GiB"), (1000 << 20, "1000MiB"), (None, "unlimited"),
])
def test_format_bytes(n, text):
    assert format_bytes(n) == text


def test_cpus_to_quota_and_limits():
    assert units.parse_cpus("0.5", ncpu=2) == 0.5
    assert units.cpu_quota(0.5) == 50_000
    assert units.cpu_quota(1.5) == 150_000
    assert units.cpu_quota(0.01) == 1000
    for bad in ("0", "-1", "nan", "x", "0.001"):
        with pytest.raises(ConfigError):
            units.parse_cpus(bad, ncpu=2)
    with pytest.raises(ConfigError, match="only 2 CPUs"):
        units.parse_cpus("3", ncpu=2)


def test_shares_to_weight_standard_formula():
    assert units.shares_to_weight(2) == 1
    assert units.shares_to_weight(1024) == 39
    assert units.shares_to_weight(512) == 20
    assert units.shares_to_weight(262144) == 10000
    with pytest.raises(ConfigError):
        units.parse_cpu_shares("1")
    with pytest.raises(ConfigError):
        units.parse_cpu_shares("300000")
    with pytest.raises(ConfigError):
        units.parse_cpu_shares("lots")


def test_pids_limit_unlimited_spellings():
    assert units.parse_pids_limit("10") == 10
    assert units.parse_pids_limit("-1") is None
    assert units.parse_pids_limit("0") is None
    with pytest.raises(ConfigError):
        units.parse_pids_limit("ten")


def test_cpuset_lists():
    assert units.cpulist("0-2,5") == {0, 1, 2, 5}
    assert units.parse_cpuset("0-1", {0, 1}) == "0-1"
    assert units.parse_cpuset("0, 1", {0, 1}) == "0,1"
    for bad in ("", "a", "0-", "1--2", ",0", "0-1,"):
        with pytest.raises(ConfigError, match="not a cpu list"):
            units.parse_cpuset(bad, {0, 1})
    with pytest.raises(ConfigError, match="backwards"):
        units.parse_cpuset("1-0", {0, 1})
    with pytest.raises(ConfigError, match=r"cpu 3 is not available \(available: 0,1\)"):
        units.parse_cpuset("0,3", {0, 1})


def parse(*argv):
    p = argparse.ArgumentParser()
    add_resource_flags(p)
    return p.parse_args(list(argv))


def test_flags_to_resources():
    args = parse("--memory", "32m", "--memory-swap", "64m", "--pids-limit", "10", "--cpus", "0.5",
                 "--cpu-shares", "512", "--cpuset-cpus", "0")
    r = resources_from_args(args, ncpu=2, available_cpus={0, 1})
    assert r == Resources(memory=32 << 20, memory_swap=64 << 20, pids_limit=10, cpus=0.5,
                          cpu_shares=512, cpuset_cpus="0")


def test_no_flags_no_limits():
    assert resources_from_args(parse(), ncpu=2) == Resources()
    assert not resources_from_args(parse(), ncpu=2).any()


def test_short_flags_and_unlimited_swap():
    r = resources_from_args(parse("-m", "1g", "--memory-swap", "-1", "-c", "2048"), ncpu=2)
    assert (r.memory, r.memory_swap, r.cpu_shares) == (1 << 30, -1, 2048)


@pytest.mark.parametrize("argv,match", [
    (("--memory", "1m"), "below the 6MiB minimum"),
    (("--memory", "lots"), "not a size"),
    (("--memory-swap", "64m"), "needs --memory"),
    (("--memory", "64m", "--memory-swap", "32m"), "at least --memory"),
    (("--cpus", "4"), "only 2 CPUs"),
    (("--cpuset-cpus", "7"), "not available"),
    (("--pids-limit", "1.5"), "whole number"),
])
def test_bad_flags_are_one_line_config_errors(argv, match):
    with pytest.raises(ConfigError, match=match) as e:
        resources_from_args(parse(*argv), ncpu=2, available_cpus={0, 1})
    assert "\n" not in str(e.value)
    assert str(e.value).startswith("invalid --")
