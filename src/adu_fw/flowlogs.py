"""NSG flow logs (v1, v2) and VNet flow logs (v4) as Arrow batches of one fixed schema.

Files, directories in the blob layout (``resourceId=/.../y=YYYY/m=MM/d=DD/h=HH/m=00/
macAddress=MAC/PT1H.json``, both containers), ``.gz`` files and globs. The version is detected
per record. A well-formed blob is decoded by a compiled scanner (``_scan``) that leaves the tuple
strings where they are, as byte spans of the file; anything else (a cut-off blob, a trailing comma
in odd places, invalid UTF-8, escapes inside tuples) goes through the general decoder, which owns
the tolerance and the error reporting. Tuple strings are split, and their addresses parsed, in
compiled code (``_tuples``); nothing is split in a Python loop per field.

Tolerant where real files are odd (UTF-8 BOM, CRLF, a trailing comma, unknown letters in the
decision/state field), strict where data would be lost: a blob cut mid-write keeps every complete
record and reports the rest; every tuple is either emitted or counted as rejected with its reason
and location (``ReadStats``), and ``tuples_read == emitted + rejected`` always.
"""
from __future__ import annotations

import datetime as _dt
import glob as _glob
import gzip
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _scan, _tuples
from .errors import AduFwError
from .flowtable import FlowArrays, arrow_column
from .ip import AddressColumn

__all__ = ["read", "read_blob", "FlowLogStream", "ReadStats", "SCHEMA", "FlowLogError", "path_parts", "MAX_FILE_BYTES"]

MAX_FILE_BYTES = 1 << 30  # one hourly blob is read whole; a larger one is refused, not truncated
MAX_TUPLES_PER_RECORD = 10_000_000
USE_SCANNER = True  # False: every file through the general decoder (the tests compare the two)
EXAMPLES = 5


class FlowLogError(AduFwError):
    """A flow-log input that cannot be read at all (a missing path, a file that is not flow logs)."""


SCHEMA = pa.schema(
    [
        ("time", pa.timestamp("ms", tz="UTC")),
        ("src_ip", pa.string()),
        ("dst_ip", pa.string()),
        ("src_port", pa.uint16()),
        ("dst_port", pa.uint16()),
        ("protocol", pa.uint8()),
        ("direction", pa.dictionary(pa.int32(), pa.string())),
        ("logged_decision", pa.dictionary(pa.int32(), pa.string())),
        ("flow_state", pa.dictionary(pa.int32(), pa.string())),
        ("encryption", pa.string()),
        ("packets_src_to_dst", pa.int64()),
        ("bytes_src_to_dst", pa.int64()),
        ("packets_dst_to_src", pa.int64()),
        ("bytes_dst_to_src", pa.int64()),
        ("logged_rule", pa.dictionary(pa.int32(), pa.string())),
        ("acl_id", pa.dictionary(pa.int32(), pa.string())),
        ("mac", pa.dictionary(pa.int32(), pa.string())),
        ("resource_id", pa.dictionary(pa.int32(), pa.string())),
        ("log_source", pa.dictionary(pa.int32(), pa.string())),  # the NSG (v1/v2) or flow-log resource (v4) name
        ("hour", pa.timestamp("s", tz="UTC")),
        ("flow_log_version", pa.int8()),
        ("source_file", pa.dictionary(pa.int32(), pa.string())),
        ("record_index", pa.int32()),
        ("tuple_index", pa.int32()),
    ]
)

_BLOB = re.compile(
    r"resourceId=(?P<rid>.*?)/y=(?P<y>\d{4})/m=(?P<mo>\d{2})/d=(?P<d>\d{2})/h=(?P<h>\d{2})/m=(?P<mi>\d{2})"
    r"(?:/macAddress=(?P<mac>[0-9A-Fa-f]+))?",
    re.IGNORECASE,
)


def path_parts(path: str) -> dict[str, Any]:
    """Resource id, NSG or flow-log name, hour and MAC from a blob path (the repeated ``m=`` is month, then minute)."""
    m = _BLOB.search(path.replace("\\", "/"))
    if not m:
        return {}
    rid = m.group("rid")
    try:
        hour = _dt.datetime(int(m.group("y")), int(m.group("mo")), int(m.group("d")), int(m.group("h")), tzinfo=_dt.timezone.utc)
    except ValueError:
        hour = None
    return {"resource_id": rid, "log_source": rid.rstrip("/").split("/")[-1], "hour": hour, "mac": m.group("mac")}


