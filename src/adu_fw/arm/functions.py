"""ARM's built-in template functions that need nothing but their arguments.

Each takes the evaluated arguments (a list) and returns the value. A *strict* function (the
default) never sees an :class:`Unknown` argument: the caller raises it first. A *lenient* one gets
them and decides, which is how ``if``, ``coalesce``, ``and``/``or``, ``createArray``,
``createObject``, ``union`` and friends keep one unknown member from sinking the whole value.
Semantics follow the ARM function reference (case-insensitive property names, ``contains`` /
``startsWith`` / ``indexOf`` case-insensitive on text, ``equals`` exact, integer division
truncating toward zero); what needs the template or the deployment lives in ``scope.py``.
"""
from __future__ import annotations

import base64
import ipaddress
import json
import re
import urllib.parse
from typing import Any, Callable

from ..jsonio import shown, small_int
from .deployment import STANDIN_TIME, arm_guid, unique_string
from .values import Unknown, Unresolved, describe_type, first_unknown, force, text

__all__ = ["BUILTINS", "LENIENT", "deep_equal", "union"]

BUILTINS: dict[str, Callable[[list[Any]], Any]] = {}
LENIENT: set[str] = set()


def builtin(*names: str, lenient: bool = False) -> Callable[[Callable[[list[Any]], Any]], Callable[[list[Any]], Any]]:
    def deco(fn: Callable[[list[Any]], Any]) -> Callable[[list[Any]], Any]:
        for n in names:
            BUILTINS[n.lower()] = fn
            if lenient:
                LENIENT.add(n.lower())
        return fn

    return deco


def _n(args: list[Any], lo: int, hi: int | None, name: str) -> None:
    if len(args) < lo or (hi is not None and len(args) > hi):
        want = f"{lo}" if hi == lo else f"{lo} to {hi}" if hi is not None else f"at least {lo}"
        raise Unresolved(f"{name}() takes {want} argument(s), got {len(args)}")


