"""Azure service tags: load any published shape, look addresses up, diff two versions.

Two shapes are read (see docs/formats.md §1): the weekly download
(``ServiceTags_<Cloud>_<YYYYMMDD>.json``: int changeNumbers, regionId, platform) and the
Service Tag Discovery API / ``az network list-service-tags`` body (string changeNumbers,
``state``, ``nextLink``, no regionId or platform). Keys are matched case-insensitively so
PowerShell's PascalCase export loads too.

Lookups go through one interval table per address family, built once over every prefix
of every tag: prefixes nest or are disjoint, so each elementary interval has one deepest
prefix, and each prefix keeps the chain of tags up to the root (most specific first).
"""
from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa

from . import _prefix
from . import jsonio
from .errors import AddressError, ServiceTagError
from .ip import HOST_BITS_SET, address_text, format_prefix, parse_addresses, parse_prefixes

__all__ = [
    "Tag",
    "ServiceTags",
    "TagChange",
    "ServiceTagsDiff",
    "embedded_files",
    "default_path",
    "resolve_path",
    "KNOWN_CLOUDS",
]

KNOWN_CLOUDS = ("Public", "AzureGovernment", "China", "AzureGermany")
_FILE_NAME = re.compile(r"ServiceTags_(?P<cloud>[A-Za-z]+)_(?P<date>\d{8})", re.IGNORECASE)
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_TAGS = 100_000
MAX_PREFIXES = 10_000_000


@dataclass(frozen=True)
class Tag:
    """One service tag as published (``None`` where the file's shape does not carry the field)."""

    name: str
    id: str
    change_number: int | None
    region: str
    region_id: int | None
    platform: str | None
    system_service: str
    network_features: tuple[str, ...] | None
    state: str | None
    address_prefixes: tuple[str, ...]

    @property
    def ipv4_prefixes(self) -> list[str]:
        return [p for p in self.address_prefixes if ":" not in p]

    @property
    def ipv6_prefixes(self) -> list[str]:
        return [p for p in self.address_prefixes if ":" in p]

    @property
    def is_regional(self) -> bool:
        return bool(self.region)

    def has_feature(self, feature: str) -> bool:
        return self.network_features is not None and feature.upper() in (
            f.upper() for f in self.network_features
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.id,
            "changeNumber": self.change_number,
            "region": self.region,
            "regionId": self.region_id,
            "platform": self.platform,
            "systemService": self.system_service,
            "networkFeatures": list(self.network_features) if self.network_features is not None else None,
            "state": self.state,
            "addressPrefixes": list(self.address_prefixes),
        }


@dataclass(frozen=True)
class TagChange:
    """How one tag differs between two service-tag files."""

    name: str
    old_change_number: int | None
    new_change_number: int | None
    added: tuple[str, ...]
    removed: tuple[str, ...]
    fields_changed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "oldChangeNumber": self.old_change_number,
            "newChangeNumber": self.new_change_number,
            "addedPrefixes": list(self.added),
            "removedPrefixes": list(self.removed),
            "fieldsChanged": list(self.fields_changed),
        }