@dataclass
class ReadStats:
    """What was read, and what could not be, with reasons and locations (they reconcile)."""

    files: int = 0
    files_skipped_by_time: int = 0
    records: int = 0
    records_truncated: int = 0
    tuples_read: int = 0
    emitted: int = 0
    rejected: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    versions: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def reject(self, reason: str, count: int, where: Iterable[str]) -> None:
        if count <= 0:
            return
        self.rejected[reason] += count
        ex = self.examples.setdefault(reason, [])
        for w in where:
            if len(ex) >= EXAMPLES:
                break
            ex.append(w)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def reconciles(self) -> bool:
        return self.tuples_read == self.emitted + self.rejected_total

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "files_skipped_by_time": self.files_skipped_by_time,
            "records": self.records,
            "records_truncated": self.records_truncated,
            "tuples_read": self.tuples_read,
            "emitted": self.emitted,
            "rejected": dict(self.rejected),
            "rejected_total": self.rejected_total,
            "rejected_examples": self.examples,
            "versions": {str(k): v for k, v in self.versions.items()},
            "notes": list(self.notes),
        }


# -- finding files ----------------------------------------------------------------------------------
def _expand(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        text = str(p)
        if any(ch in text for ch in "*?["):
            matches = sorted(_glob.glob(text, recursive=True))
            if not matches:
                raise FlowLogError(f"{text}: the pattern matches no file")
            for m in matches:
                out += _expand([m])
            continue
        path = Path(text)
        if path.is_dir():
            out += sorted(
                f for f in path.rglob("*") if f.is_file() and (f.name.lower().endswith(".json") or f.name.lower().endswith(".json.gz"))
            )
        elif path.is_file():
            out.append(path)
        else:
            raise FlowLogError(f"{text}: no such file or directory")
    return out


def _in_window(hour: _dt.datetime | None, since: _dt.datetime | None, until: _dt.datetime | None) -> bool:
    if hour is None:
        return True
    if since is not None and hour + _dt.timedelta(hours=1) <= since:
        return False
    if until is not None and hour >= until:
        return False
    return True


# -- decoding one file ---------------------------------------------------------------------------------
_TRAILING_COMMA = re.compile(r",(\s*[\]}])")


class TupleSpans:
    """A ``flowTuples`` array left undecoded: ``count`` tuples from span ``first`` of its file."""

    __slots__ = ("first", "count")

    def __init__(self, first: int, count: int) -> None:
        self.first, self.count = first, count

    def __len__(self) -> int:
        return self.count


@dataclass
class _SpanText:
    """The bytes of a file decoded by ``_scan`` and where its tuple strings are."""

    data: np.ndarray  # uint8 view of the file's bytes
    starts: np.ndarray  # int64, one per tuple string, in document order
    ends: np.ndarray

    def strings(self, spans: TupleSpans) -> list[str]:
        return [
            bytes(self.data[a:b]).decode("ascii")
            for a, b in zip(self.starts[spans.first : spans.first + spans.count].tolist(), self.ends[spans.first : spans.first + spans.count].tolist())
        ]


def _decode_records(raw: bytes, source: str, stats: ReadStats) -> tuple[list[Any], _SpanText | None]:
    """Every complete record of a file, and where its tuple strings are when the fast decoder read it."""
    if USE_SCANNER and raw[:2] != b"\x1f\x8b":
        try:
            doc, starts, ends, commas = _scan.decode(raw, 3 if raw[:3] == b"\xef\xbb\xbf" else 0, TupleSpans)
        except _scan.Declined:
            pass  # the general decoder below reads it, tolerantly, and says what was odd
        else:
            if commas:
                stats.notes.append(f"{source}: trailing comma(s) ignored")
            return _records_of(doc, source), _SpanText(np.frombuffer(raw, np.uint8), starts, ends)
    return _decode_general(raw, source, stats), None


def _decode_general(raw: bytes, source: str, stats: ReadStats) -> list[Any]:
    """Every complete record of a file; a cut-off tail is counted, never silently dropped."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            # a truncated gzip stream: keep what decompresses
            stats.notes.append(f"{source}: gzip stream damaged ({exc}); reading what decompressed")
            import zlib

            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            raw = d.decompress(raw)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text = raw.decode("utf-8-sig", errors="replace")
        stats.notes.append(f"{source}: invalid UTF-8 at byte {exc.start}; replaced")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        repaired = _TRAILING_COMMA.sub(r"\1", text)
        try:
            doc = json.loads(repaired)
            stats.notes.append(f"{source}: trailing comma(s) ignored")
        except json.JSONDecodeError:
            return _salvage(repaired, source, stats)
    except RecursionError:
        raise FlowLogError(f"{source}: JSON nesting is too deep") from None
    return _records_of(doc, source)


def _records_of(doc: Any, source: str) -> list[Any]:
    if isinstance(doc, dict) and isinstance(doc.get("records"), list):
        out = []
        for r in doc["records"]:
            # the docs' own v1 sample nests a {"records": [...]} inside records
            if isinstance(r, dict) and isinstance(r.get("records"), list) and "properties" not in r:
                out += _records_of(r, source)
            else:
                out.append(r)
        return out
    if isinstance(doc, dict) and ("properties" in doc or "flowRecords" in doc):
        return [doc]  # a single record without the wrapper
    if isinstance(doc, list):
        return [r for d in doc for r in _records_of(d, source)]
    raise FlowLogError(f"{source}: not a flow log (expected an object with 'records')")


def _salvage(text: str, source: str, stats: ReadStats) -> list[Any]:
    """A blob cut mid-write: decode records one by one from the records array until the cut."""
    m = re.search(r'"records"\s*:\s*\[', text)
    if not m:
        # nothing complete to keep (a blob cut before its first record, or not JSON at all)
        stats.records_truncated += 1 if text.strip() else 0
        stats.notes.append(f"{source}: malformed JSON with no complete record; nothing read from it")
        n = len(re.findall(r'"\d{10,13},[^"]*(?:"|$)', text))
        stats.tuples_read += n
        stats.reject("truncated record (blob cut mid-write)", n, [f"{source}"] * min(n, 1))
        return []
    dec = json.JSONDecoder()
    pos = m.end()
    out = []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        try:
            rec, pos = dec.raw_decode(text, pos)
        except json.JSONDecodeError:
            stats.records_truncated += 1
            stats.notes.append(f"{source}: cut off after {len(out)} complete record(s); the partial record is reported")
            partial = text[pos:]
            n = len(re.findall(r'"\d{10,13},[^"]*(?:"|$)', partial))
            stats.tuples_read += n
            stats.reject("truncated record (blob cut mid-write)", n, [f"{source} record {len(out)}"] * min(n, 1))
            break
        out.append(rec)
    return out


# -- one record -> raw columns ------------------------------------------------------------------------
@dataclass
class _Raw:
    """Tuple strings, and per group of tuples (one rule, one MAC) what they share."""

    tuples: list[str] = field(default_factory=list)  # from the general decoder
    spans: list[TupleSpans] = field(default_factory=list)  # from the fast decoder
    n: int = 0
    g_count: list[int] = field(default_factory=list)
    g_rule: list[str | None] = field(default_factory=list)
    g_mac: list[str | None] = field(default_factory=list)
    g_acl: list[str | None] = field(default_factory=list)
    g_rid: list[str | None] = field(default_factory=list)
    g_version: list[int] = field(default_factory=list)
    g_record: list[int] = field(default_factory=list)
    g_first: list[int] = field(default_factory=list)  # index of the group's first tuple in its record

    def __len__(self) -> int:
        return self.n

    def add_group(self, tuples: Any, rule: Any, mac: Any, acl: Any, rid: Any, version: int, record: int, first: int) -> int:
        if isinstance(tuples, TupleSpans):
            self.spans.append(tuples)
        elif isinstance(tuples, list):
            self.tuples.extend(tuples)  # non-strings are caught when the batch is built
        else:
            return 0
        if self.spans and self.tuples:
            raise AssertionError("one batch mixes decoders")  # one file, one decoder
        self.n += len(tuples)
        self.g_count.append(len(tuples))
        self.g_rule.append(rule if isinstance(rule, str) else None)
        self.g_mac.append(mac if isinstance(mac, str) else None)
        self.g_acl.append(acl if isinstance(acl, str) else None)
        self.g_rid.append(rid if isinstance(rid, str) else None)
        self.g_version.append(version)
        self.g_record.append(record)
        self.g_first.append(first)
        return len(tuples)


def _record_tuples(
    rec: Any, index: int, source: str, raw: _Raw, stats: ReadStats, default_mac: str | None, text: _SpanText | None = None
) -> None:
    if not isinstance(rec, dict):
        stats.notes.append(f"{source} record {index}: not an object; skipped (it holds no tuples)")
        return
    props = rec.get("properties") if isinstance(rec.get("properties"), dict) else None
    version = None
    damaged: list[str] = []

    def items(value: Any, what: str) -> list[Any]:
        """A list as the format says, else nothing readable (noted, never silent)."""
        if value is None or isinstance(value, (list, TupleSpans)):
            return value or []
        damaged.append(what)
        return []

    flv = rec.get("flowLogVersion")
    if "flowRecords" in rec or flv is not None:
        version = 4 if flv in (None, 4) or flv == "4" else None
    elif props is not None:
        v = props.get("Version", props.get("version"))
        version = int(v) if isinstance(v, int) or (isinstance(v, str) and v.isdigit()) else None
    rid = rec.get("resourceId") or rec.get("flowLogResourceID") or rec.get("targetResourceID")
    rmac = rec.get("macAddress") or default_mac
    count = 0
    if version == 4:
        fr = rec.get("flowRecords")
        flows = items(fr.get("flows"), "flowRecords.flows") if isinstance(fr, dict) else items(fr, "flowRecords")
        for f in flows:
            if not isinstance(f, dict):
                damaged.append("flows[]")
                continue
            for g in items(f.get("flowGroups"), "flowGroups"):
                if isinstance(g, dict):
                    count += raw.add_group(items(g.get("flowTuples"), "flowTuples"), g.get("rule"), rmac, f.get("aclID"), rid, 4, index, count)
                else:
                    damaged.append("flowGroups[]")
    elif version in (1, 2) and props is not None:
        for f in items(props.get("flows"), "properties.flows"):
            if not isinstance(f, dict):
                damaged.append("flows[]")
                continue
            for g in items(f.get("flows"), "flows[].flows"):
                if isinstance(g, dict):
                    count += raw.add_group(items(g.get("flowTuples"), "flowTuples"), f.get("rule"), g.get("mac") or rmac, None, rid, version, index, count)
                else:
                    damaged.append("flows[].flows[]")
    else:
        n = len(re.findall(r"\d{10,13},", json.dumps(rec, default=text.strings if text else None)))
        stats.tuples_read += n
        stats.reject("record of an unknown flow-log version", n, [f"{source} record {index}"])
        stats.versions["unknown"] += 1
        return
    stats.versions[version] += 1
    if damaged:
        stats.notes.append(f"{source} record {index}: malformed structure ({', '.join(sorted(set(damaged)))}): "
                           "those parts hold no readable tuple")
    if count > MAX_TUPLES_PER_RECORD:
        raise FlowLogError(f"{source} record {index}: {count} tuples; the limit per record is {MAX_TUPLES_PER_RECORD}")


# -- raw tuples -> a batch (compiled split) -------------------------------------------------------------
_REASONS = {
    1: "tuple: wrong number of fields (v1: 8, v2/v4: 13)",
    2: "time: not an epoch number",
    3: "src_ip: not an IPv4 or IPv6 address",
    4: "dst_ip: not an IPv4 or IPv6 address",
    5: "src_port: not 0-65535",
    6: "dst_port: not 0-65535",
    7: "protocol: not T/U (v1/v2) or a number 0-255 (v4)",
    8: "direction: not I or O",
    9: "counter: not a number",
}
_STATE_CODE = np.full(256, -1, dtype=np.int32)
for _i, _c in enumerate("BCED"):
    _STATE_CODE[ord(_c)] = _i


def _strings(data: np.ndarray, start: np.ndarray, end: np.ndarray) -> pa.Array:
    lengths = end - start
    out_offsets = np.empty(len(start) + 1, np.int32)
    out_data = np.empty(max(1, int(lengths.sum())), np.uint8)
    _tuples.gather(data, np.ascontiguousarray(start), np.ascontiguousarray(end), out_offsets, out_data)
    return pa.StringArray.from_buffers(len(start), pa.py_buffer(out_offsets), pa.py_buffer(out_data))


def _tuple_bytes(raw: _Raw, text: _SpanText | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """(data, starts, ends, text of tuple i) of a batch's tuple strings, wherever they are."""
    if raw.spans:
        assert text is not None
        first = raw.spans[0].first
        if all(g.first == prev.first + prev.count for prev, g in zip(raw.spans, raw.spans[1:])):
            # the groups follow each other in the file (the usual case): one slice, no copy
            starts, ends = text.starts[first : first + len(raw)], text.ends[first : first + len(raw)]
        else:
            take = np.concatenate([np.arange(g.first, g.first + g.count) for g in raw.spans])
            starts, ends = text.starts[take], text.ends[take]
        data = text.data
    else:
        try:
            tuples = pa.array(raw.tuples, type=pa.large_string())
        except (pa.ArrowTypeError, pa.ArrowInvalid):  # a tuple that is not a string: keep it as text, it fails to split
            raw.tuples = [t if isinstance(t, str) else json.dumps(t) for t in raw.tuples]
            tuples = pa.array(raw.tuples, type=pa.large_string())
        bufs = tuples.buffers()
        offsets = np.frombuffer(bufs[1], np.int64)[: len(raw.tuples) + 1]
        data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else np.zeros(1, np.uint8)
        starts, ends = offsets[:-1], offsets[1:]

    def text_of(i: int) -> str:
        return bytes(data[starts[i] : ends[i]]).decode("utf-8", "replace")

    return data, np.ascontiguousarray(starts), np.ascontiguousarray(ends), text_of


def _batch(
    raw: _Raw, source: str, parts_of_path: dict[str, Any], stats: ReadStats, text: _SpanText | None = None
) -> tuple[pa.RecordBatch, FlowArrays] | None:
    """The batch of a group of records, and its flows already parsed for the matcher."""
    n = len(raw)
    if n == 0:
        return None
    stats.tuples_read += n
    counts = np.array(raw.g_count, np.int64)
    group = np.repeat(np.arange(len(counts)), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    tuple_index = (np.arange(n) - starts[group] + np.array(raw.g_first, np.int64)[group]).astype(np.int32)
    record_index = np.array(raw.g_record, np.int32)[group]
    version = np.array(raw.g_version, np.int8)[group]
    data, starts, ends, text_of = _tuple_bytes(raw, text)
    status = np.empty(n, np.uint8)
    ms = np.zeros(n, np.int64)
    sf, sh, sl = np.zeros(n, np.uint8), np.zeros(n, np.uint64), np.zeros(n, np.uint64)
    df, dh, dl = np.zeros(n, np.uint8), np.zeros(n, np.uint64), np.zeros(n, np.uint64)
    sport, dport = np.zeros(n, np.uint16), np.zeros(n, np.uint16)
    proto, outbound = np.zeros(n, np.uint8), np.zeros(n, np.uint8)
    decision, state = np.empty(n, np.uint8), np.empty(n, np.uint8)
    counters = np.empty((4, n), np.int64)  # split writes every cell of these three
    counter_null = np.empty((4, n), np.uint8)
    spans = np.empty((6, n), np.int64)
    _tuples.split(data, starts, ends, version, status, ms, sf, sh, sl, df, dh, dl, sport, dport, proto, outbound,
                  decision, state, counters, counter_null, spans)
    bad_rows = status != 0
    if bad_rows.any():
        for code in np.unique(status[bad_rows]).tolist():
            rows = np.flatnonzero(status == code)
            where = [f"{source} record {record_index[i]} tuple {tuple_index[i]}: {text_of(i)[:80]}" for i in rows[:EXAMPLES].tolist()]
            stats.reject(_REASONS[code], len(rows), where)
    odd = (status == 0) & (version != 4) & (decision == 2)
    if odd.any():
        stats.notes.append(
            f"{source}: {int(odd.sum())} v1/v2 tuple(s) with an unknown decision letter: kept, logged decision unknown"
        )
    keep = ~bad_rows
    stats.emitted += int(keep.sum())
    if not keep.any():
        return None
    all_kept = bool(keep.all())
    idx: Any = slice(None) if all_kept else np.flatnonzero(keep)  # a view, not a copy, in the usual case
    k = n if all_kept else len(idx)
    rid_path = parts_of_path.get("resource_id")
    rids = [r or rid_path for r in raw.g_rid]
    names = [(r.rstrip("/").split("/")[-1] if r else None) for r in rids]
    macs = [m or parts_of_path.get("mac") for m in raw.g_mac]

    gnp = group[idx]

    def per_group(values: list[Any]) -> pa.Array:
        """Dictionary-encoded, nulls as null indices (Parquet refuses nulls inside a dictionary)."""
        uniq: dict[str, int] = {}
        codes = np.array([-1 if v is None else uniq.setdefault(v, len(uniq)) for v in values] or [-1], np.int32)
        if (codes == codes[0]).all():  # one value for the whole batch (one MAC, one resource): no gather
            rows = np.full(k, codes[0], np.int32)
        else:
            rows = codes[gnp]
        nulls = rows < 0
        return pa.DictionaryArray.from_arrays(arrow_column(rows, nulls), pa.array(list(uniq), type=pa.string()), safe=False)

    def const(value: Any, typ: pa.DataType) -> pa.Array:
        return pa.array([value], type=typ).take(pa.array(np.zeros(k, np.int8)))

    def coded(codes: np.ndarray, labels: list[Any]) -> pa.Array:
        return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(labels, type=pa.string()))

    sp = spans[:, idx]
    v4rows = version[idx] == 4
    if not v4rows.any():
        enc = pa.nulls(k, pa.string())
    else:
        enc = _strings(data, sp[4], sp[5])
        enc = pc.if_else(pa.array(v4rows), enc, pa.nulls(k, pa.string())) if not v4rows.all() else enc
    hour = parts_of_path.get("hour")
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(ms[idx], type=pa.timestamp("ms", tz="UTC")),
            _strings(data, sp[0], sp[1]),
            _strings(data, sp[2], sp[3]),
            pa.array(sport[idx]),
            pa.array(dport[idx]),
            pa.array(proto[idx]),
            coded(outbound[idx], ["Inbound", "Outbound"]),
            pa.DictionaryArray.from_arrays(
                arrow_column(np.where(decision[idx] == 2, 0, decision[idx]).astype(np.int32), decision[idx] == 2),
                pa.array(["Allow", "Deny"], type=pa.string()),
            ),
            pa.DictionaryArray.from_arrays(
                arrow_column(_STATE_CODE[state[idx]], _STATE_CODE[state[idx]] < 0), pa.array(list("BCED"), type=pa.string()), safe=False
            ),
            enc,
            *[arrow_column(counters[c, idx], counter_null[c, idx].view(np.bool_), pa.int64()) for c in range(4)],
            per_group(raw.g_rule),
            per_group(raw.g_acl),
            per_group(macs),
            per_group(rids),
            per_group(names),
            pa.nulls(k, pa.timestamp("s", tz="UTC")) if hour is None else const(hour, pa.timestamp("s", tz="UTC")),
            pa.array(version[idx]),
            pa.DictionaryArray.from_arrays(pa.array(np.zeros(k, np.int32)), pa.array([source], type=pa.string())),
            pa.array(record_index[idx]),
            pa.array(tuple_index[idx]),
        ],
        schema=SCHEMA,
    )
    return batch, _parsed_flows(idx, k, sf, sh, sl, df, dh, dl, sport, dport, proto, outbound, ms, counters)


