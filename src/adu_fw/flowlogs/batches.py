"""Tuple strings -> one Arrow batch of ``SCHEMA`` and the matcher's input, split in compiled code.

``_tuples.split`` reads every field of every tuple in one pass (SIMD comma search, SWAR numbers,
dotted quads); a tuple that does not split is counted as rejected with the first field that failed
and its location. The parsed addresses go to the matcher as they are (no second parse).
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import _tuples
from ..flowtable import FlowArrays, arrow_column
from ..ip import AddressColumn
from .records import RawTuples, SpanText
from .schema import EXAMPLES, SCHEMA, ReadStats


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


def _pooled(*specs: tuple[int | tuple[int, int], Any]) -> list[np.ndarray]:
    """Uninitialised arrays carved from one buffer of Arrow's memory pool (mimalloc or jemalloc), not
    the C heap: blob after blob allocates and frees the same sizes, which the pool reuses, where malloc
    may hand the pages back after each file and fault them in again (a quarter of a run, measured);
    one allocation per batch instead of one per column."""
    sizes = [(shape if isinstance(shape, int) else shape[0] * shape[1]) * np.dtype(dtype).itemsize for shape, dtype in specs]
    offsets = [0]
    for b in sizes:
        offsets.append(offsets[-1] + (b + 63) // 64 * 64)
    buf = np.frombuffer(pa.allocate_buffer(max(64, offsets[-1])), np.uint8)
    return [buf[a : a + b].view(dtype).reshape(shape) for (shape, dtype), a, b in zip(specs, offsets, sizes)]


def _strings(data: np.ndarray, start: np.ndarray, end: np.ndarray) -> pa.Array:
    lengths = end - start
    total = int(lengths.sum())
    out_offsets, out_data = _pooled((len(start) + 1, np.int32), (total + 16, np.uint8))  # 16 spare: gather's wide copies
    _tuples.gather(data, np.ascontiguousarray(start), np.ascontiguousarray(end), out_offsets, out_data)
    return pa.StringArray.from_buffers(len(start), pa.py_buffer(out_offsets), pa.py_buffer(out_data[:max(1, total)]))


def _tuple_bytes(raw: RawTuples, text: SpanText | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
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


def batch(
    raw: RawTuples, source: str, parts_of_path: dict[str, Any], stats: ReadStats, text: SpanText | None = None
) -> tuple[pa.RecordBatch, FlowArrays] | None:
    """The batch of a group of records, and its flows already parsed for the matcher."""
    n = len(raw)
    if n == 0:
        return None
    stats.tuples_read += n
    data, starts, ends, text_of = _tuple_bytes(raw, text)
    # what the batch and the flows keep (views, not copies), and what only this function uses; split writes
    # every field of the tuples it keeps (status 0), and the others are dropped, so nothing is zeroed
    ms, sh, sl, dh, dl, sport, dport, sf, df, proto, outbound, counters, tuple_index, record_index = _pooled(
        (n, np.int64), (n, np.uint64), (n, np.uint64), (n, np.uint64), (n, np.uint64), (n, np.uint16), (n, np.uint16),
        (n, np.uint8), (n, np.uint8), (n, np.uint8), (n, np.uint8), ((4, n), np.int64), (n, np.int32), (n, np.int32))
    status, decision, state, counter_null, spans, group, version = _pooled(
        (n, np.uint8), (n, np.uint8), (n, np.uint8), ((4, n), np.uint8), ((6, n), np.int64), (n, np.int32), (n, np.int8))
    g_count = np.array(raw.g_count, np.int64)
    _tuples.expand(g_count, np.array(raw.g_first, np.int64), np.array(raw.g_record, np.int32),
                   np.array(raw.g_version, np.int8), group, tuple_index, record_index, version)
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
    name_of = {r: r.rstrip("/").split("/")[-1] for r in set(rids) if r}  # a few resources, thousands of groups
    names = [name_of.get(r) if r else None for r in rids]
    macs = [m or parts_of_path.get("mac") for m in raw.g_mac]

    def per_group(values: list[Any]) -> pa.Array:
        """Dictionary-encoded, nulls as null indices (Parquet refuses nulls inside a dictionary)."""
        if values and values.count(values[0]) == len(values):  # one value for the whole batch (one MAC, one resource)
            one = values[0]
            if one is None:
                return pa.DictionaryArray.from_arrays(pa.nulls(k, pa.int32()), pa.array([], type=pa.string()))
            return pa.DictionaryArray.from_arrays(pa.array(np.zeros(k, np.int32)), pa.array([one], type=pa.string()), safe=False)
        uniq: dict[str, int] = {}
        codes = np.array([-1 if v is None else uniq.setdefault(v, len(uniq)) for v in values], np.int32)
        rows = np.repeat(codes, g_count)  # = codes[group]: the groups' tuples follow each other (a run, not a gather)
        rows = rows if all_kept else rows[idx]
        nulls = rows < 0
        return pa.DictionaryArray.from_arrays(arrow_column(rows, nulls), pa.array(list(uniq), type=pa.string()), safe=False)

    def const(value: Any, typ: pa.DataType) -> pa.Array:
        return pa.repeat(pa.scalar(value, type=typ), k)

    def coded(codes: np.ndarray, labels: list[Any]) -> pa.Array:  # codes split wrote, each < len(labels)
        return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(labels, type=pa.string()), safe=False)

    sp = spans[:, idx]
    dec = decision[idx]
    state_code = state[idx].view(np.int8).astype(np.int32)  # split wrote the place in STATES, 255 (-1) for none
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
                arrow_column(np.where(dec == 2, 0, dec).astype(np.int32), dec == 2), pa.array(["Allow", "Deny"], type=pa.string()),
                safe=False,  # 0 or 1 where not null
            ),
            pa.DictionaryArray.from_arrays(
                arrow_column(state_code, state_code < 0), pa.array(list(_tuples.STATES), type=pa.string()), safe=False
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
            pa.DictionaryArray.from_arrays(pa.array(np.zeros(k, np.int32)), pa.array([source], type=pa.string()), safe=False),
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

