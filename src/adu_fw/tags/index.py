"""A compiled, memory-mapped index per service-tag file, kept in the user cache.

Reading a 4 MB weekly file and building its lookup tables takes most of a second; an interactive
``tags lookup`` or ``check`` should not pay that every time. The first open of a file stores
everything a ``ServiceTags`` needs as plain arrays in one file, ``<cache>/index/<sha256>.idx``,
keyed by the SHA-256 of the file's bytes; later opens hash the file, map the index (``mmap``,
private copy-on-write pages) and wrap the arrays in numpy without copying. Tags become ``Tag``
objects only when asked for.

Layout: 8-byte magic, uint32 format, uint32 header length, a JSON header (the source hash and
size, the file-level fields, and per array its dtype, offset and length), then the arrays, each
aligned to 64 bytes. An index whose magic, format, hash or sizes do not check out is stale and
rebuilt. Writers write a temporary file in the same directory and ``os.replace`` it into place,
so two processes building the same index at once both end with a complete file (the last rename
wins; both contents are the same) and a reader never maps a partial one.
"""
from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import ServiceTagError
from ..servicetags import MAX_FILE_BYTES, ServiceTags, Tag, _TagIndex
from . import store

__all__ = ["FORMAT", "open_tags", "index_path", "write_index", "IndexedServiceTags", "StaleIndex", "sha256_of"]

MAGIC = b"ADUFWIX\x00"
FORMAT = 1
ALIGN = 64
_HEAD = struct.Struct("<8sII")


class StaleIndex(Exception):
    """The index file is missing, from another format, for other content, or damaged."""


def sha256_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def index_path(sha: str, cache: Path | None = None) -> Path:
    return (cache or store.cache_dir()) / "index" / f"{sha}.idx"


def read_source(path: str | Path) -> bytes:
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ServiceTagError(
                f"file is {size} bytes; service-tag files are read whole and the limit is {MAX_FILE_BYTES}", file=str(p)
            )
        return p.read_bytes()
    except OSError as exc:
        raise ServiceTagError(f"cannot read the file: {exc.strerror or exc}", file=str(p)) from None


def open_tags(path: str | Path, *, cache: Path | None = None) -> ServiceTags:
    """The file's tags through its cached index (built and kept on first use).

    When the cache cannot be written (read-only home, full disk) the file is read as usual and
    nothing is kept: the cache only ever makes things faster.
    """
    raw = read_source(path)
    sha = sha256_of(raw)
    ipath = index_path(sha, cache)
    try:
        return IndexedServiceTags.open(ipath, source=str(path), sha=sha, size=len(raw))
    except StaleIndex:
        pass
    tags = ServiceTags.from_bytes(raw, source=str(path))
    try:
        write_index(tags, ipath, sha=sha, size=len(raw))
    except OSError:
        pass
    return tags


