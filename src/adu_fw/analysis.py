"""Flow-log replay: every tuple through the compiled policy, compared with what the log recorded.

The report reconciles (``tuples_read == evaluated + rejected``), compares decisions and rules
with the log (flow-log names ``UserRule_x`` / ``DefaultRule_x`` against the computed ones,
case-insensitively; AVNM, platform and ``unspecified`` rules are not comparable), and counts hits
per rule, rules never hit, top talkers, denied flows by port and traffic to and from a service tag.
Aggregates are merged batch by batch, so memory follows the number of distinct keys, not tuples.
"""
from __future__ import annotations

import bisect
import datetime as _dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .evaluate import evaluate
from .flowlogs import FlowLogStream
from .ip import parse_addresses, parse_prefixes
from .policy import Policy

__all__ = ["Report", "analyze", "TagMatcher", "row_agreement"]

EXAMPLES = 10
COMPARABLE_PREFIXES = ("userrule_", "defaultrule_")
TRUNCATED_RULE_NAME = 65  # NSG flow logs may cut rule names longer than this


class TagMatcher:
    """Membership of addresses in one tag's prefixes (merged intervals, searched with numpy)."""

    def __init__(self, prefixes: Iterable[str]) -> None:
        col = parse_prefixes(list(prefixes))
        v4 = col.family == 4
        p4 = col.plen[v4].astype(np.uint64)
        start = col.lo[v4]
        end = start + (np.uint64(1) << (np.uint64(32) - p4)) - np.uint64(1)
        order = np.argsort(start)
        self.v4_start, self.v4_reach = start[order], np.maximum.accumulate(end[order]) if len(end) else end
        spans = sorted(
            (((h << 64) | l), ((h << 64) | l) + (1 << (128 - p)) - 1)
            for h, l, p, f in zip(col.hi.tolist(), col.lo.tolist(), col.plen.tolist(), col.family.tolist())
            if f == 6
        )
        self.v6_start = [a for a, _ in spans]
        self.v6_reach = []
        top = -1
        for _, b in spans:
            top = max(top, b)
            self.v6_reach.append(top)

    def contains(self, addresses: Any) -> np.ndarray:
        col = parse_addresses(addresses)
        out = np.zeros(len(col), bool)
        v4 = col.family == 4
        if v4.any() and len(self.v4_start):
            keys = col.lo[v4]
            i = np.searchsorted(self.v4_start, keys, side="right") - 1
            out[v4] = (i >= 0) & (self.v4_reach[np.maximum(i, 0)] >= keys)
        for row in np.flatnonzero(col.family == 6).tolist():
            key = (int(col.hi[row]) << 64) | int(col.lo[row])
            i = bisect.bisect_right(self.v6_start, key) - 1
            out[row] = i >= 0 and self.v6_reach[i] >= key
        return out


