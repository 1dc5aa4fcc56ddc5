"""Differential tests of the one front door: every container and column encoding users pass gives,
row for row, the reference evaluator's answer (or the rejection with its reason).

Random rows (valid and invalid values: out of range, negative, null, unknown names; IPv4 and IPv6)
are encoded column by column in a random way (strings, dictionary, integers of every width and
signedness, bools, floats, fixed_size_binary, uint64 halves, structs) and handed over in a random
container (dict of numpy / Arrow / lists, Table with independent chunkings per column, RecordBatch,
pandas, an ``__arrow_c_stream__`` or ``to_arrow()`` object like polars). ``Policy.evaluate`` must
answer as ``Policy.check`` (the reference) for the valid rows and reject the others with the reason
of the first failing field, with 1 and 2 threads.
"""
from __future__ import annotations

import ipaddress
import random

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adu_fw.flowtable import flow_arrays, flow_batches
from adu_fw.policy import Policy
from adu_fw.servicetags import load_cached

from nsgkit import nsg, rule

TAGS = load_cached("20240610")
POLICY = Policy.from_nsg(nsg(
    "door",
    rule("dns-replies", 100, "Inbound", protocol="Udp", sport="53", dst="VirtualNetwork"),
    rule("ssh", 110, "Inbound", protocol="Tcp", src="Internet", dport="22", access="Deny"),
    rule("eph-in", 120, "Inbound", protocol="Tcp", sport="1024-65535", src="AzureFrontDoor.Backend", dport="443"),
    rule("adu", 100, "Outbound", protocol="Tcp", dst="AzureDeviceUpdate", dport="443"),
    rule("low-src", 110, "Outbound", sport=["0-1023"], dst="2001:db8::/32", access="Deny"),
    rule("v6-web", 120, "Outbound", protocol="Tcp", dst=["2603:1000::/24", "2a01:111::/32"], dport="80,443"),
    rule("v4-web", 130, "Outbound", protocol="Tcp", dst=["8.8.8.0/24"], dport="80,443"),
), virtual_network=["10.0.0.0/16", "2001:db8:1::/64"], service_tags=TAGS)

V4 = ["10.0.0.4", "10.0.255.255", "8.8.8.8", "20.119.27.200", "0.0.0.0", "255.255.255.255", "13.107.246.10"]
V6 = ["2001:db8:1::4", "2001:db8::1", "2603:1030:210:11::201", "2603:1040:5:1::5df", "::", "2a01:111::1",
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]
DIRECTION_NAMES = {0: ["Inbound", "inbound", "I", "in"], 1: ["Outbound", "O", "OUTBOUND", "out"]}
PROTOCOL_NAMES = {6: ["tcp", "TCP", "6", "T"], 17: ["udp", "17", "U"], 1: ["icmp", "1"], 50: ["esp", "50"], 47: ["47"]}
INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]

# a row: (direction, protocol, src, sport, dst, dport); invalid values: "bad" (a name), integers out
# of range, None (null)
row = st.tuples(
    st.sampled_from([0, 1, 0, 1, 2, -1, None, "bad"]),
    st.sampled_from([6, 6, 17, 1, 50, 47, 300, -1, None, "bad"]),
    st.sampled_from(["v4", "v4", "v6", None, "int-bad"]),
    st.sampled_from([0, 53, 1023, 1024, 40000, 65535, -1, 65536, None]),
    st.sampled_from(["v4", "v4", "v6", None, "int-bad"]),
    st.sampled_from([0, 22, 80, 443, 65535, -1, 70000, None]),
)


def _fits(dtype, values):
    info = np.iinfo(dtype)
    return all(v is None or (isinstance(v, int) and info.min <= v <= info.max) for v in values)


def _int_column(values, dtype, arrow):
    """Integers (None: null) in ``dtype``: Arrow when there is a null or when asked."""
    if arrow or any(v is None for v in values):
        return pa.array(values, type=pa.from_numpy_dtype(dtype))
    return np.array(values, dtype)


def _encode_code(values, names, rng):
    """direction / protocol: names, dictionary, integers, bools."""
    ints_ok = all(v is None or isinstance(v, int) for v in values)
    kinds = ["str", "dict", "large", "list"] + (["int"] * 3 if ints_ok else [])
    if ints_ok and names is DIRECTION_NAMES and all(v in (0, 1, None) for v in values):
        kinds.append("bool")
    kind = rng.choice(kinds)
    if kind == "int":
        dtype = rng.choice([t for t in INTS if _fits(t, values)])
        return _int_column(values, dtype, rng.random() < 0.5)
    if kind == "bool":
        if any(v is None for v in values) or rng.random() < 0.5:
            return pa.array([None if v is None else bool(v) for v in values], pa.bool_())
        return np.array(values, bool)
    text = [None if v is None else rng.choice(names[v]) if v in names else str(v) for v in values]
    if kind == "dict":
        return pa.array(text, pa.string()).dictionary_encode()
    if kind == "large":
        return pa.array(text, pa.large_string())
    if kind == "list":
        return text
    return pa.array(text, pa.string())


