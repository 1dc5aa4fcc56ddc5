"""Values flowing through the offline evaluator, and the value that stands for "not known offline".

Evaluation is lazy where it matters: an argument, a variable member or a property that cannot be
evaluated offline does not fail the expression around it. It becomes an :class:`Unknown` that
carries the reason, and only a function or a reader that needs that very value raises it. So a
rule that uses ``variables('vnet').prefix`` is read even when ``variables('vnet').name`` needs
``resourceGroup().location``, and ``if(cond, a, b)`` never fails on the branch it does not take.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

__all__ = ["Unresolved", "NeedsState", "Unknown", "MissingReference", "force", "first_unknown", "text", "lookup", "is_expression", "describe_type"]


class Unresolved(Exception):
    """An expression that cannot be evaluated offline; the message says why and what to pass."""


class NeedsState(Unresolved):
    """Unresolved because it reads a deployed resource's state (``reference()``, ``listKeys()``):
    a template input cannot supply it, ``--reference`` can."""


class Unknown:
    """A value adu-fw cannot know offline; ``error`` says why (raised when the value is needed)."""

    __slots__ = ("error",)

    def __init__(self, error: Unresolved) -> None:
        self.error = error

    def __repr__(self) -> str:
        return f"Unknown({self.error})"

    def raise_(self) -> Any:
        raise self.error.__class__(str(self.error))

    @property
    def needs_state(self) -> bool:
        return isinstance(self.error, NeedsState)


class MissingReference(Unknown):
    """``reference(x)`` (or ``listKeys(x)``) of a resource whose state was not given: property
    accesses on it are remembered, so the reason names exactly what to pass
    (``--reference pip1.ipAddress=VALUE``)."""

    __slots__ = ("call", "short", "path")

    def __init__(self, call: str, short: str, path: tuple[str, ...] = ()) -> None:
        self.call, self.short, self.path = call, short, path
        prop = ".".join(path) if path else "PROPERTY"
        super().__init__(NeedsState(
            f"{call} reads the deployed resource's state, which is not known offline; pass --reference {short}.{prop}=VALUE"))

    def child(self, key: Any) -> "MissingReference":
        part = f"[{key}]" if isinstance(key, int) else str(key)
        if not self.path and isinstance(key, str) and key.lower() == "properties":
            return self  # reference(x, ..., 'Full').properties.y is the same value as reference(x).y
        path = self.path[:-1] + (self.path[-1] + part,) if part.startswith("[") and self.path else self.path + (part,)
        return MissingReference(self.call, self.short, path)


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("[") and not value.startswith("[[") and value.endswith("]")


def _walk(value: Any, depth: int = 0) -> Iterator[Unknown]:
    if isinstance(value, Unknown):
        yield value
    elif depth > 200:
        return
    elif isinstance(value, dict):
        for v in value.values():
            yield from _walk(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, depth + 1)


def first_unknown(value: Any) -> Unknown | None:
    return next(_walk(value), None)


def force(value: Any) -> Any:
    """``value`` when every part of it is known; otherwise raise the first unknown part's reason."""
    u = first_unknown(value)
    if u is not None:
        u.raise_()
    return value


def text(value: Any) -> str:
    """A value as ARM turns it into text (concat, format): booleans in .NET casing, objects as JSON."""
    if isinstance(value, Unknown):
        value.raise_()
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(force(value), separators=(",", ":"))


def lookup(value: Any, key: Any) -> Any:
    """``value.key`` / ``value[key]`` with ARM's case-insensitive property names."""
    if isinstance(value, Unknown):
        value.raise_()
    if isinstance(value, dict):
        if isinstance(key, str):
            if key in value:
                return value[key]
            low = key.lower()
            for k, v in value.items():
                if k.lower() == low:
                    return v
            raise Unresolved(f"property {key!r} not found (the object has {', '.join(map(repr, list(value)[:12])) or 'no properties'})")
        raise Unresolved(f"an object is indexed by a property name, not {key!r}")
    if isinstance(value, list):
        if isinstance(key, bool) or not isinstance(key, int):
            raise Unresolved(f"an array is indexed by an integer, not {key!r}")
        if 0 <= key < len(value):
            return value[key]
        raise Unresolved(f"index {key} is out of range (the array has {len(value)} element(s))")
    if value is None:
        raise Unresolved(f"cannot take {key!r} of null")
    raise Unresolved(f"cannot take {key!r} of a {describe_type(value)}")


_TYPE_NAMES = ((bool, "bool"), (int, "int"), (float, "number"), (str, "string"), (list, "array"), (dict, "object"),
               (type(None), "null"))


def describe_type(value: Any) -> str:
    """The ARM name of a value's type, for messages (a bool is not an int)."""
    return next((name for t, name in _TYPE_NAMES if isinstance(value, t)), type(value).__name__)