@dataclass
class Report:
    """Everything `adu-fw analyze` prints; ``to_dict`` is the --json document."""

    stats: Any
    evaluated: int = 0
    rejected_by_evaluation: Counter = field(default_factory=Counter)
    agree: int = 0
    disagree: int = 0
    unknown: int = 0
    decision_disagree: int = 0
    rule_disagree: int = 0
    rule_not_comparable: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    hits: dict[int, list[Any]] = field(default_factory=dict)  # rule_index -> [flows, bytes, first, last]
    talkers: Counter = field(default_factory=Counter)
    denied_ports: Counter = field(default_factory=Counter)
    timeline: dict[Any, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    tag: str | None = None
    tag_counts: dict[str, Counter] = field(default_factory=lambda: {"Inbound": Counter(), "Outbound": Counter()})
    labels: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def rejected(self) -> Counter:
        out = Counter(self.stats.rejected)
        out.update(self.rejected_by_evaluation)
        return out

    def reconciliation(self) -> dict[str, Any]:
        rejected = self.rejected
        total_rejected = sum(rejected.values())
        return {
            "files": self.stats.files,
            "files_skipped_by_time": self.stats.files_skipped_by_time,
            "records": self.stats.records,
            "records_truncated": self.stats.records_truncated,
            "tuples_read": self.stats.tuples_read,
            "rejected": dict(rejected),
            "rejected_total": total_rejected,
            "evaluated": self.evaluated,
            "reconciles": self.stats.tuples_read == self.evaluated + total_rejected,
            "rejected_examples": self.stats.examples,
            "versions": {str(k): v for k, v in self.stats.versions.items()},
            "notes": list(self.stats.notes),
        }

    def rule_rows(self) -> list[dict[str, Any]]:
        rows = []
        for i, name in enumerate(self.labels.get("rule", [])):
            h = self.hits.get(i)
            rows.append(
                {
                    "rule": name,
                    "nsg": self.labels["nsg"][i],
                    "direction": self.labels["direction"][i],
                    "priority": self.labels["priority"][i],
                    "access": self.labels["access"][i],
                    "log_rule": self.labels["log_rule"][i],
                    "flows": h[0] if h else 0,
                    "bytes": h[1] if h else 0,
                    "first_seen": h[2].isoformat() if h and h[2] is not None else None,
                    "last_seen": h[3].isoformat() if h and h[3] is not None else None,
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        rules = self.rule_rows()
        return {
            "reconciliation": self.reconciliation(),
            "agreement": {
                "agree": self.agree,
                "disagree": self.disagree,
                "unknown": self.unknown,
                "decision_disagree": self.decision_disagree,
                "rule_disagree": self.rule_disagree,
                "rule_not_comparable": self.rule_not_comparable,
                "examples": self.examples,
            },
            "rules": rules,
            "unused_rules": [f"{r['nsg']}/{r['rule']} ({r['direction']}, {r['priority']})" for r in rules if r["flows"] == 0],
            "top_talkers": [{"src_ip": ip, "flows": n} for ip, n in self.talkers.most_common(10)],
            "denied_by_port": [
                {"protocol": int(p), "dst_port": int(port), "flows": n} for (p, port), n in self.denied_ports.most_common(20)
            ],
            "tag": None
            if self.tag is None
            else {
                "name": self.tag,
                "outbound_to_tag": dict(self.tag_counts["Outbound"]),
                "inbound_from_tag": dict(self.tag_counts["Inbound"]),
            },
            "timeline": [
                {"hour": k.isoformat() if hasattr(k, "isoformat") else str(k), "allowed": v[0], "denied": v[1]}
                for k, v in sorted(self.timeline.items(), key=lambda kv: str(kv[0]))
            ],
        }


def _dict_parts(arr: Any) -> tuple[np.ndarray, np.ndarray]:
    """(indices with -1 for null, lower-cased dictionary values) of a string column."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    values = np.array([(v or "").lower() for v in arr.dictionary.to_pylist()] + [""], dtype=object)
    idx = np.asarray(arr.indices.fill_null(-1)).astype(np.int64)
    return idx, values


def analyze(
    stream: FlowLogStream,
    policy: Policy,
    *,
    tag: str | None = "AzureDeviceUpdate",
    threads: int | None = None,
    on_batch: Callable[[pa.RecordBatch, pa.Table], None] | None = None,
) -> Report:
    """Replay every tuple of ``stream``; ``on_batch(batch, verdicts)`` sees each evaluated batch."""
    compiled = policy.compile()
    report = Report(stats=stream.stats, tag=None, labels=compiled.labels)
    matcher = None
    if tag:
        found = policy.service_tags.get(tag)
        if found is None:
            from .errors import PolicyError

            raise PolicyError(f"unknown service tag {tag!r} (not in {policy.service_tags.source})", field="--tag")
        report.tag = found.name
        matcher = TagMatcher(found.address_prefixes)
    for batch in stream:
        verdicts = evaluate(compiled, batch, threads=threads)
        rule_index = verdicts.column("rule_index").to_numpy()
        ok = rule_index != -2
        if not ok.all():
            for reason, n in Counter(verdicts.column("reject_reason").drop_null().to_pylist()).items():
                report.rejected_by_evaluation["evaluation: " + reason] += n
        report.evaluated += int(ok.sum())
        if on_batch is not None:
            on_batch(batch, verdicts)
        _agreement(report, batch, verdicts, ok)
        _aggregates(report, batch, verdicts, ok, matcher)
    return report


def _agreement_masks(batch: Any, verdicts: pa.Table, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(known, decision differs, rule differs, rule comparable) per row."""
    li, lvals = _dict_parts(batch.column("logged_rule"))
    ci, cvals = _dict_parts(verdicts.column("log_rule"))
    di, dvals = _dict_parts(batch.column("logged_decision"))
    ai, avals = _dict_parts(verdicts.column("access"))
    logged_dec = dvals[di]
    known = ok & (di >= 0)
    dec_diff = known & (logged_dec != avals[ai])
    comparable_v = np.array([v.startswith(COMPARABLE_PREFIXES) for v in lvals], dtype=bool)
    comparable = comparable_v[li]
    # compare rule names through a table of (logged, computed) dictionary pairs: few distinct pairs
    li_, ci_ = np.where(li < 0, len(lvals) - 1, li), np.where(ci < 0, len(cvals) - 1, ci)  # nulls: the "" entry
    base = len(cvals)
    pair = li_ * base + ci_
    same_rule = np.zeros(len(li), bool)
    for p in np.unique(pair).tolist():
        lv, cv = lvals[p // base], cvals[p % base]
        same = lv == cv or (len(lv.split("_", 1)[-1]) >= TRUNCATED_RULE_NAME and cv.startswith(lv))
        same_rule[pair == p] = same
    rule_diff = known & comparable & ~same_rule & ~dec_diff
    return known, dec_diff, rule_diff, comparable


def row_agreement(batch: Any, verdicts: pa.Table) -> np.ndarray:
    """Per row: agree, disagree_decision, disagree_rule, unknown (no logged decision) or rejected."""
    ok = verdicts.column("rule_index").to_numpy() != -2
    known, dec_diff, rule_diff, _ = _agreement_masks(batch, verdicts, ok)
    out = np.full(len(ok), "agree", dtype=object)
    out[ok & ~known] = "unknown"
    out[dec_diff] = "disagree_decision"
    out[rule_diff] = "disagree_rule"
    out[~ok] = "rejected"
    return out


def _agreement(report: Report, batch: pa.RecordBatch, verdicts: pa.Table, ok: np.ndarray) -> None:
    known, dec_diff, rule_diff, comparable = _agreement_masks(batch, verdicts, ok)
    report.unknown += int((ok & ~known).sum())
    report.decision_disagree += int(dec_diff.sum())
    report.rule_disagree += int(rule_diff.sum())
    report.rule_not_comparable += int((known & ~comparable).sum())
    bad = dec_diff | rule_diff
    report.disagree += int(bad.sum())
    report.agree += int((known & ~bad).sum())
    if bad.any() and len(report.examples) < EXAMPLES:
        cols = {name: batch.column(name) for name in ("time", "src_ip", "src_port", "dst_ip", "dst_port", "protocol", "direction", "logged_rule", "logged_decision", "source_file", "record_index", "tuple_index")}
        for i in np.flatnonzero(bad)[: EXAMPLES - len(report.examples)].tolist():
            ex = {k: (v[i].as_py() if not isinstance(v[i].as_py(), _dt.datetime) else v[i].as_py().isoformat()) for k, v in cols.items()}
            ex.update(
                kind="decision" if dec_diff[i] else "rule",
                computed_decision=verdicts.column("access")[i].as_py(),
                computed_rule=verdicts.column("rule")[i].as_py(),
                computed_log_rule=verdicts.column("log_rule")[i].as_py(),
                computed_nsg=verdicts.column("nsg")[i].as_py(),
            )
            report.examples.append(ex)


def _aggregates(report: Report, batch: pa.RecordBatch, verdicts: pa.Table, ok: np.ndarray, matcher: TagMatcher | None) -> None:
    if not ok.any():
        return
    b = pa.Table.from_batches([batch])
    v = verdicts
    if not ok.all():
        take = pa.array(np.flatnonzero(ok))
        b, v = b.take(take), v.take(take)
    bytes_col = pc.add(b.column("bytes_src_to_dst").fill_null(0), b.column("bytes_dst_to_src").fill_null(0))
    t = pa.table({
        "rule_index": v.column("rule_index"),
        "bytes": bytes_col,
        "time": b.column("time"),
    })
    g = t.group_by("rule_index").aggregate([("rule_index", "count"), ("bytes", "sum"), ("time", "min"), ("time", "max")])
    for ri, n, by, first, last in zip(*(g.column(c).to_pylist() for c in ("rule_index", "rule_index_count", "bytes_sum", "time_min", "time_max"))):
        h = report.hits.setdefault(ri, [0, 0, None, None])
        h[0] += n
        h[1] += by or 0
        h[2] = first if h[2] is None or (first is not None and first < h[2]) else h[2]
        h[3] = last if h[3] is None or (last is not None and last > h[3]) else h[3]
    src = pa.table({"src_ip": b.column("src_ip")}).group_by("src_ip").aggregate([("src_ip", "count")])
    report.talkers.update(dict(zip(src.column("src_ip").to_pylist(), src.column("src_ip_count").to_pylist())))
    allowed = v.column("allowed").to_numpy(zero_copy_only=False).astype(bool)
    denied = ~allowed
    if denied.any():
        d = pa.table({"protocol": b.column("protocol"), "dst_port": b.column("dst_port")}).filter(pa.array(denied))
        g = d.group_by(["protocol", "dst_port"]).aggregate([("dst_port", "count")])
        for p, port, n in zip(g.column("protocol").to_pylist(), g.column("dst_port").to_pylist(), g.column("dst_port_count").to_pylist()):
            report.denied_ports[(p, port)] += n
    hours = pc.floor_temporal(b.column("time"), unit="hour")
    ht = pa.table({"hour": hours, "allowed": pa.array(allowed.astype(np.int64)), "denied": pa.array(denied.astype(np.int64))})
    g = ht.group_by("hour").aggregate([("allowed", "sum"), ("denied", "sum")])
    for hour, a, d_ in zip(g.column("hour").to_pylist(), g.column("allowed_sum").to_pylist(), g.column("denied_sum").to_pylist()):
        report.timeline[hour][0] += a
        report.timeline[hour][1] += d_
    if matcher is not None:
        outbound = np.asarray(pc.equal(b.column("direction").cast(pa.string()), "Outbound").fill_null(False))
        remote = pc.if_else(pa.array(outbound), b.column("dst_ip"), b.column("src_ip"))
        in_tag = matcher.contains(remote)
        for dname, dmask in (("Outbound", outbound), ("Inbound", ~outbound)):
            m = in_tag & dmask
            report.tag_counts[dname]["allowed"] += int((m & allowed).sum())
            report.tag_counts[dname]["denied"] += int((m & denied).sum())
