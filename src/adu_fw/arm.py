"""ARM template expressions, evaluated offline where that is possible.

Rule fields in real templates are often ``"[variables('vnet3Prefix')]"`` or
``"[concat(parameters('hubVnetName'), 'Nsg')]"``. This module evaluates the pure part of the
expression language (parameters with their defaults or user values, variables, string and array
functions, ``resourceId``) and raises :class:`Unresolved` for anything that needs a deployment
(``resourceGroup()``, ``reference()``, ``uniqueString()``, ...), so callers can name the field.
"""
from __future__ import annotations

import json
import re
from typing import Any, Mapping

from .jsonio import shown, small_int

__all__ = ["Unresolved", "ArmContext", "is_expression"]


class Unresolved(Exception):
    """An expression that cannot be evaluated offline; the message says why."""


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[(),.\[\]]))"
)


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("[") and not value.startswith("[[") and value.endswith("]")


def _tokenize(text: str) -> list[tuple[str, Any]]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise Unresolved(f"cannot parse ARM expression near {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.group("str") is not None:
            out.append(("str", m.group("str")[1:-1].replace("''", "'")))
        elif m.group("num") is not None:
            if len(m.group("num")) > 18:  # more digits than any ARM integer (64-bit) has
                raise Unresolved(f"number of {len(m.group('num')):,} digits in an ARM expression")
            out.append(("num", int(m.group("num"))))
        elif m.group("ident") is not None:
            out.append(("ident", m.group("ident")))
        else:
            out.append(("op", m.group("op")))
    return out


class ArmContext:
    """Evaluates expressions against a template's parameters/variables and user-given values."""

    def __init__(
        self,
        parameters: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        self._params = {k.lower(): v for k, v in (parameters or {}).items()}
        self._vars = {k.lower(): v for k, v in (variables or {}).items()}
        self._values = {k.lower(): v for k, v in (values or {}).items()}
        self._resolving: set[str] = set()

    # -- public ---------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """Resolve expressions anywhere inside ``value`` (strings, lists, dicts)."""
        if isinstance(value, str):
            if is_expression(value):
                return self.evaluate(value[1:-1])
            if value.startswith("[["):
                return value[1:]
            return value
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    def evaluate(self, text: str) -> Any:
        tokens = _tokenize(text)
        value, pos = self._expr(tokens, 0)
        if pos != len(tokens):
            raise Unresolved(f"unexpected text in ARM expression [{text}]")
        return value

    # -- parser ---------------------------------------------------------------------------
    def _expr(self, toks: list[tuple[str, Any]], pos: int) -> tuple[Any, int]:
        if pos >= len(toks):
            raise Unresolved("incomplete ARM expression")
        kind, val = toks[pos]
        if kind in ("str", "num"):
            value, pos = val, pos + 1
        elif kind == "ident":
            if pos + 1 >= len(toks) or toks[pos + 1] != ("op", "("):
                raise Unresolved(f"expected '(' after {val!r} in ARM expression")
            pos += 2
            args = []
            if toks[pos : pos + 1] != [("op", ")")]:
                while True:
                    arg, pos = self._expr(toks, pos)
                    args.append(arg)
                    if pos < len(toks) and toks[pos] == ("op", ","):
                        pos += 1
                        continue
                    break
            if pos >= len(toks) or toks[pos] != ("op", ")"):
                raise Unresolved(f"missing ')' after the arguments of {val}()")
            pos += 1
            value = self._call(val, args)
        else:
            raise Unresolved(f"unexpected {val!r} in ARM expression")
        while pos < len(toks) and toks[pos] in (("op", "."), ("op", "[")):
            if toks[pos] == ("op", "."):
                if pos + 1 >= len(toks) or toks[pos + 1][0] != "ident":
                    raise Unresolved("expected a property name after '.'")
                value = self._member(value, toks[pos + 1][1])
                pos += 2
            else:
                key, pos = self._expr(toks, pos + 1)
                if pos >= len(toks) or toks[pos] != ("op", "]"):
                    raise Unresolved("missing ']' in ARM expression")
                pos += 1
                value = self._member(value, key)
        return value, pos

    @staticmethod
    def _member(value: Any, key: Any) -> Any:
        if isinstance(value, dict):
            if isinstance(key, str):
                for k, v in value.items():
                    if k.lower() == key.lower():
                        return v
            raise Unresolved(f"property {key!r} not found")
        if isinstance(value, list) and isinstance(key, int):
            if 0 <= key < len(value):
                return value[key]
            raise Unresolved(f"index {key} out of range")
        raise Unresolved(f"cannot take {key!r} of {type(value).__name__}")

    # -- functions ------------------------------------------------------------------------
    def _call(self, name: str, args: list[Any]) -> Any:
        fn = name.lower()
        if fn == "parameters":
            return self._parameter(self._one_str(name, args))
        if fn == "variables":
            return self._variable(self._one_str(name, args))
        if fn == "concat":
            if args and all(isinstance(a, list) for a in args):
                return [x for a in args for x in a]
            return "".join(self._text(a) for a in args)
        if fn == "format":
            if not args or not isinstance(args[0], str):
                raise Unresolved("format() needs a format string")
            return re.sub(r"\{(\d+)(?::[^}]*)?\}", lambda m: self._text(args[1 + int(m.group(1))]), args[0])
        if fn == "string":
            return args[0] if isinstance(args[0], str) else json.dumps(args[0])
        if fn == "int":
            number = small_int(args[0])
            if number is None:
                raise Unresolved(f"int() of {shown(args[0])}: not an integer of at most 18 digits")
            return number
        if fn in ("tolower", "toupper"):
            s = self._text(args[0])
            return s.lower() if fn == "tolower" else s.upper()
        if fn == "if":
            return args[1] if args[0] else args[2]
        if fn == "equals":
            return args[0] == args[1]
        if fn == "not":
            return not args[0]
        if fn == "and":
            return all(args)
        if fn == "or":
            return any(args)
        if fn == "true":
            return True
        if fn == "false":
            return False
        if fn == "null":
            return None
        if fn == "createarray":
            return list(args)
        if fn == "json":
            return json.loads(args[0])
        if fn == "empty":
            return not args[0]
        if fn == "length":
            return len(args[0])
        if fn == "first":
            return args[0][0]
        if fn == "last":
            return args[0][-1]
        if fn == "replace":
            return self._text(args[0]).replace(self._text(args[1]), self._text(args[2]))
        if fn == "split":
            return self._text(args[0]).split(self._text(args[1]))
        if fn == "resourceid":
            # resourceId([subscriptionId], [resourceGroupName], resourceType, name1, name2, ...)
            for i, a in enumerate(args):
                if isinstance(a, str) and "/" in a:
                    rtype, names = a, [self._text(x) for x in args[i + 1 :]]
                    parts = rtype.split("/")
                    segs = [parts[0]]
                    for t, n in zip(parts[1:], names):
                        segs += [t, n]
                    return "/providers/" + "/".join(segs)
            raise Unresolved("resourceId() without a resource type")
        raise Unresolved(f"function {name}() cannot be evaluated offline")

    @staticmethod
    def _one_str(name: str, args: list[Any]) -> str:
        if len(args) != 1 or not isinstance(args[0], str):
            raise Unresolved(f"{name}() takes one string")
        return args[0]

    @staticmethod
    def _text(value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "True" if value else "False"
        if isinstance(value, (int, float)):
            return str(value)
        return json.dumps(value)

    def _parameter(self, name: str) -> Any:
        key = name.lower()
        if key in self._values:
            return self._values[key]
        spec = self._params.get(key)
        if spec is None:
            raise Unresolved(f"parameter {name!r} is not defined in the template and was not given")
        if isinstance(spec, dict) and "defaultvalue" in {k.lower() for k in spec}:
            default = next(v for k, v in spec.items() if k.lower() == "defaultvalue")
            return self._guarded("parameters:" + key, default)
        raise Unresolved(f"parameter {name!r} has no default value; pass it (e.g. --param {name}=VALUE)")

    def _variable(self, name: str) -> Any:
        key = name.lower()
        if key not in self._vars:
            raise Unresolved(f"variable {name!r} is not defined in the template")
        return self._guarded("variables:" + key, self._vars[key])

    def _guarded(self, key: str, raw: Any) -> Any:
        if key in self._resolving:
            raise Unresolved(f"{key.replace(':', ' ')} refers to itself")
        self._resolving.add(key)
        try:
            return self.resolve(raw)
        finally:
            self._resolving.discard(key)