@dataclass(frozen=True)
class ServiceTagsDiff:
    """Tags added, removed and changed from ``old`` to ``new`` (names as spelled in the new file)."""

    old_source: str
    new_source: str
    old_change_number: int | None
    new_change_number: int | None
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[TagChange, ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def change(self, name: str) -> TagChange | None:
        key = name.casefold()
        return next((c for c in self.changed if c.name.casefold() == key), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": {"source": self.old_source, "changeNumber": self.old_change_number},
            "new": {"source": self.new_source, "changeNumber": self.new_change_number},
            "addedTags": list(self.added),
            "removedTags": list(self.removed),
            "changedTags": [c.to_dict() for c in self.changed],
        }


def _lower_keys(obj: Any, where: str, source: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ServiceTagError(
            f"expected a JSON object, got {type(obj).__name__}", file=source, record=where
        )
    return {k.lower() if isinstance(k, str) else k: v for k, v in obj.items()}


def _as_int(value: Any, source: str, where: str, fld: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ServiceTagError(f"expected an integer, got {value!r}", file=source, record=where, field=fld)
    if isinstance(value, int):
        return value
    number = jsonio.small_int(value)
    if number is not None:
        return number
    raise ServiceTagError(f"expected an integer of at most 18 digits (or its string), got {jsonio.shown(value)}",
                          file=source, record=where, field=fld)


def _as_str(value: Any, source: str, where: str, fld: str, default: str | None = "") -> str | None:
    if value is None:
        return default
    if not isinstance(value, str):
        raise ServiceTagError(f"expected a string, got {value!r}", file=source, record=where, field=fld)
    return value


class ServiceTags:
    """A loaded service-tag file: every tag, and fast address lookups over all of them."""

    def __init__(
        self,
        tags: Iterable[Tag],
        *,
        cloud: str | None = None,
        change_number: int | None = None,
        date: _dt.date | None = None,
        source: str = "<memory>",
        shape: str = "download",
        next_link: str | None = None,
    ) -> None:
        self.cloud = cloud
        self.cloud_in_file: str | None = cloud  # the top-level "cloud" as written (None: taken from the name)
        self.change_number = change_number
        self.date = date
        self.source = source
        self.shape = shape
        self.next_link = next_link
        self._tags: list[Tag] = []
        self._by_key: dict[str, int] = {}
        for tag in tags:
            key = tag.name.casefold()
            if key in self._by_key:
                first = self._tags[self._by_key[key]].name
                raise ServiceTagError(
                    f"duplicate tag name {tag.name!r} (already defined as {first!r}; names are case-insensitive)",
                    file=source,
                    record=f"tag {tag.name!r}",
                    field="name",
                )
            self._by_key[key] = len(self._tags)
            self._tags.append(tag)
        self._parse_all_prefixes()

    # -- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None) -> "ServiceTags":
        """Read a service-tag file; ``None`` loads the embedded default (the newest shipped file)."""
        p = Path(path) if path is not None else default_path()
        source = str(p)
        try:
            size = p.stat().st_size
        except OSError as exc:
            raise ServiceTagError(f"cannot read the file: {exc.strerror or exc}", file=source) from None
        if size > MAX_FILE_BYTES:
            raise ServiceTagError(
                f"file is {size} bytes; service-tag files are read whole and the limit is {MAX_FILE_BYTES}",
                file=source,
            )
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise ServiceTagError(f"cannot read the file: {exc.strerror or exc}", file=source) from None
        return cls.from_bytes(raw, source=source)

    @classmethod
    def from_bytes(cls, raw: bytes, *, source: str = "<memory>") -> "ServiceTags":
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ServiceTagError(
                f"not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})", file=source
            ) from None
        try:
            doc = jsonio.loads(text)  # a number too long to convert stays text: _as_int names it
        except json.JSONDecodeError as exc:
            raise ServiceTagError(
                f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=source
            ) from None
        except RecursionError:
            raise ServiceTagError("JSON nesting is too deep", file=source) from None
        return cls.from_document(doc, source=source)

    @classmethod
    def from_document(cls, doc: Any, *, source: str = "<memory>") -> "ServiceTags":
        """Build from an already-parsed JSON document of either published shape."""
        top = _lower_keys(doc, "top level", source)
        values = top.get("values", top.get("value"))
        if values is None:
            raise ServiceTagError(
                "missing key 'values' (expected the weekly download or az network list-service-tags output)",
                file=source,
                record="top level",
            )
        if not isinstance(values, list):
            raise ServiceTagError(
                f"expected a list, got {type(values).__name__}", file=source, record="top level", field="values"
            )
        api_shape = "nextlink" in top or "type" in top or isinstance(top.get("changenumber"), str)
        if len(values) > MAX_TAGS:
            raise ServiceTagError(f"{len(values)} tags; the limit is {MAX_TAGS}", file=source, field="values")
        tags = [_read_tag(value, i, source) for i, value in enumerate(values)]
        total = sum(len(t.address_prefixes) for t in tags)
        if total > MAX_PREFIXES:
            raise ServiceTagError(f"{total} prefixes in all; the limit is {MAX_PREFIXES}", file=source, field="addressPrefixes")
        api_shape = api_shape or any(t.platform is None and t.region_id is None for t in tags)
        in_file = _as_str(top.get("cloud"), source, "top level", "cloud", default=None)
        cloud, date = cls._name_fields(source, in_file)
        out = cls(
            tags,
            cloud=cloud,
            change_number=_as_int(top.get("changenumber"), source, "top level", "changeNumber"),
            date=date,
            source=source,
            shape="api" if api_shape else "download",
            next_link=_as_str(top.get("nextlink"), source, "top level", "nextLink", default=None),
        )
        out.cloud_in_file = in_file
        return out

    @staticmethod
    def _name_fields(source: str, cloud: str | None) -> tuple[str | None, _dt.date | None]:
        """(cloud, date) of a file: the cloud as written (else from the name), the date from the name."""
        date = None
        m = _FILE_NAME.search(Path(source).name)
        if m:
            text = m.group("date")
            try:
                date = _dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
            except ValueError:
                date = None
            if cloud is None:
                cloud = m.group("cloud")
        return cloud, date

    # -- mapping face ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._tags)

    def __iter__(self) -> Iterator[Tag]:
        return iter(self._tags)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.casefold() in self._by_key

    def __getitem__(self, name: str) -> Tag:
        try:
            return self._tags[self._by_key[name.casefold()]]
        except (KeyError, AttributeError):
            raise KeyError(self._unknown(name)) from None

    def get(self, name: str) -> Tag | None:
        idx = self._by_key.get(name.casefold())
        return None if idx is None else self._tags[idx]

    def _unknown(self, name: str) -> str:
        import difflib

        close = difflib.get_close_matches(name, [t.name for t in self._tags], n=3, cutoff=0.75)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return f"unknown service tag {name!r} in {self.source}{hint}"

    def names(self) -> list[str]:
        return [t.name for t in self._tags]

    @property
    def prefix_count(self) -> int:
        """Prefixes over all tags (a prefix listed by two tags counts twice, as in the file)."""
        return int(len(self._owner))

    def prefixes(self, name: str) -> list[str]:
        return list(self[name].address_prefixes)

    def select(self, *, region: str | None = None, feature: str | None = None) -> list[Tag]:
        """Tags in ``region`` (case-insensitive; ``""`` for global) usable for ``feature`` (NSG, FW, ...)."""
        out = []
        for tag in self._tags:
            if region is not None and tag.region.casefold() != region.casefold():
                continue
            if feature is not None and not tag.has_feature(feature):
                continue
            out.append(tag)
        return out

    def __repr__(self) -> str:
        return (
            f"ServiceTags(cloud={self.cloud!r}, changeNumber={self.change_number}, date={self.date}, "
            f"tags={len(self)}, source={self.source!r})"
        )

    # -- prefixes as integers -----------------------------------------------------------
    def _parse_all_prefixes(self) -> None:
        owners = np.repeat(
            np.arange(len(self._tags), dtype=np.int32),
            [len(t.address_prefixes) for t in self._tags],
        )
        flat = [p for t in self._tags for p in t.address_prefixes]
        col = parse_prefixes(pa.array(flat, type=pa.string()))
        bad = np.flatnonzero((col.family != 4) & (col.family != 6))
        if bad.size:
            i = int(bad[0])
            tag = self._tags[int(owners[i])]
            why = "host bits are set (not a network address)" if col.family[i] == HOST_BITS_SET else "not a CIDR prefix"
            more = f" ({bad.size} bad prefixes in all)" if bad.size > 1 else ""
            raise ServiceTagError(
                f"{flat[i]!r}: {why}{more}", file=self.source, record=f"tag {tag.name!r}", field="addressPrefixes"
            )
        self._owner = owners
        self._pcol = col
        bounds = np.zeros(len(self._tags) + 1, dtype=np.int64)
        np.cumsum([len(t.address_prefixes) for t in self._tags], out=bounds[1:])
        self._bounds = bounds

    def prefix_arrays(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(family, hi, lo, plen)`` numpy arrays of one tag's prefixes (for compiling policies)."""
        idx = self._by_key.get(name.casefold())
        if idx is None:
            raise KeyError(self._unknown(name))
        a, b = int(self._bounds[idx]), int(self._bounds[idx + 1])
        c = self._pcol
        return c.family[a:b], c.hi[a:b], c.lo[a:b], c.plen[a:b]

    def _prefix_keys(self, idx: int) -> set[tuple[int, int, int, int]]:
        a, b = int(self._bounds[idx]), int(self._bounds[idx + 1])
        c = self._pcol
        return set(
            zip(c.family[a:b].tolist(), c.hi[a:b].tolist(), c.lo[a:b].tolist(), c.plen[a:b].tolist())
        )

    # -- lookups ---------------------------------------------------------------------------
    @cached_property
    def _index(self) -> "_TagIndex":
        return _TagIndex.build(self._pcol, self._owner, [t.name for t in self._tags])

    def build_index(self) -> None:
        """Build the lookup index now (it is otherwise built on the first lookup)."""
        _ = self._index

    def lookup(self, ip: Any) -> list[str]:
        """Every tag whose prefixes contain ``ip``, the most specific prefix first."""
        return [t for t, _ in self.match(ip)]

    def match(self, ip: Any) -> list[tuple[str, str]]:
        """``(tag, prefix)`` pairs for ``ip`` (text, an ``ipaddress`` or netaddr address), the most
        specific prefix first."""
        try:
            ip = address_text(ip)
        except AddressError as exc:
            raise ServiceTagError(exc.message, field="ip") from None
        import ipaddress  # one address: the standard parser (same grammar as ip.py's), no column machinery

        text = ip.strip()
        try:
            if "%" in text:
                raise ValueError("scoped address")
            addr = ipaddress.ip_address(text)
        except ValueError:
            raise ServiceTagError(f"not an IPv4 or IPv6 address: {ip!r}", field="ip") from None
        value = int(addr)
        one = _OneAddress(
            np.array([addr.version], np.uint8), np.array([value >> 64], np.uint64),
            np.array([value & 0xFFFFFFFFFFFFFFFF], np.uint64),
        )
        node = self._index.locate(one)[0]
        return self._index.chain(int(node))

    def lookup_many(self, ips: Any) -> pa.ListArray:
        """Tags for each address of a column (list, numpy, Arrow; IPv4 integers too).

        Returns an Arrow ``list<dictionary<string>>`` column aligned with the input, the most
        specific prefix first in each list; a null address gives a null list. Malformed
        addresses raise ServiceTagError naming the first bad row.
        """
        col = parse_addresses(ips)
        bad = col.bad_rows()
        if bad.size:
            i = int(bad[0])
            shown = _row_text(ips, i)
            raise ServiceTagError(
                f"row {i} is not an IPv4 or IPv6 address: {shown!r} ({bad.size} bad rows in all)", field="ip"
            )
        return self._index.lists(self._index.locate(col), col.null)

    # -- diff ------------------------------------------------------------------------------
    def diff(self, other: "ServiceTags") -> ServiceTagsDiff:
        """What changed from ``self`` (old) to ``other`` (new)."""
        added = tuple(t.name for t in other if t.name not in self)
        removed = tuple(t.name for t in self if t.name not in other)
        changed = []
        for new in other:
            old_idx = self._by_key.get(new.name.casefold())
            if old_idx is None:
                continue
            old = self._tags[old_idx]
            new_idx = other._by_key[new.name.casefold()]
            old_keys = self._prefix_keys(old_idx)
            new_keys = other._prefix_keys(new_idx)
            plus = sorted(new_keys - old_keys)
            minus = sorted(old_keys - new_keys)
            fields_changed = tuple(
                f
                for f, a, b in (
                    ("region", old.region, new.region),
                    ("systemService", old.system_service, new.system_service),
                    ("networkFeatures", _feature_set(old), _feature_set(new)),
                )
                if a != b
            )
            if plus or minus or fields_changed or old.change_number != new.change_number:
                changed.append(
                    TagChange(
                        name=new.name,
                        old_change_number=old.change_number,
                        new_change_number=new.change_number,
                        added=tuple(format_prefix(k[0], (k[1] << 64) | k[2], k[3]) for k in plus),
                        removed=tuple(format_prefix(k[0], (k[1] << 64) | k[2], k[3]) for k in minus),
                        fields_changed=fields_changed,
                    )
                )
        return ServiceTagsDiff(
            old_source=self.source,
            new_source=other.source,
            old_change_number=self.change_number,
            new_change_number=other.change_number,
            added=added,
            removed=removed,
            changed=tuple(changed),
        )


@dataclass(frozen=True)
class _OneAddress:
    family: np.ndarray
    hi: np.ndarray
    lo: np.ndarray

    def __len__(self) -> int:
        return 1


def _feature_set(tag: Tag) -> frozenset[str] | None:
    return None if tag.network_features is None else frozenset(f.upper() for f in tag.network_features)


def _row_text(values: Any, i: int) -> Any:
    try:
        v = values[i]
        return v.as_py() if hasattr(v, "as_py") else v
    except Exception:  # pragma: no cover - display only
        return "?"


def _read_tag(value: Any, i: int, source: str) -> Tag:
    where = f"values[{i}]"
    v = _lower_keys(value, where, source)
    name = v.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ServiceTagError(f"expected a non-empty tag name, got {name!r}", file=source, record=where, field="name")
    where = f"tag {name!r}"
    props_raw = v.get("properties")
    if props_raw is None:
        raise ServiceTagError("missing key 'properties'", file=source, record=where)
    props = _lower_keys(props_raw, where, source)
    prefixes = props.get("addressprefixes")
    if prefixes is None:
        raise ServiceTagError("missing key 'addressPrefixes'", file=source, record=where)
    if not isinstance(prefixes, list) or not all(isinstance(p, str) for p in prefixes):
        raise ServiceTagError(
            f"expected a list of CIDR strings, got {str(prefixes)[:80]}", file=source, record=where, field="addressPrefixes"
        )
    features = props.get("networkfeatures")
    if features is not None and (not isinstance(features, list) or not all(isinstance(f, str) for f in features)):
        raise ServiceTagError(
            f"expected a list of strings or null, got {features!r}", file=source, record=where, field="networkFeatures"
        )
    return Tag(
        name=name,
        id=_as_str(v.get("id"), source, where, "id", default=name) or name,
        change_number=_as_int(props.get("changenumber"), source, where, "changeNumber"),
        region=_as_str(props.get("region"), source, where, "region") or "",
        region_id=_as_int(props.get("regionid"), source, where, "regionId"),
        platform=_as_str(props.get("platform"), source, where, "platform", default=None),
        system_service=_as_str(props.get("systemservice"), source, where, "systemService") or "",
        network_features=tuple(features) if features is not None else None,
        state=_as_str(props.get("state"), source, where, "state", default=None),
        address_prefixes=tuple(p.strip() for p in prefixes),
    )


@dataclass
class _TagIndex:
    """Interval tables (per family) -> deepest prefix node -> chain of (tag, prefix) up to the root."""

    v4_starts: np.ndarray
    v4_node: np.ndarray
    v6_hi: np.ndarray
    v6_lo: np.ndarray
    v6_node: np.ndarray
    chain_offsets: np.ndarray  # per node, into chain_tags / chain_prefix
    chain_tags: np.ndarray  # tag ids
    chain_prefix: np.ndarray  # node id of the prefix that put the tag in the chain
    node_text: list[str] = field(repr=False)
    names: list[str] = field(repr=False)

    @classmethod
    def build(cls, col: Any, owner: np.ndarray, names: list[str]) -> "_TagIndex":
        fam = col.family.astype(np.int64)
        order = np.lexsort((col.plen, col.lo, col.hi, fam))
        f, h, l, p, o = fam[order], col.hi[order], col.lo[order], col.plen[order], owner[order]
        if len(f):
            new = np.ones(len(f), dtype=bool)
            new[1:] = (f[1:] != f[:-1]) | (h[1:] != h[:-1]) | (l[1:] != l[:-1]) | (p[1:] != p[:-1])
        else:
            new = np.zeros(0, dtype=bool)
        node_of = np.cumsum(new) - 1  # node id per sorted prefix
        firsts = np.flatnonzero(new)
        n_nodes = len(firsts)
        uf, uh, ul, up = f[firsts].tolist(), h[firsts].tolist(), l[firsts].tolist(), p[firsts].tolist()
        # tags per node, in file order of tags, without repeats
        node_tags: list[list[int]] = [[] for _ in range(n_nodes)]
        for nd, tg in zip(node_of.tolist(), o.tolist()):
            lst = node_tags[nd]
            if not lst or lst[-1] != tg:
                if tg not in lst:
                    lst.append(tg)
        for lst in node_tags:
            lst.sort()
        parent = [-1] * n_nodes
        tables = {}
        for family, width in ((4, 32), (6, 128)):
            starts: list[int] = []
            values: list[int] = []
            stack: list[tuple[int, int]] = []  # (last address, node)
            cursor = 0

            def emit(upto: int, node: int) -> None:
                nonlocal cursor
                if upto > cursor:
                    if values and values[-1] == node:
                        pass
                    else:
                        starts.append(cursor)
                        values.append(node)
                    cursor = upto

            for nd in range(n_nodes):
                if uf[nd] != family:
                    continue
                start = (uh[nd] << 64) | ul[nd]
                last = start + (1 << (width - up[nd])) - 1
                while stack and stack[-1][0] < start:
                    end, top = stack.pop()
                    emit(end + 1, top)
                emit(start, stack[-1][1] if stack else -1)
                parent[nd] = stack[-1][1] if stack else -1
                stack.append((last, nd))
            while stack:
                end, top = stack.pop()
                emit(end + 1, top)
            emit(1 << width, -1)
            if not starts:
                starts, values = [0], [-1]
            tables[family] = (starts, values)
        chain_offsets = np.zeros(n_nodes + 1, dtype=np.int64)
        chains_t: list[int] = []
        chains_p: list[int] = []
        node_chain: list[list[tuple[int, int]]] = [[] for _ in range(n_nodes)]
        for nd in range(n_nodes):  # parents precede children in sorted order
            own = [(t, nd) for t in node_tags[nd]]
            seen = {t for t, _ in own}
            par = parent[nd]
            inherited = [(t, pn) for t, pn in node_chain[par] if t not in seen] if par >= 0 else []
            node_chain[nd] = own + inherited
            chains_t.extend(t for t, _ in node_chain[nd])
            chains_p.extend(pn for _, pn in node_chain[nd])
            chain_offsets[nd + 1] = len(chains_t)
        v4s, v4v = tables[4]
        v6s, v6v = tables[6]
        mask64 = (1 << 64) - 1
        node_text = [format_prefix(uf[i], (uh[i] << 64) | ul[i], up[i]) for i in range(n_nodes)]
        return cls(
            v4_starts=np.array(v4s, dtype=np.uint32),
            v4_node=np.array(v4v, dtype=np.int32),
            v6_hi=np.array([s >> 64 for s in v6s], dtype=np.uint64),
            v6_lo=np.array([s & mask64 for s in v6s], dtype=np.uint64),
            v6_node=np.array(v6v, dtype=np.int32),
            chain_offsets=chain_offsets,
            chain_tags=np.array(chains_t, dtype=np.int32),
            chain_prefix=np.array(chains_p, dtype=np.int32),
            node_text=node_text,
            names=names,
        )

    def locate(self, col: Any) -> np.ndarray:
        out = np.empty(len(col), dtype=np.int32)
        _prefix.locate(
            col.family, col.hi, col.lo, self.v4_starts, self.v4_node, self.v6_hi, self.v6_lo, self.v6_node, out
        )
        return out

    def chain(self, node: int) -> list[tuple[str, str]]:
        if node < 0:
            return []
        a, b = int(self.chain_offsets[node]), int(self.chain_offsets[node + 1])
        return [
            (self.names[t], self.node_text[pn])
            for t, pn in zip(self.chain_tags[a:b].tolist(), self.chain_prefix[a:b].tolist())
        ]

    def lists(self, nodes: np.ndarray, null: np.ndarray | None) -> pa.ListArray:
        valid = nodes >= 0
        safe = np.where(valid, nodes, 0)
        lengths = np.where(valid, self.chain_offsets[safe + 1] - self.chain_offsets[safe], 0)
        offsets = np.zeros(len(nodes) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        total = int(offsets[-1])
        starts = np.where(valid, self.chain_offsets[safe], 0)
        gather = np.repeat(starts - offsets[:-1], lengths) + np.arange(total, dtype=np.int64)
        values = pa.DictionaryArray.from_arrays(
            pa.array(self.chain_tags[gather], type=pa.int32()), pa.array(self.names, type=pa.string())
        )
        mask = pa.array(null) if null is not None and null.any() else None
        return pa.ListArray.from_arrays(pa.array(offsets), values, mask=mask)


# -- embedded files -----------------------------------------------------------------------
def _embedded_dir() -> Path:
    here = Path(__file__).resolve().parent
    installed = here / "data" / "servicetags"
    if installed.is_dir():
        return installed
    return here.parent.parent / "data" / "servicetags"  # a source checkout


def embedded_files() -> list[Path]:
    """The shipped service-tag files, oldest first (by the date in their names)."""
    files = sorted(_embedded_dir().glob("ServiceTags_*.json"), key=lambda p: (_date_key(p), p.name))
    return files


def _date_key(p: Path) -> str:
    m = _FILE_NAME.search(p.name)
    return m.group("date") if m else ""


def default_path() -> Path:
    files = embedded_files()
    if not files:
        raise ServiceTagError(f"no embedded service-tag files found in {_embedded_dir()}")
    return files[-1]


def resolve_path(ref: str | Path | None) -> Path:
    """A path as given, or a stored or embedded file named by its date (``20240603``) or file name.

    ``None`` is the newest embedded file (the library's default; the command line's default is the
    newest stored version, see ``adu_fw.tags.store.default_file``).
    """
    if ref is None:
        return default_path()
    from .tags import store

    return store.resolve(ref)


_shared_cache: dict[tuple[str, float, int], ServiceTags] = {}


def load_cached(ref: str | Path | None = None) -> ServiceTags:
    """Load once per process, through the file's compiled index in the user cache (``adu_fw.tags.index``)."""
    p = resolve_path(ref)
    try:
        st = p.stat()
        key = (str(p.resolve()), st.st_mtime, st.st_size)
    except OSError:
        return ServiceTags.load(p)
    hit = _shared_cache.get(key)
    if hit is None:
        from .tags.index import open_tags

        hit = _shared_cache[key] = open_tags(p)
    return hit
