"""adu-fw on Apache Spark (``pip install adu-fw[spark]``): flow logs read, evaluated and analysed
with ``mapInArrow`` when one machine is not enough.

- ``read_flow_logs(spark, paths)``: one task per file (Spark's ``binaryFile`` source with recursive
  lookup, so the blob layout's repeated ``m=`` key never reaches partition discovery; time parts
  come from the path, parsed by adu-fw). Every file is read whatever its name and shape (blob,
  NDJSON, gzip, ...); one that is not a flow log is listed in its ``_file_stats`` with why. The DataFrame has ``adu_fw.flowlogs.SCHEMA`` plus
  ``_file_stats``: every file also yields one summary row (all tuple columns null) whose
  ``_file_stats`` holds the reader's counts as JSON, so reconciliation survives the distribution.
- ``evaluate(df, policy)``: the compiled policy (pickled into the closure, shipped once per task)
  adds ``access``, ``rule``, ``rule_index``, ``nsg``, ``log_rule``, ``reject_reason`` and the
  per-row agreement with the log.
- ``analyze(df, policy)``: reconciliation, agreement and hits per rule with Spark aggregations; the
  result equals ``adu_fw.analysis.analyze`` on the same input (tested).
"""
from __future__ import annotations

import json
import pickle
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .flowlogs import SCHEMA, ReadStats, read_blob
from .flowtable import arrow_column

__all__ = ["read_flow_logs", "evaluate", "analyze", "READ_SCHEMA", "EVAL_COLUMNS"]

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
            source = path[len("file:"):] if path.startswith("file:") else path
            for batch in read_blob(content, source, stats):
                yield pa.RecordBatch.from_arrays(
                    _decode(batch).columns + [pa.nulls(batch.num_rows, pa.string())], schema=plain
                )
            summary = stats.to_dict()
            row = [pa.nulls(1, f.type) for f in plain][:-1] + [pa.array([json.dumps(summary)], pa.string())]
            row[plain.get_field_index("source_file")] = pa.array([source], pa.string())
            yield pa.RecordBatch.from_arrays(row, schema=plain)


def read_flow_logs(spark: Any, paths: str | list[str]) -> Any:
    """Flow-log tuples (plus one ``_file_stats`` summary row per file) as a Spark DataFrame."""
    files = (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")  # every file, whatever its name: the reader tells flow logs by content
        .load(paths if isinstance(paths, list) else [paths])
        .select("path", "content")
    )
    files = files.repartition(max(1, files.rdd.getNumPartitions()), "path")
    return files.mapInArrow(_parse_files, _spark_schema(READ_SCHEMA))


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


def analyze(df: Any, policy: Any) -> dict[str, Any]:
    """Reconciliation, agreement and hits per rule, aggregated by Spark."""
    from pyspark.sql import functions as F

    ev = evaluate(df, policy)
    ev.cache()
    try:
        summaries = [json.loads(r["_file_stats"]) for r in ev.where(F.col("_file_stats").isNotNull()).select("_file_stats").collect()]
        rejected: dict[str, int] = {}
        for s in summaries:
            for k, v in s["rejected"].items():
                rejected[k] = rejected.get(k, 0) + v
        tuples = ev.where(F.col("_file_stats").isNull())
        by_reason = tuples.where(F.col("rule_index") == -2).groupBy("reject_reason").count().collect()
        for r in by_reason:
            key = "evaluation: " + r["reject_reason"]
            rejected[key] = rejected.get(key, 0) + r["count"]
        agreement_counts = {r["agreement"]: r["count"] for r in tuples.groupBy("agreement").count().collect()}
        hits = (
            tuples.where(F.col("rule_index") >= 0)
            .withColumn("bytes", F.coalesce(F.col("bytes_src_to_dst"), F.lit(0)) + F.coalesce(F.col("bytes_dst_to_src"), F.lit(0)))
            .groupBy("rule_index")
            .agg(F.count("*").alias("flows"), F.sum("bytes").alias("bytes"), F.min("time").alias("first"), F.max("time").alias("last"))
            .collect()
        )
        evaluated = int(tuples.where(F.col("rule_index") != -2).count())
    finally:
        ev.unpersist()
    labels = policy.compile().labels
    hit = {r["rule_index"]: r for r in hits}
    rules = []
    for i, name in enumerate(labels["rule"]):
        h = hit.get(i)
        rules.append({"rule": name, "nsg": labels["nsg"][i], "direction": labels["direction"][i],
                      "priority": labels["priority"][i], "flows": int(h["flows"]) if h else 0,
                      "bytes": int(h["bytes"] or 0) if h else 0})
    total_rejected = sum(rejected.values())
    tuples_read = sum(s["tuples_read"] for s in summaries)
    dec = agreement_counts.get("disagree_decision", 0)
    rul = agreement_counts.get("disagree_rule", 0)
    return {
        "reconciliation": {
            "files": sum(s["files"] for s in summaries),
            "records": sum(s["records"] for s in summaries),
            "records_truncated": sum(s["records_truncated"] for s in summaries),
            "tuples_read": tuples_read,
            "rejected": rejected,
            "rejected_total": total_rejected,
            "evaluated": evaluated,
            "reconciles": tuples_read == evaluated + total_rejected,
            "skipped_files": [f for s in summaries for f in s.get("skipped_files", [])],
        },
        "agreement": {
            "agree": agreement_counts.get("agree", 0),
            "disagree": dec + rul,
            "decision_disagree": dec,
            "rule_disagree": rul,
            "unknown": agreement_counts.get("unknown", 0),
        },
        "rules": rules,
    }
