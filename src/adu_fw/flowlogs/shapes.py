"""How a file holds its records, found by content (never by name), and every record it holds.

Shapes (``SHAPES``), each plain or gzip (any number of gzip members):

- ``blob``: ``{"records": [...]}``, what Azure writes (``PT1H.json``);
- ``record``: one record object without the wrapper;
- ``array``: a JSON array of records or blobs;
- ``ndjson``: one JSON value per line (records, or whole blobs), what Filebeat, Logstash, Event Hub
  consumers and ``jq -c '.records[]'`` write (``.log``, ``.jsonl``, ``.ndjson``);
- ``concatenated``: several JSON documents back to back, not one per line.

Two decoders. ``_scan.decode_many`` (compiled) reads any of these shapes when the file is
well-formed, leaving tuple strings as byte spans; it declines anything it does not read exactly as
``json`` would, and the general decoder below then reads the file value by value and element by
element, so that one broken part costs only itself: a record the file really ends inside is
"truncated"; a stray key, a string or other non-object where a record should be, or JSON that does
not parse, is rejected with its location, and reading resumes at the next complete record.
A file holding no record, blob or cut-off record (text, other JSON, binary data) is not a flow log:
it is reported with why, never read as zero records.
"""
from __future__ import annotations

import bisect
import json
import re
import sys
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _scan
from ..jsonio import LongNumber, decoder
from .records import SpanText, TupleSpans, tuple_count
from .schema import FlowLogError

SHAPES = ("blob", "record", "array", "ndjson", "concatenated")
TRUNCATED = "truncated record (the file ends inside it)"
IN_BROKEN_JSON = "in malformed JSON (no readable record around it)"
NOT_IN_A_RECORD = "not inside a flow-log record"

_TRAILING_COMMA = re.compile(r",(\s*[\]}])")
_WS = re.compile(r"[ \t\r\n]*")
_BLOB_START = re.compile(r'\{[ \t\r\n]*"records"[ \t\r\n]*:[ \t\r\n]*\[')
_OBJECT_START = re.compile(r"\{")
_FLOW_HINT = re.compile(
    r'"(?:records|properties|flowRecords|flowTuples|flowLogVersion|flowLogGUID|flowLogResourceID|category|operationName|'
    r'systemId|macAddress)"[ \t\r\n]*:|"\d{10,13},'
)
_TUPLE_TEXT = re.compile(r'"\d{10,13},[^"\n]*(?:"|$)')
_CUT_TOKEN = re.compile(r"-|\.|[eE][+-]?|t(?:r(?:u)?)?|f(?:a(?:l(?:s)?)?)?|n(?:u(?:l)?)?|u[0-9a-fA-F]{0,3}")
_WS_BYTES = re.compile(rb"[ \t\r\n]*")


def _setting(name: str) -> Any:
    return getattr(sys.modules[__package__], name)


@dataclass
class Contents:
    """What one file holds: its shape, its records (with the line of the value each came from),
    what stood where a record should be, and why it is not a flow log when it is not one."""

    shape: str | None = None
    compression: str | None = None
    records: list[tuple[Any, int | None]] = field(default_factory=list)
    text: SpanText | None = None  # where the tuple strings are, when the fast decoder read the file
    multi: bool = False  # several top-level values: locations carry their line
    flow: bool = False  # a blob, a record or a cut-off record was seen
    not_flow_log: str | None = None
    notes: list[str] = field(default_factory=list)
    truncated: list[tuple[str, int]] = field(default_factory=list)  # (where, tuples in it)
    # (reason, line of the top-level value or None, where, tuples in it, their reason)
    elements: list[tuple[str, int | None, str, int, str]] = field(default_factory=list)
    tops: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, kind) of each top-level value

    @property
    def label(self) -> str:
        return f"{self.shape} ({self.compression})" if self.compression else str(self.shape)


