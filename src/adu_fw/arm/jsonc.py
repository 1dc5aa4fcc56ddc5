"""JSON as ARM reads templates (integers too long to convert stay text, as in ``jsonio``): ``//`` and ``/* */`` comments outside strings, and strings that
span lines (both accepted by Resource Manager and written by the AKS baseline templates).

Comments are replaced by spaces (newlines kept), so a JSON error still points at the line and
column of the original file.
"""
from __future__ import annotations

import json
from typing import Any

from ..jsonio import parse_int  # an integer too long for Python to convert stays its text

__all__ = ["loads", "strip_comments", "has_comments"]


def has_comments(text: str) -> bool:
    return "//" in text or "/*" in text


def strip_comments(text: str) -> str:
    """The text with every comment outside a string blanked out; raises ValueError on an open ``/*``."""
    if not has_comments(text):
        return text
    out: list[str] = []
    i, n = 0, len(text)
    start = 0
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n:
                ch = text[i]
                if ch == "\\":
                    i += 2
                    continue
                if ch == '"':
                    break
                i += 1
            i += 1
            continue
        if c == "/" and i + 1 < n and text[i + 1] in "/*":
            out.append(text[start:i])
            if text[i + 1] == "/":
                j = text.find("\n", i)
                j = n if j < 0 else j
                out.append(" " * (j - i))
            else:
                j = text.find("*/", i + 2)
                if j < 0:
                    line = text.count("\n", 0, i) + 1
                    raise ValueError(f"unterminated /* comment starting at line {line}")
                j += 2
                out.append("".join(ch if ch in "\r\n" else " " for ch in text[i:j]))
            i = start = j
            continue
        i += 1
    out.append(text[start:])
    return "".join(out)


def loads(text: str) -> Any:
    """``json.loads`` of ``text`` after :func:`strip_comments` (only when it holds a comment)."""
    try:
        return json.loads(text, strict=False, parse_int=parse_int)
    except json.JSONDecodeError:
        if not has_comments(text):
            raise
    return json.loads(strip_comments(text), strict=False, parse_int=parse_int)
