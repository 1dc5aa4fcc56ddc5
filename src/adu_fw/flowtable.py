"""Flow columns in any container -> typed arrays for the matcher, and why a row cannot be evaluated.

Containers: a pyarrow Table, RecordBatch, or StructArray / ChunkedArray of structs; a pandas
DataFrame; a polars DataFrame or anything else with ``__arrow_c_stream__`` or ``to_arrow()``; a
mapping of column name to list / numpy array / Arrow array / ChunkedArray.

Columns: ``direction`` ("Inbound"/"Outbound", "I"/"O", any case, plain or dictionary-encoded; 0/1
integers of any width; bool, true = Outbound), ``protocol`` (name or IANA number, the same
encodings), ``src_port`` / ``dst_port`` (integers of any width and signedness, floats holding
integers, or digit strings), ``src_ip`` / ``dst_ip``: text (IPv4 or IPv6), IPv4 as an integer of
any width (uint32 as it is), IPv6 as ``fixed_size_binary(16)`` (network byte order; 4 bytes is
IPv4), as a struct of two uint64 ``hi``/``lo``, as an (n, 2) numpy array of uint64 halves, or as
two columns ``src_ip_hi`` / ``src_ip_lo`` (``dst_ip_hi`` / ``dst_ip_lo``) instead of ``src_ip``.

Where a column already has the matcher's type (uint8 direction and protocol, uint16 ports, uint32
IPv4, uint64 halves; IPv6 ``fixed_size_binary(16)``, which the IPv6 lanes byte-swap in cache) and no nulls,
its buffer is used as it is: no copy. Otherwise one compiled pass
(``_columns``) narrows and range-checks it. Values out of range, nulls and unknown names are not
errors: the row comes back rejected with the reason. Table inputs come in record batches
(``flow_batches``): a chunked table is classified chunk by chunk, never concatenated.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _columns, _ip
from .errors import AduFwError
from .ip import AddressColumn, _string_buffers, parse_addresses
from .rules import PROTOCOLS

__all__ = ["FlowArrays", "flow_arrays", "flow_batches", "REQUIRED", "columns_of", "arrow_column"]

REQUIRED = ("direction", "protocol", "src_ip", "src_port", "dst_ip", "dst_port")
_DIR_CODES = {"inbound": 0, "in": 0, "i": 0, "outbound": 1, "out": 1, "o": 1}
_PROTO_CODES = {k.lower(): v for k, v in PROTOCOLS.items() if v is not None}
_PROTO_CODES.update({"t": 6, "u": 17})  # NSG flow-log letters
_V4_TOP = 0xFFFFFFFF
_NO_BITS = np.zeros(0, np.uint8)


@dataclass
class FlowArrays:
    n: int
    direction: np.ndarray  # uint8: 0 inbound, 1 outbound, anything else (255) invalid
    protocol: np.ndarray  # uint8
    protocol_ok: np.ndarray | None  # bool; None: every row
    src: AddressColumn | None  # None on the IPv4-integer fast path (see src_v4)
    dst: AddressColumn | None
    src_port: np.ndarray  # uint16
    dst_port: np.ndarray
    sport_ok: np.ndarray | None
    dport_ok: np.ndarray | None
    src_v4: np.ndarray | None = None  # uint32 columns: the zero-copy fast path
    dst_v4: np.ndarray | None = None
    time_ms: np.ndarray | None = None  # int64, when the flow-log reader already has them
    bytes_total: np.ndarray | None = None  # int64, both directions, 0 where not logged
    src_ok: np.ndarray | None = None  # bool, IPv4-integer path: rows whose integer is an address
    dst_ok: np.ndarray | None = None
    src_v6be: np.ndarray | None = None  # uint8, 16 big-endian bytes a row (fixed_size_binary(16), no nulls):
    dst_v6be: np.ndarray | None = None  # the IPv6 lanes swap them in cache (src/dst None, as for src_v4)

    @property
    def v4_ints(self) -> bool:
        return self.src_v4 is not None and self.dst_v4 is not None

    @property
    def v6_bytes(self) -> bool:
        return self.src_v6be is not None and self.dst_v6be is not None

    def addresses(self) -> tuple[AddressColumn, AddressColumn]:
        """Both address columns in the general (family, hi, lo) form."""
        if self.v6_bytes:
            return _be128_column(self.src_v6be), _be128_column(self.dst_v6be)
        src = self.src if self.src is not None else _v4_column(self.src_v4, self.src_ok)
        dst = self.dst if self.dst is not None else _v4_column(self.dst_v4, self.dst_ok)
        return src, dst

    def family(self) -> np.ndarray:
        """4 or 6 where the row can be evaluated, 0 where it cannot."""
        src, dst = self.addresses()
        fam = src.family.copy()
        fam[(src.family != dst.family) | ~self.valid_except_family()] = 0
        return fam

    def bad_fields(self) -> np.ndarray | None:
        """Rows whose protocol, a port or an integer address cannot be evaluated, None when there
        is none (the usual case: no mask is built). A bad direction is the matcher's to reject."""
        bad = None
        checks = (self.protocol_ok, self.sport_ok, self.dport_ok) + ((self.src_ok, self.dst_ok) if self.v4_ints else ())
        for ok in checks:
            if ok is not None and not ok.all():
                bad = ~ok if bad is None else bad | ~ok
        return bad

    def valid_except_family(self) -> np.ndarray:
        ok = self.direction <= 1
        for mask in (self.protocol_ok, self.sport_ok, self.dport_ok):
            if mask is not None:
                ok &= mask
        return ok

    def reasons(self) -> np.ndarray | None:
        """Per row, why it cannot be evaluated (object array, None where it can); None if all can."""
        checks = [
            (self.direction > 1, "direction: expected Inbound/Outbound or I/O"),
            (_not(self.protocol_ok), "protocol: expected a name (tcp, udp, icmp, esp, ah) or a number 0-255"),
            (_not(self.sport_ok), "src_port: expected an integer 0-65535"),
            (_not(self.dport_ok), "dst_port: expected an integer 0-65535"),
        ]
        if self.v4_ints:
            checks[2:2] = [
                (_not(self.src_ok), "src_ip: expected an IPv4 address as an integer 0-4294967295"),
                (_not(self.dst_ok), "dst_ip: expected an IPv4 address as an integer 0-4294967295"),
            ]
        else:
            src, dst = self.addresses()
            checks[2:2] = [
                (src.family == 0, "src_ip: not an IPv4 or IPv6 address"),
                (dst.family == 0, "dst_ip: not an IPv4 or IPv6 address"),
            ]
            checks.append((src.family != dst.family, "src_ip/dst_ip: one IPv4 and one IPv6 address"))
        checks = [(mask, text) for mask, text in checks if mask is not None]
        bad_any = np.zeros(self.n, bool)
        for mask, _ in checks:
            bad_any |= mask
        if not bad_any.any():
            return None
        out = np.full(self.n, None, dtype=object)
        for mask, text in reversed(checks):  # the first failing field wins
            out[mask] = text
        return out


