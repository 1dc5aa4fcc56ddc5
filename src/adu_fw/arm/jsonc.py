"""JSON as ARM reads templates: ``//`` and ``/* */`` comments outside strings, strings that span
lines (both accepted by Resource Manager and written by the AKS baseline templates), and integers
too long to convert kept as text (``jsonio``).

Comments are blanked by ``jsonpos.blank_comments`` (newlines kept), so a JSON error still points at
the line and column of the original file.
"""
from __future__ import annotations

import json
from typing import Any

from ..jsonio import parse_int
from ..jsonpos import blank_comments

__all__ = ["loads", "strip_comments", "has_comments"]

#: the text with every comment outside a string blanked out (ValueError on an open ``/*``)
strip_comments = blank_comments


def has_comments(text: str) -> bool:
    return "//" in text or "/*" in text


def loads(text: str) -> Any:
    """``json.loads`` of ``text`` after :func:`strip_comments` (only when the plain parse fails)."""
    try:
        return json.loads(text, strict=False, parse_int=parse_int)
    except json.JSONDecodeError:
        if not has_comments(text):
            raise
    return json.loads(strip_comments(text), strict=False, parse_int=parse_int)