def _encode_port(values, rng):
    kind = rng.choice(["int", "int", "float", "str"])
    if kind == "int":
        dtype = rng.choice([t for t in INTS if _fits(t, values)])
        return _int_column(values, dtype, rng.random() < 0.5)
    if kind == "float":
        return np.array([np.nan if v is None else v for v in values], np.float64)
    return pa.array([None if v is None else str(v) for v in values])


def _address_values(kinds, rng):
    """(text or None, integer or None) per row; "int-bad" is an integer outside IPv4."""
    out = []
    for k in kinds:
        if k == "v4":
            a = rng.choice(V4)
            out.append((a, int(ipaddress.IPv4Address(a))))
        elif k == "v6":
            a = rng.choice(V6)
            out.append((a, int(ipaddress.IPv6Address(a))))
        elif k == "int-bad":
            out.append((None, rng.choice([-1, 2**32, 2**40])))
        else:
            out.append((None, None))
    return out


def _encode_address(name, kinds, values, rng, cols):
    fams = {k for k in kinds if k is not None}
    if "int-bad" in fams and "v6" not in fams:  # integers: IPv4 encodings that can hold the bad ones
        dtype = rng.choice([np.int64, np.uint64] if any(v is not None and v < 0 for _, v in values) is False else [np.int64])
        cols[name] = _int_column([v for _, v in values], dtype, rng.random() < 0.5)
        return
    if "int-bad" in fams:  # with IPv6 beside: no integer column holds both; the bad ones become null
        values = [(t, None) if k == "int-bad" else (t, v) for k, (t, v) in zip(kinds, values)]
        fams.discard("int-bad")
    text = [t for t, _ in values]
    if fams == {"v4"}:
        kind = rng.choice(["uint32", "int64", "text", "fsb4", "dict", "float"])
        ints = [v for _, v in values]
        if kind == "uint32":
            cols[name] = _int_column(ints, np.uint32, rng.random() < 0.5)
        elif kind == "int64":
            cols[name] = _int_column(ints, np.int64, rng.random() < 0.5)
        elif kind == "float":
            cols[name] = np.array([np.nan if v is None else v for v in ints], np.float64)
        elif kind == "fsb4":
            cols[name] = pa.array([None if v is None else v.to_bytes(4, "big") for v in ints], pa.binary(4))
        elif kind == "dict":
            cols[name] = pa.array(text, pa.string()).dictionary_encode()
        else:
            cols[name] = text if rng.random() < 0.5 else pa.array(text, pa.string())
        return
    if fams == {"v6"}:
        kind = rng.choice(["fsb16", "halves", "halves-i64", "struct", "numpy2d", "text"])
        ints = [v for _, v in values]
        if kind == "fsb16":
            cols[name] = pa.array([None if v is None else v.to_bytes(16, "big") for v in ints], pa.binary(16))
        elif kind in ("halves", "halves-i64"):
            dtype = np.uint64 if kind == "halves" else np.int64
            for half, part in (("hi", lambda v: v >> 64), ("lo", lambda v: v & (2**64 - 1))):
                vals = [None if v is None else part(v) for v in ints]
                if dtype is np.int64:
                    vals = [None if x is None else (x - 2**64 if x >= 2**63 else x) for x in vals]
                cols[f"{name}_{half}"] = _int_column(vals, dtype, rng.random() < 0.5)
        elif kind == "struct":
            cols[name] = pa.array([None if v is None else {"hi": v >> 64, "lo": v & (2**64 - 1)} for v in ints],
                                  pa.struct([("hi", pa.uint64()), ("lo", pa.uint64())]))
        elif kind == "numpy2d" and None not in ints:
            cols[name] = np.array([[v >> 64, v & (2**64 - 1)] for v in ints], np.uint64)
        else:
            cols[name] = pa.array(text, pa.string())
        return
    cols[name] = text if rng.random() < 0.5 else pa.array(text, rng.choice([pa.string(), pa.large_string()]))


class _ArrowStream:
    """A polars-like frame: only the Arrow C stream interface."""

    def __init__(self, table):
        self._t = table

    def __arrow_c_stream__(self, requested_schema=None):
        return self._t.__arrow_c_stream__(requested_schema)


class _ToArrow:
    def __init__(self, table):
        self._t = table

    def to_arrow(self):
        return self._t


