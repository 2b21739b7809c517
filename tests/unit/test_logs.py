"""The json-file log format (logs.py): what the monitor writes and ``minictr logs`` reads."""

import json

import pytest

from minictr import logs


def test_a_record_is_docker_json_file_one_line_each():
    line = logs.encode("héllo \"x\"\n", "stderr", 1_700_000_000_000_000_007)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"log": "héllo \"x\"\n", "stream": "stderr", "time": "2023-11-14T22:13:20.000000007Z"}
    e = logs.parse_line(line)
    assert (e.log, e.stream, e.ns) == ("héllo \"x\"\n", "stderr", 1_700_000_000_000_000_007)


def test_timestamps_are_rfc3339_with_nanoseconds_and_read_back():
    ns = 1_764_639_343_123_456_789
    text = logs.timestamp(ns)
    assert text == "2025-12-02T01:35:43.123456789Z"
    assert logs.parse_timestamp(text) == ns
    assert logs.parse_timestamp("2025-12-02T02:35:43.5+01:00") == 1_764_639_343_500_000_000
    assert logs.parse_timestamp("yesterday") == 0


def test_the_splitter_keeps_partial_lines_until_their_newline_or_the_end():
    s = logs.LineSplitter()
    assert s.feed(b"one\ntw") == ["one\n"]
    assert s.feed(b"o\nthree") == ["two\n"]
    assert s.flush() == ["three"]  # the container exited mid-line: no newline, as docker
    assert s.flush() == []


def test_a_very_long_line_is_written_in_pieces():
    s = logs.LineSplitter()
    out = s.feed(b"x" * (logs.MAX_LINE * 2 + 5))
    assert out == ["x" * logs.MAX_LINE] * 2
    assert s.feed(b"\n") == ["xxxxx\n"]


def test_since_takes_durations_unix_times_and_dates():
    now = 1_000_000.0
    assert logs.parse_since("10m", now) == int((now - 600) * 1e9)
    assert logs.parse_since("1h30m", now) == int((now - 5400) * 1e9)
    assert logs.parse_since("1500ms", now) == int((now - 1.5) * 1e9)
    assert logs.parse_since("1700000000.25", now) == 1_700_000_000_250_000_000
    assert logs.parse_since("2023-11-14T22:13:20Z", now) == 1_700_000_000_000_000_000
    assert logs.parse_since("2023-11-14", now) == logs.parse_timestamp("2023-11-14T00:00:00Z")
    for bad in ("10x", "soon", "m"):
        with pytest.raises(ValueError):
            logs.parse_since(bad, now)


def test_read_skips_a_half_written_last_line_and_resumes_from_the_offset(tmp_path):
    path = tmp_path / "json.log"
    path.write_bytes(logs.encode("a\n", "stdout", 1) + logs.encode("b\n", "stderr", 2) + b'{"log":"c')
    entries, offset = logs.read(str(path))
    assert [(e.log, e.stream) for e in entries] == [("a\n", "stdout"), ("b\n", "stderr")]
    with open(path, "ab") as f:
        f.write(b'\\n","stream":"stdout","time":"1970-01-01T00:00:00.000000003Z"}\n')
    more, offset2 = logs.read(str(path), offset)
    assert [(e.log, e.ns) for e in more] == [("c\n", 3)]
    assert offset2 == path.stat().st_size
    assert logs.read(str(tmp_path / "missing"), 0) == ([], 0)


def test_tail_and_since_select_as_docker_logs_does():
    entries = [logs.parse_line(logs.encode(f"{i}\n", "stdout", i * 10)) for i in range(5)]
    assert [e.log for e in logs.select_entries(entries, tail=2)] == ["3\n", "4\n"]
    assert [e.log for e in logs.select_entries(entries, since_ns=20)] == ["2\n", "3\n", "4\n"]
    assert [e.log for e in logs.select_entries(entries, tail=1, since_ns=0)] == ["4\n"]
    assert logs.select_entries(entries, tail=0) == []


def test_a_line_that_is_not_a_record_is_refused():
    for bad in (b'{"log":1,"stream":"stdout"}', b'{"log":"x","stream":"stdin"}', b"[]"):
        with pytest.raises(ValueError):
            logs.parse_line(bad)
