"""Azure Firewall logs replayed through a firewall policy: agreement, hits per rule, rules never hit.

Each record's flow goes through the policy in Azure's order (DNAT and network rules in the compiled
matcher, then application rules for flows that carry an FQDN, then the default deny), and the result
is compared with what the firewall logged: the decision (Allow / Deny; a DNAT is an allow) and the
rule (collection group, collection, rule, compared case-insensitively on the fields the record names;
a logged default action agrees with "no rule"). An application record without a destination address
(legacy ``msg`` lines, some resource-specific ones) is evaluated against the application rules only:
the log itself says no DNAT or network rule took it. Every record is evaluated or was rejected by the
reader with its reason, and the counts reconcile.
"""
from __future__ import annotations

import datetime as _dt
import ipaddress
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import pyarrow as pa

from .firewall import FirewallPolicy, FirewallRule, _fqdn_match
from .firewall_logs import FirewallLogStats

__all__ = ["FirewallReport", "replay", "evaluate_records", "VERDICT_SCHEMA"]

EXAMPLES = 10
VERDICT_SCHEMA = pa.schema([
    ("computed_access", pa.string()),
    ("computed_kind", pa.string()),
    ("computed_group", pa.string()),
    ("computed_collection", pa.string()),
    ("computed_rule", pa.string()),
    ("computed_translated", pa.string()),
    ("agreement", pa.string()),  # agree | disagree_decision | disagree_rule | rule_not_comparable | rejected
    ("reject_reason", pa.string()),
])


class _AppRules:
    """Application rules in Azure's order with their sources parsed once."""

    def __init__(self, rules: Iterable[tuple[int, FirewallRule]]) -> None:
        self.rules = [(pos, r, [ipaddress.ip_network(p, strict=False) for p in r.sources]) for pos, r in rules]

    def match(self, proto: int, src: str, dport: int, fqdn: str | None) -> int:
        """Position (in the policy's rule list) of the first application rule the flow matches, or -1."""
        if fqdn is None or proto != 6 or not self.rules:
            return -1
        addr = ipaddress.ip_address(src)
        for pos, r, nets in self.rules:
            if not any(port == dport for _, port in r.app_protocols):
                continue
            if not (r.any_source or any(n.version == addr.version and addr in n for n in nets)):
                continue
            if any(_fqdn_match(p, fqdn) for p in r.target_fqdns):
                return pos
        return -1


def evaluate_records(fw: FirewallPolicy, table: pa.Table, *, threads: int | None = None) -> tuple[np.ndarray, list[str | None]]:
    """(position of the deciding rule in ``fw.rules`` or -1 for the default deny, reject reason or None) per record."""
    from .evaluate import classify
    from .flowtable import flow_arrays

    n = table.num_rows
    pos = np.full(n, -1, np.int64)
    reasons: list[str | None] = [None] * n
    index = {id(r): i for i, r in enumerate(fw.rules)}
    # the compiled rule list is FirewallPolicy.compile()'s: its DNAT and network rules that are not skipped, in order
    compiled_rules = [r for r in fw.rules if r.kind in ("nat", "network") and not r.skipped]
    dst = table.column("dst_ip").to_pylist()
    has_dst = np.array([d is not None for d in dst], bool)
    rows = np.flatnonzero(has_dst)
    if len(rows) and compiled_rules:
        sub = table.take(pa.array(rows))
        cols = {"direction": np.zeros(len(rows), np.uint8), "protocol": sub.column("protocol"),
                "src_ip": sub.column("src_ip"), "src_port": sub.column("src_port"), "dst_ip": sub.column("dst_ip"),
                "dst_port": sub.column("dst_port")}
        fa = flow_arrays(cols)
        rule_idx, _ = classify(fw.compile(), fa, threads)
        to_pos = np.array([index[id(r)] for r in compiled_rules] + [-1], np.int64)
        pos[rows] = to_pos[np.where(rule_idx >= 0, rule_idx, len(compiled_rules))]
        bad = np.flatnonzero(rule_idx == -2)
        if len(bad):
            why = fa.reasons()
            for k in bad.tolist():
                reasons[int(rows[k])] = "evaluation: " + str(why[k] if why is not None else "not evaluable")
    apps = _AppRules((index[id(r)], r) for r in fw.rules if r.kind == "application" and not r.skipped)
    if apps.rules:
        fqdn = table.column("fqdn").to_pylist()
        proto = table.column("protocol").to_pylist()
        src = table.column("src_ip").to_pylist()
        dport = table.column("dst_port").to_pylist()
        for i in np.flatnonzero(pos == -1).tolist():
            if reasons[i] is None:
                pos[i] = apps.match(proto[i], src[i], dport[i], fqdn[i])
    return pos, reasons


