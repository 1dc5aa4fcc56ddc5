"""IP addresses and prefixes as integers, for scalars and whole columns.

Columns are parsed in compiled code (``_ip``) straight from Arrow string buffers, so a
million addresses cost one pass over their bytes. IPv4 is held as its 32-bit value in
``lo`` (``hi`` = 0); IPv6 as two 64-bit halves. The accepted text is exactly what
Python's ``ipaddress`` accepts (this is property-tested).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from . import _ip
from .errors import AddressError

__all__ = [
    "AddressColumn",
    "PrefixColumn",
    "parse_address",
    "parse_prefix",
    "parse_addresses",
    "parse_prefixes",
    "format_address",
    "format_prefix",
    "address_text",
    "prefix_texts",
]

MALFORMED = 0
HOST_BITS_SET = 1


@dataclass(frozen=True)
class AddressColumn:
    """Parsed addresses: ``family`` is 4, 6, or 0 (malformed or null); ``null`` marks nulls."""

    family: npt.NDArray[np.uint8]
    hi: npt.NDArray[np.uint64]
    lo: npt.NDArray[np.uint64]
    null: npt.NDArray[np.bool_] | None = None
    only: int = 0  # 4 or 6 when the producer knows every row has that family (no scan needed), else 0

    def __len__(self) -> int:
        return int(self.family.shape[0])

    def all_family(self, version: int) -> bool:
        """Whether every row is an address of this IP version."""
        return self.only == version or bool((self.family == version).all())

    def bad_rows(self) -> npt.NDArray[np.intp]:
        """Rows that are neither valid addresses nor nulls."""
        bad = self.family == 0
        if self.null is not None:
            bad &= ~self.null
        return np.flatnonzero(bad)


@dataclass(frozen=True)
class PrefixColumn:
    """Parsed prefixes: ``family`` 4/6, 0 malformed, 1 host bits set; ``plen`` the length."""

    family: npt.NDArray[np.uint8]
    hi: npt.NDArray[np.uint64]
    lo: npt.NDArray[np.uint64]
    plen: npt.NDArray[np.int16]

    def __len__(self) -> int:
        return int(self.family.shape[0])


def _string_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(data bytes, offsets) of a string / large_string Arrow array, zero-copy."""
    bufs = arr.buffers()
    off_dtype = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(bufs[1], dtype=off_dtype)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return data, np.ascontiguousarray(offsets)


def _as_string_array(values: Any, what: str) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if isinstance(values, pa.Array):
        if pa.types.is_dictionary(values.type):
            return values
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            return values
        if pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type):
            try:
                return values.cast(pa.large_string() if pa.types.is_large_binary(values.type) else pa.string())
            except pa.ArrowInvalid:
                raise AddressError(f"expected a column of {what} strings, got bytes that are not UTF-8 text "
                                   "(raw addresses: fixed_size_binary(4) or (16), network byte order)") from None
        raise AddressError(f"expected a column of {what} strings, got Arrow type {values.type}")
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        if isinstance(values, (list, tuple)) and any(_is_address_object(v) for v in values):
            return pa.array([None if v is None else address_text(v) if _is_address_object(v) else v for v in values],
                            type=pa.string())
        raise AddressError(f"expected a column of {what} strings: {exc}") from None