def _not(ok: np.ndarray | None) -> np.ndarray | None:
    return None if ok is None else ~ok


def arrow_column(values: np.ndarray, null: np.ndarray | None = None, type: pa.DataType | None = None) -> pa.Array:
    """A numpy column as Arrow without a copy, null where ``null`` is set.

    ``pa.array(values, mask=...)`` converts element by element, even with ``mask=None`` given
    explicitly; here the data buffer is shared and only the validity bitmap is built, in numpy.
    """
    bits = values.dtype == np.bool_ and type is None  # Arrow bools are bits: numpy packs them 10x faster than pa.array
    arr = None if bits else pa.array(values, type=type)
    data = pa.py_buffer(np.packbits(values, bitorder="little")) if bits else arr.buffers()[1]
    if null is None or not null.any():
        return pa.Array.from_buffers(pa.bool_(), values.shape[0], [None, data]) if bits else arr
    validity = pa.py_buffer(np.packbits(~np.asarray(null, bool), bitorder="little"))
    return pa.Array.from_buffers(pa.bool_() if bits else arr.type, values.shape[0], [validity, data],
                                 null_count=int(np.count_nonzero(null)))


def _table(flows: Any) -> pa.Table | pa.RecordBatch | None:
    """A table-like container as Arrow (no copy of numeric columns); None for a mapping."""
    if isinstance(flows, (pa.Table, pa.RecordBatch)):
        return flows
    if isinstance(flows, pa.StructArray):
        return pa.RecordBatch.from_struct_array(flows)
    if isinstance(flows, pa.ChunkedArray) and pa.types.is_struct(flows.type):
        return pa.Table.from_batches([pa.RecordBatch.from_struct_array(c) for c in flows.chunks],
                                     schema=pa.schema(list(flows.type)))
    if type(flows).__module__.split(".")[0] == "pandas" and hasattr(flows, "columns"):
        wanted = [c for c in flows.columns if c in _WANTED]
        return pa.Table.from_pandas(flows, columns=wanted, preserve_index=False)
    if isinstance(flows, Mapping):
        return None
    if hasattr(flows, "__arrow_c_stream__"):  # polars, DuckDB relations, ...
        return pa.table(flows)
    if hasattr(flows, "to_arrow"):
        got = flows.to_arrow()
        if isinstance(got, (pa.Table, pa.RecordBatch)):
            return got
    raise AduFwError(
        "flows must be a pyarrow Table/RecordBatch, a pandas or polars DataFrame (or anything with "
        f"__arrow_c_stream__ / to_arrow()) or a dict of columns, got {type(flows).__name__}"
    )


