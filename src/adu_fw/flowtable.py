"""Flow columns in any container -> typed arrays for the matcher, and why a row cannot be evaluated.

Accepted containers: a pyarrow Table or RecordBatch, a pandas DataFrame, or a mapping of column
name to list / numpy / Arrow array. Columns: ``direction`` ("Inbound"/"Outbound", "I"/"O", any
case, plain or dictionary-encoded, or 0/1), ``protocol`` (name or IANA number), ``src_ip``,
``dst_ip`` (strings, or IPv4 as integers), ``src_port``, ``dst_port``. Rows that cannot be
evaluated are not dropped: they come back with a reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import AduFwError
from .ip import AddressColumn, parse_addresses
from .rules import PROTOCOLS

__all__ = ["FlowArrays", "flow_arrays", "REQUIRED", "columns_of", "arrow_column"]

REQUIRED = ("direction", "protocol", "src_ip", "src_port", "dst_ip", "dst_port")
_DIR_CODES = {"inbound": 0, "in": 0, "i": 0, "outbound": 1, "out": 1, "o": 1}
_PROTO_CODES = {k.lower(): v for k, v in PROTOCOLS.items() if v is not None}
_PROTO_CODES.update({"t": 6, "u": 17})  # NSG flow-log letters


@dataclass
class FlowArrays:
    n: int
    direction: np.ndarray  # uint8, 255 = invalid
    protocol: np.ndarray  # uint8
    protocol_ok: np.ndarray  # bool
    src: AddressColumn | None  # None on the IPv4-integer fast path (see src_v4)
    dst: AddressColumn | None
    src_port: np.ndarray  # uint16
    dst_port: np.ndarray
    sport_ok: np.ndarray
    dport_ok: np.ndarray
    src_v4: np.ndarray | None = None  # uint32 columns as given: the zero-copy fast path
    dst_v4: np.ndarray | None = None
    time_ms: np.ndarray | None = None  # int64, when the flow-log reader already has them
    bytes_total: np.ndarray | None = None  # int64, both directions, 0 where not logged

    @property
    def v4_ints(self) -> bool:
        return self.src_v4 is not None and self.dst_v4 is not None

    def addresses(self) -> tuple[AddressColumn, AddressColumn]:
        """Both address columns in the general (family, hi, lo) form."""
        src = self.src if self.src is not None else _v4_column(self.src_v4)
        dst = self.dst if self.dst is not None else _v4_column(self.dst_v4)
        return src, dst

    def family(self) -> np.ndarray:
        """4 or 6 where the row can be evaluated, 0 where it cannot."""
        src, dst = self.addresses()
        fam = src.family.copy()
        fam[(src.family != dst.family) | ~self.valid_except_family()] = 0
        return fam

    def bad_fields(self) -> np.ndarray | None:
        """Rows whose protocol or a port cannot be evaluated, None when there is none (the usual
        case: three ``all()`` scans instead of building a mask). Direction 255 is the matcher's."""
        bad = None
        for ok in (self.protocol_ok, self.sport_ok, self.dport_ok):
            if not ok.all():
                bad = ~ok if bad is None else bad | ~ok
        return bad

    def valid_except_family(self) -> np.ndarray:
        return (self.direction != 255) & self.protocol_ok & self.sport_ok & self.dport_ok

    def reasons(self) -> np.ndarray | None:
        """Per row, why it cannot be evaluated (object array, None where it can); None if all can."""
        checks = [
            (self.direction == 255, "direction: expected Inbound/Outbound or I/O"),
            (~self.protocol_ok, "protocol: expected a name (tcp, udp, icmp, esp, ah) or a number 0-255"),
            (~self.sport_ok, "src_port: expected an integer 0-65535"),
            (~self.dport_ok, "dst_port: expected an integer 0-65535"),
        ]
        if not self.v4_ints:
            src, dst = self.addresses()
            checks[2:2] = [
                (src.family == 0, "src_ip: not an IPv4 or IPv6 address"),
                (dst.family == 0, "dst_ip: not an IPv4 or IPv6 address"),
            ]
            checks.append((src.family != dst.family, "src_ip/dst_ip: one IPv4 and one IPv6 address"))
        bad_any = np.zeros(self.n, bool)
        for mask, _ in checks:
            bad_any |= mask
        if not bad_any.any():
            return None
        out = np.full(self.n, None, dtype=object)
        for mask, text in reversed(checks):  # the first failing field wins
            out[mask] = text
        return out


def arrow_column(values: np.ndarray, null: np.ndarray | None = None, type: pa.DataType | None = None) -> pa.Array:
    """A numpy column as Arrow without a copy, null where ``null`` is set.

    ``pa.array(values, mask=...)`` converts element by element, even with ``mask=None`` given
    explicitly; here the data buffer is shared and only the validity bitmap is built, in numpy.
    """
    arr = pa.array(values, type=type)
    if null is None or not null.any():
        return arr
    validity = pa.py_buffer(np.packbits(~np.asarray(null, bool), bitorder="little"))
    return pa.Array.from_buffers(arr.type, len(arr), [validity, arr.buffers()[1]], null_count=int(np.count_nonzero(null)))


