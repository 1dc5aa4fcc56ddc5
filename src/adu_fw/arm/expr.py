"""The ARM template expression language: text inside ``"[...]"`` parsed into a small tree.

Grammar (docs: template-expressions): a literal string (``'it''s'``), an integer, a function call
``name(args)`` (user-defined functions are ``namespace.name(args)``), each followed by any number
of ``.property`` and ``[index]`` accesses. ``true``/``false``/``null`` are accepted bare too.

Nodes are tuples, parsed once per distinct text (templates repeat the same expressions a lot):
``("lit", value)``, ``("call", lower_name, name, args)``, ``("member", node, name)``,
``("index", node, key_node)``.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from .values import Unresolved

__all__ = ["parse", "Node", "name_handles"]

Node = tuple

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<ident>[A-Za-z_$][A-Za-z0-9_$]*)|(?P<op>[(),.\[\]]))"
)
_BARE = {"true": True, "false": False, "null": None}


def _tokenize(text: str) -> list[tuple[str, Any]]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise Unresolved(f"cannot parse the ARM expression near {text[pos:pos + 24]!r}")
        pos = m.end()
        if m.group("str") is not None:
            out.append(("str", m.group("str")[1:-1].replace("''", "'")))
        elif m.group("num") is not None:
            n = m.group("num")
            if len(n) > 19:  # more digits than any ARM integer (64-bit) has
                raise Unresolved(f"number of {len(n):,} digits in an ARM expression")
            out.append(("num", float(n) if "." in n else int(n)))
        elif m.group("ident") is not None:
            out.append(("ident", m.group("ident")))
        else:
            out.append(("op", m.group("op")))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.pos = 0

    def peek(self, k: int = 0) -> tuple[str, Any] | None:
        i = self.pos + k
        return self.toks[i] if i < len(self.toks) else None

    def take(self, kind: str, value: Any = None) -> Any:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            found = "the end" if tok is None else repr(tok[1])
            raise Unresolved(f"ARM expression [{self.text}]: expected {value or kind}, found {found}")
        self.pos += 1
        return tok[1]

    def expr(self, depth: int = 0) -> Node:
        if depth > 200:
            raise Unresolved("ARM expression nested too deeply")
        tok = self.peek()
        if tok is None:
            raise Unresolved(f"ARM expression [{self.text}] is incomplete")
        kind, val = tok
        if kind in ("str", "num"):
            self.pos += 1
            node: Node = ("lit", val)
        elif kind == "ident":
            self.pos += 1
            name = val
            nxt = self.peek()
            if nxt == ("op", ".") and self.peek(1) and self.peek(1)[0] == "ident" and self.peek(2) == ("op", "("):
                name = f"{val}.{self.peek(1)[1]}"  # user-defined function: namespace.member(...)
                self.pos += 2
                nxt = self.peek()
            if nxt == ("op", "("):
                self.pos += 1
                args: list[Node] = []
                if self.peek() != ("op", ")"):
                    while True:
                        args.append(self.expr(depth + 1))
                        if self.peek() == ("op", ","):
                            self.pos += 1
                            continue
                        break
                self.take("op", ")")
                node = ("call", name.lower(), name, tuple(args))
            elif val.lower() in _BARE and name == val:
                node = ("lit", _BARE[val.lower()])
            else:
                raise Unresolved(f"ARM expression [{self.text}]: expected '(' after {val!r}")
        else:
            raise Unresolved(f"ARM expression [{self.text}]: unexpected {val!r}")
        while True:
            nxt = self.peek()
            if nxt == ("op", "."):
                self.pos += 1
                tok = self.peek()
                if tok is None or tok[0] not in ("ident", "num"):
                    raise Unresolved(f"ARM expression [{self.text}]: expected a property name after '.'")
                self.pos += 1
                node = ("member", node, str(tok[1]))
            elif nxt == ("op", "["):
                self.pos += 1
                key = self.expr(depth + 1)
                self.take("op", "]")
                node = ("index", node, key)
            else:
                return node


@lru_cache(maxsize=1 << 16)
def parse(text: str) -> Node:
    """The tree of one expression (the text between the outer brackets)."""
    p = _Parser(text)
    node = p.expr()
    if p.pos != len(p.toks):
        raise Unresolved(f"unexpected text after the end of the ARM expression [{text}]")
    return node


def name_handles(raw: str | None) -> list[str]:
    """Names a user can type for a resource named by ``[variables('x')]`` or ``[parameters('x').y]``: x.y, x."""
    if not (isinstance(raw, str) and raw.startswith("[") and not raw.startswith("[[") and raw.endswith("]")):
        return []
    try:
        node = parse(raw[1:-1])  # type: ignore[index]
    except Unresolved:
        return []
    chain: list[str] = []
    while node[0] in ("member", "index"):
        key = node[2]
        if node[0] == "member":
            chain.append(str(key))
        elif key[0] == "lit":
            chain.append(str(key[1]))
        else:
            return []
        node = node[1]
    if node[0] != "call" or node[1] not in ("parameters", "variables") or len(node[3]) != 1 or node[3][0][0] != "lit":
        return []
    root = str(node[3][0][1])
    chain.reverse()
    return [".".join([root] + chain), root] if chain else [root]