def _container(cols, n, rng):
    kind = rng.choice(["dict", "table", "chunked", "batch", "stream", "to_arrow", "pandas", "struct"])
    if kind == "dict":
        return cols
    table = pa.table({k: (pa.array(v) if isinstance(v, (list, np.ndarray)) and not (isinstance(v, np.ndarray) and v.ndim == 2)
                          else v) for k, v in cols.items() if not (isinstance(v, np.ndarray) and v.ndim == 2)})
    if len(table.column_names) != len(cols):  # a 2-D numpy column only fits a dict
        return cols
    if kind == "chunked" and n > 1:  # every column cut at its own places
        out = {}
        for name in table.column_names:
            arr = table.column(name).combine_chunks()
            cuts = sorted(rng.sample(range(1, n), min(3, n - 1)))
            out[name] = pa.chunked_array([arr.slice(a, b - a) for a, b in zip([0] + cuts, cuts + [n])], type=arr.type)
        return pa.table(out) if rng.random() < 0.5 else out
    if kind == "batch":
        return table.combine_chunks().to_batches()[0] if n else table
    if kind == "stream":
        return _ArrowStream(table)
    if kind == "to_arrow":
        return _ToArrow(table)
    if kind == "struct":
        return pa.chunked_array([pa.StructArray.from_arrays([table.column(c).combine_chunks() for c in table.column_names],
                                                            names=table.column_names)])
    if kind == "pandas":
        pd = pytest.importorskip("pandas")
        if any(pa.types.is_fixed_size_binary(f.type) or pa.types.is_struct(f.type)
               or (pa.types.is_integer(f.type) and f.type.bit_width == 64 and table.column(f.name).null_count)
               for f in table.schema):  # pandas has no such column (bytes objects; 64-bit floats)
            return table
        try:
            frame = table.to_pandas()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            return table
        assert isinstance(frame, pd.DataFrame)
        return frame
    return table


def _expected(r, kinds, values):
    """(rule name or None, access or None, reason prefix or None) for one row."""
    d, p, _, sp, _, dp = r
    fam = [None if k in (None, "int-bad") else k for k in kinds]
    if d not in (0, 1):
        return None, None, "direction"
    if p is None or p == "bad" or not 0 <= p <= 255:
        return None, None, "protocol"
    if fam[0] is None:
        return None, None, "src_ip"
    if fam[1] is None:
        return None, None, "dst_ip"
    if sp is None or not 0 <= sp <= 65535:
        return None, None, "src_port"
    if dp is None or not 0 <= dp <= 65535:
        return None, None, "dst_port"
    if fam[0] != fam[1]:
        return None, None, "src_ip/dst_ip"
    v = POLICY.check("Outbound" if d else "Inbound", p, values[0][0], sp, values[1][0], dp)
    return v.rule, v.access, None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(row, min_size=0, max_size=40), st.integers(0, 2**32))
def test_every_door_answers_as_the_reference(rows, seed):
    rng = random.Random(seed)
    n = len(rows)
    src_kinds, dst_kinds = [r[2] for r in rows], [r[4] for r in rows]
    src_vals, dst_vals = _address_values(src_kinds, rng), _address_values(dst_kinds, rng)
    cols = {"direction": _encode_code([r[0] for r in rows], DIRECTION_NAMES, rng),
            "protocol": _encode_code([r[1] for r in rows], PROTOCOL_NAMES, rng),
            "src_port": _encode_port([r[3] for r in rows], rng), "dst_port": _encode_port([r[5] for r in rows], rng)}
    _encode_address("src_ip", src_kinds, src_vals, rng, cols)
    _encode_address("dst_ip", dst_kinds, dst_vals, rng, cols)
    # an integer column cannot say "IPv6 with a bad row": the encoder made such rows null
    src_kinds = [None if k == "int-bad" and "v6" in src_kinds else k for k in src_kinds]
    dst_kinds = [None if k == "int-bad" and "v6" in dst_kinds else k for k in dst_kinds]
    flows = _container(cols, n, rng)
    for threads in (1, 2):
        t = POLICY.evaluate(flows, threads=threads)
        assert t.num_rows == n
        got = zip(t.column("rule").to_pylist(), t.column("access").to_pylist(), t.column("reject_reason").to_pylist(),
                  t.column("rule_index").to_pylist())
        for i, (r, (rule_name, access, reason, idx)) in enumerate(zip(rows, got)):
            want = _expected(r, (src_kinds[i], dst_kinds[i]), (src_vals[i], dst_vals[i]))
            if want[2] is None:
                assert (rule_name, access, reason) == (want[0], want[1], None), (i, r, cols, want)
            else:
                assert idx == -2 and access is None and reason.split(":")[0] == want[2], (i, r, reason, want)