def _parsed_flows(idx: Any, k: int, sf: np.ndarray, sh: np.ndarray, sl: np.ndarray, df: np.ndarray, dh: np.ndarray,
                  dl: np.ndarray, sport: np.ndarray, dport: np.ndarray, proto: np.ndarray, outbound: np.ndarray,
                  ms: np.ndarray, counters: np.ndarray) -> FlowArrays:
    """The matcher's input for the emitted rows, from what the split already parsed (no second parse),
    with the time and bytes the aggregates need (split leaves 0 where a counter is empty)."""
    ones = np.ones(k, bool)
    sfam, dfam = sf[idx], df[idx]
    if (sfam == 4).all() and (dfam == 4).all():
        src = dst = None
        src_v4, dst_v4 = sl[idx].astype(np.uint32), dl[idx].astype(np.uint32)
    else:
        src, dst = AddressColumn(sfam, sh[idx], sl[idx]), AddressColumn(dfam, dh[idx], dl[idx])
        src_v4 = dst_v4 = None
    return FlowArrays(n=k, direction=outbound[idx], protocol=proto[idx], protocol_ok=ones, src=src, dst=dst,
                      src_port=sport[idx], dst_port=dport[idx], sport_ok=ones, dport_ok=ones, src_v4=src_v4, dst_v4=dst_v4,
                      time_ms=ms[idx], bytes_total=counters[1, idx] + counters[3, idx])


