"""A self-contained HTML report of an analysis (inline SVG charts, no scripts, no network).

Made to be read in a browser from a phone (390 px) to a laptop (1300 px) without the page
scrolling sideways: charts are SVGs that scale to the width (``viewBox``), wide tables scroll in
their own box, long values (blob paths) wrap or are shortened with the whole value on hover.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
from typing import Any

PROTOCOL_NAMES = {1: "ICMP", 6: "TCP", 17: "UDP", 50: "ESP", 51: "AH", 58: "ICMPv6"}
_VERSION_COLORS = ("#7b61a8", "#d08a1c", "#2a8a8a", "#a8506b", "#5b7bb5", "#7a8a2a")


def protocol_name(value: Any) -> str:
    """TCP/UDP/... for IANA numbers (and the flow-log letters T/U); anything else as given."""
    if isinstance(value, str):
        if value.strip().isdigit():
            value = int(value)
        else:
            return {"T": "TCP", "U": "UDP"}.get(value.strip().upper(), value)
    if isinstance(value, int):
        return PROTOCOL_NAMES.get(value, str(value))
    return "" if value is None else str(value)


def _bars(rows: list[tuple[str, float]], *, color: str = "#3b6ea5") -> str:
    """Horizontal bars as a table (labels wrap on a phone, the bars take the width that is left)."""
    if not rows:
        return "<p>(none)</p>"
    top = max(v for _, v in rows) or 1
    body = "".join(
        f'<tr><td class="wrap">{html.escape(label)}</td><td class="barcell"><div class="bar" style="width:'
        f'{100 * value / top:.1f}%;background:{color}" title="{html.escape(label)}: {value:,.0f}"></div></td>'
        f'<td class="num">{value:,.0f}</td></tr>'
        for label, value in rows
    )
    return f'<table class="bars"><tbody>{body}</tbody></table>'


def _hour(text: str) -> _dt.datetime | None:
    try:
        return _dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def _timeline(points: list[dict[str, Any]], *, width: int = 960, height: int = 180) -> str:
    """Stacked allowed/denied bars per hour on a continuous hour axis, the service-tag file of each hour below."""
    if not points:
        return "<p>(no evaluated tuples)</p>"
    hours = [_hour(p["hour"]) for p in points]
    continuous = all(h is not None for h in hours) and len(points) > 0
    if continuous:
        first = min(hours)  # type: ignore[type-var]
        span = int(((max(hours) - first).total_seconds()) // 3600) + 1  # type: ignore[operator]
        continuous = span <= 24 * 62
    if continuous:
        slots = span
        pos = [int((h - first).total_seconds() // 3600) for h in hours]  # type: ignore[operator]
    else:
        slots, pos = len(points), list(range(len(points)))
    left, band_h = 56, 14
    step = width / slots
    top = max(p["allowed"] + p["denied"] for p in points) or 1
    total_h = height + band_h + 44
    parts = [f'<div class="scroll"><svg class="chart timeline" viewBox="0 -10 {left + width + 10} {total_h + 10}" width="100%" '
             f'style="max-width:{left + width + 10}px" role="img" aria-label="decisions per hour">']
    for frac in (0, 0.5, 1):  # y axis
        y = height - height * frac
        parts.append(f'<line x1="{left}" x2="{left + width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{int(top * frac):,}</text>')
    versions: list[str] = []
    for p, i in zip(points, pos):
        x = left + i * step
        ha = height * p["allowed"] / top
        hd = height * p["denied"] / top
        w = max(step - 1, 1)
        tags = p.get("service_tags")
        tip = f'{p["hour"]}: {p["allowed"]:,} allowed, {p["denied"]:,} denied' + (f"; service tags {tags}" if tags else "")
        parts.append(f'<rect x="{x:.1f}" y="{height - ha:.1f}" width="{w:.1f}" height="{ha:.1f}" fill="#4c9a2a"><title>'
                     f'{html.escape(tip)}</title></rect>')
        parts.append(f'<rect x="{x:.1f}" y="{height - ha - hd:.1f}" width="{w:.1f}" height="{hd:.1f}" fill="#c0392b"><title>'
                     f'{html.escape(tip)}</title></rect>')
        if tags:
            if tags not in versions:
                versions.append(tags)
            color = _VERSION_COLORS[versions.index(tags) % len(_VERSION_COLORS)]
            parts.append(f'<rect x="{x:.1f}" y="{height + 4}" width="{w:.1f}" height="{band_h - 4}" fill="{color}"><title>'
                         f'{html.escape(p["hour"])}: service tags {html.escape(tags)}</title></rect>')
    # hour labels: about eight, at whole steps of 1, 2, 3, 6, 12 or 24 hours (more for long spans)
    every = next((s for s in (1, 2, 3, 6, 12, 24, 48, 72, 168) if slots / s <= 8), 336)
    last_day = None
    for k in range(0, slots, every):
        x = left + k * step + step / 2
        if continuous:
            h = first + _dt.timedelta(hours=k)  # type: ignore[operator]
            day = h.date()
            text = f"{h:%H:%M}" if day == last_day else f"{h:%m-%d %H:%M}"
            last_day = day
        else:
            text = points[k]["hour"][5:16].replace("T", " ")
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{height}" y2="{height + 3}" stroke="#888"/>')
        parts.append(f'<text x="{x:.1f}" y="{height + band_h + 16}" font-size="11" text-anchor="middle">{html.escape(text)}</text>')
    parts.append(f'<text x="{left}" y="{total_h - 6}" font-size="11">hours (UTC){"" if continuous else ", with data only"}; '
                 f'the band under the bars: the service-tag file of each hour</text>')
    parts.append("</svg></div>")
    legend = "".join(
        f'<span class="key"><span class="swatch" style="background:{_VERSION_COLORS[i % len(_VERSION_COLORS)]}"></span>'
        f'service tags {html.escape(v)}</span>' for i, v in enumerate(versions))
    return "".join(parts) + (f'<p class="legend">{legend}</p>' if legend else "")


_WRAP = {"logged_rule", "computed_log_rule", "src_ip", "dst_ip", "file", "span", "reason"}


def _cell(col: str, value: Any) -> str:
    text = "" if value is None else str(value)
    if col in ("source_file", "file", "path") and "/" in text and (col == "source_file" or text.count("/") > 7):
        # blob paths are long: the blob's hour and name (else the tail), the whole path on hover
        parts = dict(p.split("=", 1) for p in text.split("/") if "=" in p and p.split("=", 1)[0] in ("y", "d", "h"))
        months = [p.split("=", 1)[1] for p in text.split("/") if p.startswith("m=")]
        if {"y", "d", "h"} <= set(parts) and months:
            short = f"{parts['y']}-{months[0]}-{parts['d']} {parts['h']}:00 …/{text.rsplit('/', 1)[-1]}"
        else:
            short = "…/" + "/".join(text.split("/")[-3:])
        return f'<td class="path" title="{html.escape(text)}">{html.escape(short)}</td>'
    if col in _WRAP:
        return f'<td class="wrap">{html.escape(text)}</td>'
    if col == "protocol":
        return f"<td>{html.escape(protocol_name(value))}</td>"
    return f"<td>{html.escape(text)}</td>"


def _table(rows: list[dict[str, Any]], cols: list[str], *, heads: dict[str, str] | None = None) -> str:
    head = "".join(f"<th>{html.escape((heads or {}).get(c, c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(_cell(c, r.get(c)) for c in cols) + "</tr>" for r in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _versions(doc: dict[str, Any]) -> str:
    rows = doc.get("service_tag_versions") or []
    if not rows:
        return ""
    items = [{"file": r["file"], "changeNumber": r["changeNumber"], "hours": r["hour_count"],
              "span": ((r["first_hour"] or "")[:16].replace("T", " ") + (" .. " + r["last_hour"][:16].replace("T", " ")
                       if r["last_hour"] and r["last_hour"] != r["first_hour"] else "")),
              "tuples": f"{r['tuples']:,}"} for r in rows]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in doc.get("service_tag_notes", []))
    title = "Service tags by hour" if len(rows) > 1 or notes else "Service tags"
    return (f"<h3>{title}</h3>" + _table(items, ["file", "changeNumber", "hours", "span", "tuples"],
                                          heads={"span": "hours (UTC)", "tuples": "tuples"})
            + (f"<ul>{notes}</ul>" if notes else ""))


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
    why = agr.get("explanations") or []
    why_html = ""
    if why:
        why_html = '<div class="why"><b>Why they disagree</b><ul>' + "".join(
            f"<li>{html.escape(e['text'])}</li>" for e in why) + "</ul></div>"
    examples = [dict(e, decision=f"{e.get('logged_decision')} → {e.get('computed_decision')}",
                     where=f"record {e.get('record_index')}, tuple {e.get('tuple_index')}") for e in agr["examples"]]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>*{{box-sizing:border-box}} body{{font-family:sans-serif;margin:0 auto;padding:1em;max-width:1240px;color:#222;line-height:1.35}}
h1{{font-size:1.6em}} h2{{margin-top:1.4em}} .scroll{{overflow-x:auto;max-width:100%}}
table{{border-collapse:collapse;margin:.5em 0}} td,th{{border:1px solid #ccc;padding:2px 8px;font-size:13px;text-align:left;vertical-align:top}}
td,th{{white-space:nowrap}} td.wrap{{white-space:normal;overflow-wrap:anywhere;min-width:7em}}
td.path{{white-space:normal;font-size:12px;overflow-wrap:anywhere;min-width:8em}} svg.chart{{height:auto;display:block}}
svg.timeline{{min-width:640px}} table.bars{{width:100%;max-width:900px}} table.bars td{{border:none;padding:1px 6px}}
table.bars td.wrap{{width:40%;text-align:right;font-size:12px}} td.barcell{{width:55%}} .bar{{height:12px;min-width:1px}}
td.num{{font-size:12px}}
.ok{{color:#4c9a2a}} .bad{{color:#c0392b}} .agree{{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}}
.agree>p{{flex:1 1 320px;margin:.3em 0}} .why{{flex:1 1 320px;background:#fdf6e3;border-left:4px solid #d08a1c;padding:.4em .8em}}
.why ul{{margin:.3em 0;padding-left:1.2em}} .legend .key{{margin-right:1.2em;white-space:nowrap}}
.swatch{{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-.1em}} pre{{white-space:pre-wrap;overflow-wrap:anywhere}} li,p{{overflow-wrap:anywhere}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<h2>Reconciliation</h2>
<p>{rec['files']:,} files, {rec['records']:,} records ({rec['records_truncated']} truncated), {rec['tuples_read']:,} tuples read:
{rec['evaluated']:,} evaluated + {rec['rejected_total']:,} rejected
<b class="{'ok' if rec['reconciles'] else 'bad'}">({'reconciles' if rec['reconciles'] else 'DOES NOT RECONCILE'})</b></p>
<ul>{rej}</ul>
{_files(rec)}
<h2>Agreement with the log</h2>
<div class="agree"><p><span class="ok">{agr['agree']:,} agree</span>, <span class="bad">{agr['disagree']:,} disagree</span>
({agr['decision_disagree']:,} decision, {agr['rule_disagree']:,} rule), {agr['unknown']:,} unknown,
{agr['rule_not_comparable']:,} with a rule not comparable (AVNM, platform, unspecified)</p>{why_html}</div>
{_table(examples, ['kind', 'direction', 'protocol', 'src_ip', 'dst_ip', 'dst_port', 'decision', 'logged_rule', 'computed_log_rule', 'where', 'source_file'],
        heads={'decision': 'logged → computed', 'computed_log_rule': 'computed rule', 'logged_rule': 'logged rule', 'source_file': 'file'}) if examples else ''}
{_versions(doc)}
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
