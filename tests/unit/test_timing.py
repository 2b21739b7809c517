"""minictr.timing: the harness that bench/ and lesson 00 use (a few quick runs, never a timed test)."""

import shutil

import pytest

from minictr import timing


def test_stats_of_known_times():
    s = timing.stats([0.004, 0.001, 0.003, 0.002, 0.005])
    assert s["median"] == pytest.approx(0.003)
    assert s["q1"] == pytest.approx(0.002)
    assert s["q3"] == pytest.approx(0.004)
    assert s["iqr"] == pytest.approx(0.002)
    assert s["min"] == 0.001 and s["max"] == 0.005 and s["runs"] == 5
    assert s["times"] == [0.004, 0.001, 0.003, 0.002, 0.005]  # in the order they were measured


def test_stats_of_one_time_has_no_spread():
    s = timing.stats([0.5])
    assert s["median"] == s["q1"] == s["q3"] == 0.5 and s["iqr"] == 0 and s["stdev"] == 0


def test_stats_refuses_nothing():
    with pytest.raises(ValueError):
        timing.stats([])


def test_time_commands_without_hyperfine_runs_each_command():
    res = timing.time_commands({"true": ["/bin/true"], "sleep": "sleep 0.02"}, runs=3, warmup=1,
                               use_hyperfine=False)
    assert list(res) == ["true", "sleep"]
    assert res["true"]["runs"] == 3 and len(res["sleep"]["times"]) == 3
    assert res["sleep"]["min"] >= 0.02
    assert timing.ratio(res, "sleep", "true") > 1


def test_time_commands_names_a_list_by_its_command_line():
    res = timing.time_commands([["/bin/true"]], runs=1, warmup=0, use_hyperfine=False)
    assert list(res) == ["/bin/true"]


def test_a_failing_command_is_an_error_not_a_time():
    with pytest.raises(RuntimeError, match="exited with 1"):
        timing.time_commands({"false": ["/bin/false"]}, runs=1, warmup=0, use_hyperfine=False)


def test_a_missing_command_is_an_error():
    with pytest.raises(FileNotFoundError):
        timing.time_commands({"x": ["no-such-command-here"]}, runs=1, use_hyperfine=False)


@pytest.mark.skipif(shutil.which("hyperfine") is None, reason="hyperfine is not installed (apt install hyperfine)")
def test_time_commands_with_hyperfine(tmp_path):
    out = tmp_path / "h.json"
    res = timing.time_commands({"true": ["/bin/true"], "sleep": ["sleep", "0.02"]}, runs=3, warmup=0,
                               use_hyperfine=True, json_path=str(out))
    assert out.exists()
    assert res["true"]["runs"] == 3 and res["sleep"]["median"] >= 0.02
    with pytest.raises(RuntimeError, match="hyperfine failed"):
        timing.time_commands({"false": ["/bin/false"]}, runs=1, warmup=0, use_hyperfine=True)


def test_interleaved_runs_go_round_robin(tmp_path):
    log = tmp_path / "order"
    cmds = {name: ["sh", "-c", f"echo {name} >> {log}"] for name in ("a", "b", "c")}
    res = timing.time_commands(cmds, runs=3, warmup=1, interleave=True)
    assert list(res) == ["a", "b", "c"] and all(r["runs"] == 3 for r in res.values())
    assert log.read_text().split() == ["a", "b", "c"] * 4  # warm-up round, then three rounds
