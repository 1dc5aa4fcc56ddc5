"""adu-fw on Apache Spark (``pip install adu-fw[spark]``): flow logs read, evaluated and analysed
with ``mapInArrow`` when one machine is not enough.

- ``analyze(df, policy)``: each file is read, evaluated and aggregated inside one ``mapInArrow``
  task (``adu_fw.analysis.Replay``, the same code as one machine's), and only that file's partial
  report (a few kB: counts, hits, talkers, examples) goes back to the driver, which merges them in
  path order: the result is the document ``adu_fw.analysis.analyze(...).to_dict()`` gives on one
  machine (tested on ``local[2]``). ``df`` is what ``read_flow_logs`` returned (its files are read
  again, without the rows), any ``binaryFile`` DataFrame (``path``, ``content``), or flow-log rows
  (each Arrow batch is then aggregated where it is, and only the partials travel).
- ``read_flow_logs(spark, paths)``: one task per file (Spark's ``binaryFile`` source with recursive
  lookup, so the blob layout's repeated ``m=`` key never reaches partition discovery; time parts
  come from the path, parsed by adu-fw). Every file is read whatever its name and shape (blob,
  NDJSON, gzip, ...); one that is not a flow log is listed in its ``_file_stats`` with why. The DataFrame has ``adu_fw.flowlogs.SCHEMA`` plus
  ``_file_stats``: every file also yields one summary row (all tuple columns null) whose
  ``_file_stats`` holds the reader's counts as JSON, so reconciliation survives the distribution.
- ``evaluate(df, policy)``: the compiled policy (pickled into the closure, shipped once per task)
  adds ``access``, ``rule``, ``rule_index``, ``nsg``, ``log_rule``, ``reject_reason`` and the
  per-row agreement with the log.

The Python the workers run: on a local master (``local``, ``local[N]``), when neither
``PYSPARK_PYTHON`` nor ``spark.pyspark.python`` names one, this interpreter (``sys.executable``), so
that a script run from a virtual environment works as written (workers would otherwise start
``python3`` from ``PATH``, which has no adu-fw). A cluster keeps its own setting.
"""
from __future__ import annotations

import json
import os
import pickle
import sys
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .flowlogs import SCHEMA, ReadStats, read_blob, read_bytes
from .flowtable import arrow_column

__all__ = ["read_flow_logs", "evaluate", "analyze", "worker_python", "READ_SCHEMA", "EVAL_COLUMNS"]

READ_SCHEMA = pa.schema(list(SCHEMA) + [pa.field("_file_stats", pa.string())])
EVAL_COLUMNS = [
    ("access", pa.string()),
    ("rule", pa.string()),
    ("rule_index", pa.int32()),
    ("nsg", pa.string()),
    ("log_rule", pa.string()),
    ("reject_reason", pa.string()),
    ("agreement", pa.string()),  # agree | disagree_decision | disagree_rule | unknown | rejected | summary
]


def _spark_type(t: pa.DataType) -> pa.DataType:
    """Spark has no dictionary or unsigned types and keeps timestamps in microseconds."""
    if pa.types.is_dictionary(t):
        return t.value_type
    widen = {pa.uint8(): pa.int16(), pa.uint16(): pa.int32(), pa.uint32(): pa.int64()}
    if t in widen:
        return widen[t]
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC")
    return t


def _plain(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, _spark_type(f.type)) for f in schema])


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(_plain(schema))


def _decode(batch: pa.RecordBatch) -> pa.RecordBatch:
    plain = _plain(batch.schema)
    arrays = [c.cast(f.type) if c.type != f.type else c for c, f in zip(batch.columns, plain)]
    return pa.RecordBatch.from_arrays(arrays, schema=plain)