_WANTED = set(REQUIRED) | {f"{s}_ip_{h}" for s in ("src", "dst") for h in ("hi", "lo")}


def columns_of(flows: Any) -> Mapping[str, Any]:
    """The flows' columns by name (Arrow tables: ChunkedArrays, as they are)."""
    table = _table(flows)
    if table is None:
        return flows
    return {name: table.column(name) for name in table.column_names}


def flow_batches(flows: Any) -> Iterator[FlowArrays]:
    """The flows as FlowArrays, one per record batch of a table (chunk by chunk, no concatenation),
    one for a mapping of unchunked columns."""
    if isinstance(flows, FlowArrays):
        yield flows
        return
    table = _table(flows)
    if table is None and any(isinstance(v, pa.ChunkedArray) for v in flows.values()):
        table = pa.table({k: v for k, v in flows.items() if k in _WANTED})
    if table is None:
        yield _batch(flows)
        return
    _check_columns(table.column_names)
    if isinstance(table, pa.RecordBatch):
        yield _batch({name: table.column(name) for name in table.column_names if name in _WANTED})
        return
    table = table.select([name for name in table.column_names if name in _WANTED])
    batches = table.to_batches()
    if not batches:
        yield _batch({name: table.column(name).combine_chunks() for name in table.column_names})
        return
    for batch in batches:
        yield _batch({name: batch.column(name) for name in batch.column_names})


def flow_arrays(flows: Any) -> FlowArrays:
    """All flows as one FlowArrays (the batches of a chunked table joined; ``flow_batches`` does not)."""
    parts = list(flow_batches(flows))
    if len(parts) == 1:
        return parts[0]
    return _concat(parts)


def _concat(parts: list[FlowArrays]) -> FlowArrays:
    def join(values: list[Any]) -> Any:
        if all(v is None for v in values):
            return None
        if any(isinstance(v, AddressColumn) for v in values):
            cols = [v if isinstance(v, AddressColumn) else None for v in values]
            return AddressColumn(*(np.concatenate([getattr(c, f) for c in cols]) for f in ("family", "hi", "lo")))
        if any(v is None for v in values):  # an "every row" mask beside real masks
            values = [np.ones(p.n, bool) if v is None else v for v, p in zip(values, parts)]
        return np.concatenate(values)

    out: dict[str, Any] = {"n": sum(p.n for p in parts)}
    if len({(p.v4_ints, p.v6_bytes) for p in parts}) > 1:  # some batches kept IPv4 integers or IPv6 bytes, some not
        for p in parts:
            p.src, p.dst = p.addresses()
            p.src_v4 = p.dst_v4 = p.src_ok = p.dst_ok = p.src_v6be = p.dst_v6be = None
    for f in fields(FlowArrays):
        if f.name != "n":
            out[f.name] = join([getattr(p, f.name) for p in parts])
    return FlowArrays(**out)


def _check_columns(names: Any) -> None:
    missing = [c for c in REQUIRED if c not in names and not (c.endswith("_ip") and f"{c}_hi" in names and f"{c}_lo" in names)]
    if missing:
        raise AduFwError(f"flows lack column(s) {', '.join(missing)}; expected {', '.join(REQUIRED)} "
                         "(an IPv6 address may also come as two uint64 columns NAME_hi and NAME_lo)")