def columns_of(flows: Any) -> Mapping[str, Any]:
    if isinstance(flows, (pa.Table, pa.RecordBatch)):
        return {name: flows.column(name) for name in flows.column_names}
    if type(flows).__name__ == "DataFrame" and hasattr(flows, "columns"):
        table = pa.Table.from_pandas(flows, preserve_index=False)
        return {name: table.column(name) for name in table.column_names}
    if isinstance(flows, Mapping):
        return flows
    raise AduFwError(
        f"flows must be a pyarrow Table/RecordBatch, a pandas DataFrame or a dict of columns, got {type(flows).__name__}"
    )


def _arrow(col: Any) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if isinstance(col, pa.Array):
        return col
    if isinstance(col, np.ndarray) and col.dtype.kind in "iub":
        return pa.array(col)
    values = col.tolist() if isinstance(col, np.ndarray) and col.dtype.kind in "UO" else col
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed names and numbers: compare as text
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _codes(col: Any, table: Mapping[str, int], numeric_max: int, what: str) -> np.ndarray:
    """Map a name-or-number column to codes; -1 where invalid."""
    arr = _arrow(col)
    if pa.types.is_dictionary(arr.type):
        dict_codes = _codes(arr.dictionary, table, numeric_max, what)
        idx = np.asarray(arr.indices.fill_null(0)).astype(np.intp)
        out = dict_codes[idx] if len(dict_codes) else np.full(len(arr), -1, np.int64)
        if arr.null_count:
            out[np.asarray(arr.is_null())] = -1
        return out
    if pa.types.is_integer(arr.type) or pa.types.is_boolean(arr.type):
        vals = np.asarray(arr.cast(pa.int64()).fill_null(-1))
        return np.where((vals >= 0) & (vals <= numeric_max), vals, -1)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        if len(arr) > 64:  # few distinct values: map the dictionary, not every row
            return _codes(pc.dictionary_encode(arr), table, numeric_max, what)
        out = np.full(len(arr), -1, np.int64)
        for i, v in enumerate(arr.to_pylist()):
            if v is None:
                continue
            key = v.strip().lower()
            if key in table:
                out[i] = table[key]
            elif key.isdigit() and int(key) <= numeric_max:
                out[i] = int(key)
        return out
    raise AduFwError(f"column {what!r}: unsupported type {arr.type}")


def _ports(col: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(col, np.ndarray) and col.dtype == np.uint16:
        return col, np.ones(col.shape[0], bool)
    arr = _arrow(col)
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = pc.cast(pc.if_else(pc.match_substring_regex(arr, r"^\s*\d{1,5}\s*$"), arr, None), pa.int64())
    if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
        raise AduFwError(f"column {what!r}: expected integers, got {arr.type}")
    vals = np.asarray(arr.cast(pa.float64()).fill_null(-1.0)) if pa.types.is_floating(arr.type) else np.asarray(
        arr.cast(pa.int64()).fill_null(-1)
    )
    ok = (vals >= 0) & (vals <= 65535) & (vals == np.floor(vals))
    return np.where(ok, vals, 0).astype(np.uint16), ok


def _v4_column(values: np.ndarray) -> AddressColumn:
    n = values.shape[0]
    return AddressColumn(np.full(n, 4, np.uint8), np.zeros(n, np.uint64), values.astype(np.uint64))


def _address_input(col: Any) -> Any:
    if isinstance(col, np.ndarray) and col.dtype.kind == "U":
        return col.tolist()
    return col


def flow_arrays(flows: Any) -> FlowArrays:
    if isinstance(flows, FlowArrays):  # already parsed (e.g. by the flow-log reader)
        return flows
    cols = columns_of(flows)
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise AduFwError(f"flows lack column(s) {', '.join(missing)}; expected {', '.join(REQUIRED)}")
    n = len(cols["direction"])
    for c in REQUIRED:
        if len(cols[c]) != n:
            raise AduFwError(f"column {c!r} has {len(cols[c])} rows, 'direction' has {n}")
    dcol, pcol = cols["direction"], cols["protocol"]
    if isinstance(dcol, np.ndarray) and dcol.dtype == np.uint8:
        direction = np.where(dcol <= 1, dcol, 255).astype(np.uint8)
    else:
        codes = _codes(dcol, _DIR_CODES, 1, "direction")
        direction = np.where(codes >= 0, codes, 255).astype(np.uint8)
    if isinstance(pcol, np.ndarray) and pcol.dtype == np.uint8:
        protocol, protocol_ok = pcol, np.ones(n, bool)
    else:
        codes = _codes(pcol, _PROTO_CODES, 255, "protocol")
        protocol, protocol_ok = np.where(codes >= 0, codes, 0).astype(np.uint8), codes >= 0
    sport, sport_ok = _ports(cols["src_port"], "src_port")
    dport, dport_ok = _ports(cols["dst_port"], "dst_port")
    v4_ints = all(isinstance(cols[c], np.ndarray) and cols[c].dtype == np.uint32 for c in ("src_ip", "dst_ip"))
    if v4_ints:
        src = dst = None
        src_v4 = np.ascontiguousarray(cols["src_ip"])
        dst_v4 = np.ascontiguousarray(cols["dst_ip"])
    else:
        src = parse_addresses(_address_input(cols["src_ip"]))
        dst = parse_addresses(_address_input(cols["dst_ip"]))
        src_v4 = dst_v4 = None
    return FlowArrays(
        n=n,
        direction=direction,
        protocol=protocol,
        protocol_ok=protocol_ok,
        src=src,
        dst=dst,
        src_port=sport,
        dst_port=dport,
        sport_ok=sport_ok,
        dport_ok=dport_ok,
        src_v4=src_v4,
        dst_v4=dst_v4,
    )