class FlowLogStream:
    """Iterate for record batches; ``stats`` fills in as files are read."""

    def __init__(
        self,
        paths: Iterable[str | Path],
        *,
        since: _dt.datetime | None = None,
        until: _dt.datetime | None = None,
        batch_tuples: int = 500_000,
    ) -> None:
        self.files = _expand(paths)
        self.since, self.until = since, until
        self.batch_tuples = batch_tuples
        self.stats = ReadStats()

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for batch, _ in self.pairs():
            yield batch

    def pairs(self) -> Iterator[tuple[pa.RecordBatch, FlowArrays]]:
        """Each batch with its flows already parsed for the matcher (what ``analyze`` uses)."""
        for path in self.files:
            parts = path_parts(str(path))
            if not _in_window(parts.get("hour"), self.since, self.until):
                self.stats.files_skipped_by_time += 1
                continue
            yield from self._file(path, parts)

    def _file(self, path: Path, parts: dict[str, Any]) -> Iterator[tuple[pa.RecordBatch, FlowArrays]]:
        source = str(path)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise FlowLogError(f"{source}: {size} bytes; one flow-log blob is read whole and the limit is {MAX_FILE_BYTES}")
            raw_bytes = path.read_bytes()
        except OSError as exc:
            raise FlowLogError(f"{source}: cannot read: {exc.strerror or exc}") from None
        yield from _blob_pairs(raw_bytes, source, self.stats, parts, self.batch_tuples)


