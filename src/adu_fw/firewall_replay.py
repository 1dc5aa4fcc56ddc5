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
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import pyarrow as pa

import pyarrow.compute as pc

from .analysis import TagMatcher
from .firewall import FirewallPolicy, _fqdn_match
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


def _lowered(col: Any) -> np.ndarray:
    """A string column as an object array of lower-cased values (None for null), through its dictionary."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    values = np.array([v.lower() for v in arr.dictionary.to_pylist()] + [None], dtype=object)
    return values[np.asarray(arr.indices.fill_null(len(values) - 1))]


def _app_positions(fw: FirewallPolicy, index: dict[int, int], table: pa.Table, rows: np.ndarray, fa: Any) -> np.ndarray:
    """Per row of ``rows``: the position of the first application rule it matches (Azure's order), or -1.

    Vectorised per rule: TCP, the rule's protocol ports, the source in the rule's sources (an
    interval table over the prefixes) and the FQDN against the rule's targets (once per distinct FQDN).
    """
    out = np.full(len(rows), -1, np.int64)
    rules = [r for r in fw.rules if r.kind == "application" and not r.skipped]
    if not rules or not len(rows):
        return out
    fq = table.column("fqdn").take(pa.array(rows)).combine_chunks()
    enc = pc.dictionary_encode(fq)
    names = enc.dictionary.to_pylist()
    fidx = np.asarray(enc.indices.fill_null(len(names)))
    proto = fa.protocol[rows]
    dport = fa.dst_port[rows]
    src, _ = fa.addresses()
    fam, hi, lo = src.family[rows], src.hi[rows], src.lo[rows]
    for r in rules:
        free = out == -1
        if not free.any():
            break
        ports = np.array(sorted({p for _, p in r.app_protocols}), np.int64)
        m = free & (proto == 6) & np.isin(dport.astype(np.int64), ports)
        targets = np.array([any(_fqdn_match(p, n) for p in r.target_fqdns) for n in names] + [False], bool)
        m &= targets[fidx]
        if m.any() and not r.any_source:
            m &= TagMatcher(r.sources).contains_parsed(fam, hi, lo) if r.sources else False
        out[m] = index[id(r)]
    return out


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
    has_dst = np.asarray(table.column("dst_ip").is_valid())
    # a record without a destination address (an application line naming only its FQDN) stands in with 0.0.0.0:
    # it goes to the application rules only, as the log says no DNAT or network rule took it
    cols = {"direction": np.zeros(n, np.uint8), "protocol": table.column("protocol"), "src_ip": table.column("src_ip"),
            "src_port": table.column("src_port"), "dst_ip": pc.fill_null(table.column("dst_ip"), "0.0.0.0"),
            "dst_port": table.column("dst_port")}
    fa = flow_arrays(cols)
    if n and compiled_rules:
        rule_idx, _ = classify(fw.compile(), fa, threads)
        to_pos = np.array([index[id(r)] for r in compiled_rules] + [-1], np.int64)
        pos = np.where(has_dst, to_pos[np.where(rule_idx >= 0, rule_idx, len(compiled_rules))], -1)
        bad = np.flatnonzero(rule_idx == -2)
        if len(bad):
            why = fa.reasons()
            for k in bad.tolist():
                reasons[k] = "evaluation: " + str(why[k] if why is not None else "not evaluable")
                pos[k] = -1
    todo = np.flatnonzero((pos == -1) & np.asarray(table.column("fqdn").is_valid())
                          & np.array([r is None for r in reasons], bool))
    pos[todo] = _app_positions(fw, index, table, todo, fa)
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
    """Evaluate one table of records and fold it into the report, in numpy (no loop over records)."""
    n = table.num_rows
    pos, reasons = evaluate_records(fw, table, threads=threads)
    rejected = np.array([r is not None for r in reasons], bool)
    ok = ~rejected
    for reason in [r for r in reasons if r is not None]:
        report.rejected_by_evaluation[reason] += 1
    kind = _lowered(table.column("kind"))
    for k, c in zip(*np.unique(kind.astype(str), return_counts=True)):
        report.by_kind[str(k)] += int(c)
    report.evaluated += int(ok.sum())
    report.app_rules_only += int((ok & ~np.asarray(table.column("dst_ip").is_valid())).sum())
    # per rule position (the last entry: the default deny)
    rules = fw.rules
    r_access = np.array([("Allow" if r.kind == "nat" else r.action) for r in rules] + ["Deny"], dtype=object)
    r_kind = np.array([r.kind for r in rules] + [None], dtype=object)
    low = lambda xs: np.array([x.lower() for x in xs] + [None], dtype=object)  # noqa: E731
    r_name, r_coll, r_group = low([r.name for r in rules]), low([r.collection for r in rules]), low([r.group for r in rules])
    at = np.where(pos >= 0, pos, len(rules))
    access = r_access[at]
    logged_access = np.where(np.isin(_lowered(table.column("logged_action")).astype(str), ["allow", "dnat"]), "Allow", "Deny")
    dec_diff = ok & (access != logged_access)
    default = np.asarray(table.column("logged_default").fill_null(False), bool)
    lrule, lcoll, lgroup = (_lowered(table.column(c)) for c in ("logged_rule", "logged_collection", "logged_group"))
    named = lrule != None  # noqa: E711
    comparable = default | named
    same_named = (pos >= 0) & (r_name[at] == lrule) & (r_kind[at] == kind) & \
        ((lcoll == None) | (r_coll[at] == lcoll)) & ((lgroup == None) | (r_group[at] == lgroup))  # noqa: E711
    same_rule = np.where(default, pos < 0, np.where(named, same_named, True))
    rule_diff = ok & comparable & ~same_rule & ~dec_diff
    bad = dec_diff | rule_diff
    report.disagree += int(bad.sum())
    report.decision_disagree += int(dec_diff.sum())
    report.rule_disagree += int(rule_diff.sum())
    report.agree += int((ok & ~bad).sum())
    report.rule_not_comparable += int((ok & ~comparable).sum())
    verdict = np.where(dec_diff, "disagree_decision", np.where(rule_diff, "disagree_rule",
                       np.where(comparable, "agree", "rule_not_comparable"))).astype(object)
    verdict[rejected] = "rejected"
    if bad.any() and len(report.examples) < EXAMPLES:
        _examples(report, table, np.flatnonzero(bad)[: EXAMPLES - len(report.examples)], dec_diff, pos, access)
    _aggregate(report, table, pos, access, ok)
    names = np.array([r.name for r in rules] + [None], dtype=object)
    coll = np.array([r.collection for r in rules] + [None], dtype=object)
    group = np.array([r.group for r in rules] + [None], dtype=object)
    translated = np.array([r.translated if r.kind == "nat" else None for r in rules] + [None], dtype=object)

    def col(values: np.ndarray) -> pa.Array:
        v = values.copy()
        v[rejected] = None
        return pa.array(v, pa.string())

    return pa.table({"computed_access": col(access), "computed_kind": col(r_kind[at]), "computed_group": col(group[at]),
                     "computed_collection": col(coll[at]), "computed_rule": col(names[at]),
                     "computed_translated": col(translated[at]), "agreement": pa.array(verdict, pa.string()),
                     "reject_reason": pa.array(reasons, pa.string())}, schema=VERDICT_SCHEMA)


def _examples(report: FirewallReport, table: pa.Table, rows: np.ndarray, dec_diff: np.ndarray, pos: np.ndarray,
              access: np.ndarray) -> None:
    sub = table.take(pa.array(rows)).to_pylist()
    for i, rec in zip(rows.tolist(), sub):
        r = report.policy.rules[pos[i]] if pos[i] >= 0 else None
        report.examples.append({
            "kind": "decision" if dec_diff[i] else "rule", "logged_kind": rec["kind"], "time": _iso(rec["time"]),
            "protocol": rec["protocol"], "src_ip": rec["src_ip"], "src_port": rec["src_port"], "dst_ip": rec["dst_ip"],
            "dst_port": rec["dst_port"], "fqdn": rec["fqdn"], "logged_action": rec["logged_action"],
            "logged_rule": None if rec["logged_default"] else
            "/".join(x or "?" for x in (rec["logged_group"], rec["logged_collection"], rec["logged_rule"])),
            "computed_access": access[i], "computed_kind": r.kind if r else None,
            "computed_rule": f"{r.group}/{r.collection}/{r.name}" if r else None,
            "source_file": rec["source_file"], "record_index": rec["record_index"]})


_HOUR_US = 3_600_000_000


def _aggregate(report: FirewallReport, table: pa.Table, pos: np.ndarray, access: np.ndarray, ok: np.ndarray) -> None:
    """Hits per rule with first and last seen, the timeline, talkers and denied ports of the evaluated rows."""
    if not ok.any():
        return
    t_null = np.asarray(table.column("time").is_null())
    us = np.asarray(table.column("time").cast(pa.int64()).fill_null(0))
    key = pos[ok] + 1  # 0: the default deny
    size = len(report.policy.rules) + 1
    counts = np.bincount(key, minlength=size)
    timed = ok & ~t_null
    first = np.full(size, np.iinfo(np.int64).max, np.int64)
    last = np.full(size, np.iinfo(np.int64).min, np.int64)
    np.minimum.at(first, pos[timed] + 1, us[timed])
    np.maximum.at(last, pos[timed] + 1, us[timed])
    for k in np.flatnonzero(counts).tolist():
        h = report.hits.setdefault(k - 1, [0, None, None])
        h[0] += int(counts[k])
        if first[k] <= last[k]:
            f, l_ = _when(int(first[k])), _when(int(last[k]))
            h[1] = f if h[1] is None or f < h[1] else h[1]
            h[2] = l_ if h[2] is None or l_ > h[2] else h[2]
    allowed = access == "Allow"
    hours, inv = np.unique(us[timed] // _HOUR_US, return_inverse=True)
    a = np.bincount(inv.reshape(-1), weights=allowed[timed], minlength=len(hours))
    for h, na, nt in zip(hours.tolist(), a.tolist(), np.bincount(inv.reshape(-1), minlength=len(hours)).tolist()):
        slot = report.timeline[_when(h * _HOUR_US)]
        slot[0] += int(na)
        slot[1] += int(nt - na)
    src = table.column("src_ip").filter(pa.array(ok))
    vc = pc.value_counts(src)
    report.talkers.update(dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist())))
    denied = ok & ~allowed
    if denied.any():
        proto = np.asarray(table.column("protocol").fill_null(0)).astype(np.int64)[denied]
        port = np.asarray(table.column("dst_port").fill_null(0)).astype(np.int64)[denied]
        keys, n = np.unique((proto << 16) | port, return_counts=True)
        for k, c in zip(keys.tolist(), n.tolist()):
            report.denied_ports[(k >> 16, k & 0xFFFF)] += c


def _when(us: int) -> _dt.datetime:
    return _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(microseconds=us)