def _int(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
        raise Unresolved(f"{name}() expects an integer, got {describe_type(v)} {v!r}")
    return int(v)


def _str(v: Any, name: str) -> str:
    if not isinstance(v, str):
        raise Unresolved(f"{name}() expects a string, got {describe_type(v)} {v!r}")
    return v


def deep_equal(a: Any, b: Any) -> bool:
    """ARM's equals: exact types (a bool is not an int), case-sensitive text, ordered arrays."""
    a, b = force(a), force(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        if len(a) != len(b):
            return False
        lb = {k.lower(): v for k, v in b.items()}
        return all(k.lower() in lb and deep_equal(v, lb[k.lower()]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


# -- logic -------------------------------------------------------------------------------------------------
@builtin("if", lenient=True)
def _if(args: list[Any]) -> Any:
    _n(args, 3, 3, "if")
    cond = args[0]
    if isinstance(cond, Unknown):
        cond.raise_()
    if not isinstance(cond, bool):
        raise Unresolved(f"if() expects a bool condition, got {describe_type(cond)}")
    return args[1] if cond else args[2]


@builtin("coalesce", lenient=True)
def _coalesce(args: list[Any]) -> Any:
    _n(args, 1, None, "coalesce")
    for a in args:
        if isinstance(a, Unknown):
            a.raise_()
        if a is not None:
            return a
    return None


def _logic(name: str, decisive: bool) -> None:
    """and/or: a known argument equal to ``decisive`` decides, whatever the unknown ones are."""

    def fn(args: list[Any]) -> Any:
        _n(args, 1, None, name)
        if any(a is decisive for a in args):
            return decisive
        for a in args:
            if isinstance(a, Unknown):
                a.raise_()
            if not isinstance(a, bool):
                raise Unresolved(f"{name}() expects bools, got {describe_type(a)}")
        return not decisive

    BUILTINS[name] = fn
    LENIENT.add(name)


_logic("and", False)
_logic("or", True)


@builtin("not")
def _not(args: list[Any]) -> Any:
    _n(args, 1, 1, "not")
    if not isinstance(args[0], bool):
        raise Unresolved(f"not() expects a bool, got {describe_type(args[0])}")
    return not args[0]


@builtin("bool")
def _bool(args: list[Any]) -> Any:
    _n(args, 1, 1, "bool")
    v = args[0]
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    if isinstance(v, int):
        return v != 0
    raise Unresolved(f"bool() cannot convert {v!r}")


BUILTINS["true"] = lambda args: True
BUILTINS["false"] = lambda args: False
BUILTINS["null"] = lambda args: None


@builtin("equals")
def _equals(args: list[Any]) -> Any:
    _n(args, 2, 2, "equals")
    return deep_equal(args[0], args[1])


def _compare(name: str, op: Callable[[Any, Any], bool]) -> None:
    def fn(args: list[Any]) -> Any:
        _n(args, 2, 2, name)
        a, b = args
        if isinstance(a, str) and isinstance(b, str):
            return op(a, b)
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
            return op(a, b)
        raise Unresolved(f"{name}() compares two numbers or two strings, got {describe_type(a)} and {describe_type(b)}")

    BUILTINS[name.lower()] = fn


_compare("less", lambda a, b: a < b)
_compare("lessOrEquals", lambda a, b: a <= b)
_compare("greater", lambda a, b: a > b)
_compare("greaterOrEquals", lambda a, b: a >= b)


# -- numbers -----------------------------------------------------------------------------------------------
def _arith(name: str, op: Callable[[int, int], int]) -> None:
    def fn(args: list[Any]) -> Any:
        _n(args, 2, 2, name)
        return op(_int(args[0], name), _int(args[1], name))

    BUILTINS[name] = fn


def _div(a: int, b: int) -> int:
    if b == 0:
        raise Unresolved("div() by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _mod(a: int, b: int) -> int:
    if b == 0:
        raise Unresolved("mod() by zero")
    return a - b * _div(a, b)


_arith("add", lambda a, b: a + b)
_arith("sub", lambda a, b: a - b)
_arith("mul", lambda a, b: a * b)
_arith("div", _div)
_arith("mod", _mod)


@builtin("int")
def _to_int(args: list[Any]) -> Any:
    _n(args, 1, 1, "int")
    v = args[0]
    if isinstance(v, bool):
        raise Unresolved("int() cannot convert a bool")
    if isinstance(v, float):
        return int(v)
    number = small_int(v.lstrip("+") if isinstance(v, str) else v)
    if number is None:
        raise Unresolved(f"int() of {shown(v)}: not an integer of at most 18 digits")
    return number


@builtin("float")
def _to_float(args: list[Any]) -> Any:
    _n(args, 1, 1, "float")
    try:
        return float(args[0])
    except (TypeError, ValueError):
        raise Unresolved(f"float() cannot convert {args[0]!r}") from None


def _numbers(args: list[Any], name: str) -> list[Any]:
    vals = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    vals = force(vals)
    if not vals or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        raise Unresolved(f"{name}() expects numbers")
    return vals


BUILTINS["min"] = lambda args: min(_numbers(args, "min"))
BUILTINS["max"] = lambda args: max(_numbers(args, "max"))


@builtin("range")
def _range(args: list[Any]) -> Any:
    _n(args, 2, 2, "range")
    start, count = _int(args[0], "range"), _int(args[1], "range")
    if not 0 <= count <= 10000:
        raise Unresolved(f"range() count {count} is outside 0-10000")
    return list(range(start, start + count))


# -- strings -----------------------------------------------------------------------------------------------
@builtin("concat")
def _concat(args: list[Any]) -> Any:
    _n(args, 1, None, "concat")
    if all(isinstance(a, list) for a in args):
        return [x for a in args for x in a]
    return "".join(text(a) for a in args)


_FORMAT = re.compile(r"\{\{|\}\}|\{(\d+)(?:,(-?\d+))?(?::([^}]*))?\}")


def _format_one(value: Any, spec: str | None) -> str:
    if spec and isinstance(value, int) and not isinstance(value, bool):
        kind, digits = spec[0].upper(), spec[1:]
        width = int(digits) if digits.isdigit() else 0
        if kind == "D":
            return str(value).zfill(width) if value >= 0 else "-" + str(-value).zfill(width)
        if kind == "X":
            s = format(value, "x" if spec[0] == "x" else "X")
            return s.zfill(width)
        if kind == "N":
            return f"{value:,.{width}f}"
    return text(value)


@builtin("format")
def _format(args: list[Any]) -> Any:
    _n(args, 1, None, "format")
    fmt = _str(args[0], "format")

    def sub(m: re.Match[str]) -> str:
        whole = m.group(0)
        if whole == "{{":
            return "{"
        if whole == "}}":
            return "}"
        i = int(m.group(1))
        if i + 1 >= len(args):
            raise Unresolved(f"format() placeholder {{{i}}} has no argument")
        s = _format_one(args[i + 1], m.group(3))
        if m.group(2):
            w = int(m.group(2))
            s = s.rjust(w) if w > 0 else s.ljust(-w)
        return s

    return _FORMAT.sub(sub, fmt)


@builtin("string")
def _string(args: list[Any]) -> Any:
    _n(args, 1, 1, "string")
    v = args[0]
    if isinstance(v, str):
        return v
    if isinstance(v, (dict, list)):
        return json.dumps(force(v), separators=(",", ":"))
    if v is None:
        return ""
    return text(v)


def _text_fn(name: str, fn: Callable[[str], Any]) -> None:
    def wrapper(args: list[Any]) -> Any:
        _n(args, 1, 1, name)
        return fn(_str(args[0], name))

    BUILTINS[name.lower()] = wrapper


_text_fn("toLower", str.lower)
_text_fn("toUpper", str.upper)
_text_fn("trim", str.strip)
_text_fn("base64", lambda s: base64.b64encode(s.encode()).decode())
_text_fn("base64ToString", lambda s: base64.b64decode(s).decode("utf-8", "replace"))
_text_fn("base64ToJson", lambda s: json.loads(base64.b64decode(s)))
_text_fn("uriComponent", lambda s: urllib.parse.quote(s, safe="-_.!~*'()"))
_text_fn("uriComponentToString", urllib.parse.unquote)
_text_fn("dataUri", lambda s: "data:text/plain;charset=utf8;base64," + base64.b64encode(s.encode()).decode())


@builtin("dataUriToString")
def _data_uri_to_string(args: list[Any]) -> Any:
    _n(args, 1, 1, "dataUriToString")
    s = _str(args[0], "dataUriToString")
    head, sep, data = s.partition(",")
    if not head.lower().startswith("data:") or not sep:
        raise Unresolved(f"dataUriToString(): {s[:40]!r} is not a data URI")
    raw = base64.b64decode(data) if head.lower().endswith(";base64") else urllib.parse.unquote_to_bytes(data)
    return raw.decode("utf-8", "replace")


@builtin("uri")
def _uri(args: list[Any]) -> Any:
    _n(args, 2, 2, "uri")
    return urllib.parse.urljoin(_str(args[0], "uri"), _str(args[1], "uri"))


@builtin("replace")
def _replace(args: list[Any]) -> Any:
    _n(args, 3, 3, "replace")
    return _str(args[0], "replace").replace(_str(args[1], "replace"), text(args[2]))


@builtin("split")
def _split(args: list[Any]) -> Any:
    _n(args, 2, 2, "split")
    s = _str(args[0], "split")
    delims = args[1] if isinstance(args[1], list) else [args[1]]
    delims = [_str(d, "split") for d in delims if d != ""]
    if not delims:
        return [s]
    return re.split("|".join(re.escape(d) for d in delims), s)


@builtin("join")
def _join(args: list[Any]) -> Any:
    _n(args, 2, 2, "join")
    items = force(args[0])
    if not isinstance(items, list):
        raise Unresolved("join() expects an array")
    return _str(args[1], "join").join(text(x) for x in items)


@builtin("substring")
def _substring(args: list[Any]) -> Any:
    _n(args, 2, 3, "substring")
    s = _str(args[0], "substring")
    start = _int(args[1], "substring")
    if not 0 <= start <= len(s):
        raise Unresolved(f"substring() start {start} is outside the string ({len(s)} characters)")
    if len(args) == 2:
        return s[start:]
    length = _int(args[2], "substring")
    if length < 0 or start + length > len(s):
        raise Unresolved(f"substring() of {start}+{length} characters runs past the string ({len(s)} characters)")
    return s[start : start + length]


@builtin("padLeft")
def _pad_left(args: list[Any]) -> Any:
    _n(args, 2, 3, "padLeft")
    ch = _str(args[2], "padLeft") if len(args) == 3 else " "
    return text(args[0]).rjust(_int(args[1], "padLeft"), ch[:1] or " ")


def _ci(name: str, op: Callable[[str, str], Any]) -> None:
    def fn(args: list[Any]) -> Any:
        _n(args, 2, 2, name)
        return op(_str(args[0], name).lower(), _str(args[1], name).lower())

    BUILTINS[name.lower()] = fn


_ci("startsWith", str.startswith)
_ci("endsWith", str.endswith)


def _index_of(last: bool) -> Callable[[list[Any]], Any]:
    def fn(args: list[Any]) -> Any:
        _n(args, 2, 2, "indexOf")
        container, item = args
        if container is None:
            return -1
        if isinstance(container, str):
            s, t = container.lower(), _str(item, "indexOf").lower()
            return s.rfind(t) if last else s.find(t)
        if isinstance(container, list):
            idx = range(len(container) - 1, -1, -1) if last else range(len(container))
            for i in idx:
                if deep_equal(container[i], item):
                    return i
            return -1
        raise Unresolved("indexOf() expects a string or an array")

    return fn


BUILTINS["indexof"] = _index_of(False)
BUILTINS["lastindexof"] = _index_of(True)


@builtin("uniqueString")
def _unique_string(args: list[Any]) -> Any:
    _n(args, 1, None, "uniqueString")
    return unique_string(*(_str(a, "uniqueString") for a in args))


@builtin("guid")
def _guid(args: list[Any]) -> Any:
    _n(args, 1, None, "guid")
    return arm_guid(*(_str(a, "guid") for a in args))


@builtin("newGuid")
def _new_guid(args: list[Any]) -> Any:
    return "00000000-0000-0000-0000-000000000000"


_TIME_FORMATS = {"yyyyMMddTHHmmssZ": "20000101T000000Z", "u": "2000-01-01 00:00:00Z", "d": "1/1/2000"}


@builtin("utcNow")
def _utc_now(args: list[Any]) -> Any:
    fmt = _str(args[0], "utcNow") if args else "yyyyMMddTHHmmssZ"
    if fmt in _TIME_FORMATS:
        return _TIME_FORMATS[fmt]
    out = fmt
    for token, value in (("yyyy", "2000"), ("MM", "01"), ("dd", "01"), ("HH", "00"), ("mm", "00"), ("ss", "00")):
        out = out.replace(token, value)
    return out if out != fmt else STANDIN_TIME


# -- arrays and objects ------------------------------------------------------------------------------------
@builtin("createArray", lenient=True)
def _create_array(args: list[Any]) -> Any:
    return list(args)


@builtin("createObject", lenient=True)
def _create_object(args: list[Any]) -> Any:
    if len(args) % 2:
        raise Unresolved("createObject() takes key, value pairs")
    out: dict[str, Any] = {}
    for k, v in zip(args[::2], args[1::2]):
        if isinstance(k, Unknown):
            k.raise_()
        out[_str(k, "createObject")] = v
    return out


@builtin("array", lenient=True)
def _array(args: list[Any]) -> Any:
    _n(args, 1, 1, "array")
    if isinstance(args[0], Unknown):
        args[0].raise_()
    return args[0] if isinstance(args[0], list) else [args[0]]


def _container(v: Any, name: str) -> Any:
    if isinstance(v, Unknown):
        v.raise_()
    return v


@builtin("length", lenient=True)
def _length(args: list[Any]) -> Any:
    _n(args, 1, 1, "length")
    v = _container(args[0], "length")
    if isinstance(v, (str, list, dict)):
        return len(v)
    raise Unresolved(f"length() expects a string, array or object, got {describe_type(v)}")


@builtin("empty", lenient=True)
def _empty(args: list[Any]) -> Any:
    _n(args, 1, 1, "empty")
    v = _container(args[0], "empty")
    if v is None:
        return True
    if isinstance(v, (str, list, dict)):
        return len(v) == 0
    raise Unresolved(f"empty() expects a string, array, object or null, got {describe_type(v)}")


def _ends(name: str, pick: Callable[[Any], Any]) -> None:
    def fn(args: list[Any]) -> Any:
        _n(args, 1, 1, name)
        v = _container(args[0], name)
        if v is None:
            return None
        if isinstance(v, (list, str)):
            return pick(v) if v else (None if isinstance(v, list) else "")
        raise Unresolved(f"{name}() expects an array or a string")

    BUILTINS[name] = fn
    LENIENT.add(name)


_ends("first", lambda v: v[0])
_ends("last", lambda v: v[-1])


def _slice(name: str, take: bool) -> None:
    def fn(args: list[Any]) -> Any:
        _n(args, 2, 2, name)
        v = _container(args[0], name)
        n = _int(force(args[1]), name)
        if v is None:
            return None
        if isinstance(v, (list, str)):
            n = max(0, n)
            return v[:n] if take else v[n:]
        raise Unresolved(f"{name}() expects an array or a string")

    BUILTINS[name] = fn
    LENIENT.add(name)


_slice("take", True)
_slice("skip", False)


@builtin("contains", lenient=True)
def _contains(args: list[Any]) -> Any:
    _n(args, 2, 2, "contains")
    container = _container(args[0], "contains")
    item = force(args[1])
    if isinstance(container, dict):
        return _str(item, "contains").lower() in (k.lower() for k in container)
    if isinstance(container, str):
        return text(item).lower() in container.lower()
    if isinstance(container, list):
        pending = None
        for x in container:
            if isinstance(x, Unknown) or first_unknown(x) is not None:
                pending = pending or first_unknown(x)
                continue
            if deep_equal(x, item):
                return True
        if pending is not None:
            pending.raise_()
        return False
    raise Unresolved(f"contains() expects an object, array or string, got {describe_type(container)}")


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        existing = next((x for x in out if x.lower() == k.lower()), None)
        if existing is not None and isinstance(out[existing], dict) and isinstance(v, dict):
            out[existing] = _merge(out[existing], v)
        else:
            if existing is not None:
                del out[existing]
            out[k] = v
    return out


@builtin("union")
def union(args: list[Any]) -> Any:
    _n(args, 1, None, "union")
    if all(isinstance(a, dict) for a in args):
        out: dict[str, Any] = {}
        for a in args:
            out = _merge(out, a)
        return out
    if all(isinstance(a, list) for a in args):
        res: list[Any] = []
        for a in args:
            for x in a:
                if not any(deep_equal(x, y) for y in res):
                    res.append(x)
        return res
    raise Unresolved("union() expects all arrays or all objects")


@builtin("intersection")
def _intersection(args: list[Any]) -> Any:
    _n(args, 2, None, "intersection")
    if all(isinstance(a, dict) for a in args):
        first = args[0]
        return {k: v for k, v in first.items()
                if all(any(k2.lower() == k.lower() and deep_equal(v, v2) for k2, v2 in o.items()) for o in args[1:])}
    if all(isinstance(a, list) for a in args):
        out: list[Any] = []
        for x in args[0]:
            if all(any(deep_equal(x, y) for y in o) for o in args[1:]) and not any(deep_equal(x, y) for y in out):
                out.append(x)
        return out
    raise Unresolved("intersection() expects all arrays or all objects")


@builtin("flatten")
def _flatten(args: list[Any]) -> Any:
    _n(args, 1, 1, "flatten")
    v = args[0]
    if not isinstance(v, list) or not all(isinstance(x, list) for x in v):
        raise Unresolved("flatten() expects an array of arrays")
    return [y for x in v for y in x]


@builtin("objectKeys")
def _object_keys(args: list[Any]) -> Any:
    _n(args, 1, 1, "objectKeys")
    if not isinstance(args[0], dict):
        raise Unresolved("objectKeys() expects an object")
    return list(args[0])


@builtin("items", lenient=True)
def _items(args: list[Any]) -> Any:
    _n(args, 1, 1, "items")
    v = _container(args[0], "items")
    if not isinstance(v, dict):
        raise Unresolved("items() expects an object")
    return [{"key": k, "value": v[k]} for k in sorted(v, key=str.lower)]


@builtin("shallowMerge", lenient=True)
def _shallow_merge(args: list[Any]) -> Any:
    _n(args, 1, 1, "shallowMerge")
    v = _container(args[0], "shallowMerge")
    out: dict[str, Any] = {}
    for o in v:
        if isinstance(o, Unknown):
            o.raise_()
        if not isinstance(o, dict):
            raise Unresolved("shallowMerge() expects an array of objects")
        out.update(o)
    return out


@builtin("tryGet", lenient=True)
def _try_get(args: list[Any]) -> Any:
    _n(args, 2, None, "tryGet")
    cur = args[0]
    for key in args[1:]:
        if isinstance(cur, Unknown):
            cur.raise_()
        key = force(key)
        if cur is None:
            return None
        if isinstance(cur, dict) and isinstance(key, str):
            cur = next((v for k, v in cur.items() if k.lower() == key.lower()), None)
        elif isinstance(cur, list) and isinstance(key, int) and not isinstance(key, bool):
            cur = cur[key] if 0 <= key < len(cur) else None
        else:
            return None
    return cur


def _from_end(strict: bool) -> Callable[[list[Any]], Any]:
    def fn(args: list[Any]) -> Any:
        _n(args, 2, 2, "indexFromEnd")
        v = _container(args[0], "indexFromEnd")
        n = _int(force(args[1]), "indexFromEnd")
        if isinstance(v, list) and 1 <= n <= len(v):
            return v[-n]
        if strict:
            raise Unresolved(f"index {n} from the end is out of range")
        return None

    return fn


BUILTINS["indexfromend"] = _from_end(True)
BUILTINS["tryindexfromend"] = _from_end(False)
LENIENT.update({"indexfromend", "tryindexfromend"})


@builtin("json")
def _json(args: list[Any]) -> Any:
    _n(args, 1, 1, "json")
    try:
        return json.loads(_str(args[0], "json"))
    except ValueError as exc:
        raise Unresolved(f"json() cannot parse {args[0][:40]!r}: {exc}") from None


# -- CIDR --------------------------------------------------------------------------------------------------
def _network(v: Any, name: str) -> Any:
    try:
        return ipaddress.ip_network(_str(v, name), strict=False)
    except ValueError as exc:
        raise Unresolved(f"{name}(): {exc}") from None


@builtin("parseCidr")
def _parse_cidr(args: list[Any]) -> Any:
    _n(args, 1, 1, "parseCidr")
    net = _network(args[0], "parseCidr")
    out = {"network": str(net.network_address), "netmask": str(net.netmask)}
    if net.version == 4:
        out["broadcast"] = str(net.broadcast_address)
        small = net.prefixlen >= 31
        out["firstUsable"] = str(net.network_address if small else net.network_address + 1)
        out["lastUsable"] = str(net.broadcast_address if small else net.broadcast_address - 1)
    else:
        out["firstUsable"] = str(net.network_address)
        out["lastUsable"] = str(net.broadcast_address)
    out["cidr"] = net.prefixlen
    return out


@builtin("cidrSubnet")
def _cidr_subnet(args: list[Any]) -> Any:
    _n(args, 3, 3, "cidrSubnet")
    net = _network(args[0], "cidrSubnet")
    new, index = _int(args[1], "cidrSubnet"), _int(args[2], "cidrSubnet")
    if not net.prefixlen <= new <= net.max_prefixlen:
        raise Unresolved(f"cidrSubnet(): /{new} does not fit in {net}")
    size = 1 << (net.max_prefixlen - new)
    if not 0 <= index < (1 << (new - net.prefixlen)):
        raise Unresolved(f"cidrSubnet(): {net} has no /{new} number {index}")
    return str(ipaddress.ip_network((int(net.network_address) + index * size, new)))


@builtin("cidrHost")
def _cidr_host(args: list[Any]) -> Any:
    _n(args, 2, 2, "cidrHost")
    net = _network(args[0], "cidrHost")
    index = _int(args[1], "cidrHost")
    addr = int(net.network_address) + 1 + index
    if index < 0 or addr > int(net.broadcast_address) - (1 if net.version == 4 else 0):
        raise Unresolved(f"cidrHost(): {net} has no usable host number {index}")
    return str(ipaddress.ip_address(addr) if net.version == 6 else ipaddress.IPv4Address(addr))


# -- things that need a running deployment ------------------------------------------------------------------
for _name in ("pickZones", "providers", "dateTimeAdd", "dateTimeFromEpoch", "dateTimeToEpoch", "loadFileAsBase64",
              "loadTextContent", "loadJsonContent"):
    def _refuse(args: list[Any], _name: str = _name) -> Any:
        raise Unresolved(f"{_name}() is not evaluated offline")

    BUILTINS[_name.lower()] = _refuse
