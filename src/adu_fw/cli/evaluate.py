"""`adu-fw evaluate`: every row of a CSV or Parquet flow file."""
from __future__ import annotations

import argparse
from typing import Any

from ..errors import AduFwError
from ..render import Progress, dump_json
from .common import EXIT_FINDINGS, EXIT_OK, common_options, firewall_of, policy_of, policy_options


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

    policy = firewall_of(args) if args.firewall_policy else policy_of(args)
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
    if args.json:
        dump_json({"counts": counts, "rejected_by_reason": rejects, "out": args.out})
    else:
        print(
            f"{counts['rows']:,} rows: {counts['evaluated']:,} evaluated ({counts['allowed']:,} allowed, "
            f"{counts['denied']:,} denied), {counts['rejected']:,} rejected -> {args.out}"
        )
        for reason, n in sorted(rejects.items(), key=lambda kv: -kv[1]):
            print(f"  rejected {n:,}: {reason}")
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
