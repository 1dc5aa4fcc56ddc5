"""JSON text in, with hostile numbers made harmless, and values shown short in error messages.

Python refuses to convert integers of more than 4,300 digits (``sys.set_int_max_str_digits``) and
``json`` raises a bare ``ValueError`` on them, which names neither the file nor the field. Here an
integer literal that long stays its text (``LongNumber``, a ``str``), so the reader that meets it
where a number belongs reports the file, the field and the value, like any other wrong value.
"""
from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["LongNumber", "loads", "decoder", "parse_int", "shown", "small_int"]

MAX_DIGITS = 4000  # below Python's int-conversion limit (4,300 digits)
_SMALL = re.compile(r"\s*-?\d{1,18}\s*")


class LongNumber(str):
    """An integer literal with more digits than Python converts, kept as its text."""

    def __repr__(self) -> str:
        return f"{self[:20]}... (a number of {len(self.lstrip('-')):,} digits)"


def parse_int(text: str) -> Any:
    """``parse_int`` for any ``json`` decoder: an int, or a ``LongNumber`` past the conversion limit."""
    return int(text) if len(text) <= MAX_DIGITS else LongNumber(text)


def decoder() -> json.JSONDecoder:
    return json.JSONDecoder(parse_int=parse_int)


def loads(text: str | bytes) -> Any:
    """``json.loads`` whose integers never exceed Python's conversion limit (see ``LongNumber``)."""
    return json.loads(text, parse_int=parse_int)


def shown(value: Any, width: int = 60) -> str:
    """A value as an error message shows it: its repr, cut to ``width`` characters with its length."""
    if isinstance(value, LongNumber):
        return repr(value)
    text = repr(value)
    if len(text) <= width:
        return text
    size = f"{len(value):,} characters" if isinstance(value, str) else f"{len(text):,} characters as text"
    return f"{text[:width]}... ({size})"


def small_int(value: Any) -> int | None:
    """An int, or the text of one of at most 18 digits, as an int; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and not isinstance(value, LongNumber) and _SMALL.fullmatch(value):
        return int(value)
    return None