def parse_addresses(values: Any) -> AddressColumn:
    """Parse a column of addresses: strings (list, numpy, Arrow, dictionary-encoded) or IPv4 integers."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        return _from_ipv4_ints(values)
    if isinstance(values, (pa.Array, pa.ChunkedArray)) and pa.types.is_integer(values.type):
        arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        null = np.asarray(arr.is_null()) if arr.null_count else None
        col = _from_ipv4_ints(np.asarray(arr.fill_null(0)))
        if null is not None:
            col.family[null] = 0
        return AddressColumn(col.family, col.hi, col.lo, null)
    arr = _as_string_array(values, "IP address")
    if pa.types.is_dictionary(arr.type):
        inner = parse_addresses(arr.dictionary)
        idx = np.asarray(arr.indices.fill_null(0), dtype=np.intp)
        null = np.asarray(arr.is_null()) if arr.null_count else None
        fam = inner.family[idx] if len(inner) else np.zeros(len(arr), np.uint8)
        hi = inner.hi[idx] if len(inner) else np.zeros(len(arr), np.uint64)
        lo = inner.lo[idx] if len(inner) else np.zeros(len(arr), np.uint64)
        if null is not None:
            fam[null] = 0
        return AddressColumn(fam, hi, lo, null)
    n = len(arr)
    family = np.zeros(n, np.uint8)
    hi = np.zeros(n, np.uint64)
    lo = np.zeros(n, np.uint64)
    if n:
        data, offsets = _string_buffers(arr)
        _ip.parse_addresses(data, offsets, family, hi, lo)
    null = None
    if arr.null_count:
        null = np.asarray(arr.is_null())
        family[null] = 0
    return AddressColumn(family, hi, lo, null)


def _from_ipv4_ints(values: np.ndarray) -> AddressColumn:
    if values.size and (values.min() < 0 or values.max() > 0xFFFFFFFF):
        bad = int(np.flatnonzero((values < 0) | (values > 0xFFFFFFFF))[0])
        raise AddressError(
            f"integer addresses are IPv4 and must be 0..4294967295; row {bad} holds {int(values[bad])}"
        )
    n = values.shape[0]
    return AddressColumn(np.full(n, 4, np.uint8), np.zeros(n, np.uint64), values.astype(np.uint64))


def parse_prefixes(values: Iterable[str] | pa.Array) -> PrefixColumn:
    """Parse a column of CIDR prefixes (bare addresses are /32 or /128)."""
    arr = _as_string_array(values, "CIDR prefix")
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    n = len(arr)
    family = np.zeros(n, np.uint8)
    hi = np.zeros(n, np.uint64)
    lo = np.zeros(n, np.uint64)
    plen = np.zeros(n, np.int16)
    if n:
        data, offsets = _string_buffers(arr)
        _ip.parse_prefixes(data, offsets, family, hi, lo, plen)
    if arr.null_count:
        family[np.asarray(arr.is_null())] = MALFORMED
    return PrefixColumn(family, hi, lo, plen)


def _one(text: str, parse: Any, *extra: Any) -> tuple[np.ndarray, ...] | None:
    """One string through a compiled column parser without Arrow (scalars stay cheap: no pyarrow)."""
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    out = (np.zeros(1, np.uint8), np.zeros(1, np.uint64), np.zeros(1, np.uint64)) + tuple(np.zeros(1, e) for e in extra)
    parse(np.frombuffer(raw, np.uint8) if raw else np.zeros(0, np.uint8), np.array([0, len(raw)], np.int64), *out)
    return out


def parse_address(text: str) -> tuple[int, int]:
    """``(version, value)`` of one address; AddressError when it is not one."""
    if not isinstance(text, str):
        raise AddressError(f"expected an IP address string, got {type(text).__name__} {text!r}")
    one = _one(text, _ip.parse_addresses)
    col = AddressColumn(*one) if one is not None else AddressColumn(np.zeros(1, np.uint8), np.zeros(1, np.uint64), np.zeros(1, np.uint64))
    fam = int(col.family[0])
    if fam not in (4, 6):
        raise AddressError(f"not an IPv4 or IPv6 address: {text!r}")
    return fam, (int(col.hi[0]) << 64) | int(col.lo[0])


def parse_prefix(text: str) -> tuple[int, int, int]:
    """``(version, network value, prefix length)``; AddressError when malformed or host bits are set."""
    if not isinstance(text, str):
        raise AddressError(f"expected a CIDR prefix string, got {type(text).__name__} {text!r}")
    one = _one(text, _ip.parse_prefixes, np.int16)
    col = PrefixColumn(*one) if one is not None else PrefixColumn(*(np.zeros(1, d) for d in (np.uint8, np.uint64, np.uint64, np.int16)))
    fam = int(col.family[0])
    if fam == HOST_BITS_SET:
        raise AddressError(f"host bits set in prefix {text!r} (not a network address)")
    if fam not in (4, 6):
        raise AddressError(f"not an IPv4 or IPv6 prefix: {text!r}")
    return fam, (int(col.hi[0]) << 64) | int(col.lo[0]), int(col.plen[0])


def format_address(version: int, value: int) -> str:
    import ipaddress

    return str(ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value))


def format_prefix(version: int, value: int, plen: int) -> str:
    return f"{format_address(version, value)}/{plen}"


# -- address objects (ipaddress, netaddr) as arguments ----------------------------------------------
_IPADDRESS_TYPES = (ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network)


def _is_netaddr(value: Any) -> bool:
    # netaddr is imported only when one of its objects is passed (its import costs more than ours)
    return type(value).__module__.split(".")[0] == "netaddr"


def _is_address_object(value: Any) -> bool:
    return isinstance(value, _IPADDRESS_TYPES) or _is_netaddr(value)


def address_text(value: Any) -> str:
    """The text of one address argument: a string, an ``ipaddress`` address, or a netaddr IPAddress."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(value)  # an IPv4Interface is an address with a prefix: its text says so, and is refused
    if _is_netaddr(value):
        import netaddr

        if isinstance(value, netaddr.IPAddress):
            return str(value)
    raise AddressError(f"expected an IP address (text, ipaddress or netaddr object), got {type(value).__name__} {value!r}")


def prefix_texts(value: Any) -> list[str]:
    """The CIDR prefixes (or bare addresses) an address argument stands for, as text.

    Takes a string, an ``ipaddress`` address or network, a netaddr IPAddress, IPNetwork, IPSet or
    IPRange (an IPSet or a range is the CIDRs netaddr cuts it into), or a list / tuple / set of
    these. The texts are checked by the caller as typed text is (``parse_prefix``): a network
    object with host bits set (netaddr ``IPNetwork("10.0.0.1/16")``, an ``IPv4Interface``) is
    refused like its text, never silently widened.
    """
    if isinstance(value, str):
        return [value.strip()]
    if isinstance(value, _IPADDRESS_TYPES):
        return [str(value)]
    if _is_netaddr(value):
        import netaddr

        if isinstance(value, netaddr.IPSet):
            return [str(c) for c in value.iter_cidrs()]
        if isinstance(value, netaddr.IPRange):  # IPGlob too
            return [str(c) for c in value.cidrs()]
        if isinstance(value, (netaddr.IPAddress, netaddr.IPNetwork)):
            return [str(value)]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [t for v in value for t in prefix_texts(v)]
    raise AddressError(
        "expected an IP prefix or address: text, an ipaddress address or network, a netaddr IPAddress, "
        f"IPNetwork, IPSet or IPRange, or a list of them; got {type(value).__name__} {value!r}"
    )
