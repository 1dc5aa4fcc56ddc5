"""The compiled address parser accepts exactly what Python's ipaddress accepts, with the same value."""
from __future__ import annotations

import ipaddress

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adu_fw.errors import AddressError
from adu_fw.ip import parse_address, parse_addresses, parse_prefix, parse_prefixes


def _expected(text: str):
    try:
        a = ipaddress.ip_address(text)
    except ValueError:
        return None
    return a.version, int(a)


def _ours(text: str):
    try:
        return parse_address(text)
    except AddressError:
        return None


v4_ints = st.integers(0, 2**32 - 1)
v6_ints = st.integers(0, 2**128 - 1)


@given(v4_ints)
def test_ipv4_roundtrip(value):
    text = str(ipaddress.IPv4Address(value))
    assert parse_address(text) == (4, value)


@given(v6_ints, st.sampled_from(["compressed", "exploded", "upper", "v4tail"]))
def test_ipv6_spellings(value, style):
    addr = ipaddress.IPv6Address(value)
    if style == "compressed":
        text = addr.compressed
    elif style == "exploded":
        text = addr.exploded
    elif style == "upper":
        text = addr.compressed.upper()
    else:
        groups = addr.exploded.split(":")
        text = ":".join(groups[:6]) + ":" + str(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    assert parse_address(text) == (6, value)


alphabet = st.sampled_from(list("0123456789abcdefABCDEF:.:/ x-"))


@settings(max_examples=3000)
@given(st.text(alphabet, min_size=0, max_size=46))
def test_arbitrary_text_agrees_with_ipaddress(text):
    assert _ours(text) == _expected(text)


octet = st.one_of(st.integers(0, 255).map(str), st.sampled_from(["00", "01", "010", "256", "999", "", "1a", " 1"]))
quadish = st.one_of(
    st.lists(octet, min_size=3, max_size=5).map(".".join),
    st.text(st.sampled_from(list("0123456789.:x ")), max_size=18),
)


@settings(max_examples=1500)
@given(st.lists(quadish, min_size=1, max_size=24))
def test_column_parse_agrees_with_ipaddress(texts):
    # in a column every value but the last has 16 bytes after its start: the SIMD dotted-quad path
    col = parse_addresses(pa.array(texts + ["a tail of sixteen+ bytes"]))
    for i, text in enumerate(texts):
        want = _expected(text)
        got = None if col.family[i] == 0 else (int(col.family[i]), (int(col.hi[i]) << 64) | int(col.lo[i]))
        assert got == want, text


@settings(max_examples=500)
@given(st.lists(st.sampled_from(["1", "ff", "0", "ffff", "12"]), min_size=1, max_size=9), st.integers(0, 9))
def test_double_colon_positions(groups, at):
    parts = list(groups)
    at = min(at, len(parts))
    text = ":".join(parts[:at]) + "::" + ":".join(parts[at:])
    assert _ours(text) == _expected(text)


@given(v4_ints, st.integers(0, 32))
def test_ipv4_prefix_host_bits(value, plen):
    text = f"{ipaddress.IPv4Address(value)}/{plen}"
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        with pytest.raises(AddressError, match="host bits"):
            parse_prefix(text)
    else:
        assert parse_prefix(text) == (4, int(net.network_address), plen)


@given(v6_ints, st.integers(0, 128))
def test_ipv6_prefix_host_bits(value, plen):
    net = ipaddress.IPv6Network((value, plen), strict=False)
    text = f"{ipaddress.IPv6Address(value)}/{plen}"
    if int(net.network_address) == value:
        assert parse_prefix(text) == (6, value, plen)
    else:
        with pytest.raises(AddressError, match="host bits"):
            parse_prefix(text)


@pytest.mark.parametrize(
    "text", ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/08", "::/129", "10.0.0.0/-1", "/8", "10.0.0.0/8/8", ""]
)
def test_bad_prefixes(text):
    with pytest.raises(AddressError):
        parse_prefix(text)


def test_zone_ids_are_rejected_on_purpose():
    """ipaddress accepts 'fe80::1%eth0'; a zone id means nothing to an NSG, so adu-fw refuses it."""
    assert ipaddress.ip_address("fe80::1%eth0")
    with pytest.raises(AddressError):
        parse_address("fe80::1%eth0")


def test_bare_address_is_host_prefix():
    assert parse_prefix("10.1.2.3") == (4, 0x0A010203, 32)
    assert parse_prefix("::1") == (6, 1, 128)


def test_columns_all_input_kinds():
    texts = ["10.0.0.1", "2001:db8::1", None, "bogus"]
    expected_family = [4, 6, 0, 0]
    for values in (
        texts,
        np.array(texts, dtype=object),
        pa.array(texts),
        pa.array(texts, type=pa.large_string()),
        pa.array(texts).dictionary_encode(),
        pa.chunked_array([pa.array(texts[:2]), pa.array(texts[2:])]),
    ):
        col = parse_addresses(values)
        assert col.family.tolist() == expected_family
        assert col.lo[0] == 0x0A000001
        assert (int(col.hi[1]) << 64 | int(col.lo[1])) == int(ipaddress.ip_address("2001:db8::1"))
        assert col.bad_rows().tolist() == [3]


def test_sliced_arrow_array_respects_offset():
    arr = pa.array(["1.1.1.1", "2.2.2.2", "3.3.3.3"]).slice(1, 2)
    col = parse_addresses(arr)
    assert col.lo.tolist() == [0x02020202, 0x03030303]


def test_integer_columns_are_ipv4():
    col = parse_addresses(np.array([0, 0xFFFFFFFF], dtype=np.uint32))
    assert col.family.tolist() == [4, 4]
    assert col.lo.tolist() == [0, 0xFFFFFFFF]
    with pytest.raises(AddressError, match="row 1"):
        parse_addresses(np.array([1, 2**32], dtype=np.int64))


def test_non_string_column_is_an_error():
    with pytest.raises(AddressError, match="strings"):
        parse_addresses([1.5, "1.1.1.1"])
    with pytest.raises(AddressError):
        parse_address(42)  # type: ignore[arg-type]


def test_prefix_column_codes():
    col = parse_prefixes(["10.0.0.0/8", "10.0.0.1/8", "nope", "::/0"])
    assert col.family.tolist() == [4, 1, 0, 6]
    assert col.plen.tolist()[0] == 8 and col.plen.tolist()[3] == 0


quad_texts = st.one_of(
    st.integers(0, 2**32 - 1).map(lambda v: str(ipaddress.IPv4Address(v))),
    st.lists(st.integers(0, 300), min_size=3, max_size=5).map(lambda xs: ".".join(map(str, xs))),
    st.lists(st.sampled_from(["0", "00", "01", "1", "9", "10", "099", "255", "256", "999", "1000", ""]), min_size=4,
             max_size=4).map(".".join),
    st.text(alphabet="0123456789.: x", min_size=0, max_size=17),
)


@settings(deadline=None)
@given(st.lists(quad_texts, min_size=1, max_size=40))
def test_ipv4_column_fast_path_accepts_exactly_ipaddress(texts):
    """The column fast path (SSSE3 shuffles, or SSE2) gives every IPv4 value ipaddress gives, and
    stops at the first text that is not a plain dotted quad."""
    import numpy as np
    import pyarrow as pa

    from adu_fw import _ip
    from adu_fw.ip import _string_buffers

    data, offsets = _string_buffers(pa.array(texts, pa.string()))
    out = np.zeros(len(texts), np.uint32)
    first = _ip.parse_v4_column(data, offsets, out)
    want = []
    for t in texts:
        try:
            want.append(int(ipaddress.IPv4Address(t)))
        except ValueError:
            break
    assert first == len(want) and out[:first].tolist() == want