# -- writing --------------------------------------------------------------------------------
def _blob(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    enc = [s.encode("utf-8") for s in strings]
    offsets = np.zeros(len(enc) + 1, np.int64)
    np.cumsum([len(b) for b in enc], out=offsets[1:])
    return np.frombuffer(b"".join(enc), np.uint8), offsets


def _arrays(tags: ServiceTags) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    items = list(tags)
    names = [t.name for t in items]
    meta = [[t.id, t.change_number, t.region, t.region_id, t.platform, t.system_service,
             list(t.network_features) if t.network_features is not None else None, t.state] for t in items]
    ix = tags._index  # built here if it was not yet
    name_blob, name_off = _blob(names)
    pfx_blob, pfx_off = _blob([p for t in items for p in t.address_prefixes])
    node_blob, node_off = _blob([ix.node_text[i] for i in range(len(ix.node_text))])
    col = tags._pcol
    arrays = {
        "name_blob": name_blob, "name_off": name_off,
        "meta": np.frombuffer(json.dumps(meta, separators=(",", ":")).encode("utf-8"), np.uint8),
        "pfx_blob": pfx_blob, "pfx_off": pfx_off,
        "bounds": np.asarray(tags._bounds, np.int64), "owner": np.asarray(tags._owner, np.int32),
        "family": np.asarray(col.family, np.uint8), "hi": np.asarray(col.hi, np.uint64),
        "lo": np.asarray(col.lo, np.uint64), "plen": np.asarray(col.plen, np.int16),
        "v4_starts": ix.v4_starts, "v4_node": ix.v4_node, "v6_hi": ix.v6_hi, "v6_lo": ix.v6_lo, "v6_node": ix.v6_node,
        "chain_offsets": np.asarray(ix.chain_offsets, np.int64), "chain_tags": ix.chain_tags,
        "chain_prefix": ix.chain_prefix, "node_blob": node_blob, "node_off": node_off,
    }
    fields = {
        "cloud": tags.cloud_in_file, "changeNumber": tags.change_number, "shape": tags.shape,
        "nextLink": tags.next_link, "tags": len(items), "prefixes": int(len(tags._owner)),
    }
    return fields, arrays


def write_index(tags: ServiceTags, path: Path, *, sha: str, size: int) -> Path:
    """Write ``tags``'s index to ``path`` atomically (temporary file + ``os.replace``)."""
    fields, arrays = _arrays(tags)
    layout: dict[str, list[Any]] = {}
    offset = 0
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        arrays[name] = arr
        layout[name] = [arr.dtype.str, offset, int(arr.shape[0])]
        offset += -(-arr.nbytes // ALIGN) * ALIGN
    header = json.dumps({"format": FORMAT, "sha256": sha, "size": size, "fields": fields, "arrays": layout}).encode()
    start = -(-(_HEAD.size + len(header)) // ALIGN) * ALIGN
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(_HEAD.pack(MAGIC, FORMAT, len(header)))
            fh.write(header)
            fh.write(b"\0" * (start - _HEAD.size - len(header)))
            pos = 0
            for name, arr in arrays.items():
                want = layout[name][1]
                fh.write(b"\0" * (want - pos))
                fh.write(arr.tobytes())
                pos = want + arr.nbytes
            fh.write(b"\0" * (-(-pos // ALIGN) * ALIGN - pos))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
    return path


# -- reading --------------------------------------------------------------------------------
class _IndexFile:
    """One mapped index file: its header and zero-copy numpy views of its arrays."""

    def __init__(self, path: Path, *, sha: str, size: int) -> None:
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            raise StaleIndex("missing") from None
        except OSError as exc:
            raise StaleIndex(str(exc)) from None
        with fh:
            try:
                self._mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
            except (ValueError, OSError) as exc:  # empty file
                raise StaleIndex(str(exc)) from None
        total = len(self._mm)
        if total < _HEAD.size:
            raise StaleIndex("short")
        magic, fmt, hlen = _HEAD.unpack_from(self._mm, 0)
        if magic != MAGIC or fmt != FORMAT or _HEAD.size + hlen > total:
            raise StaleIndex("format")
        try:
            header = json.loads(bytes(self._mm[_HEAD.size:_HEAD.size + hlen]))
            if header["sha256"] != sha or header["size"] != size:
                raise StaleIndex("content")
            self.fields: dict[str, Any] = header["fields"]
            start = -(-(_HEAD.size + hlen) // ALIGN) * ALIGN
            self.arrays: dict[str, np.ndarray] = {}
            for name, (dtype, off, n) in header["arrays"].items():
                dt = np.dtype(dtype)
                if start + off + dt.itemsize * n > total:
                    raise StaleIndex("truncated")
                self.arrays[name] = np.frombuffer(self._mm, dt, count=n, offset=start + off)
        except (KeyError, TypeError, ValueError) as exc:
            raise StaleIndex(f"header: {exc}") from None

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.arrays[name]
        except KeyError:
            raise StaleIndex(f"no array {name}") from None


class _Texts:
    """A read-only sequence of strings kept as one UTF-8 blob and offsets (decoded on access)."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        self._blob = blob
        self._off = offsets

    def __len__(self) -> int:
        return len(self._off) - 1

    def __getitem__(self, i: int) -> str:
        if i < 0:
            i += len(self)
        a, b = int(self._off[i]), int(self._off[i + 1])
        return self._blob[a:b].tobytes().decode("utf-8")

    def slice(self, a: int, b: int) -> list[str]:
        if a >= b:
            return []
        lo, hi = int(self._off[a]), int(self._off[b])
        cuts = (self._off[a:b + 1] - lo).tolist()
        text = self._blob[lo:hi].tobytes().decode("utf-8")
        return [text[cuts[k]:cuts[k + 1]] for k in range(b - a)] if text.isascii() else \
            [self[i] for i in range(a, b)]

    def __iter__(self) -> Iterator[str]:
        return iter(self.slice(0, len(self)))


class IndexedServiceTags(ServiceTags):
    """A ServiceTags whose arrays live in a mapped index file; it answers exactly as the file read whole.

    Tags, their prefixes and the lookup tables are read from the mapping when first needed.
    """

    @classmethod
    def open(cls, path: Path, *, source: str, sha: str, size: int) -> "IndexedServiceTags":
        ix = _IndexFile(path, sha=sha, size=size)
        self = cls.__new__(cls)
        f = ix.fields
        self._ix = ix
        self.index_file = path
        self.cloud_in_file = f["cloud"]
        self.change_number = f["changeNumber"]
        self.shape = f["shape"]
        self.next_link = f["nextLink"]
        self.source = source
        self.cloud, self.date = ServiceTags._name_fields(source, f["cloud"])
        self._names = _Texts(ix["name_blob"], ix["name_off"])
        self._name_list = list(self._names)
        if len(self._name_list) != f["tags"]:
            raise StaleIndex("tag count")
        self._by_key = {n.casefold(): i for i, n in enumerate(self._name_list)}
        self._tag_cache: dict[int, Tag] = {}
        self._prefix_texts = _Texts(ix["pfx_blob"], ix["pfx_off"])
        self._bounds = ix["bounds"]
        self._owner = ix["owner"]
        return self

    @cached_property
    def _meta(self) -> list[list[Any]]:
        return json.loads(self._ix["meta"].tobytes())

    def _tag(self, i: int) -> Tag:
        tag = self._tag_cache.get(i)
        if tag is None:
            tid, cn, region, region_id, platform, system, features, state = self._meta[i]
            a, b = int(self._bounds[i]), int(self._bounds[i + 1])
            tag = self._tag_cache[i] = Tag(
                name=self._name_list[i], id=tid, change_number=cn, region=region, region_id=region_id,
                platform=platform, system_service=system,
                network_features=tuple(features) if features is not None else None, state=state,
                address_prefixes=tuple(self._prefix_texts.slice(a, b)),
            )
        return tag

    @cached_property
    def _tags(self) -> list[Tag]:  # type: ignore[override]
        return [self._tag(i) for i in range(len(self._name_list))]

    def __len__(self) -> int:
        return len(self._name_list)

    def __getitem__(self, name: str) -> Tag:
        try:
            return self._tag(self._by_key[name.casefold()])
        except (KeyError, AttributeError):
            raise KeyError(self._unknown(name)) from None

    def get(self, name: str) -> Tag | None:
        idx = self._by_key.get(name.casefold())
        return None if idx is None else self._tag(idx)

    def names(self) -> list[str]:
        return list(self._name_list)

    @cached_property
    def _pcol(self) -> Any:  # type: ignore[override]
        from ..ip import PrefixColumn

        ix = self._ix
        return PrefixColumn(ix["family"], ix["hi"], ix["lo"], ix["plen"])

    @cached_property
    def _index(self) -> _TagIndex:  # type: ignore[override]
        ix = self._ix
        return _TagIndex(
            v4_starts=ix["v4_starts"], v4_node=ix["v4_node"], v6_hi=ix["v6_hi"], v6_lo=ix["v6_lo"],
            v6_node=ix["v6_node"], chain_offsets=ix["chain_offsets"], chain_tags=ix["chain_tags"],
            chain_prefix=ix["chain_prefix"], node_text=_Texts(ix["node_blob"], ix["node_off"]),  # type: ignore[arg-type]
            names=self._name_list,
        )