def _describe(v: Any) -> str:
    if isinstance(v, LongNumber):
        return f"a number of {len(v):,} digits"
    if isinstance(v, dict):
        if not v:
            return "an empty object"
        keys = ", ".join(repr(k) for k in list(v)[:5])
        return f"an object with keys {keys}" + (", ..." if len(v) > 5 else "")
    if isinstance(v, list):
        return f"an array of {len(v)} element(s)"
    if isinstance(v, TupleSpans):
        return f"an array of {len(v)} string(s)"
    if isinstance(v, str):
        return f"a string {v[:40]!r}" + ("..." if len(v) > 40 else "")
    if v is None or isinstance(v, bool):
        return json.dumps(v)
    return f"a number {json.dumps(v)[:30]}"


def _record_like(v: dict) -> bool:
    return isinstance(v.get("properties"), dict) or "flowRecords" in v or "flowLogVersion" in v


class _Classify:
    """Decoded values -> records and rejected elements (shared by both decoders, so they agree)."""

    def __init__(self, c: Contents, text: SpanText | None) -> None:
        self.c, self.text = c, text

    def reject(self, reason: str, line: int | None, where: str, value: Any, tuple_reason: str = NOT_IN_A_RECORD) -> None:
        self.c.elements.append((reason, line, where, tuple_count(value, self.text), tuple_reason))

    def top(self, v: Any, label: str, line: int | None) -> str:
        """A value standing on its own (a document, or an item of a top-level array)."""
        if isinstance(v, dict):
            if _record_like(v):
                self.c.flow = True
                self.c.records.append((v, line))
                return "record"
            if isinstance(v.get("records"), list):
                self.c.flow = True
                for i, el in enumerate(v["records"]):
                    self.element(el, f"{label}records[{i}]", line)
                return "blob"
        elif isinstance(v, list):
            for i, el in enumerate(v):
                self.top(el, f"{label}[{i}]", line)
            return "array"
        self.reject("not a flow-log record", line, f"{label or 'the document'}: {_describe(v)}", v)
        return "other"

    def element(self, el: Any, label: str, line: int | None) -> None:
        """An element of a ``records`` array: any object is a record (its version is checked later)."""
        if isinstance(el, dict):
            if isinstance(el.get("records"), list) and "properties" not in el:
                self.top(el, label + ".", line)  # a blob nested inside records: its records are read
            else:
                self.c.records.append((el, line))
        else:
            self.reject("not a record (an element of records that is not an object)", line, f"{label}: {_describe(el)}", el)


def _shape(c: Contents, one_per_line: Any) -> None:
    """The file's shape from how its values lie: one value is what it is; several are NDJSON when each
    starts a line and none that decodes spans lines, else concatenated documents."""
    if not c.flow:
        return
    if len(c.tops) > 1:
        c.shape = "ndjson" if one_per_line(c.tops) else "concatenated"
    else:
        c.shape = c.tops[0][2] if c.tops and c.tops[0][2] != "broken" else "record"


def _why_not(c: Contents) -> str:
    for reason, line, where, _, _ in c.elements:
        at = f"line {line}: " if c.multi and line else ""
        return f"JSON, but no flow-log record in it ({at}{where})" if reason == "not a flow-log record" else f"{reason}: {at}{where}"
    return "no flow-log record in it"


# -- entry point -------------------------------------------------------------------------------------
def decode(raw: bytes, source: str) -> Contents:
    """Everything one file holds, whatever its shape, compression or name."""
    c = Contents()
    data = raw
    if data[:2] == b"\x1f\x8b":
        c.compression = "gzip"
        data = _gunzip(raw, source, c)
        if c.not_flow_log:
            return c
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # PowerShell's Out-File writes UTF-16
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            c.not_flow_log = "a UTF-16 byte-order mark, but not UTF-16 text"
            return c
        c.notes.append("UTF-16 text")
        return _general(text.lstrip("\ufeff"), source, c)
    start = 3 if data[:3] == b"\xef\xbb\xbf" else 0
    first = _first_byte(data, start)
    if first < 0:
        c.not_flow_log = "an empty file" if len(data) == start else "only whitespace"
        return c
    if data[first] not in b"{[":
        c.not_flow_log = _not_json(data[first : first + 40])
        return c
    if _setting("USE_SCANNER"):
        try:
            docs, firsts, lasts, starts, ends, commas = _scan.decode_many(data, start, TupleSpans)
        except _scan.Declined:
            pass  # the general decoder reads it, tolerantly, and says what was odd
        else:
            c.text = SpanText(np.frombuffer(data, np.uint8), starts, ends)
            if commas:
                c.notes.append("trailing comma(s) ignored")
            return _fast(data, docs, firsts, lasts, c)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8-sig", errors="replace")
        c.notes.append(f"invalid UTF-8 at byte {exc.start}; replaced")
    return _general(text, source, c)