def _batch(cols: Mapping[str, Any]) -> FlowArrays:
    """One batch of columns (numpy, lists, unchunked Arrow arrays) -> FlowArrays."""
    _check_columns(cols)
    n = _len(cols["direction"])
    for c in cols:
        if c in _WANTED and _len(cols[c]) != n:
            raise AduFwError(f"column {c!r} has {_len(cols[c])} rows, 'direction' has {n}")
    direction = _code_column(cols["direction"], _DIR_CODES, 1, "direction", 255)[0]
    protocol, protocol_ok = _code_column(cols["protocol"], _PROTO_CODES, 255, "protocol", 0)
    sport, sport_ok = _port_column(cols["src_port"], "src_port")
    dport, dport_ok = _port_column(cols["dst_port"], "dst_port")
    src = _address_column(cols, "src_ip", n)
    dst = _address_column(cols, "dst_ip", n)
    fa = FlowArrays(n=n, direction=direction, protocol=protocol, protocol_ok=protocol_ok, src=None, dst=None,
                    src_port=sport, dst_port=dport, sport_ok=sport_ok, dport_ok=dport_ok)
    if isinstance(src, tuple) and isinstance(dst, tuple):
        fa.src_v4, fa.src_ok = src
        fa.dst_v4, fa.dst_ok = dst
    elif isinstance(src, _Be128) and isinstance(dst, _Be128):
        fa.src_v6be, fa.dst_v6be = src.data, dst.data
    else:
        fa.src, fa.dst = (_v4_column(*a) if isinstance(a, tuple) else _be128_column(a.data) if isinstance(a, _Be128) else a
                          for a in (src, dst))
    return fa


def _len(col: Any) -> int:
    return int(col.shape[0]) if isinstance(col, np.ndarray) else len(col)


def _v4_column(values: np.ndarray, ok: np.ndarray | None = None) -> AddressColumn:
    n = values.shape[0]
    family = np.full(n, 4, np.uint8)
    if ok is not None:
        family[~ok] = 0
    return AddressColumn(family, np.zeros(n, np.uint64), values.astype(np.uint64), None, 4 if ok is None else 0)


# -- one column ---------------------------------------------------------------------------------
def _norm(col: Any) -> Any:
    """A numeric numpy column as it is; anything else as one Arrow array."""
    if isinstance(col, np.ndarray) and col.dtype.kind in "iub":
        return col
    if isinstance(col, np.ndarray) and col.dtype.kind == "f" and col.ndim == 1:
        return pa.array(col)
    arr = _arrow(col)
    return arr.cast(pa.string()) if pa.types.is_null(arr.type) else arr


def _arrow(col: Any) -> pa.Array:
    """Any non-numpy column as one Arrow array (lists of mixed names and numbers: as text)."""
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if isinstance(col, pa.Array):
        return col
    values = col.tolist() if isinstance(col, np.ndarray) else col
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed names and numbers: compare as text
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _ints(col: Any) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(values, validity bitmap or empty, bit offset) of an integer or bool column, without a copy
    (bools: one unpacking pass); None when the column is not integers."""
    if isinstance(col, np.ndarray):
        if col.ndim == 1 and col.dtype.kind in "iu":
            return np.ascontiguousarray(col), _NO_BITS, 0
        if col.ndim == 1 and col.dtype.kind == "b":
            return np.ascontiguousarray(col).view(np.uint8), _NO_BITS, 0
        return None
    arr = col.chunk(0) if isinstance(col, pa.ChunkedArray) and col.num_chunks == 1 else col
    if not isinstance(arr, pa.Array):
        return None
    bufs = arr.buffers()
    bits = np.frombuffer(bufs[0], np.uint8) if arr.null_count and bufs[0] is not None else _NO_BITS
    if not len(arr) or bufs[1] is None:
        return (np.zeros(0, np.uint8), _NO_BITS, 0) if pa.types.is_integer(arr.type) or pa.types.is_boolean(arr.type) else None
    if pa.types.is_integer(arr.type):
        values = np.frombuffer(bufs[1], arr.type.to_pandas_dtype())[arr.offset : arr.offset + len(arr)]
        return values, bits, arr.offset
    if pa.types.is_boolean(arr.type):
        packed = np.frombuffer(bufs[1], np.uint8)
        return np.unpackbits(packed, bitorder="little")[arr.offset : arr.offset + len(arr)], bits, arr.offset
    return None


def _narrow(ints: tuple[np.ndarray, np.ndarray, int], top: int, dtype: Any, fill: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Integers -> ``dtype`` with 0..top checked in one compiled pass; (values, ok or None when every
    row is valid). Already ``dtype`` with nothing to check: the same buffer."""
    values, bits, offset = ints
    if values.dtype == dtype and not bits.size and top == np.iinfo(dtype).max:
        return values, None
    out = np.empty(values.shape[0], dtype)
    if not _columns.narrow(values, bits, offset, top, out, fill):
        return out, None
    bad = np.empty(values.shape[0], np.uint8)  # the rare second pass: which rows
    _columns.narrow(values, bits, offset, top, out, fill, bad)
    return out, ~bad.view(bool)


