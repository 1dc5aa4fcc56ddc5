"""Reading flow logs: one file at a time (``read_file``, the unit to spread over workers), and a
stream over every file that some paths or URLs name (``read``)."""
from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

import pyarrow as pa

from ..flowtable import FlowArrays
from .batches import batch as _batch
from .layout import in_window, path_parts
from .records import RawTuples, record_tuples
from .schema import FlowLogError, ReadStats
from .shapes import TRUNCATED, decode, sniff
from .sources import HEAD_BYTES, FileRef, list_files

Pair = tuple[pa.RecordBatch, FlowArrays]


def _limit() -> int:
    return int(getattr(sys.modules[__package__], "MAX_FILE_BYTES"))


def read_file(
    ref: FileRef, stats: ReadStats, *, parts: dict[str, Any] | None = None, batch_tuples: int = 500_000
) -> Iterator[Pair]:
    """One file (local or URL) as batches with their flows parsed for the matcher; its counts go to
    ``stats`` (give each file its own ``ReadStats`` and ``merge`` them to read files apart)."""
    limit = _limit()
    if ref.size is not None and ref.size > HEAD_BYTES:
        why = sniff(ref.head())  # a large file that cannot be a flow log is not read whole
        if why:
            stats.skipped_files.append({"path": ref.source, "reason": why})
            return
        if ref.size > limit:
            raise FlowLogError(f"{ref.size} bytes; one flow-log file is read whole and the limit is {limit}", file=ref.source)
    raw = ref.read()
    if len(raw) > limit:
        raise FlowLogError(f"{len(raw)} bytes; one flow-log file is read whole and the limit is {limit}", file=ref.source)
    yield from read_bytes(raw, ref.source, stats, parts=path_parts(ref.path) if parts is None else parts, batch_tuples=batch_tuples)


def read_bytes(
    raw: bytes, source: str, stats: ReadStats, *, parts: dict[str, Any] | None = None, batch_tuples: int = 500_000
) -> Iterator[Pair]:
    """One file's bytes, in any shape, as batches with their flows; ``stats`` is updated."""
    try:
        yield from _read_bytes(raw, source, stats, path_parts(source) if parts is None else parts, batch_tuples)
    except RecursionError:  # a document nested deeper than the interpreter walks, wherever it was met
        raise FlowLogError("JSON nesting is too deep", file=source) from None


def _read_bytes(raw: bytes, source: str, stats: ReadStats, parts: dict[str, Any], batch_tuples: int) -> Iterator[Pair]:
    contents = decode(raw, source)
    if contents.not_flow_log:
        stats.skipped_files.append({"path": source, "reason": contents.not_flow_log})
        return
    stats.files += 1
    stats.shapes[contents.label] += 1
    entry = {"file": source, "shape": contents.shape, "compression": contents.compression, "records": 0, "tuples": 0}
    stats.files_read.append(entry)
    records0, tuples0 = stats.records, stats.tuples_read
    stats.notes += [f"{source}: {note}" for note in contents.notes]

    def located(line: int | None, where: str) -> str:
        return f"{source} " + (f"line {line}: " if contents.multi and line else "") + where

    for reason, line, where, k, tuple_reason in contents.elements:
        stats.reject_element(reason, located(line, where))
        stats.tuples_read += k
        stats.reject(tuple_reason, k, [located(line, where)])
    for where, k in contents.truncated:
        stats.records_truncated += 1
        stats.tuples_read += k
        stats.reject(TRUNCATED, k, [located(None, where)])
    buf = RawTuples()
    for i, (rec, line) in enumerate(contents.records):
        stats.records += 1
        where = f"{source} record {i}" + (f" (line {line})" if contents.multi and line else "")
        record_tuples(rec, i, where, buf, stats, parts.get("mac"), contents.text)
        if len(buf) >= batch_tuples:
            out = _batch(buf, source, parts, stats, contents.text)
            buf = RawTuples()
            if out is not None:
                yield out
    out = _batch(buf, source, parts, stats, contents.text)
    if out is not None:
        yield out
    entry["records"], entry["tuples"] = stats.records - records0, stats.tuples_read - tuples0


def read_blob(
    raw: bytes, source: str, stats: ReadStats, *, parts: dict[str, Any] | None = None, batch_tuples: int = 500_000
) -> Iterator[pa.RecordBatch]:
    """One file's bytes (as read from storage by anyone, e.g. Spark) as batches; ``stats`` is updated."""
    for b, _ in read_bytes(raw, source, stats, parts=parts, batch_tuples=batch_tuples):
        yield b


class FlowLogStream:
    """Iterate for record batches; ``stats`` fills in file by file.

    Files are listed when the stream is made (a missing path is an error then); blobs whose hour (from
    the blob layout in their path) is outside ``since``/``until`` are left unopened and counted.
    """

    def __init__(
        self,
        paths: Iterable[str | Path],
        *,
        since: _dt.datetime | None = None,
        until: _dt.datetime | None = None,
        batch_tuples: int = 500_000,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self.paths = [str(p) for p in paths]
        self.since, self.until = since, until
        self.batch_tuples = batch_tuples
        self.stats = ReadStats()
        self.files: list[FileRef] = []
        for ref in list_files(self.paths, storage_options):
            if in_window(path_parts(ref.path).get("hour"), since, until):
                self.files.append(ref)
            else:
                self.stats.files_skipped_by_time += 1

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for b, _ in self.pairs():
            yield b

    def pairs(self) -> Iterator[Pair]:
        """Each batch with its flows already parsed for the matcher (what ``analyze`` uses)."""
        for ref in self.files:
            own = ReadStats()
            try:
                yield from read_file(ref, own, batch_tuples=self.batch_tuples)
            finally:
                self.stats.merge(own)

    @property
    def nothing_read(self) -> str | None:
        """None when tuples were read; otherwise the paths given and what was found in them."""
        why = self.stats.nothing_read
        return None if why is None else f"{', '.join(self.paths)}: {why}"


def read(
    paths: str | Path | Iterable[str | Path],
    *,
    since: _dt.datetime | None = None,
    until: _dt.datetime | None = None,
    batch_tuples: int = 500_000,
    storage_options: dict[str, Any] | None = None,
) -> FlowLogStream:
    """Flow-log tuples as record batches of ``SCHEMA``; ``.stats`` holds the reconciliation.

    ``paths``: files, directories (every regular file in them; the ones that are not flow logs are
    reported in ``stats.skipped_files``), globs, or fsspec URLs (``storage_options`` go to fsspec).
    A run that reads nothing is not an error here: ``stream.nothing_read`` (and
    ``stats.nothing_read``) says so and what was found instead; the CLI exits 2 on it.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    return FlowLogStream(paths, since=since, until=until, batch_tuples=batch_tuples, storage_options=storage_options)
