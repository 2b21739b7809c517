"""L0: ``Record``, a plain-data class that reads like a dataclass and costs nothing to import.

Why not ``dataclasses``: on the ``minictr run`` path every millisecond counts,
and ``import dataclasses`` pulls in ``inspect``, ``ast``, ``dis``, ``copy`` and
``tokenize`` (about 12 ms here), and each ``@dataclass`` compiles its methods
with ``exec`` (another 0.6 ms a class). A record is written the same way::

    class Mount(Record):
        source: str | None
        target: str
        flags: int = 0                       # a default
        notes: list = Factory(list)          # a fresh list for each instance

    m = Mount("proc", "/r/proc")             # positional or keyword arguments
    m                                        # Mount(source='proc', target='/r/proc', flags=0, notes=[])
    replace(m, flags=2)                      # a changed copy
    asdict(m)                                # {'source': 'proc', ...}, nested records too

The fields are the class's annotations, in order (a subclass adds to its
base's). Records are frozen (``class X(Record, frozen=False)`` for a mutable
one), compare equal field by field, and hash when frozen, as dataclasses do.
"""

from __future__ import annotations


class Factory:
    """A default made fresh for each instance: ``Factory(list)``, ``Factory(time.time)``."""

    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make


class Record:
    """The base class: see the module docstring."""

    _fields: tuple[str, ...] = ()
    _defaults: dict = {}
    _frozen = True

    def __init_subclass__(cls, frozen: bool = True, **kwargs):
        super().__init_subclass__(**kwargs)
        own = tuple(name for name in cls.__dict__.get("__annotations__", {}) if name not in cls._fields)
        cls._fields = cls._fields + own
        cls._defaults = {**cls._defaults, **{n: cls.__dict__[n] for n in own if n in cls.__dict__}}
        cls._frozen = frozen
        if not frozen:
            cls.__hash__ = None  # mutable and compared by value: unhashable, as a dataclass

    def __init__(self, *args, **kwargs):
        name = type(self).__name__
        if len(args) > len(self._fields):
            raise TypeError(f"{name}() takes {len(self._fields)} arguments but {len(args)} were given")
        values = dict(zip(self._fields, args))
        for key, value in kwargs.items():
            if key not in self._fields:
                raise TypeError(f"{name}() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{name}() got multiple values for argument {key!r}")
            values[key] = value
        for field in self._fields:
            if field not in values:
                if field not in self._defaults:
                    raise TypeError(f"{name}() missing required argument: {field!r}")
                default = self._defaults[field]
                values[field] = default.make() if isinstance(default, Factory) else default
        # The instance's own __dict__, filled in field order (so vars() reads like the repr).
        object.__setattr__(self, "__dict__", values)

    def __setattr__(self, key, value):
        if self._frozen:
            raise AttributeError(f"cannot assign to field {key!r} of a frozen {type(self).__name__}")
        object.__setattr__(self, key, value)

    def __delattr__(self, key):
        if self._frozen:
            raise AttributeError(f"cannot delete field {key!r} of a frozen {type(self).__name__}")
        object.__delattr__(self, key)

    def _values(self) -> tuple:
        return tuple(getattr(self, f) for f in self._fields)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self):
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__qualname__}({fields})"

    def __reduce__(self):  # pickle and copy: call the class again with the values
        return (type(self), self._values())


def fields(record) -> tuple[str, ...]:
    """The field names, in order."""
    return record._fields


def replace(record, **changes):
    """A copy of ``record`` with some fields changed (as ``dataclasses.replace``)."""
    return type(record)(**{**{f: getattr(record, f) for f in record._fields}, **changes})


def asdict(obj):
    """Records as dicts, recursively through lists, tuples and dicts (as ``dataclasses.asdict``)."""
    if isinstance(obj, Record):
        return {f: asdict(getattr(obj, f)) for f in obj._fields}
    if isinstance(obj, (list, tuple)):
        return type(obj)(asdict(v) for v in obj)
    if isinstance(obj, dict):
        return {asdict(k): asdict(v) for k, v in obj.items()}
    return obj