@dataclass
class FirewallReport:
    """Everything ``adu-fw analyze --firewall-policy FILE FIREWALL_LOGS`` prints; ``to_dict`` is the --json document."""

    stats: FirewallLogStats
    policy: FirewallPolicy
    evaluated: int = 0
    rejected_by_evaluation: Counter = field(default_factory=Counter)
    agree: int = 0
    disagree: int = 0
    decision_disagree: int = 0
    rule_disagree: int = 0
    rule_not_comparable: int = 0
    app_rules_only: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    hits: dict[int, list[Any]] = field(default_factory=dict)  # rule position (-1 default deny) -> [flows, first, last]
    talkers: Counter = field(default_factory=Counter)
    denied_ports: Counter = field(default_factory=Counter)
    timeline: dict[Any, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    by_kind: Counter = field(default_factory=Counter)

    def reconciliation(self) -> dict[str, Any]:
        rejected = Counter(self.stats.rejected)
        rejected.update(self.rejected_by_evaluation)
        total = sum(rejected.values())
        return {
            "files": self.stats.files,
            "records": self.stats.records,
            "evaluated": self.evaluated,
            "rejected": dict(rejected),
            "rejected_total": total,
            "reconciles": self.stats.records == self.evaluated + total,
            "rejected_examples": self.stats.examples,
            "categories": dict(self.stats.categories),
            "shapes": dict(self.stats.shapes),
            "logged_kinds": dict(self.by_kind),
            "application_rules_only": self.app_rules_only,
            "notes": list(self.stats.notes),
        }

    def rule_rows(self) -> list[dict[str, Any]]:
        rows = []
        for i, r in enumerate(self.policy.rules):
            h = self.hits.get(i)
            rows.append({"kind": r.kind, "group": r.group, "collection": r.collection, "rule": r.name,
                         "action": "Dnat" if r.kind == "nat" else r.action, "skipped": r.skipped,
                         "flows": h[0] if h else 0, "first_seen": _iso(h[1]) if h else None,
                         "last_seen": _iso(h[2]) if h else None})
        return rows

    def to_dict(self) -> dict[str, Any]:
        rules = self.rule_rows()
        d = self.hits.get(-1)
        return {
            "reconciliation": self.reconciliation(),
            "agreement": {
                "agree": self.agree,
                "disagree": self.disagree,
                "decision_disagree": self.decision_disagree,
                "rule_disagree": self.rule_disagree,
                "rule_not_comparable": self.rule_not_comparable,
                "examples": self.examples,
            },
            "rules": rules,
            "default_deny": {"flows": d[0] if d else 0, "first_seen": _iso(d[1]) if d else None,
                             "last_seen": _iso(d[2]) if d else None},
            "unused_rules": [f"{r['kind']} {r['group']}/{r['collection']}/{r['rule']}" + (" (skipped)" if r["skipped"] else "")
                             for r in rules if r["flows"] == 0],
            "top_talkers": [{"src_ip": k, "flows": v} for k, v in self.talkers.most_common(10)],
            "denied_by_port": [{"protocol": p, "dst_port": port, "flows": v}
                               for (p, port), v in self.denied_ports.most_common(20)],
            "timeline": [{"hour": _iso(k), "allowed": v[0], "denied": v[1]}
                         for k, v in sorted(self.timeline.items(), key=lambda kv: kv[0])],
        }


def _iso(t: Any) -> str | None:
    return t.isoformat() if isinstance(t, (_dt.datetime, _dt.date)) else (None if t is None else str(t))


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").casefold() == (b or "").casefold()


def replay(stream: Iterable[pa.Table], fw: FirewallPolicy, *, threads: int | None = None,
           on_batch: Callable[[pa.Table, pa.Table], None] | None = None) -> FirewallReport:
    """Replay every record of ``stream`` (``firewall_logs.read``); ``on_batch(table, verdicts)`` sees each file's rows."""
    report = FirewallReport(stats=getattr(stream, "stats", FirewallLogStats()), policy=fw)
    for table in stream:
        verdicts = _replay_table(report, fw, table, threads)
        if on_batch is not None:
            on_batch(table, verdicts)
    return report


def _replay_table(report: FirewallReport, fw: FirewallPolicy, table: pa.Table, threads: int | None) -> pa.Table:
    pos, reasons = evaluate_records(fw, table, threads=threads)
    cols = {name: table.column(name).to_pylist() for name in (
        "time", "kind", "protocol", "src_ip", "src_port", "dst_ip", "dst_port", "fqdn", "logged_action", "logged_default",
        "logged_group", "logged_collection", "logged_rule", "source_file", "record_index")}
    out: dict[str, list[Any]] = {name: [] for name in VERDICT_SCHEMA.names}
    for i in range(table.num_rows):
        kind = cols["kind"][i]
        report.by_kind[kind] += 1
        if reasons[i] is not None:
            report.rejected_by_evaluation[reasons[i]] += 1
            for name in VERDICT_SCHEMA.names:
                out[name].append(None)
            out["agreement"][-1], out["reject_reason"][-1] = "rejected", reasons[i]
            continue
        report.evaluated += 1
        if cols["dst_ip"][i] is None:
            report.app_rules_only += 1
        r = fw.rules[pos[i]] if pos[i] >= 0 else None
        access = "Deny" if r is None else ("Allow" if r.kind == "nat" else r.action)
        logged_access = "Allow" if cols["logged_action"][i] in ("Allow", "Dnat") else "Deny"
        dec_diff = access != logged_access
        if cols["logged_default"][i]:
            comparable, same_rule = True, r is None
        elif cols["logged_rule"][i] is not None:
            comparable = True
            same_rule = r is not None and _same(r.name, cols["logged_rule"][i]) and r.kind == kind and \
                (cols["logged_collection"][i] is None or _same(r.collection, cols["logged_collection"][i])) and \
                (cols["logged_group"][i] is None or _same(r.group, cols["logged_group"][i]))
        else:
            comparable, same_rule = False, True
        rule_diff = comparable and not same_rule and not dec_diff
        if dec_diff or rule_diff:
            report.disagree += 1
            if dec_diff:
                report.decision_disagree += 1
            else:
                report.rule_disagree += 1
            verdict = "disagree_decision" if dec_diff else "disagree_rule"
            if len(report.examples) < EXAMPLES:
                report.examples.append({
                    "kind": "decision" if dec_diff else "rule", "logged_kind": kind,
                    "time": _iso(cols["time"][i]), "protocol": cols["protocol"][i], "src_ip": cols["src_ip"][i],
                    "src_port": cols["src_port"][i], "dst_ip": cols["dst_ip"][i], "dst_port": cols["dst_port"][i],
                    "fqdn": cols["fqdn"][i], "logged_action": cols["logged_action"][i],
                    "logged_rule": None if cols["logged_default"][i] else
                    "/".join(x or "?" for x in (cols["logged_group"][i], cols["logged_collection"][i], cols["logged_rule"][i])),
                    "computed_access": access, "computed_kind": r.kind if r else None,
                    "computed_rule": f"{r.group}/{r.collection}/{r.name}" if r else None,
                    "source_file": cols["source_file"][i], "record_index": cols["record_index"][i]})
        else:
            report.agree += 1
            verdict = "agree"
        if not comparable:
            report.rule_not_comparable += 1
            if verdict == "agree":
                verdict = "rule_not_comparable"
        t = cols["time"][i]
        h = report.hits.setdefault(int(pos[i]), [0, None, None])
        h[0] += 1
        if t is not None:
            h[1] = t if h[1] is None or t < h[1] else h[1]
            h[2] = t if h[2] is None or t > h[2] else h[2]
            slot = report.timeline[t.replace(minute=0, second=0, microsecond=0)]
            slot[0 if access == "Allow" else 1] += 1
        report.talkers[cols["src_ip"][i]] += 1
        if access == "Deny":
            report.denied_ports[(cols["protocol"][i], cols["dst_port"][i])] += 1
        out["computed_access"].append(access)
        out["computed_kind"].append(r.kind if r else None)
        out["computed_group"].append(r.group if r else None)
        out["computed_collection"].append(r.collection if r else None)
        out["computed_rule"].append(r.name if r else None)
        out["computed_translated"].append(r.translated if r is not None and r.kind == "nat" else None)
        out["agreement"].append(verdict)
        out["reject_reason"].append(None)
    return pa.table(out, schema=VERDICT_SCHEMA)
