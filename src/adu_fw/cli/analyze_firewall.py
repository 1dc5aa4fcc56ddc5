"""`adu-fw analyze --firewall-policy FILE FIREWALL_LOGS...`: Azure Firewall logs replayed through the policy.

``cli/analyze.py`` hands over here when the log paths hold Azure Firewall rule logs (by content).
"""
from __future__ import annotations

import argparse
import html
import sys
from typing import Any

from ..errors import AduFwError
from ..render import Progress, dump_json, table
from .common import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, firewall_of, source_doc, when


def cmd_analyze_firewall_logs(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..firewall_logs import read
    from ..firewall_replay import replay

    fw = firewall_of(args)
    stream = read(args.paths, since=when(args.since, "--since"), until=when(args.until, "--until"))
    progress = Progress(len(stream.files), "analyze (firewall log files)")
    writer: Any = None

    def on_batch(batch: Any, verdicts: Any) -> None:
        nonlocal writer
        progress.update(1)
        if args.parquet:
            out = pa.Table.from_arrays(batch.columns + verdicts.columns, names=batch.column_names + verdicts.column_names)
            if writer is None:
                writer = pq.ParquetWriter(args.parquet, out.schema)
            writer.write_table(out)

    try:
        report = replay(stream, fw, threads=args.threads, on_batch=on_batch)
    finally:
        progress.close()
        if writer is not None:
            writer.close()
    doc = report.to_dict()
    doc["policy"] = {"firewall_policy": args.firewall_policy, "rules": len(fw.rules), "notes": fw.notes,
                     "service_tags": source_doc(fw.service_tags)}
    if args.html:
        with open(args.html, "w", encoding="utf-8") as fh:
            fh.write(render_html(doc))
    if args.json:
        dump_json(doc)
    else:
        _print(doc)
    if not doc["reconciliation"]["evaluated"]:
        what = "evaluated (every record was rejected)" if doc["reconciliation"]["records"] else "read"
        print(f"adu-fw: no firewall log record was {what}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_FINDINGS if doc["agreement"]["disagree"] else EXIT_OK


def _print(doc: dict[str, Any]) -> None:
    rec, agr = doc["reconciliation"], doc["agreement"]
    print(f"read {rec['files']} file(s), {rec['records']:,} firewall log record(s): {rec['evaluated']:,} evaluated + "
          f"{rec['rejected_total']:,} rejected" + ("" if rec["reconciles"] else "  ** DOES NOT RECONCILE **"))
    print("  categories: " + ", ".join(f"{k} {v:,}" for k, v in rec["categories"].items()))
    for reason, n in rec["rejected"].items():
        print(f"  rejected {n:,}: {reason}")
    if rec["application_rules_only"]:
        print(f"  note: {rec['application_rules_only']:,} application record(s) without a destination address were "
              "evaluated against the application rules only")
    print(f"\nagreement with the log: {agr['agree']:,} agree, {agr['disagree']:,} disagree "
          f"({agr['decision_disagree']:,} decision, {agr['rule_disagree']:,} rule); "
          f"{agr['rule_not_comparable']:,} logged without a rule (not comparable)")
    if agr["examples"]:
        table(["kind", "logged as", "src", "dst", "port", "fqdn", "logged", "computed", "logged rule", "computed rule"],
              [(e["kind"], e["logged_kind"], e["src_ip"], e["dst_ip"], e["dst_port"], e["fqdn"] or "", e["logged_action"],
                e["computed_access"], e["logged_rule"] or "(default)", e["computed_rule"] or "(default deny)")
               for e in agr["examples"]])
    print("\nhits per rule:")
    table(["kind", "group", "collection", "rule", "action", "flows", "first seen", "last seen"],
          [(r["kind"], r["group"], r["collection"], r["rule"], r["action"], r["flows"], r["first_seen"] or "-",
            r["last_seen"] or "-") for r in doc["rules"]])
    d = doc["default_deny"]
    print(f"default deny (no rule matched): {d['flows']:,} flow(s)")
    if doc["unused_rules"]:
        print(f"\nrules never hit ({len(doc['unused_rules'])}): " + "; ".join(doc["unused_rules"]))
    if doc["denied_by_port"]:
        print("denied by port: " + ", ".join(f"{x['protocol']}/{x['dst_port']} ({x['flows']})" for x in doc["denied_by_port"][:8]))


def render_html(doc: dict[str, Any]) -> str:
    """A self-contained report (the flow-log report's charts and tables)."""
    from ..htmlreport import _bars, _table, _timeline

    rec, agr = doc["reconciliation"], doc["agreement"]
    hits = [(f"{r['kind']} {r['group']}/{r['collection']}/{r['rule']}", r["flows"]) for r in doc["rules"]]
    hits.append(("default deny", doc["default_deny"]["flows"]))
    rej = "".join(f"<li>{html.escape(k)}: {v:,}</li>" for k, v in rec["rejected"].items()) or "<li>none</li>"
    title = "adu-fw Azure Firewall log analysis"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:.5em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;font-size:13px;text-align:left}} .ok{{color:#4c9a2a}} .bad{{color:#c0392b}}</style>
</head><body>
<h1>{title}</h1>
<p>Policy {html.escape(str(doc.get('policy', {}).get('firewall_policy')))}</p>
<h2>Reconciliation</h2>
<p>{rec['files']:,} files, {rec['records']:,} records: {rec['evaluated']:,} evaluated + {rec['rejected_total']:,} rejected
<b class="{'ok' if rec['reconciles'] else 'bad'}">({'reconciles' if rec['reconciles'] else 'DOES NOT RECONCILE'})</b></p>
<p>categories: {html.escape(', '.join(f'{k} {v:,}' for k, v in rec['categories'].items()))}</p>
<ul>{rej}</ul>
<h2>Agreement with the log</h2>
<p><span class="ok">{agr['agree']:,} agree</span>, <span class="bad">{agr['disagree']:,} disagree</span>
({agr['decision_disagree']:,} decision, {agr['rule_disagree']:,} rule), {agr['rule_not_comparable']:,} logged without a rule</p>
{_table(agr['examples'], ['kind', 'logged_kind', 'src_ip', 'dst_ip', 'dst_port', 'fqdn', 'logged_action', 'computed_access', 'logged_rule', 'computed_rule', 'record_index', 'source_file'])}
<h2>Hits per rule</h2>{_bars(hits)}
<h2>Decisions over time (per hour)</h2>
<p><span class="ok">&#9632; allowed</span> <span class="bad">&#9632; denied</span> (computed)</p>{_timeline(doc['timeline'])}
<h2>Top talkers</h2>{_table(doc['top_talkers'], ['src_ip', 'flows'])}
<h2>Denied flows by port</h2>{_table(doc['denied_by_port'], ['protocol', 'dst_port', 'flows'])}
<h2>Rules never hit</h2><ul>{''.join(f'<li>{html.escape(r)}</li>' for r in doc['unused_rules']) or '<li>none</li>'}</ul>
</body></html>
"""


def check_paths(args: argparse.Namespace) -> bool:
    """Whether ``analyze`` should replay firewall logs: a firewall policy and log paths that hold firewall logs."""
    if not args.firewall_policy:
        return False
    from ..firewall_logs import looks_like_firewall_logs

    fw_logs = [looks_like_firewall_logs([p]) for p in args.paths]
    if any(fw_logs) and not all(fw_logs):
        raise AduFwError("the paths mix Azure Firewall logs and NSG/VNet flow logs: analyze one kind at a time")
    return all(fw_logs)
