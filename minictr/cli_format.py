"""L4: how the command line words things: tables, durations, sizes, Go templates, progress bars.

One way for each, shared by every CLI module (cli.py, cli_images.py,
cli_stats.py), and each the way docker's CLI words it:

- ``format_table(rows)``: columns padded to their widest cell, three spaces
  apart, no trailing blanks (docker's tabwriter output for ``ps``, ``images``,
  ``stats``).
- ``human_duration(seconds)``: docker's ``units.HumanDuration`` (go-units),
  used by ``ps`` ("Up 5 minutes", "Exited (0) 2 weeks ago") and ``images``
  ("3 days ago"). The rules, in order (Go truncates its integer divisions):

  ==========================  =============================================
  whole seconds < 1           "Less than a second"
  whole seconds == 1          "1 second"
  whole seconds < 60          "N seconds"
  whole minutes == 1          "About a minute"          (60 to 119 s)
  whole minutes < 60          "N minutes"
  hours, rounded (h+0.5) == 1 "About an hour"           (60 min to 89.9 min)
  rounded hours < 48          "N hours"
  rounded hours < 14 days     "N days"                  (hours / 24)
  rounded hours < 60 days     "N weeks"                 (hours / 24 / 7)
  rounded hours < 730 days    "N months"                (hours / 24 / 30)
  otherwise                   "N years"  (whole hours, not rounded, / 24 / 365)
  ==========================  =============================================

  A negative duration (a clock that went back) reads "Less than a second".
- ``human_size(n)``: docker's ``units.HumanSizeWithPrecision(n, 3)`` as
  ``docker images`` prints sizes: SI units (powers of 1000: B, kB, MB, GB,
  ...), three significant digits, Go's ``%g`` (``1.04MB``, ``512B``, ``12.3kB``).
  Binary sizes (docker stats' ``MiB``) are ``cgroups.units.format_bytes``,
  which the runtime itself needs too (the OOM message).
- ``render_template(template, obj)``: the subset of Go's text/template that
  ``--format`` takes: ``{{.A.B}}`` and ``{{json .A.B}}``, values printed as Go
  prints them (``[a b]``, ``map[k:v]``, ``<no value>``).
- ``ProgressBars``: ``pull``'s docker-style progress, one line per layer.

References: docker's go-units (size.go, duration.go), docker-ps(1),
docker-images(1), Go's text/template and fmt (%g), ECMA-48 (the ANSI cursor
controls of the progress bars).
"""

from __future__ import annotations

import sys
import time

#: SI units, as go-units' decimapAbbrs.
_SI_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def format_table(rows) -> str:
    """Columns padded to their widest cell, three spaces apart, as docker prints them.

    ``rows`` are sequences of cells (any value: printed with ``str``); the first is the header.
    """
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def human_duration(seconds: float) -> str:
    """docker's wording of a duration (go-units HumanDuration; the rules are in the module docstring)."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def ago(t: float, now: float) -> str:
    """'5 seconds ago', 'About a minute ago', '2 weeks ago'."""
    return human_duration(now - t) + " ago"


def human_size(n: float, precision: int = 3) -> str:
    """docker's SI sizes: 4.26MB, 1.2GB, 512B (powers of 1000; go-units HumanSizeWithPrecision)."""
    n = float(n)
    i = 0
    while n >= 1000 and i < len(_SI_UNITS) - 1:
        n /= 1000
        i += 1
    return f"{n:.{precision}g}{_SI_UNITS[i]}"


# ---------------------------------------------------------------- Go templates
def go_string(v) -> str:
    """Print a value the way Go's text/template does: [a b], map[k:{}], <no value> (cli_template.py)."""
    from .cli_template import go_string as _go_string
    return _go_string(v)


def render_template(template: str, obj) -> str:
    """docker's ``--format``: Go's text/template over ``obj`` (see cli_template.py).

    ``\\t`` and ``\\n`` typed as two characters become a tab and a newline, as docker does.
    """
    from .cli_template import render
    return render(template.replace("\\t", "\t").replace("\\n", "\n"), obj)


# ---------------------------------------------------------------- progress
class ProgressBars:
    """docker-style progress on stderr: one line per layer, with bytes, and a total line.

    Called as ``bars(digest, done, total, status)`` (status: waiting,
    downloading, complete, exists). On a terminal the lines are redrawn in
    place (ANSI "cursor up", at most 10 times a second); otherwise one line is
    printed per finished layer.
    """

    WIDTH = 30

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.layers: dict[str, list] = {}  # digest -> [done, total, status]
        self.drawn = 0
        self.last = 0.0

    def __call__(self, digest: str, done: int, total: int, status: str) -> None:
        old = self.layers.get(digest)
        self.layers[digest] = [done, total, status]
        if self.tty:
            now = time.monotonic()
            if status in ("downloading",) and now - self.last < 0.1:
                return
            self.last = now
            self.draw()
        elif status in ("complete", "exists") and (old is None or old[2] != status):
            word = "Pull complete" if status == "complete" else "Already exists"
            print(f"{digest[7:19]}: {word} ({human_size(total)})", file=self.stream, flush=True)

    def line(self, digest: str, done: int, total: int, status: str) -> str:
        if status == "exists":
            return f"{digest[7:19]}: Already exists"
        if status == "complete":
            return f"{digest[7:19]}: Pull complete {human_size(total):>10}"
        if status == "waiting":
            return f"{digest[7:19]}: Waiting"
        frac = min(1.0, done / total) if total else 0.0
        fill = int(frac * self.WIDTH)
        bar = "=" * fill + (">" if fill < self.WIDTH else "") + " " * (self.WIDTH - fill - 1)
        return f"{digest[7:19]}: Downloading [{bar[:self.WIDTH]}] {human_size(done):>8}/{human_size(total)}"

    def total_line(self) -> str:
        done = sum(v[0] for v in self.layers.values())
        total = sum(v[1] for v in self.layers.values())
        return f"total: {human_size(done)}/{human_size(total)}"

    def draw(self) -> None:
        lines = [self.line(d, *v) for d, v in self.layers.items()] + [self.total_line()]
        out = ("\x1b[1A\x1b[2K" * self.drawn) if self.drawn else ""
        out += "".join(f"\x1b[2K{l}\n" for l in lines)
        self.stream.write(out)
        self.stream.flush()
        self.drawn = len(lines)