def _parse_files(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    plain = _plain(READ_SCHEMA)
    for b in batches:
        paths = b.column("path").to_pylist()
        contents = b.column("content").to_pylist()
        for path, content in zip(paths, contents):
            stats = ReadStats()
            source = _source(path)
            for batch in read_blob(content, source, stats):
                yield pa.RecordBatch.from_arrays(
                    _decode(batch).columns + [pa.nulls(batch.num_rows, pa.string())], schema=plain
                )
            summary = stats.to_dict()
            row = [pa.nulls(1, f.type) for f in plain][:-1] + [pa.array([json.dumps(summary)], pa.string())]
            row[plain.get_field_index("source_file")] = pa.array([source], pa.string())
            yield pa.RecordBatch.from_arrays(row, schema=plain)


def worker_python(spark: Any) -> str:
    """The Python the workers start: on a local master with none chosen (no ``PYSPARK_PYTHON``, no
    ``spark.pyspark.python``), set to this interpreter, whose environment has adu-fw."""
    sc = spark.sparkContext
    chosen = os.environ.get("PYSPARK_PYTHON") or sc.getConf().get("spark.pyspark.python", None)
    if not chosen and str(sc.master).startswith("local"):
        sc.pythonExec = sys.executable  # read by every Python function made from now on
    return str(sc.pythonExec)


def _files(spark: Any, paths: str | list[str]) -> Any:
    """One row per file (``path``, ``content``), partitioned by size as Spark's file sources do."""
    return (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")  # every file, whatever its name: the reader tells flow logs by content
        .load(paths if isinstance(paths, list) else [paths])
        .select("path", "content")
    )


def _driver_listing(spark: Any, paths: str | list[str]) -> list[tuple[str, str, int]] | None:
    """On a local master, local paths are listed here as one machine lists them (no Spark job); else None."""
    from .flowlogs import list_files
    from .flowlogs.sources import is_url

    paths = paths if isinstance(paths, list) else [paths]
    if not str(spark.sparkContext.master).startswith("local"):
        return None
    local = [_local(p) if is_url(p) else p for p in map(str, paths)]
    if any(p is None for p in local):
        return None
    return [(ref.source, os.path.abspath(ref.path), int(ref.size or 0)) for ref in list_files(local)]


def _listing(spark: Any, paths: str | list[str]) -> Any:
    """Every file's ``path`` and ``length``, listed by Spark (the content is not read)."""
    return (spark.read.format("binaryFile").option("recursiveFileLookup", "true")
            .load(paths if isinstance(paths, list) else [paths]).select("path", "length"))


def read_flow_logs(spark: Any, paths: str | list[str]) -> Any:
    """Flow-log tuples (plus one ``_file_stats`` summary row per file) as a Spark DataFrame."""
    worker_python(spark)
    files = _files(spark, paths)
    files = files.repartition(max(1, files.rdd.getNumPartitions()), "path")
    df = files.mapInArrow(_parse_files, _spark_schema(READ_SCHEMA))
    try:
        df._adu_fw_source = (spark, paths)  # analyze() reads the files again instead of the rows
    except AttributeError:  # pragma: no cover - a DataFrame class that takes no attributes
        pass
    return df


def _evaluator(blob: bytes) -> Any:
    compiled = pickle.loads(blob)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from .analysis import row_agreement
        from .evaluate import evaluate as evaluate_compiled

        for b in batches:
            if "_file_stats" in b.schema.names:
                summary = np.asarray(b.column("_file_stats").is_valid())
            else:  # any DataFrame with the flow columns
                summary = np.zeros(b.num_rows, bool)
            out = {name: pa.nulls(b.num_rows, typ) for name, typ in EVAL_COLUMNS}
            tuples = np.flatnonzero(~summary)
            if len(tuples):
                sub = b.take(pa.array(tuples))
                v = evaluate_compiled(compiled, sub)
                agreement = row_agreement(sub, v, compiled.labels) if "logged_rule" in sub.schema.names else np.full(
                    sub.num_rows, None, dtype=object)
                cols = {
                    "access": v.column("access").cast(pa.string()),
                    "rule": v.column("rule").cast(pa.string()),
                    "rule_index": v.column("rule_index"),
                    "nsg": v.column("nsg").cast(pa.string()),
                    "log_rule": v.column("log_rule").cast(pa.string()),
                    "reject_reason": v.column("reject_reason"),
                    "agreement": pa.array(agreement, pa.string()),
                }
                idx = np.full(b.num_rows, -1, np.int64)
                idx[tuples] = np.arange(len(tuples))
                take = arrow_column(idx, idx < 0)
                for name, typ in EVAL_COLUMNS:
                    col = cols[name]
                    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
                    out[name] = col.take(take)
            out["agreement"] = pc.if_else(pa.array(summary), "summary", out["agreement"])
            yield pa.RecordBatch.from_arrays(b.columns + [out[n] for n, _ in EVAL_COLUMNS],
                                             names=b.schema.names + [n for n, _ in EVAL_COLUMNS])

    return run


def evaluate(df: Any, policy: Any) -> Any:
    """``df`` from ``read_flow_logs`` (or any DataFrame with the flow columns ``direction``,
    ``protocol``, ``src_ip``, ``src_port``, ``dst_ip``, ``dst_port``), with the computed verdict and,
    for flow logs, the agreement with the log."""
    from pyspark.sql.pandas.types import to_arrow_schema

    worker_python(df.sparkSession)
    blob = pickle.dumps(policy.compile(), protocol=5)
    if "_file_stats" in df.columns:
        base = _plain(READ_SCHEMA)
    else:
        try:
            base = to_arrow_schema(df.schema, timezone="UTC")
        except TypeError:  # pyspark < 4 has no timezone argument
            base = to_arrow_schema(df.schema)
    schema = pa.schema(list(base) + [pa.field(n, t) for n, t in EVAL_COLUMNS])
    return df.mapInArrow(_evaluator(blob), _spark_schema(schema))


def _source(path: str) -> str:
    """What reports name a file by: its local path for a ``file:`` URI (as one machine names it), else the URI."""
    local = _local(path)
    return path if local is None else local


def _local(uri: str) -> str | None:
    """The local path of a ``file:`` URI (what Spark lists local files as), None for other schemes."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else None


_PARTS = "key string, part binary"  # per file (or per batch of rows): its partial report, pickled


def _analyze_files(blob: bytes) -> Any:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        replay = pickle.loads(blob)
        for b in batches:
            for path, content in zip(b.column("path").to_pylist(), b.column("content").to_pylist()):
                stats = ReadStats()
                source = _source(path)
                part = replay.part(read_bytes(content, source, stats), stats)
                yield pa.RecordBatch.from_pydict({"key": [source], "part": [pickle.dumps(part, protocol=5)]})

    return run


def _analyze_paths(blob: bytes, bins: Any) -> Any:
    """Each task opens the files of its bin itself (``spark.range`` gives it the bin's number): only
    names go in and partial reports come out, no file content crosses into the JVM and back."""
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from .flowlogs import FileRef

        replay = pickle.loads(blob)
        for b in batches:
            for i in b.column("id").to_pylist():
                for source, path, size in bins.value[i]:
                    part = replay.file(FileRef(source, path, size))
                    yield pa.RecordBatch.from_pydict({"key": [source], "part": [pickle.dumps(part, protocol=5)]})

    return run


def _bins(files: list[tuple[str, str, int]], n: int) -> list[list[tuple[str, str, int]]]:
    """Files (name, path, size) in ``n`` bins of about equal size (largest first into the lightest bin)."""
    bins: list[list[tuple[str, str, int]]] = [[] for _ in range(n)]
    load = [0] * n
    for f in sorted(files, key=lambda f: (-f[2], f[0])):
        k = load.index(min(load))
        bins[k].append(f)
        load[k] += f[2]
    return [b for b in bins if b]


def _analyze_rows(blob: bytes) -> Any:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        replay = pickle.loads(blob)
        for b in batches:
            keys, parts = [], []
            if "_file_stats" in b.schema.names:
                summary = np.asarray(b.column("_file_stats").is_valid())
                for file, text in zip(b.filter(pa.array(summary)).column("source_file").to_pylist(),
                                      b.filter(pa.array(summary)).column("_file_stats").to_pylist()):
                    part = replay.report(ReadStats.from_dict(json.loads(text)))
                    keys.append(f"{file}\x00")
                    parts.append(pickle.dumps(part, protocol=5))
                b = b.filter(pa.array(~summary))
            if b.num_rows:
                first = {c: b.column(c)[0].as_py() for c in ("source_file", "record_index", "tuple_index") if c in b.schema.names}
                part = replay.part([(b, None)], None)
                keys.append(f"{first.get('source_file') or ''}\x01{first.get('record_index', 0):012d}{first.get('tuple_index', 0):012d}")
                parts.append(pickle.dumps(part, protocol=5))
            if keys:
                yield pa.RecordBatch.from_pydict({"key": keys, "part": parts})

    return run


def analyze(df: Any, policy: Any, *, tag: str | None = "AzureDeviceUpdate", read_in_tasks: bool | None = None
            ) -> dict[str, Any]:
    """The report of ``adu_fw.analysis.analyze`` (its ``to_dict()``), computed where the files are.

    Each file is read, evaluated and aggregated in one task; only partial reports reach the driver,
    merged in path order (the order one machine reads a directory in). A ``df`` that is not what
    ``read_flow_logs`` returned nor a ``binaryFile`` DataFrame is taken as flow-log rows.
    ``read_in_tasks``: the tasks open the files themselves (only names travel; the default when every
    file is a local ``file:`` path, which every executor of a Spark job over local files sees), or
    Spark reads them (``binaryFile`` content, with Spark's own storage credentials: the default for
    ``abfss://`` and every other scheme).
    """
    from .analysis import Replay

    replay = Replay.of(policy, tag)
    if replay.versioned is not None:
        raise TypeError("adu_fw.spark.analyze takes one policy (service tags by hour are not shipped to workers); "
                        "replay each version's hours with its own Policy, or use adu_fw.analysis.analyze")
    source = getattr(df, "_adu_fw_source", None)
    spark = source[0] if source else df.sparkSession
    worker_python(spark)
    blob = pickle.dumps(replay, protocol=5)
    files = _files(*source) if source is not None else (
        df.select("path", "content") if {"path", "content"} <= set(df.columns) else None)
    if files is None:
        parts = df.mapInArrow(_analyze_rows(blob), _PARTS)
    else:
        listing = None
        if read_in_tasks is not False:
            listing = _driver_listing(spark, source[1]) if source is not None else None
            if listing is None:
                lengths = (_listing(*source) if source is not None else df.select("path", "length")).collect()
                listing = [(_local(r["path"]), _local(r["path"]), int(r["length"])) for r in lengths]
            if any(path is None for path, _, _ in listing):  # not local files: Spark reads them
                if read_in_tasks:
                    raise ValueError("read_in_tasks=True needs local (file:) paths; Spark reads other schemes")
                listing = None
        if listing is not None:
            sc = spark.sparkContext
            bins = _bins(listing, max(1, min(len(listing), sc.defaultParallelism)))
            ids = spark.range(0, len(bins), 1, max(1, len(bins)))  # one bin per task
            parts = ids.mapInArrow(_analyze_paths(blob, sc.broadcast(bins)), _PARTS)
        else:
            parts = files.mapInArrow(_analyze_files(blob), _PARTS)
    report = replay.report(ReadStats())
    for row in sorted(parts.collect(), key=lambda r: r["key"]):
        part = pickle.loads(row["part"])
        if part.stats is not None:
            report.stats.merge(part.stats)
        report.merge(part)
    return report.to_dict()
