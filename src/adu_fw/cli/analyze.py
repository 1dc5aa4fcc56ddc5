"""`adu-fw analyze`: flow logs replayed against a policy."""
from __future__ import annotations

import argparse
from typing import Any

from ..render import Progress, dump_json, table
from ..errors import AduFwError
from .common import (EXIT_FINDINGS, EXIT_OK, common_options, policy_options, replay_policy_of, source_doc,
                     storage_options, when)


def cmd_analyze(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..analysis import analyze
    from ..flowlogs import read
    from .analyze_firewall import check_paths, cmd_analyze_firewall_logs

    if check_paths(args):  # Azure Firewall logs (by content): replayed through the firewall policy
        return cmd_analyze_firewall_logs(args)
    from . import replay

    # a firewall policy replays the logged flows through the firewall instead (agreement then compares
    # the firewall's decision with what the NSGs logged); --service-tags DIR: each hour with its own file
    policy = replay_policy_of(args)
    explainer = replay.explainer_for(args, policy)
    stream = read(args.paths, since=when(args.since, "--since"), until=when(args.until, "--until"),
                  storage_options=storage_options(args.storage_option))
    writer: Any = None
    progress = Progress(len(stream.files), "analyze (files)")
    seen_files = [0]

    def on_batch(batch: Any, verdicts: Any) -> None:
        nonlocal writer
        if stream.stats.files != seen_files[0]:
            progress.update(stream.stats.files - seen_files[0])
            seen_files[0] = stream.stats.files
        if args.parquet:
            out = pa.Table.from_batches([batch])
            for name in ("access", "rule", "rule_index", "nsg", "log_rule", "reject_reason"):
                out = out.append_column("computed_" + name if name != "rule_index" else name, verdicts.column(name))
            if writer is None:
                writer = pq.ParquetWriter(args.parquet, out.schema)
            writer.write_table(out)
        if explainer is not None:
            explainer.observe(batch, verdicts)

    try:
        report = analyze(stream, policy, tag=args.tag or None, threads=args.threads, on_batch=on_batch)
    finally:
        progress.close()
        if writer is not None:
            writer.close()
    doc = report.to_dict()
    doc["policy"] = {
        "nsgs": [n.name for n in getattr(policy, "nsgs", [])],
        "firewall_policy": args.firewall_policy,
        "service_tags": source_doc(policy.service_tags),
    }
    empty = report.nothing_evaluated
    if empty:
        # nothing read (or nothing evaluable) is never success: say what was found instead
        if args.json:
            doc["error"] = f"{', '.join(args.paths)}: {empty}"
            dump_json(doc)
        elif report.stats.tuples_read:
            _print_reconciliation(doc)
        raise AduFwError(f"{', '.join(args.paths)}: {empty}")
    replay.annotate(doc, policy, explainer, report)
    if args.html:
        from ..htmlreport import render

        with open(args.html, "w", encoding="utf-8") as fh:
            fh.write(render(doc))
    if args.json:
        dump_json(doc)
    else:
        _print_analysis(doc)
    return EXIT_FINDINGS if doc["agreement"]["disagree"] else EXIT_OK


def _print_reconciliation(doc: dict[str, Any]) -> None:
    rec = doc["reconciliation"]
    shapes = ", ".join(f"{n} {shape}" for shape, n in rec.get("shapes", {}).items())
    print(
        f"read {rec['files']} file(s)" + (f" ({shapes})" if shapes else "")
        + f", {rec['records']} record(s) ({rec['records_truncated']} truncated), "
        f"{rec['tuples_read']:,} tuple(s): {rec['evaluated']:,} evaluated + {rec['rejected_total']:,} rejected"
        + ("" if rec["reconciles"] else "  ** DOES NOT RECONCILE **")
    )
    if rec["files_skipped_by_time"]:
        print(f"  {rec['files_skipped_by_time']} file(s) outside --since/--until, not opened")
    for s in rec.get("skipped_files", []):
        print(f"  not a flow log: {s['path']}: {s['reason']}")
    for reason, n in rec.get("elements_rejected", {}).items():
        print(f"  rejected {n:,} element(s): {reason}: " + "; ".join(rec["elements_rejected_examples"].get(reason, [])))
    for reason, n in rec["rejected"].items():
        print(f"  rejected {n:,}: {reason}")
    for note in rec["notes"]:
        print(f"  note: {note}")


def _print_analysis(doc: dict[str, Any]) -> None:
    agr = doc["agreement"]
    _print_reconciliation(doc)
    print(
        f"\nagreement with the log: {agr['agree']:,} agree, {agr['disagree']:,} disagree "
        f"({agr['decision_disagree']:,} decision, {agr['rule_disagree']:,} rule), {agr['unknown']:,} unknown; "
        f"{agr['rule_not_comparable']:,} logged rule(s) not comparable"
    )
    for e in agr.get("explanations", []):
        print(f"  {e['text']}")
    if agr["examples"]:
        table(
            ["kind", "dir", "src", "dst", "port", "logged", "computed", "logged rule", "computed rule"],
            [
                (e["kind"], e["direction"][:3], e["src_ip"], e["dst_ip"], e["dst_port"], e["logged_decision"],
                 e["computed_decision"], e["logged_rule"], e["computed_log_rule"])
                for e in agr["examples"]
            ],
        )
    print("\nhits per rule:")
    table(
        ["nsg", "dir", "priority", "rule", "access", "flows", "bytes", "first seen", "last seen"],
        [(r["nsg"], r["direction"][:3], r["priority"], r["rule"], r["access"], r["flows"], r["bytes"],
          r["first_seen"] or "-", r["last_seen"] or "-") for r in doc["rules"]],
    )
    passed = [r for r in doc.get("admin_rules", []) if r.get("matched", 0) > r["flows"]]
    if passed:  # AVNM Allow rules hand their flows to the NSGs, which report them
        print("security admin Allow rules that handed flows to the NSGs: "
              + ", ".join(f"{r['rule']} ({r['matched'] - r['flows']:,})" for r in passed))
    if doc["unused_rules"]:
        print(f"\nrules never hit ({len(doc['unused_rules'])}): " + "; ".join(doc["unused_rules"]))
    if doc["top_talkers"]:
        print("\ntop talkers: " + ", ".join(f"{t['src_ip']} ({t['flows']})" for t in doc["top_talkers"][:5]))
    if doc["denied_by_port"]:
        from ..htmlreport import protocol_name

        more = len(doc["denied_by_port"]) - 8
        print("denied by port: " + ", ".join(f"{protocol_name(d['protocol'])}/{d['dst_port']} ({d['flows']})"
                                             for d in doc["denied_by_port"][:8])
              + (f", ... {more} more (all in --json)" if more > 0 else ""))
    from .replay import versions_text

    print("\n" + versions_text(doc))
    if doc["tag"]:
        t = doc["tag"]
        o, i = t["outbound_to_tag"], t["inbound_from_tag"]
        print(
            f"{t['name']}: outbound to it {o.get('allowed', 0):,} allowed / {o.get('denied', 0):,} denied; "
            f"inbound from it {i.get('allowed', 0):,} allowed / {i.get('denied', 0):,} denied"
        )


def register(sub: Any) -> None:
    p = sub.add_parser(
        "analyze",
        help="replay NSG (v1, v2) and VNet (v4) flow logs, or Azure Firewall logs, against a policy; report agreement and hits",
        description="Read flow logs (files, blob-layout directories, globs or fsspec URLs; blobs, single records, "
        "newline-delimited records or concatenated documents, plain or gzipped, found by content), evaluate every "
        "tuple, and report reconciliation (every tuple evaluated or rejected with a reason, every file read with "
        "its shape or skipped with why), agreement with the logged decision and rule, hits per rule, rules never "
        "hit, top talkers, denied flows by port and traffic with a service tag. With --firewall-policy, local paths "
        "holding Azure Firewall rule logs (AZFWNetworkRule, AZFWApplicationRule, AZFWNatRule, legacy "
        "AzureFirewallNetworkRule/ApplicationRule msg lines; JSON Lines, records documents, Log Analytics CSV/JSON "
        "exports) are replayed through the firewall instead, compared on action and rule (collection group, "
        "collection, rule). Exit 1 when the computed and logged answers disagree; 2 when no tuple or record was "
        "read or none could be evaluated.",
    )
    p.add_argument("paths", nargs="+", metavar="LOG_PATH",
                   help="files, directories (every file in them), globs, or URLs (abfs://, az://, file://, memory://, any "
                   "fsspec URL); Azure Firewall logs (local paths) with --firewall-policy")
    p.add_argument("--tag", default="AzureDeviceUpdate", help="service tag to report traffic for ('' for none)")
    p.add_argument("--since", metavar="TIME", help="skip blobs whose hour ends before TIME (by path)")
    p.add_argument("--until", metavar="TIME", help="skip blobs whose hour starts at or after TIME (by path)")
    p.add_argument("--parquet", metavar="OUT", help="write every evaluated tuple with the computed decision and rule")
    p.add_argument("--html", metavar="OUT", help="write a self-contained HTML report")
    p.add_argument("--threads", type=int, default=None, help="matcher threads")
    p.add_argument("--storage-option", metavar="KEY=VALUE", action="append", default=[],
                   help="fsspec storage option for URLs (repeatable), e.g. account_name=NAME or anon=true")
    policy_options(p)
    common_options(p)
    p.set_defaults(func=cmd_analyze)
