"""JSON for the run path, without importing ``re``: ``dumps`` and ``loads``.

Why this exists: ``import json`` compiles regular expressions at import time
(``json.decoder``, ``json.scanner``, ``json.encoder`` all import ``re``, which
imports ``enum``). On the machines this was measured on that is about 6 ms,
a third of a whole container start (see ``bench/``). The work itself is done
in C by ``_json``, the json package's own accelerator; this module calls it
directly, the way ``json.dumps``/``json.loads`` do with default arguments.

The output is compact (``{"a":1,"b":[2,3]}``), ASCII-only, like
``json.dumps(obj, separators=(",", ":"))``. ``loads`` accepts what
``json.loads`` accepts and raises ``ValueError`` (a ``json.JSONDecodeError``)
on bad input. Where ``_json`` is missing (another Python implementation),
both fall back to the ``json`` package.

Man page: RFC 8259 (The JSON Data Interchange Format).
"""

from __future__ import annotations

try:
    import _json
except ImportError:  # pragma: no cover - CPython always has it
    _json = None

__all__ = ["dumps", "loads"]

_WHITESPACE = " \t\n\r"


def _not_serializable(o):
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


class _Options:
    """What the C scanner reads from its ``context``: json.loads's defaults."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # "NaN", "Infinity", "-Infinity", as json.loads reads them
    memo: dict = {}


if _json is not None:
    _scan = _json.make_scanner(_Options)


def dumps(obj) -> str:
    """``obj`` (dicts, lists, tuples, str, int, float, bool, None) as compact JSON text."""
    if _json is None:  # pragma: no cover
        import json
        return json.dumps(obj, separators=(",", ":"))
    # A new encoder each time, as json.dumps makes: its ``markers`` dict (the
    # containers being encoded, to catch a cycle) must start empty.
    # (markers, default, encoder, indent, key_separator, item_separator, sort_keys, skipkeys, allow_nan)
    encode = _json.make_encoder({}, _not_serializable, _json.encode_basestring_ascii, None,
                                ":", ",", False, False, True)
    return "".join(encode(obj, 0))


def loads(text: str | bytes):
    """The Python value of one JSON document."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    if _json is None:  # pragma: no cover
        import json
        return json.loads(text)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        obj, end = _scan(text, start)
    except StopIteration as e:
        _fail("Expecting value", text, e.value)
    if text[end:].strip(_WHITESPACE):
        _fail("Extra data", text, end)
    return obj


def _fail(message: str, text: str, pos: int):
    import json  # only on the error path: its JSONDecodeError says line and column
    raise json.JSONDecodeError(message, text, pos) from None
