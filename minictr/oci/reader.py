"""Typed reading of a config.json document: each value with its JSON path, for the error and the warning.

    r = Reader(warn)
    r.get(process, "cwd", "process", str, required=True)   # SpecError "config.json: process.cwd: ..."
    r.warn("linux.intelRdt", "ignored: not implemented by minictr")
"""

from __future__ import annotations

from ..errors import SpecError


class Reader:
    """Typed access to the document, with the JSON path of each value for the error."""

    def __init__(self, warn):
        self._warn = warn.append if isinstance(warn, list) else warn

    def warn(self, field: str, why: str) -> None:
        if self._warn is not None:
            self._warn(f"config.json: {field}: {why}")

    @staticmethod
    def bad(field: str, value, why: str, hint: str | None = None) -> SpecError:
        return SpecError(field, value, why, hint=hint)

    def get(self, obj: dict, key: str, where: str, kind, default=None, required: bool = False):
        field = f"{where}.{key}" if where else key
        if key not in obj or obj[key] is None:
            if required:
                raise self.bad(field, None, "is missing", hint="the runtime spec requires it")
            return default
        value = obj[key]
        if kind is int and (type(value) is not int):
            raise self.bad(field, value, "must be an integer")
        if kind is bool and type(value) is not bool:
            raise self.bad(field, value, "must be true or false")
        if kind in (str, dict, list) and not isinstance(value, kind):
            raise self.bad(field, value, f"must be {_WORDS[kind]}")
        return value

    def strings(self, obj: dict, key: str, where: str, required: bool = False) -> tuple[str, ...]:
        value = self.get(obj, key, where, list, [], required)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.bad(f"{where}.{key}[{i}]" if where else f"{key}[{i}]", item, "must be a string")
        return tuple(value)

    def objects(self, obj: dict, key: str, where: str) -> list[tuple[str, dict]]:
        """``(path, item)`` for each item of the list at ``key``, each checked to be an object."""
        out = []
        for i, item in enumerate(self.get(obj, key, where, list, [])):
            path = f"{where}.{key}[{i}]" if where else f"{key}[{i}]"
            if not isinstance(item, dict):
                raise self.bad(path, item, "must be an object")
            out.append((path, item))
        return out


_WORDS = {str: "a string", dict: "an object", list: "a list"}
