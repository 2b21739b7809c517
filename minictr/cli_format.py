"""L4: output as docker prints it: tables.

One formatter for every command's table (``ps``, ``stats``), so that the
columns look alike everywhere. A module of its own, below ``cli.py``, so that
the ``cli_*`` modules never import ``cli.py``, which imports them.
"""


def format_table(rows: list[tuple]) -> str:
    """Columns padded to their widest cell, three spaces apart, as docker prints them."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