def sniff(head: bytes) -> str | None:
    """Why a file cannot be a flow log, from its first bytes alone (None: it may be one)."""
    if head[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            head = d.decompress(head, 4096)
        except zlib.error as exc:
            return f"gzip data that does not decompress ({exc})"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None
    start = 3 if head[:3] == b"\xef\xbb\xbf" else 0
    first = _first_byte(head, start)
    if first < 0 or head[first] in b"{[":
        return None
    return _not_json(head[first : first + 40])


def _first_byte(data: bytes, start: int) -> int:
    i = _WS_BYTES.match(data, start).end()  # type: ignore[union-attr]
    return i if i < len(data) else -1


def _not_json(head: bytes) -> str:
    if b"\0" in head or sum(b < 9 or 13 < b < 32 for b in head) > 2:
        return "not JSON (binary data)"
    return f"not JSON (it starts with {head.decode('utf-8', 'replace')[:30]!r})"


def _gunzip(raw: bytes, source: str, c: Contents) -> bytes:
    """Every gzip member; a stream cut short keeps what decompressed (noted); the size is bounded."""
    limit = _setting("MAX_FILE_BYTES")
    out: list[bytes] = []
    total, buf = 0, raw
    while buf:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = d.decompress(buf, limit + 1 - total)
        except zlib.error as exc:
            if not out:
                c.not_flow_log = f"gzip data that does not decompress ({exc})"
                return b""
            c.notes.append(f"gzip member after byte {len(raw) - len(buf)} does not decompress ({exc}); ignored")
            break
        total += len(chunk)
        out.append(chunk)
        if total > limit:
            raise FlowLogError(f"decompresses to more than {limit} bytes; one flow-log file is read whole and that is the limit", file=source)
        if not d.eof:
            c.notes.append(f"gzip stream cut short; reading the {total} byte(s) that decompressed")
            break
        buf = d.unused_data.lstrip(b"\0")
    return b"".join(out)


def _one_per_line(text: Any, newline: Any, values: list[tuple[int, int, str]]) -> bool:
    """Every value starts on a line of its own, and none that decodes holds a newline (NDJSON)."""
    return all(
        (i == 0 or text.find(newline, values[i - 1][1], a) >= 0) and (kind == "broken" or text.find(newline, a, b) < 0)
        for i, (a, b, kind) in enumerate(values)
    )


# -- the fast decoder's documents ------------------------------------------------------------------------
def _fast(data: bytes, docs: list[Any], firsts: list[int], lasts: list[int], c: Contents) -> Contents:
    cls = _Classify(c, c.text)
    c.multi = len(docs) > 1
    line, at = 1, 0
    for doc, a, b in zip(docs, firsts, lasts):
        if c.multi:
            line += data.count(b"\n", at, a)
            at = a
        c.tops.append((a, b, cls.top(doc, "", line if c.multi else None)))
    _shape(c, lambda values: _one_per_line(data, b"\n", values))
    if not c.flow:
        c.not_flow_log = _why_not(c)
    return c


# -- the general decoder -----------------------------------------------------------------------------------
class _Broken(Exception):
    def __init__(self, pos: int, msg: str, cut: bool) -> None:
        self.pos, self.msg, self.cut = pos, msg, cut


def _is_cut(text: str, exc: json.JSONDecodeError) -> bool:
    """Whether the text ends inside the value (every byte so far could begin valid JSON)."""
    if exc.msg.startswith("Unterminated string"):
        return True
    rest = text[exc.pos :]
    return not rest.strip(" \t\r\n") or bool(_CUT_TOKEN.fullmatch(rest))


def _general(text: str, source: str, c: Contents) -> Contents:
    text, commas = _TRAILING_COMMA.subn(r"\1", text)
    if commas:
        c.notes.append("trailing comma(s) ignored")
    _Walker(text, source, c).run()
    return c


class _Walker:
    """Reads a text value by value, and a records array element by element, resuming after damage."""

    def __init__(self, text: str, source: str, c: Contents) -> None:
        self.t, self.n, self.source, self.c = text, len(text), source, c
        self.cls = _Classify(c, None)
        self.dec = decoder()  # an integer too long to convert stays text (jsonio.LongNumber)
        self._newlines: list[int] | None = None
        self._noted: set[str] = set()
        self.ended_damaged = False  # the text ends inside a damaged or cut value

    # positions
    def ws(self, pos: int) -> int:
        return _WS.match(self.t, pos).end()  # type: ignore[union-attr]

    def line(self, pos: int) -> int:
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer("\n", self.t)]
        return bisect.bisect_left(self._newlines, pos) + 1

    def at(self, pos: int) -> str:
        line = self.line(pos)
        col = pos - (self._newlines[line - 2] if line > 1 else -1)  # type: ignore[index]
        return f"line {line} column {col}"

    def note(self, text: str, *, once: bool = False) -> None:
        if once and text in self._noted:
            return
        self._noted.add(text)
        self.c.notes.append(text)

    def tuples(self, a: int, b: int) -> int:
        return len(_TUPLE_TEXT.findall(self.t, a, b))

    def decode(self, pos: int) -> tuple[Any, int]:
        try:
            return self.dec.raw_decode(self.t, pos)
        except json.JSONDecodeError as exc:
            msg = exc.msg[:-3] if exc.msg.endswith(" at") else exc.msg  # "Invalid control character at"
            raise _Broken(exc.pos, msg, _is_cut(self.t, exc)) from None
        except RecursionError:
            raise FlowLogError("JSON nesting is too deep", file=self.source) from None

    # the document
    def run(self) -> None:
        t, n, c = self.t, self.n, self.c
        pos = self.ws(0)
        while pos < n:
            if t[pos] == ",":
                self.note("commas between documents ignored", once=True)
                pos = self.ws(pos + 1)
                continue
            line = self.line(pos)
            blob = _BLOB_START.match(t, pos)
            if blob:
                c.flow = True
                end, kind = self.array(blob.end(), line, blob=True), "blob"
            elif t[pos] == "[":
                end, kind = self.array(pos + 1, line, blob=False), "array"
            else:
                try:
                    value, end = self.decode(pos)
                except _Broken as b:
                    end, kind = self.broken(pos, b, "", line, top=True), "broken"
                else:
                    kind = self.cls.top(value, "", line)
            last = end
            while last > pos and t[last - 1] in " \t\r\n":
                last -= 1
            c.tops.append((pos, last, kind))
            pos = self.ws(end)
        c.multi = len(c.tops) > 1
        if not c.multi:  # one document: locations need no line of their own
            c.records = [(r, None) for r, _ in c.records]
            c.elements = [(r, None, w, k, tr) for r, _, w, k, tr in c.elements]
        _shape(c, lambda values: _one_per_line(t, "\n", values))
        if not c.flow:
            c.not_flow_log = _why_not(c)

    def array(self, q: int, line: int, *, blob: bool) -> int:
        """The elements of an array from ``q`` (after its ``[``); returns where the value ends."""
        t, n = self.t, self.n
        i = 0
        while True:
            q = self.ws(q)
            if q >= n:
                if self.ended_damaged:  # the damage already said how the file ends
                    return n
                what = "records array" if blob else "array"
                self.note(f"the file ends inside the {what} after {i} element(s), none of them cut: "
                          "the array is not closed")
                return n
            if t[q] == "]":
                return self.close_blob(q + 1) if blob else q + 1
            if t[q] == ",":
                self.note(f"empty element(s) in an array ({self.at(q)}): ignored", once=True)
                q += 1
                continue
            label = f"records[{i}]" if blob else f"[{i}]"
            try:
                value, end = self.decode(q)
            except _Broken as b:
                q = self.broken(q, b, label, line, top=not blob)
                i += 1
                continue
            i += 1
            after = self.ws(end)
            if after < n and t[after] == ":" and isinstance(value, str):
                # a key where a record should be (Microsoft's published v1 sample: "records": [ inside records)
                resume = self.resume(after + 1)
                self.c.elements.append((
                    "stray key inside the records array", None,
                    f"{label} ({self.at(q)}): {json.dumps(value)[:40]}: where a record should be",
                    self.tuples(q, resume), IN_BROKEN_JSON))
                q = resume
                continue
            if blob:
                self.cls.element(value, label, line)
            else:
                self.cls.top(value, label, line)
            if after < n and t[after] not in ",]":
                resume = self.resume(after)
                self.c.elements.append(("stray text inside an array", None,
                                        f"after {label} ({self.at(after)}): {t[after:after + 30]!r}",
                                        self.tuples(after, resume), IN_BROKEN_JSON))
                q = resume
                continue
            q = after + 1 if after < n and t[after] == "," else after

    def close_blob(self, q: int) -> int:
        """After the records array: the blob's other members (read past) and its closing brace."""
        t, n = self.t, self.n
        q = self.ws(q)
        while q < n and t[q] == ",":
            try:
                key, q = self.decode(self.ws(q + 1))
                q = self.ws(q)
                if not isinstance(key, str) or t[q : q + 1] != ":":
                    raise _Broken(q, "expected a key and ':'", False)
                _, q = self.decode(self.ws(q + 1))
            except _Broken as b:
                self.note(f"malformed JSON after the records array ({self.at(b.pos)}: {b.msg})")
                return self.resume(b.pos)
            q = self.ws(q)
        if q >= n:
            self.note("the file ends before the blob's closing '}'")
            return n
        if t[q] == "}":
            return q + 1
        return q  # something else follows: read as the next value

    def resume(self, pos: int) -> int:
        """The start of the next complete record or blob at or after ``pos`` (the end of the text if none)."""
        for m in _OBJECT_START.finditer(self.t, pos):
            try:
                v, _ = self.dec.raw_decode(self.t, m.start())
            except (json.JSONDecodeError, RecursionError):
                continue
            if isinstance(v, dict) and (_record_like(v) or isinstance(v.get("records"), list)):
                return m.start()
        return self.n

    def broken(self, q: int, b: _Broken, label: str, line: int, *, top: bool) -> int:
        """A value that does not decode, from ``q``: truncated, or malformed up to the next record."""
        resume = self.resume(q + 1)
        self.ended_damaged = resume >= self.n
        looks = bool(_FLOW_HINT.search(self.t, q, resume)) or (self.c.flow and self.t[q] == "{")
        name = label or ("the record" if looks else "the value")
        if resume >= self.n and b.cut:
            if top and not looks:
                self.c.elements.append(("JSON cut off", None, f"{name} at {self.at(q)}: the file ends inside it", 0, IN_BROKEN_JSON))
                return self.n
            k = self.tuples(q, self.n)
            self.c.flow = True
            self.c.truncated.append((f"{name} at {self.at(q)}", k))
            self.note(f"the file ends inside {name} at {self.at(q)}: cut mid-write; its {k} tuple(s) are counted as rejected")
            return self.n
        if b.pos < resume:
            detail = f"{b.msg} at {self.at(b.pos)}"
        else:
            detail = f"it does not end before the next record, at {self.at(resume)}"
        if resume < self.n:
            detail += f"; read on from the next record, at {self.at(resume)}"
        if looks:  # a damaged record still says the file is a flow log
            self.c.flow = True
        snippet = self.t[q : q + 30].split("\n")[0]
        self.c.elements.append(("malformed JSON", None, f"{name} at {self.at(q)}, {snippet!r}... ({detail})",
                                self.tuples(q, resume), IN_BROKEN_JSON))
        return resume
