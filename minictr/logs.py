"""L0: a container's log file, in docker's ``json-file`` format.

We picked docker's json-file format (not the CRI text format): one JSON
object per line, stdout and stderr kept apart by ``stream``, the time in
RFC 3339 with nanoseconds, UTC::

    {"log":"hello\\n","stream":"stdout","time":"2026-12-02T01:15:43.123456789Z"}

``log`` is the line *with* its newline; a line that was still open when the
container exited (or longer than ``MAX_LINE``) is written without one, as
docker does. The file is ``<runtime dir>/<id>/json.log``, next to the state
file, so it goes with the container (``rm``, or ``gc`` after a killed monitor).

The writer is the monitor (monitor.py), which must stay small: this module
imports only ``_json`` (the C half of the json package) and ``time`` at the
top. The readers (``minictr logs``) use ``read``, ``tail`` and ``parse_since``.

See docker's "JSON File logging driver" page and RFC 3339.
"""

from __future__ import annotations

import os
import time

try:
    from _json import encode_basestring_ascii as _quote
except ImportError:  # pragma: no cover - CPython always has it
    from json.encoder import encode_basestring_ascii as _quote

LOG_NAME = "json.log"
#: A line longer than this is written in pieces (docker's json-file splits at 16 KiB too).
MAX_LINE = 16 * 1024
STREAMS = ("stdout", "stderr")


def log_path(state_dir: str) -> str:
    return os.path.join(state_dir, LOG_NAME)


def timestamp(ns: int) -> str:
    """``time.time_ns()`` as RFC 3339 with nanoseconds, UTC: ``2026-12-02T01:15:43.000000001Z``."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def encode(text: str, stream: str, ns: int) -> bytes:
    """One log record as a line of the file (with its newline)."""
    return f'{{"log":{_quote(text)},"stream":"{stream}","time":"{timestamp(ns)}"}}\n'.encode("ascii")


class LineSplitter:
    """Bytes from a pipe -> whole lines (``feed``), and what is left at the end (``flush``)."""

    def __init__(self):
        self.pending = b""

    def feed(self, data: bytes) -> list[str]:
        data = self.pending + data
        lines = data.split(b"\n")
        self.pending = lines.pop()
        out = [line.decode("utf-8", "replace") + "\n" for line in lines]
        while len(self.pending) >= MAX_LINE:
            out.append(self.pending[:MAX_LINE].decode("utf-8", "replace"))
            self.pending = self.pending[MAX_LINE:]
        return out

    def flush(self) -> list[str]:
        rest, self.pending = self.pending, b""
        return [rest.decode("utf-8", "replace")] if rest else []


class Entry:
    """One record read back: its text, its stream, and its time (as text and as ns since the epoch)."""

    __slots__ = ("log", "stream", "time", "ns")

    def __init__(self, log: str, stream: str, time: str):
        self.log, self.stream, self.time = log, stream, time
        self.ns = parse_timestamp(time)

    def __repr__(self) -> str:
        return f"Entry({self.log!r}, {self.stream!r}, {self.time!r})"


def parse_line(line: str | bytes) -> Entry:
    """One line of the file -> an ``Entry``. Raises ValueError for a line that is not a record."""
    from . import leanjson
    d = leanjson.loads(line)
    if not isinstance(d, dict) or d.get("stream") not in STREAMS or not isinstance(d.get("log"), str):
        raise ValueError(f"not a json-file log record: {line[:80]!r}")
    return Entry(d["log"], d["stream"], d.get("time", ""))


def parse_timestamp(text: str) -> int:
    """RFC 3339 (``...T..:..:..[.fraction](Z|+hh:mm)``) -> ns since the epoch; 0 if unreadable."""
    import calendar
    try:
        date, _, rest = text.partition("T")
        y, mo, d = (int(x) for x in date.split("-"))
        zone = 0
        if rest.endswith("Z"):
            rest = rest[:-1]
        elif len(rest) > 6 and rest[-6] in "+-":
            sign = 1 if rest[-6] == "+" else -1
            zone = sign * (int(rest[-5:-3]) * 3600 + int(rest[-2:]) * 60)
            rest = rest[:-6]
        clock, _, frac = rest.partition(".")
        h, mi, s = (int(x) for x in clock.split(":"))
        nanos = int((frac + "000000000")[:9]) if frac else 0
        return (calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) - zone) * 1_000_000_000 + nanos
    except (ValueError, IndexError):
        return 0


_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_since(text: str, now: float | None = None) -> int:
    """``--since``'s value -> ns since the epoch. As docker: a duration (``10m``, ``1h30m``, ``90s``)
    counts back from now; otherwise a Unix time (``1700000000.5``) or an RFC 3339 date. Raises ValueError."""
    now = time.time() if now is None else now
    text = text.strip()
    if text and text[-1].isalpha() and "-" not in text and ":" not in text:
        total, number, unit = 0.0, "", ""
        for ch in text + "\0":
            if ch.isdigit() or ch == ".":
                if unit:
                    total += _duration_part(number, unit)
                    number, unit = "", ""
                number += ch
            elif ch.isalpha():
                unit += ch
            elif ch == "\0" and number and unit:
                total += _duration_part(number, unit)
            else:
                raise ValueError(f"bad duration {text!r}")
        return int((now - total) * 1_000_000_000)
    whole, dot, frac = text.partition(".")
    if whole.isdigit() and (not dot or frac.isdigit()):  # a Unix time, read exactly (no float rounding)
        return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9] if frac else 0)
    if len(text) == 10 and text[4] == "-":  # a date alone: its midnight, UTC
        text += "T00:00:00Z"
    ns = parse_timestamp(text)
    if ns == 0:
        raise ValueError(f"{text!r} is neither a duration (10m), a Unix time, nor an RFC 3339 date")
    return ns


def _duration_part(number: str, unit: str) -> float:
    if unit not in _UNITS or not number:
        raise ValueError(f"bad duration unit {unit!r} (ns, us, ms, s, m, h)")
    return float(number) * _UNITS[unit]


def read(path: str, offset: int = 0) -> tuple[list[Entry], int]:
    """The whole records from ``offset`` on, and the offset after the last whole line."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1  # a record being written right now is not ours yet
    out = []
    for line in data[:end].splitlines():
        if line.strip():
            try:
                out.append(parse_line(line))
            except ValueError:
                continue  # a damaged line: skip it, as docker's reader does
    return out, offset + end


def select_entries(entries: list[Entry], tail: int | None = None, since_ns: int | None = None) -> list[Entry]:
    """What ``logs --since T --tail N`` shows: the entries at or after ``since``, then the last N of those."""
    if since_ns is not None:
        entries = [e for e in entries if e.ns >= since_ns]
    if tail is not None:
        entries = entries[-tail:] if tail > 0 else []
    return entries