def _code_table(dictionary: pa.Array, names: Mapping[str, int], top: int) -> np.ndarray:
    """int16 code per dictionary value (-1 where it is not a name or number 0..top)."""
    out = np.full(len(dictionary), -1, np.int16)
    for i, v in enumerate(dictionary.to_pylist()):
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, int):
            out[i] = v if 0 <= v <= top else -1
        elif isinstance(v, str):
            key = v.strip().lower()
            if key in names:
                out[i] = names[key]
            elif key.isdigit() and int(key) <= top:
                out[i] = int(key)
    return out


def _code_column(col: Any, names: Mapping[str, int], top: int, what: str, fill: int) -> tuple[np.ndarray, np.ndarray | None]:
    """A name-or-number column (direction, protocol) -> uint8 codes and the valid rows (None: all).
    Invalid rows hold ``fill``; with fill 255 (direction) that is the mark, and no mask is built."""
    col = _norm(col)
    ints = _ints(col)
    if ints is not None:
        if top == 1 and ints[0].dtype == np.uint8 and not ints[2] and not ints[1].size:
            return ints[0], None  # uint8 direction as it is: 2-255 are rejected by the matcher itself
        out, ok = _narrow(ints, top, np.uint8, fill)
        return out, (None if fill == 255 else ok)
    arr = col
    if pa.types.is_floating(arr.type):  # pandas turns an integer column with nulls into floats
        vals = np.asarray(arr.cast(pa.float64()).fill_null(-1.0))
        ok = (vals >= 0) & (vals <= top) & (vals == np.floor(vals))
        out = np.where(ok, vals, fill).astype(np.uint8)
        return out, (None if ok.all() or fill == 255 else ok)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = pc.dictionary_encode(arr)  # few distinct values: map the dictionary, not every row
    if not pa.types.is_dictionary(arr.type):
        raise AduFwError(f"column {what!r}: unsupported type {arr.type}")
    table = _code_table(arr.dictionary, names, top)
    idx = _ints(arr.indices)
    j = np.arange(len(table))
    if (idx[0].dtype.itemsize == 1 and not idx[1].size and len(table) <= 128
            and ((table == j) | ((table < 0) & (j > top) & (fill == 255))).all()):
        return idx[0].view(np.uint8), None  # the indices are the codes ("Inbound", "Outbound"): as they are
    out = np.empty(len(arr), np.uint8)
    if not _columns.map_codes(idx[0], idx[1], idx[2], table, out, fill) or fill == 255:
        return out, None
    bad = np.empty(len(arr), np.uint8)  # the rare second pass: which rows
    _columns.map_codes(idx[0], idx[1], idx[2], table, out, fill, bad)
    return out, ~bad.view(bool)


def _port_column(col: Any, what: str) -> tuple[np.ndarray, np.ndarray | None]:
    col = _norm(col)
    ints = _ints(col)
    if ints is not None:
        return _narrow(ints, 65535, np.uint16, 0)
    arr = col
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = pc.cast(pc.if_else(pc.match_substring_regex(arr, r"^\s*\d{1,5}\s*$"), arr, None), pa.int64())
    if pa.types.is_integer(arr.type):
        return _narrow(_ints(arr), 65535, np.uint16, 0)
    if not pa.types.is_floating(arr.type) and not pa.types.is_null(arr.type):
        raise AduFwError(f"column {what!r}: expected integers, got {arr.type}")
    vals = np.asarray(arr.cast(pa.float64()).fill_null(-1.0))
    ok = (vals >= 0) & (vals <= 65535) & (vals == np.floor(vals))
    return np.where(ok, vals, 0).astype(np.uint16), (None if ok.all() else ok)