def read_blob(
    raw: bytes, source: str, stats: ReadStats, *, parts: dict[str, Any] | None = None, batch_tuples: int = 500_000
) -> Iterator[pa.RecordBatch]:
    """One blob's bytes (as read from storage by anyone, e.g. Spark) as batches; ``stats`` is updated."""
    for batch, _ in _blob_pairs(raw, source, stats, path_parts(source) if parts is None else parts, batch_tuples):
        yield batch


def _blob_pairs(
    raw: bytes, source: str, stats: ReadStats, parts: dict[str, Any], batch_tuples: int
) -> Iterator[tuple[pa.RecordBatch, FlowArrays]]:
    stats.files += 1
    records, text = _decode_records(raw, source, stats)
    buf = _Raw()
    for i, rec in enumerate(records):
        stats.records += 1
        _record_tuples(rec, i, source, buf, stats, parts.get("mac"), text)
        if len(buf) >= batch_tuples:
            out = _batch(buf, source, parts, stats, text)
            buf = _Raw()
            if out is not None:
                yield out
    out = _batch(buf, source, parts, stats, text)
    if out is not None:
        yield out


def read(
    paths: str | Path | Iterable[str | Path],
    *,
    since: _dt.datetime | None = None,
    until: _dt.datetime | None = None,
    batch_tuples: int = 500_000,
) -> FlowLogStream:
    """Flow-log tuples as record batches of ``SCHEMA``; ``.stats`` holds the reconciliation."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    return FlowLogStream(paths, since=since, until=until, batch_tuples=batch_tuples)
