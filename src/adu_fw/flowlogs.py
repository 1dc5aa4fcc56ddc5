"""NSG flow logs (v1, v2) and VNet flow logs (v4) as Arrow batches of one fixed schema.

Files, directories in the blob layout (``resourceId=/.../y=YYYY/m=MM/d=DD/h=HH/m=00/
macAddress=MAC/PT1H.json``, both containers), ``.gz`` files and globs. The version is detected
per record. Tuple strings are split by Arrow's compiled kernels and addresses parsed by
``_ip``; nothing is split in a Python loop per field.

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

from .errors import AduFwError
from .ip import parse_addresses

__all__ = ["read", "FlowLogStream", "ReadStats", "SCHEMA", "FlowLogError", "path_parts", "MAX_FILE_BYTES"]

MAX_FILE_BYTES = 1 << 30  # one hourly blob is read whole; a larger one is refused, not truncated
MAX_TUPLES_PER_RECORD = 10_000_000
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
        ("direction", pa.string()),
        ("logged_decision", pa.string()),
        ("flow_state", pa.string()),
        ("encryption", pa.string()),
        ("packets_src_to_dst", pa.int64()),
        ("bytes_src_to_dst", pa.int64()),
        ("packets_dst_to_src", pa.int64()),
        ("bytes_dst_to_src", pa.int64()),
        ("logged_rule", pa.string()),
        ("acl_id", pa.string()),
        ("mac", pa.string()),
        ("resource_id", pa.string()),
        ("log_source", pa.string()),  # the NSG (v1/v2) or flow-log resource (v4) name
        ("hour", pa.timestamp("s", tz="UTC")),
        ("flow_log_version", pa.int8()),
        ("source_file", pa.string()),
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


def _decode_records(raw: bytes, source: str, stats: ReadStats) -> list[Any]:
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
    tuples: list[str] = field(default_factory=list)
    rule: list[str | None] = field(default_factory=list)
    mac: list[str | None] = field(default_factory=list)
    acl: list[str | None] = field(default_factory=list)
    resource_id: list[str | None] = field(default_factory=list)
    version: list[int] = field(default_factory=list)
    record_index: list[int] = field(default_factory=list)
    tuple_index: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tuples)


def _record_tuples(rec: Any, index: int, source: str, raw: _Raw, stats: ReadStats, default_mac: str | None) -> None:
    if not isinstance(rec, dict):
        stats.notes.append(f"{source} record {index}: not an object; skipped (it holds no tuples)")
        return
    props = rec.get("properties") if isinstance(rec.get("properties"), dict) else None
    version = None
    if isinstance(rec.get("flowLogVersion"), int) or "flowRecords" in rec:
        version = int(rec.get("flowLogVersion") or 4)
    elif props is not None:
        v = props.get("Version", props.get("version"))
        version = int(v) if isinstance(v, int) or (isinstance(v, str) and v.isdigit()) else None
    rid = rec.get("resourceId") or rec.get("flowLogResourceID") or rec.get("targetResourceID")
    rmac = rec.get("macAddress") or default_mac
    count = 0
    if version == 4:
        flows = (rec.get("flowRecords") or {}).get("flows") if isinstance(rec.get("flowRecords"), dict) else None
        for f in flows or []:
            if not isinstance(f, dict):
                continue
            acl = f.get("aclID")
            for g in f.get("flowGroups") or []:
                if not isinstance(g, dict):
                    continue
                for t in g.get("flowTuples") or []:
                    _add(raw, t, g.get("rule"), rmac, acl, rid, 4, index, count)
                    count += 1
    elif version in (1, 2) and props is not None:
        for f in props.get("flows") or []:
            if not isinstance(f, dict):
                continue
            for g in f.get("flows") or []:
                if not isinstance(g, dict):
                    continue
                for t in g.get("flowTuples") or []:
                    _add(raw, t, f.get("rule"), g.get("mac") or rmac, None, rid, version, index, count)
                    count += 1
    else:
        n = len(re.findall(r"\d{10,13},", json.dumps(rec)))
        stats.tuples_read += n
        stats.reject("record of an unknown flow-log version", n, [f"{source} record {index}"])
        stats.versions["unknown"] += 1
        return
    stats.versions[version] += 1
    if count > MAX_TUPLES_PER_RECORD:
        raise FlowLogError(f"{source} record {index}: {count} tuples; the limit per record is {MAX_TUPLES_PER_RECORD}")


def _add(raw: _Raw, t: Any, rule: Any, mac: Any, acl: Any, rid: Any, version: int, rec: int, idx: int) -> None:
    raw.tuples.append(t if isinstance(t, str) else json.dumps(t))
    raw.rule.append(rule if isinstance(rule, str) else None)
    raw.mac.append(mac if isinstance(mac, str) else None)
    raw.acl.append(acl if isinstance(acl, str) else None)
    raw.resource_id.append(rid if isinstance(rid, str) else None)
    raw.version.append(version)
    raw.record_index.append(rec)
    raw.tuple_index.append(idx)


# -- raw tuples -> a batch (vectorised) -----------------------------------------------------------------
_V12_PROTO = {"T": 6, "U": 17}
_DIRS = {"I": "Inbound", "O": "Outbound"}


def _field(parts: pa.ListArray, j: int, usable: np.ndarray) -> pa.Array:
    """Field j of every tuple ("" where the tuple has no such field or is unusable)."""
    offsets = np.asarray(parts.offsets)
    values = pa.concat_arrays([parts.values, pa.array([""], type=pa.string())])
    idx = np.where(usable, offsets[:-1] + j, len(values) - 1)
    return values.take(pa.array(idx))


def _int_field(col: pa.Array, max_value: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, ok, empty) of a decimal text column."""
    empty = np.asarray(pc.equal(col, "").fill_null(True))
    digits = np.asarray(pc.match_substring_regex(col, r"^\d{1,18}$").fill_null(False))
    vals = np.asarray(pc.cast(pc.if_else(pa.array(digits), col, "0"), pa.int64()))
    ok = digits & ((vals <= max_value) if max_value is not None else True)
    return vals, ok, empty


