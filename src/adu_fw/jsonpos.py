"""JSON as users write it (UTF-8 BOM, ``//`` and ``/* */`` comments), with where each object starts.

SARIF results point at the rule object in the source file, so the reader keeps the offset of every
object and array. It is the standard library's decoder (same acceptance as ``json.loads``) run
through its pure-Python scanner with the object and array parsers wrapped to record where each
value starts; comments are blanked first, keeping every offset and line break, so positions are
positions in the original text.
"""
from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .errors import PolicyError
from .jsonio import parse_int

__all__ = ["Located", "blank_comments", "load_located", "read_json"]

MAX_BYTES = 256 * 1024 * 1024


def blank_comments(text: str) -> str:
    """``//`` and ``/* */`` comments outside strings replaced by spaces (line breaks kept)."""
    if "/" not in text:
        return text
    out = list(text)
    i, n = 0, len(text)
    in_str = False
    while i < n:
        c = text[i]
        if in_str:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "/" and i + 1 < n and text[i + 1] == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            for k in range(i, j):
                out[k] = " "
            i = j
            continue
        elif c == "/" and i + 1 < n and text[i + 1] == "*":
            j = text.find("*/", i + 2)
            if j < 0:
                raise ValueError(f"unterminated /* comment at offset {i}")
            for k in range(i, j + 2):
                if out[k] not in "\r\n":
                    out[k] = " "
            i = j + 2
            continue
        i += 1
    return "".join(out)


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"not UTF-8 text (byte {exc.start})", file=source) from None


def _read_text(source: str | Path | bytes, name: str | None) -> str:
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            size = path.stat().st_size
            if size > MAX_BYTES:
                raise PolicyError(f"file is {size} bytes; the limit is {MAX_BYTES}", file=name)
            raw = path.read_bytes()
        except OSError as exc:
            raise PolicyError(f"cannot read the file: {exc.strerror or exc}", file=name) from None
    else:
        raw = source
    text = _decode(raw, name or "<input>")
    return text


def _blanked(text: str, name: str | None) -> str:
    try:
        return blank_comments(text)
    except ValueError as exc:
        raise PolicyError(f"malformed JSON: {exc}", file=name) from None


def read_json(path: str | Path) -> Any:
    """A JSON document from a file, with a BOM and comments tolerated; errors name the file and line."""
    name = str(path)
    clean = _blanked(_read_text(path, name), name)
    try:
        return json.loads(clean, strict=False, parse_int=parse_int)  # a number too long to convert stays text
    except json.JSONDecodeError as exc:
        raise PolicyError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=name) from None
    except RecursionError:
        raise PolicyError("JSON nesting is too deep", file=name) from None


@dataclass
class Located:
    """A parsed document and the offset of every object/array in it, by JSON path."""

    value: Any
    text: str
    offsets: dict[tuple[Any, ...], int]
    source: str | None = None

    def __post_init__(self) -> None:
        self._lines = [0] + [i + 1 for i, c in enumerate(self.text) if c == "\n"]

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column (in characters) of an offset."""
        line = bisect.bisect_right(self._lines, offset)
        return line, offset - self._lines[line - 1] + 1

    def position(self, path: tuple[Any, ...]) -> tuple[int, int] | None:
        off = self.offsets.get(tuple(path))
        return None if off is None else self.line_col(off)

    def walk(self) -> Iterator[tuple[tuple[Any, ...], Any]]:
        """Every (path, value) of the document, depth first."""
        stack: list[tuple[tuple[Any, ...], Any]] = [((), self.value)]
        while stack:
            path, v = stack.pop()
            yield path, v
            if isinstance(v, dict):
                stack += [(path + (k,), x) for k, x in reversed(list(v.items()))]
            elif isinstance(v, list):
                stack += [(path + (i,), x) for i, x in reversed(list(enumerate(v)))]


class _Decoder(json.JSONDecoder):
    def __init__(self) -> None:
        super().__init__(strict=False, parse_int=parse_int)  # ARM accepts line breaks inside strings
        self.starts: dict[int, int] = {}
        self.keep: list[Any] = []
        base_obj, base_arr = self.parse_object, self.parse_array

        def parse_object(s_and_end: tuple[str, int], *args: Any) -> tuple[Any, int]:
            value, end = base_obj(s_and_end, *args)
            self.starts[id(value)] = s_and_end[1] - 1
            self.keep.append(value)
            return value, end

        def parse_array(s_and_end: tuple[str, int], *args: Any) -> tuple[Any, int]:
            value, end = base_arr(s_and_end, *args)
            self.starts[id(value)] = s_and_end[1] - 1
            self.keep.append(value)
            return value, end

        self.parse_object = parse_object  # type: ignore[assignment]
        self.parse_array = parse_array  # type: ignore[assignment]
        self.memo: dict[str, str] = {}
        self.scan_once = json.scanner.py_make_scanner(self)


def load_located(source: str | Path | bytes, *, name: str | None = None) -> Located:
    """Parse a file (or bytes) keeping the start offset of every object and array."""
    if isinstance(source, (str, Path)):
        name = name or str(source)
    text = _read_text(source, name)
    clean = _blanked(text, name)
    dec = _Decoder()
    try:
        value, end = dec.raw_decode(clean, json.decoder.WHITESPACE.match(clean, 0).end())
        if json.decoder.WHITESPACE.match(clean, end).end() != len(clean):
            raise json.JSONDecodeError("Extra data", clean, end)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=name) from None
    except RecursionError:
        raise PolicyError("JSON nesting is too deep", file=name) from None
    offsets: dict[tuple[Any, ...], int] = {}
    doc = Located(value, text, offsets, name)
    for path, v in doc.walk():
        if isinstance(v, (dict, list)) and id(v) in dec.starts:
            offsets[path] = dec.starts[id(v)]
    return doc
