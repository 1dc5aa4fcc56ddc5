"""`adu-fw evaluate`: every row of a CSV or Parquet flow file."""
from __future__ import annotations

import argparse
from typing import Any

from ..errors import AduFwError
from ..render import Progress, dump_json
from .common import EXIT_FINDINGS, EXIT_OK, common_options, policy_options, replay_policy_of, source_doc, warn_stale


def _open_flows(path: str, batch_rows: int) -> Any:
    """Record batches of a CSV or Parquet flow file, streamed."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if path.endswith(".parquet") or path.endswith(".pq"):
        try:
            pf = pq.ParquetFile(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise AduFwError(f"{path}: cannot read as Parquet: {exc}") from None
        _check_columns(path, pf.schema_arrow.names)
        return pf.metadata.num_rows, pf.iter_batches(batch_size=batch_rows)
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in ("direction", "protocol", "src_ip", "dst_ip")}
            ),
        )
    except (OSError, pa.ArrowInvalid) as exc:
        raise AduFwError(f"{path}: cannot read as CSV with a header: {exc}") from None
    _check_columns(path, reader.schema.names)
    return None, reader


def _check_columns(path: str, names: list[str]) -> None:
    from ..flowtable import REQUIRED

    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise AduFwError(f"{path}: the flows lack column(s) {', '.join(missing)} (found: {', '.join(names) or 'none'}); "
                         f"expected a header {','.join(REQUIRED)}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from ..tags.versions import VersionedPolicy, time_ms

    policy = replay_policy_of(args)  # --service-tags DIR: each row with the file in force at its `time`
    versioned = isinstance(policy, VersionedPolicy)
    newest_ms: int | None = None
    total, batches = _open_flows(args.flows, args.batch_rows)
    writer: Any = None
    counts = {"rows": 0, "allowed": 0, "denied": 0, "rejected": 0}
    rejects: dict[str, int] = {}
    progress = Progress(total, "evaluate")
    to_parquet = args.out.endswith(".parquet") or args.out.endswith(".pq")
    try:
        for batch in batches:
            verdicts = policy.evaluate(batch, threads=args.threads)
            out = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
            for name in verdicts.column_names:
                col = verdicts.column(name)
                if not to_parquet and pa.types.is_dictionary(col.type):
                    col = col.cast(pa.string())
                out = out.append_column(name, col)
            if versioned:  # which file decided each row
                labels = [v.label for v in policy.versions.files]
                choice = policy.last_choice
                col = pa.array([labels[-1]] * out.num_rows) if choice is None else pa.array(labels).take(pa.array(choice))
                out = out.append_column("service_tags", col)
            times = time_ms(batch)
            if times is not None and (~times[1]).any():
                top = int(times[0][~times[1]].max())
                newest_ms = top if newest_ms is None else max(newest_ms, top)
            if writer is None:
                writer = pq.ParquetWriter(args.out, out.schema) if to_parquet else pacsv.CSVWriter(args.out, out.schema)
            writer.write_table(out)
            rule_index = verdicts.column("rule_index").to_numpy()
            allowed = verdicts.column("allowed").to_numpy(zero_copy_only=False)
            ok = rule_index != -2
            counts["rows"] += len(rule_index)
            counts["rejected"] += int((~ok).sum())
            counts["allowed"] += int((allowed[ok] == True).sum())  # noqa: E712
            counts["denied"] += int((allowed[ok] == False).sum())  # noqa: E712
            if (~ok).any():
                for reason in verdicts.column("reject_reason").drop_null().to_pylist():
                    rejects[reason] = rejects.get(reason, 0) + 1
            progress.update(len(rule_index))
    except (pa.ArrowInvalid, OSError) as exc:
        raise AduFwError(f"{args.flows}: {exc}") from None
    finally:
        progress.close()
        if writer is not None:
            writer.close()
    if not counts["rows"]:  # nothing read is never success
        raise AduFwError(f"{args.flows}: no flow row in it (a header and no row); nothing evaluated")
    counts["evaluated"] = counts["rows"] - counts["rejected"]
    import datetime as _dt

    newest = None if newest_ms is None else _dt.datetime.fromtimestamp(newest_ms / 1000, _dt.timezone.utc)
    used = policy.versions.at(newest) if versioned and newest is not None else None
    warn_stale(policy.versions.tags(policy.versions.files.index(used)) if used else policy.service_tags, newest)
    versions_doc = policy.to_dict() if versioned else None
    if args.json:
        doc = {"counts": counts, "rejected_by_reason": rejects, "out": args.out,
               "serviceTags": source_doc(policy.service_tags)}
        if versioned:
            doc["service_tag_versions"] = versions_doc
            doc["rows_without_time"] = policy.untimed
        dump_json(doc)
    else:
        print(
            f"{counts['rows']:,} rows: {counts['evaluated']:,} evaluated ({counts['allowed']:,} allowed, "
            f"{counts['denied']:,} denied), {counts['rejected']:,} rejected -> {args.out}"
        )
        for reason, n in sorted(rejects.items(), key=lambda kv: -kv[1]):
            print(f"  rejected {n:,}: {reason}")
        if versioned:
            from .replay import versions_text

            notes = [f"{policy.untimed:,} row(s) without a time were decided by the newest file"] if policy.untimed else []
            print(versions_text({"service_tag_versions": versions_doc, "service_tag_notes": notes or ["by row time"]}))
        else:
            from .common import tags_line

            print(tags_line(policy.service_tags, args))
    return EXIT_FINDINGS if counts["rejected"] else EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate every flow of a CSV or Parquet file; writes the rows with access and rule",
        description="Replay flows through the compiled matcher. FLOWS is CSV (header "
        "direction,protocol,src_ip,src_port,dst_ip,dst_port) or Parquet (by extension); OUT likewise. "
        "The output repeats the input columns and adds access, allowed, rule, rule_index, nsg, log_rule and "
        "reject_reason. Rows that cannot be evaluated are kept and counted. Exit 1 when any row was rejected.",
    )
    p.add_argument("--flows", required=True, metavar="FILE")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--threads", type=int, default=None, help="matcher threads (default: all cores for large batches)")
    p.add_argument("--batch-rows", type=int, default=1_000_000, help=argparse.SUPPRESS)
    policy_options(p)
    common_options(p)
    p.set_defaults(func=cmd_evaluate)
