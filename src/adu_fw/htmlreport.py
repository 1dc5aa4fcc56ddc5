"""A self-contained HTML report of an analysis (inline SVG charts, no scripts, no network)."""
from __future__ import annotations

import html
import json
from typing import Any


def _bars(rows: list[tuple[str, float]], *, width: int = 640, color: str = "#3b6ea5") -> str:
    if not rows:
        return "<p>(none)</p>"
    top = max(v for _, v in rows) or 1
    h = 18
    parts = [f'<svg width="{width + 440}" height="{h * len(rows) + 4}" role="img">']
    for i, (label, value) in enumerate(rows):
        w = max(1, int(width * value / top)) if value else 0
        y = i * h + 2
        parts.append(f'<text x="350" y="{y + 13}" text-anchor="end" font-size="12">{html.escape(label)}</text>')
        parts.append(f'<rect x="356" y="{y}" width="{w}" height="{h - 4}" fill="{color}"/>')
        parts.append(f'<text x="{360 + w}" y="{y + 13}" font-size="11">{value:,.0f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _timeline(points: list[dict[str, Any]], *, width: int = 900, height: int = 180) -> str:
    if not points:
        return "<p>(no evaluated tuples)</p>"
    top = max(p["allowed"] + p["denied"] for p in points) or 1
    step = width / len(points)
    parts = [f'<svg width="{width + 60}" height="{height + 40}" role="img">']
    for i, p in enumerate(points):
        x = 50 + i * step
        ha = height * p["allowed"] / top
        hd = height * p["denied"] / top
        parts.append(f'<rect x="{x:.1f}" y="{height - ha:.1f}" width="{max(step - 1, 1):.1f}" height="{ha:.1f}" fill="#4c9a2a"><title>{html.escape(p["hour"])}: {p["allowed"]} allowed</title></rect>')
        parts.append(f'<rect x="{x:.1f}" y="{height - ha - hd:.1f}" width="{max(step - 1, 1):.1f}" height="{hd:.1f}" fill="#c0392b"><title>{html.escape(p["hour"])}: {p["denied"]} denied</title></rect>')
    parts.append(f'<text x="50" y="{height + 16}" font-size="11">{html.escape(points[0]["hour"])}</text>')
    parts.append(f'<text x="{50 + width}" y="{height + 16}" font-size="11" text-anchor="end">{html.escape(points[-1]["hour"])}</text>')
    parts.append(f'<text x="45" y="12" font-size="11" text-anchor="end">{top:,}</text></svg>')
    return "".join(parts)


def _cell(col: str, value: Any) -> str:
    text = "" if value is None else str(value)
    if col in ("source_file", "file", "path") and text.count("/") > 7:  # blob paths are long: the tail, the whole path on hover
        short = "/".join(text.split("/")[-7:])
        return f'<td title="{html.escape(text)}">…/{html.escape(short)}</td>'
    return f"<td>{html.escape(text)}</td>"


def _table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(_cell(c, r.get(c)) for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _files(rec: dict[str, Any]) -> str:
    """How the files held their records (shape per file), and the files that are not flow logs, with why."""
    if "files_read" not in rec:
        return ""
    shapes = ", ".join(f"{n:,} {html.escape(k)}" for k, n in sorted(rec["shapes"].items(), key=lambda kv: -kv[1])) or "none"
    out = [f"<p>Shapes: {shapes}."]
    if rec["files_skipped_by_time"]:
        out.append(f" {rec['files_skipped_by_time']:,} file(s) outside the time window were not opened.")
    out.append("</p>")
    if rec["skipped_files"]:
        out.append("<p>Not flow logs (not read):</p>" + _table(rec["skipped_files"], ["path", "reason"]))
    if rec["elements_rejected"]:
        items = "".join(
            f"<li>{html.escape(k)}: {v:,} ({html.escape('; '.join(rec['elements_rejected_examples'].get(k, [])))})</li>"
            for k, v in rec["elements_rejected"].items()
        )
        out.append(f"<p>Rejected where a record should be:</p><ul>{items}</ul>")
    if rec["notes"]:
        out.append("<p>Notes:</p><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in rec["notes"]) + "</ul>")
    out.append(f"<details><summary>Files read ({len(rec['files_read']):,}), with their shape</summary>"
               + _table(rec["files_read"], ["file", "shape", "compression", "records", "tuples"]) + "</details>")
    return "".join(out)


def render(doc: dict[str, Any], *, title: str = "adu-fw flow-log analysis") -> str:
    rec, agr = doc["reconciliation"], doc["agreement"]
    hits = [(f"{r['nsg']}/{r['rule']} ({r['direction'][:3]} {r['priority']})", r["flows"]) for r in doc["rules"]]
    rej = "".join(f"<li>{html.escape(k)}: {v:,}</li>" for k, v in rec["rejected"].items()) or "<li>none</li>"
    tag = doc.get("tag")
    tag_html = ""
    if tag:
        tag_html = f"<h2>Traffic with {html.escape(tag['name'])}</h2>" + _table(
            [{"direction": "outbound to tag", **tag["outbound_to_tag"]}, {"direction": "inbound from tag", **tag["inbound_from_tag"]}],
            ["direction", "allowed", "denied"],
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:.5em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;font-size:13px;text-align:left}} .ok{{color:#4c9a2a}} .bad{{color:#c0392b}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<h2>Reconciliation</h2>
<p>{rec['files']:,} files, {rec['records']:,} records ({rec['records_truncated']} truncated), {rec['tuples_read']:,} tuples read:
{rec['evaluated']:,} evaluated + {rec['rejected_total']:,} rejected
<b class="{'ok' if rec['reconciles'] else 'bad'}">({'reconciles' if rec['reconciles'] else 'DOES NOT RECONCILE'})</b></p>
<ul>{rej}</ul>
{_files(rec)}
<h2>Agreement with the log</h2>
<p><span class="ok">{agr['agree']:,} agree</span>, <span class="bad">{agr['disagree']:,} disagree</span>
({agr['decision_disagree']:,} decision, {agr['rule_disagree']:,} rule), {agr['unknown']:,} unknown,
{agr['rule_not_comparable']:,} with a rule not comparable (AVNM, platform, unspecified)</p>
{_table(agr['examples'], ['kind', 'direction', 'src_ip', 'dst_ip', 'dst_port', 'logged_decision', 'computed_decision', 'logged_rule', 'computed_log_rule', 'record_index', 'tuple_index', 'source_file'])}
<h2>Hits per rule</h2>{_bars(hits)}
<h2>Decisions over time (per hour)</h2>
<p><span class="ok">&#9632; allowed</span> <span class="bad">&#9632; denied</span> (computed)</p>{_timeline(doc['timeline'])}
{tag_html}
<h2>Top talkers</h2>{_table(doc['top_talkers'], ['src_ip', 'flows'])}
<h2>Denied flows by port</h2>{_table(doc['denied_by_port'], ['protocol', 'dst_port', 'flows'])}
<h2>Rules never hit</h2><ul>{''.join(f'<li>{html.escape(r)}</li>' for r in doc['unused_rules']) or '<li>none</li>'}</ul>
<details><summary>JSON</summary><pre>{html.escape(json.dumps(doc, indent=1, default=str))}</pre></details>
</body></html>
"""