# -- zero copy, chunk by chunk ------------------------------------------------------------------
def _w(n=1000, seed=1):
    rng = np.random.default_rng(seed)
    return {"direction": rng.integers(0, 2, n).astype(np.uint8), "protocol": np.full(n, 6, np.uint8),
            "src_ip": rng.integers(0, 2**32, n, dtype=np.uint32), "src_port": rng.integers(0, 65536, n).astype(np.uint16),
            "dst_ip": rng.integers(0, 2**32, n, dtype=np.uint32), "dst_port": np.full(n, 443, np.uint16)}


def _address(arr):
    """The address of an Arrow array's first value."""
    return arr.buffers()[1].address + arr.offset * arr.type.bit_width // 8


def test_matching_types_are_used_without_a_copy():
    cols = _w()
    table = pa.table({k: pa.array(v) for k, v in cols.items()})
    fa = flow_arrays(table)
    for name, got in (("protocol", fa.protocol), ("src_ip", fa.src_v4), ("dst_ip", fa.dst_v4), ("src_port", fa.src_port),
                      ("dst_port", fa.dst_port), ("direction", fa.direction)):
        assert got.ctypes.data == _address(table.column(name).chunk(0)), name
    fa = flow_arrays(cols)  # numpy columns: the same arrays
    assert all(getattr(fa, a) is cols[c] for a, c in (("protocol", "protocol"), ("src_v4", "src_ip"), ("dst_port", "dst_port")))
    halves = {k: v for k, v in cols.items() if not k.endswith("_ip")}
    halves.update(src_ip_hi=np.arange(1000, dtype=np.uint64), src_ip_lo=np.arange(1000, dtype=np.uint64),
                  dst_ip_hi=pa.array(np.arange(1000, dtype=np.uint64)), dst_ip_lo=pa.array(np.arange(1000, dtype=np.int64)))
    fa = flow_arrays(halves)
    assert fa.src.hi.ctypes.data == halves["src_ip_hi"].ctypes.data
    assert fa.dst.lo.ctypes.data == _address(halves["dst_ip_lo"])  # int64 halves: the same bits, viewed
    v6 = {k: v for k, v in cols.items() if not k.endswith("_ip")}  # fixed_size_binary(16): the bytes themselves
    for side in ("src_ip", "dst_ip"):
        v6[side] = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), 1000, [None, pa.py_buffer(np.arange(4000, dtype=np.uint32).tobytes())])
    fa = flow_arrays(v6)
    assert fa.v6_bytes and fa.src_v6be.ctypes.data == v6["src_ip"].buffers()[1].address
    src, dst = fa.addresses()  # the halves door answers the same
    as_halves = {k: v for k, v in v6.items() if not k.endswith("_ip")}
    as_halves.update(src_ip_hi=src.hi, src_ip_lo=src.lo, dst_ip_hi=dst.hi, dst_ip_lo=dst.lo)
    for threads in (1, 2):
        assert POLICY.evaluate(v6, threads=threads).equals(POLICY.evaluate(as_halves, threads=threads))


def test_a_chunked_table_is_classified_chunk_by_chunk(monkeypatch):
    cols = _w(3000)
    chunked = pa.table({k: pa.chunked_array([pa.array(v[:1000]), pa.array(v[1000:2500]), pa.array(v[2500:])])
                        for k, v in cols.items()})
    batches = list(flow_batches(chunked))
    assert [b.n for b in batches] == [1000, 1500, 500]
    for b, start in zip(batches, (0, 1000, 2500)):  # each batch reads its chunk's buffer, no concatenation
        assert b.src_v4.ctypes.data == _address(chunked.column("src_ip").chunk([0, 1000, 2500].index(start)))
    import adu_fw.evaluate as ev

    seen = []
    real = ev.classify

    def spy(compiled, fa, threads=None, out=None):
        seen.append(fa.n)
        return real(compiled, fa, threads, out)

    monkeypatch.setattr(ev, "classify", spy)
    whole = POLICY.evaluate(chunked)
    assert seen == [1000, 1500, 500]
    monkeypatch.setattr(ev, "classify", real)
    assert whole.column("rule_index").equals(POLICY.evaluate(cols).column("rule_index"))


def test_out_of_range_integers_keep_their_reason():
    t = POLICY.evaluate({"direction": np.array([0, 1, 2, 0], np.int64), "protocol": np.array([6, 6, 6, 256], np.int32),
                         "src_ip": np.array([1, -5, 2**32, 167772164], np.int64), "src_port": np.array([1, 2, 3, 70000], np.int64),
                         "dst_ip": np.array([167772164, 1, 1, 1], np.int64), "dst_port": np.array([22, 22, 22, 22], np.uint32)})
    assert t.column("rule_index").to_pylist()[1:] == [-2, -2, -2]
    assert [r and r.split(":")[0] for r in t.column("reject_reason").to_pylist()] == [None, "src_ip", "direction", "protocol"]