def _address_column(cols: Mapping[str, Any], name: str, n: int) -> Any:
    """IPv4 integers as (uint32 values, ok or None), anything else as an AddressColumn."""
    if name not in cols:
        return _halves(cols[f"{name}_hi"], cols[f"{name}_lo"], name)
    col = cols[name]
    if isinstance(col, np.ndarray) and col.ndim == 2 and col.shape[1] == 2 and col.dtype.kind in "iu":
        return _halves(col[:, 0], col[:, 1], name)
    col = _norm(col)
    ints = _ints(col) if not (pa.types.is_boolean(col.type) if isinstance(col, pa.Array) else col.dtype.kind == "b") else None
    if ints is not None:
        return _narrow(ints, _V4_TOP, np.uint32, 0)
    arr = col
    if pa.types.is_floating(arr.type):  # pandas turns an integer column with nulls into floats
        vals = np.asarray(arr.cast(pa.float64()).fill_null(-1.0))
        ok = (vals >= 0) & (vals <= _V4_TOP) & (vals == np.floor(vals))
        return np.where(ok, vals, 0).astype(np.uint32), (None if ok.all() else ok)
    if pa.types.is_fixed_size_binary(arr.type) and arr.type.byte_width in (4, 16):
        return _binary_addresses(arr)
    if pa.types.is_struct(arr.type) and {f.name for f in arr.type} >= {"hi", "lo"}:
        return _halves(arr.field("hi"), arr.field("lo"), name, np.asarray(arr.is_null()) if arr.null_count else None)
    if (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)) and not arr.null_count and len(arr):
        data, offsets = _string_buffers(arr)
        out = np.empty(len(arr), np.uint32)
        if _ip.parse_v4_column(data, offsets, out) == len(arr):  # all dotted quads: the integer path
            return out, None
    return parse_addresses(arr)


def _halves(hi: Any, lo: Any, name: str, null: np.ndarray | None = None) -> AddressColumn:
    """IPv6 as two 64-bit halves (uint64, or int64 holding the same bits): used as they are."""
    parts = []
    for col in (hi, lo):
        ints = _ints(col)
        if ints is None or ints[0].dtype.itemsize != 8:
            raise AduFwError(f"column {name!r}: IPv6 halves must be 64-bit integers, got {getattr(col, 'type', getattr(col, 'dtype', type(col)))}")
        values, bits, offset = ints
        parts.append(values.view(np.uint64))
        if bits.size:
            valid = np.unpackbits(bits, bitorder="little")[offset : offset + values.shape[0]].astype(bool)
            null = ~valid if null is None else null | ~valid
    family = np.full(parts[0].shape[0], 6, np.uint8)
    if null is not None:
        family[null] = 0
    return AddressColumn(family, np.ascontiguousarray(parts[0]), np.ascontiguousarray(parts[1]), null, 6 if null is None else 0)


def _binary_addresses(arr: pa.Array) -> Any:
    """fixed_size_binary(16) (IPv6) or (4) (IPv4), network byte order: one pass to integers."""
    width = arr.type.byte_width
    data = np.frombuffer(arr.buffers()[1], np.uint8)[arr.offset * width : (arr.offset + len(arr)) * width]
    null = np.asarray(arr.is_null()) if arr.null_count else None
    if width == 4:
        out = np.empty(len(arr), np.uint32)
        _columns.be32(np.ascontiguousarray(data), out)
        return out, (None if null is None else ~null)
    if null is None:
        return _Be128(np.ascontiguousarray(data))  # no copy: the IPv6 lanes read the bytes (see _batch)
    return _be128_column(np.ascontiguousarray(data), null)


@dataclass
class _Be128:
    """An IPv6 column without nulls as its 16 big-endian bytes a row (uint8)."""

    data: np.ndarray


def _be128_column(data: np.ndarray, null: np.ndarray | None = None) -> AddressColumn:
    n = data.shape[0] // 16
    hi = np.empty(n, np.uint64)
    lo = np.empty(n, np.uint64)
    _columns.be128(data, hi, lo)
    family = np.full(n, 6, np.uint8)
    if null is not None:
        family[null] = 0
    return AddressColumn(family, hi, lo, null, 6 if null is None else 0)