def _batch(raw: _Raw, source: str, parts_of_path: dict[str, Any], stats: ReadStats) -> pa.RecordBatch | None:
    n = len(raw)
    if n == 0:
        return None
    stats.tuples_read += n
    tuples = pa.array(raw.tuples, type=pa.string())
    version = np.array(raw.version, np.int8)
    parts = pc.split_pattern(pc.utf8_trim_whitespace(tuples), ",")
    width = np.asarray(pc.list_value_length(parts))
    expected = np.where(version == 1, 8, 13)
    width_ok = width == expected
    bad = {}
    bad["tuple: wrong number of fields (v1: 8, v2/v4: 13)"] = ~width_ok

    f = [_field(parts, j, width_ok & (width > j)) for j in range(13 if (version != 1).any() else 8)]
    ts, ts_ok, _ = _int_field(f[0], None)
    ms = np.where(ts > 100_000_000_000, ts, ts * 1000)  # v4 milliseconds, v1/v2 seconds (formats §2.2)
    sport, sport_ok, _ = _int_field(f[3], 65535)
    dport, dport_ok, _ = _int_field(f[4], 65535)
    proto_text = np.asarray(f[5].to_numpy(zero_copy_only=False), dtype=object)
    is_v4 = version == 4
    proto = np.zeros(n, np.int64)
    proto_ok = np.zeros(n, bool)
    for letter, num in _V12_PROTO.items():
        m = (~is_v4) & (proto_text == letter)
        proto[m] = num
        proto_ok |= m
    pnum, pnum_ok, _ = _int_field(f[5], 255)
    proto = np.where(is_v4, pnum, proto)
    proto_ok = np.where(is_v4, pnum_ok, proto_ok)
    dir_text = np.asarray(f[6].to_numpy(zero_copy_only=False), dtype=object)
    direction = np.array([_DIRS.get(d) for d in dir_text], dtype=object)
    dir_ok = direction != None  # noqa: E711
    src = parse_addresses(f[1])
    dst = parse_addresses(f[2])
    bad["time: not an epoch number"] = width_ok & ~ts_ok
    bad["src_ip: not an IPv4 or IPv6 address"] = width_ok & (src.family == 0)
    bad["dst_ip: not an IPv4 or IPv6 address"] = width_ok & (dst.family == 0)
    bad["src_port: not 0-65535"] = width_ok & ~sport_ok
    bad["dst_port: not 0-65535"] = width_ok & ~dport_ok
    bad["protocol: not T/U (v1/v2) or a number 0-255 (v4)"] = width_ok & ~proto_ok
    bad["direction: not I or O"] = width_ok & ~dir_ok
    # decision and state: v1/v2 field 7 is A/D, field 8 the state; v4 field 7 is the state (D = denied)
    f7 = np.asarray(f[7].to_numpy(zero_copy_only=False), dtype=object)
    decision = np.full(n, None, dtype=object)
    state = np.full(n, None, dtype=object)
    enc = np.full(n, None, dtype=object)
    v12 = ~is_v4
    decision[v12 & (f7 == "A")] = "Allow"
    decision[v12 & (f7 == "D")] = "Deny"
    odd_decision = v12 & width_ok & (f7 != "A") & (f7 != "D")
    if odd_decision.any():
        stats.notes.append(
            f"{source}: {int(odd_decision.sum())} v1/v2 tuple(s) with an unknown decision letter "
            f"({sorted(set(f7[odd_decision].tolist()))}): kept, logged decision unknown"
        )
    counters = [np.zeros(n, np.int64) for _ in range(4)]
    counter_null = [np.ones(n, bool) for _ in range(4)]
    if len(f) > 8:
        f8 = np.asarray(f[8].to_numpy(zero_copy_only=False), dtype=object)
        v2 = version == 2
        state[v2 & width_ok] = f8[v2 & width_ok]
        state[is_v4 & width_ok] = f7[is_v4 & width_ok]
        decision[is_v4 & width_ok] = np.where(f7[is_v4 & width_ok] == "D", "Deny", "Allow")
        enc[is_v4 & width_ok] = f8[is_v4 & width_ok]
        for c in range(4):
            vals, ok, empty = _int_field(f[9 + c], None)
            counters[c] = vals
            counter_null[c] = ~ok
            bad_counter = width_ok & (version != 1) & ~ok & ~empty
            bad[f"counter {9 + c}: not a number"] = bad_counter
    bad_any = np.zeros(n, bool)
    for reason, mask in bad.items():
        mask = mask & ~bad_any if reason != "tuple: wrong number of fields (v1: 8, v2/v4: 13)" else mask
        if mask.any():
            where = [f"{source} record {raw.record_index[i]} tuple {raw.tuple_index[i]}: {raw.tuples[i][:80]}"
                     for i in np.flatnonzero(mask)[:EXAMPLES].tolist()]
            stats.reject(reason, int(mask.sum()), where)
        bad_any |= mask
    keep = ~bad_any
    stats.emitted += int(keep.sum())
    if not keep.any():
        return None
    idx = np.flatnonzero(keep)
    take = pa.array(idx)
    hour = parts_of_path.get("hour")
    rid_path = parts_of_path.get("resource_id")
    mac_path = parts_of_path.get("mac")

    def obj(col: list[Any] | np.ndarray, typ: pa.DataType = pa.string()) -> pa.Array:
        return pa.array(np.asarray(col, dtype=object)[idx], type=typ)

    rids = [r or rid_path for r in raw.resource_id]
    nsg = [(r.rstrip("/").split("/")[-1] if r else None) for r in rids]
    macs = [m or mac_path for m in raw.mac]
    counter_cols = [
        pa.array(counters[c][idx], type=pa.int64(), mask=counter_null[c][idx]) for c in range(4)
    ]
    return pa.RecordBatch.from_arrays(
        [
            pa.array(ms[idx], type=pa.timestamp("ms", tz="UTC")),
            f[1].take(take),
            f[2].take(take),
            pa.array(sport[idx].astype(np.uint16)),
            pa.array(dport[idx].astype(np.uint16)),
            pa.array(proto[idx].astype(np.uint8)),
            obj(direction),
            obj(decision),
            obj(state),
            obj(enc),
            *counter_cols,
            obj(raw.rule),
            obj(raw.acl),
            obj(macs),
            obj(rids),
            obj(nsg),
            pa.array([hour] * len(idx), type=pa.timestamp("s", tz="UTC")),
            pa.array(version[idx]),
            pa.array([source] * len(idx), type=pa.string()),
            pa.array(np.asarray(raw.record_index, np.int32)[idx]),
            pa.array(np.asarray(raw.tuple_index, np.int32)[idx]),
        ],
        schema=SCHEMA,
    )


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
        for path in self.files:
            parts = path_parts(str(path))
            if not _in_window(parts.get("hour"), self.since, self.until):
                self.stats.files_skipped_by_time += 1
                continue
            yield from self._file(path, parts)

    def _file(self, path: Path, parts: dict[str, Any]) -> Iterator[pa.RecordBatch]:
        source = str(path)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise FlowLogError(f"{source}: {size} bytes; one flow-log blob is read whole and the limit is {MAX_FILE_BYTES}")
            raw_bytes = path.read_bytes()
        except OSError as exc:
            raise FlowLogError(f"{source}: cannot read: {exc.strerror or exc}") from None
        self.stats.files += 1
        records = _decode_records(raw_bytes, source, self.stats)
        raw = _Raw()
        for i, rec in enumerate(records):
            self.stats.records += 1
            _record_tuples(rec, i, source, raw, self.stats, parts.get("mac"))
            if len(raw) >= self.batch_tuples:
                batch = _batch(raw, source, parts, self.stats)
                raw = _Raw()
                if batch is not None:
                    yield batch
        batch = _batch(raw, source, parts, self.stats)
        if batch is not None:
            yield batch


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
