"""Flow-log replay: every tuple through the compiled policy, compared with what the log recorded.

The report reconciles (``tuples_read == evaluated + rejected``), compares decisions and rules
with the log (flow-log names ``UserRule_x`` / ``DefaultRule_x`` against the computed ones,
case-insensitively; when the policy has AVNM security admin rules, every other logged name but
``PlatformRule`` and ``unspecified`` is an admin rule's, compared by name with or without the
``_<guid>`` VNet flow logs append; without admin rules, AVNM, platform and ``unspecified`` rules are
not comparable), and counts hits
per rule, rules never hit, top talkers, denied flows by port and traffic to and from a service tag.
Aggregates are merged batch by batch, so memory follows the number of distinct keys, not tuples.
"""
from __future__ import annotations

import datetime as _dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _prefix
from .adminrules import AdminMatches, admin_names, logged_admin_rule, strip_log_suffix
from .compile import _Intervals
from .evaluate import evaluate
from .flowlogs import FlowLogStream, ReadStats, read_file
from .flowtable import FlowArrays, flow_arrays
from .ip import format_address, parse_addresses
from .policy import Policy
from .workers import ordered, resolve_threads

__all__ = ["Report", "Replay", "analyze", "TagMatcher", "row_agreement"]

EXAMPLES = 10
COMPARABLE_PREFIXES = ("userrule_", "defaultrule_")
TRUNCATED_RULE_NAME = 65  # NSG flow logs may cut rule names longer than this


class TagMatcher:
    """Membership of addresses in one tag's prefixes: merged into an interval table, located in compiled code."""

    def __init__(self, prefixes: Iterable[str]) -> None:
        (start4, end4), v6 = _Intervals().get(tuple(prefixes))  # the compiler's own prefix -> range step
        v4s, self.v4_value = _interval_table(list(zip(start4.tolist(), end4.tolist())), 32)
        self.v4_starts = np.asarray(v4s, np.uint32)
        v6s, self.v6_value = _interval_table(v6, 128)
        self.v6_hi = np.array([v >> 64 for v in v6s], np.uint64)
        self.v6_lo = np.array([v & 0xFFFFFFFFFFFFFFFF for v in v6s], np.uint64)

    def contains(self, addresses: Any) -> np.ndarray:
        col = parse_addresses(addresses)
        return self.contains_parsed(col.family, col.hi, col.lo)

    def contains_parsed(self, family: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        out = np.empty(len(family), np.int32)
        _prefix.locate(
            np.ascontiguousarray(family, np.uint8), np.ascontiguousarray(hi, np.uint64), np.ascontiguousarray(lo, np.uint64),
            self.v4_starts, self.v4_value, self.v6_hi, self.v6_lo, self.v6_value, out, 0,
        )
        return out == 1

    def contains_v4(self, keys: np.ndarray) -> np.ndarray:
        out = np.empty(len(keys), np.int32)
        _prefix.locate_v4(np.ascontiguousarray(keys, np.uint32), self.v4_starts, self.v4_value, out)
        return out == 1


def _interval_table(spans: list[tuple[int, int]], bits: int) -> tuple[list[int], np.ndarray]:
    """Starts (the first one 0) and 0/1 values of the union of closed ranges."""
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    starts, values = [0], [0]
    for a, b in merged:
        if a == starts[-1]:
            values[-1] = 1
        else:
            starts.append(a)
            values.append(1)
        if b + 1 < (1 << bits):
            starts.append(b + 1)
            values.append(0)
    return starts, np.asarray(values, np.int32)


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
    talker_counts: "KeyCounts" = field(default_factory=lambda: KeyCounts())  # source address as an int; IPv6 offset by 2**128
    denied_ports: Counter = field(default_factory=Counter)
    timeline: dict[Any, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    tag: str | None = None
    tag_counts: dict[str, Counter] = field(default_factory=lambda: {"Inbound": Counter(), "Outbound": Counter()})
    labels: dict[str, list[Any]] = field(default_factory=dict)
    admin_matched: dict[int, int] = field(default_factory=dict)  # rule_index -> flows its admin stage matched first
    batches: list[tuple[Any, Any]] = field(default_factory=list, repr=False)  # a part's (batch, verdicts) for on_batch

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["timeline"] = dict(self.timeline)  # a defaultdict of a lambda does not pickle
        state["batches"] = []
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        timeline = defaultdict(lambda: [0, 0])
        timeline.update(state["timeline"])
        self.__dict__.update(state, timeline=timeline)

    def merge(self, other: "Report") -> None:
        """Add a part's aggregates (a file's, a batch's) that comes after these in input order."""
        for name in ("evaluated", "agree", "disagree", "unknown", "decision_disagree", "rule_disagree", "rule_not_comparable"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejected_by_evaluation.update(other.rejected_by_evaluation)
        self.examples += other.examples[: max(0, EXAMPLES - len(self.examples))]
        for r, (n, nbytes, first, last) in other.hits.items():
            h = self.hits.setdefault(r, [0, 0, None, None])
            h[0] += n
            h[1] += nbytes
            h[2] = first if h[2] is None or (first is not None and first < h[2]) else h[2]
            h[3] = last if h[3] is None or (last is not None and last > h[3]) else h[3]
        self.talker_counts.merge(other.talker_counts)
        self.denied_ports.update(other.denied_ports)
        for hour, (a, d) in other.timeline.items():
            slot = self.timeline[hour]
            slot[0] += a
            slot[1] += d
        for direction, counts in other.tag_counts.items():
            self.tag_counts.setdefault(direction, Counter()).update(counts)
        for r, n in other.admin_matched.items():
            self.admin_matched[r] = self.admin_matched.get(r, 0) + n

    @property
    def talkers(self) -> Counter:
        """Flows per source address (text)."""
        return Counter({_address_text(k): n for k, n in self.talker_counts.counter().items()})

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
            **_read_more(self.stats),
            "nothing_evaluated": self.nothing_evaluated,
        }

    @property
    def nothing_evaluated(self) -> str | None:
        """None when tuples were evaluated; otherwise why not (nothing read, or every tuple rejected)."""
        why = getattr(self.stats, "nothing_read", None)
        if why or self.evaluated:
            return why
        reasons = "; ".join(f"{n:,} {r}" for r, n in self.rejected.items())
        return f"no tuple could be evaluated: {self.stats.tuples_read:,} read, every one rejected ({reasons})"

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
                    "layer": self.labels["layer"][i] if "layer" in self.labels else None,
                    **({"matched": self.admin_matched.get(i, h[0] if h else 0)}
                       if "layer" in self.labels and self.labels["layer"][i] == "admin" else {}),
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
            "unused_rules": [f"{r['nsg']}/{r['rule']} ({r['direction']}, {r['priority']})" for r in rules
                             if r["flows"] == 0 and not r.get("matched")],
            "admin_rules": [r for r in rules if r["layer"] == "admin"],
            "top_talkers": [{"src_ip": _address_text(k), "flows": n} for k, n in self.talker_counts.most_common(10)],
            "denied_by_port": [
                {"protocol": int(p), "dst_port": int(port), "flows": n} for (p, port), n in self.denied_ports.most_common()
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


def _read_more(stats: Any) -> dict[str, Any]:
    """The reader's account of files: shapes, each file read, the ones that are not flow logs, rejected elements."""
    if not hasattr(stats, "files_read"):
        return {}
    return {
        "shapes": dict(stats.shapes),
        "files_read": [dict(f) for f in stats.files_read],
        "skipped_files": [dict(f) for f in stats.skipped_files],
        "elements_rejected": dict(stats.elements_rejected),
        "elements_rejected_examples": stats.element_examples,
    }


def _dict_parts(arr: Any, native: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indices with null -> the last value, lower-cased dictionary values + "", null mask) of a string column;
    the indices as intp, or ``native``: in the dictionary's own integer type (no copy)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    values = np.array([(v or "").lower() for v in arr.dictionary.to_pylist()] + [""], dtype=object)
    indices = arr.indices
    if indices.null_count == 0:
        codes = np.asarray(indices)
        return codes if native else codes.astype(np.intp, copy=False), values, np.zeros(len(arr), bool)
    null = np.asarray(indices.is_null())
    codes = np.asarray(indices.fill_null(len(values) - 1))
    return codes if native else codes.astype(np.intp), values, null


def analyze(
    stream: FlowLogStream,
    policy: Policy,
    *,
    tag: str | None = "AzureDeviceUpdate",
    threads: int | None = None,
    on_batch: Callable[[pa.RecordBatch, pa.Table], None] | None = None,
) -> Report:
    """Replay every tuple of ``stream``; ``on_batch(batch, verdicts)`` sees each evaluated batch, in input order.

    ``threads`` (default: every core): files are read, evaluated and aggregated that many at a time
    (a stream without files: its batches), each into its own partial report, merged in input order;
    the report is the same whatever the number of threads.
    """
    replay = Replay.of(policy, tag, keep=on_batch is not None)
    report = replay.report(stream.stats)
    nt = resolve_threads(threads)
    if isinstance(stream, FlowLogStream):  # file by file: reading is spread too
        files = stream.files
        replay.matcher_threads = max(1, nt // max(1, min(nt, len(files))))  # one big file: the matcher's own threads
        parts = ordered(lambda ref: replay.file(ref, stream.batch_tuples), files, nt)
    else:
        pairs = stream.pairs() if hasattr(stream, "pairs") else ((b, None) for b in stream)
        replay.matcher_threads = 1 if nt > 1 else nt
        parts = ordered(lambda pair: replay.part([pair], None), pairs, nt)
    for part in parts:
        if part.stats is not None:
            stream.stats.merge(part.stats)
        if on_batch is not None:
            for batch, verdicts in part.batches:
                on_batch(batch, verdicts)
        report.merge(part)
    return report


class Replay:
    """What every part of a replay shares, read-only once made (and picklable for Spark tasks, unless the
    policy is time-aware); ``part`` replays some batches into a new partial report, ``Report.merge`` adds them."""

    def __init__(self, compiled: Any, labels: dict[str, list[Any]], tag: str | None, matcher: TagMatcher | None,
                 admin: AdminMatches | None, *, versioned: Any = None, keep: bool = False) -> None:
        self.compiled, self.labels, self.tag, self.matcher, self.admin = compiled, labels, tag, matcher, admin
        self.versioned = versioned  # a VersionedPolicy (adu_fw.tags.versions) evaluates each batch itself
        self.keep = keep  # parts keep their (batch, verdicts) for on_batch
        self.admin_names = admin_names(labels)
        self.matcher_threads = 1

    @classmethod
    def of(cls, policy: Any, tag: str | None = "AzureDeviceUpdate", *, keep: bool = False) -> "Replay":
        compiled = policy.compile()
        compiled.matcher()  # built once here, not by the first workers at the same time
        matcher, name = None, None
        if tag:
            found = policy.service_tags.get(tag)
            if found is None:
                from .errors import PolicyError

                raise PolicyError(f"unknown service tag {tag!r} (not in {policy.service_tags.source})", field="--tag")
            name, matcher = found.name, TagMatcher(found.address_prefixes)
        admin = AdminMatches.of(policy, compiled.labels)
        if admin is not None:
            admin.compiled.matcher()
        return cls(compiled, compiled.labels, name, matcher, admin, keep=keep,
                   versioned=policy if hasattr(policy, "evaluate_batch") else None)

    def report(self, stats: Any) -> Report:
        return Report(stats=stats, tag=self.tag, labels=self.labels)

    def file(self, ref: Any, batch_tuples: int = 500_000) -> Report:
        """One flow-log file (a ``FileRef``) read, evaluated and aggregated, with its own ``ReadStats``."""
        own = ReadStats()
        return self.part(read_file(ref, own, batch_tuples=batch_tuples), own)

    def part(self, pairs: Iterable[tuple[Any, Any]], stats: Any) -> Report:
        """Batches (each with its parsed flows, or None) replayed into a partial report holding ``stats``."""
        part = self.report(stats)
        threads = self.matcher_threads
        for batch, parsed in pairs:
            flows = parsed if parsed is not None else flow_arrays(batch)
            if self.versioned is not None:  # service tags by hour
                verdicts = self.versioned.evaluate_batch(batch, flows, threads=threads)
            else:
                verdicts = evaluate(self.compiled, flows, threads=threads)
            rule_index = verdicts.column("rule_index").to_numpy()
            ok = rule_index != -2
            if not ok.all():
                for reason, n in Counter(verdicts.column("reject_reason").drop_null().to_pylist()).items():
                    part.rejected_by_evaluation["evaluation: " + reason] += n
            part.evaluated += int(ok.sum())
            if self.admin is not None:
                self.admin.add_to(part.admin_matched, flows, ok, threads)
            if self.keep:
                part.batches.append((batch, verdicts))
            _agreement(part, batch, verdicts, ok, self.admin_names)
            _aggregates(part, batch, flows, verdicts, ok, self.matcher)
        return part


def _same_rule(logged: str, computed: str) -> bool:
    return logged == computed or strip_log_suffix(logged) == computed or (
        len(logged.split("_", 1)[-1]) >= TRUNCATED_RULE_NAME and computed.startswith(logged))


def _pair_table(left: np.ndarray, right: np.ndarray, same: Callable[[str, str], bool], li: np.ndarray, ri: np.ndarray) -> np.ndarray:
    """same(left[li[k]], right[ri[k]]) per row, each distinct pair compared once."""
    if len(left) * len(right) <= 4096:
        table = np.array([[same(a, b) for b in right] for a in left], dtype=bool).reshape(-1)
        return table[li * len(right) + ri]
    pair = li * len(right) + ri
    uniq, inverse = np.unique(pair, return_inverse=True)
    hit = np.array([same(left[p // len(right)], right[p % len(right)]) for p in uniq.tolist()], dtype=bool)
    return hit[inverse.reshape(-1)]


def _agreement_masks(batch: Any, verdicts: pa.Table, ok: np.ndarray, admin: frozenset[str] = frozenset()
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(known, decision differs, rule differs, rule comparable) per row; ``admin``: the policy's admin-rule names."""
    # compare through tables over the (few) dictionary values, not row by row; nulls: the "" entry
    li, lvals, _ = _dict_parts(batch.column("logged_rule"))
    ci, cvals, _ = _dict_parts(verdicts.column("log_rule"))
    di, dvals, dnull = _dict_parts(batch.column("logged_decision"))
    ai, avals, _ = _dict_parts(verdicts.column("access"))
    known = ok & ~dnull
    dec_diff = known & ~_pair_table(dvals, avals, str.__eq__, di, ai)
    comparable_v = np.array([v.startswith(COMPARABLE_PREFIXES) or logged_admin_rule(v, admin) for v in lvals], dtype=bool)
    comparable = comparable_v[li]
    same_rule = _pair_table(lvals, cvals, _same_rule, li, ci)
    rule_diff = known & comparable & ~same_rule & ~dec_diff
    return known, dec_diff, rule_diff, comparable


def row_agreement(batch: Any, verdicts: pa.Table, labels: Any = None) -> np.ndarray:
    """Per row: agree, disagree_decision, disagree_rule, unknown (no logged decision) or rejected."""
    ok = verdicts.column("rule_index").to_numpy() != -2
    known, dec_diff, rule_diff, _ = _agreement_masks(batch, verdicts, ok, admin_names(labels or {}))
    out = np.full(len(ok), "agree", dtype=object)
    out[ok & ~known] = "unknown"
    out[dec_diff] = "disagree_decision"
    out[rule_diff] = "disagree_rule"
    out[~ok] = "rejected"
    return out


_COMBINED_MAX = 1 << 16  # distinct (logged rule, computed rule, logged decision, computed access) combinations counted directly


def _agreement(report: Report, batch: pa.RecordBatch, verdicts: pa.Table, ok: np.ndarray,
               admin: frozenset[str] | None = None) -> None:
    """Agreement counts and examples of one batch: each row's combination of dictionary codes is counted
    once (a few hundred combinations at most), and the comparison is made per combination, not per row."""
    admin = admin_names(report.labels) if admin is None else admin
    li, lvals, _ = _dict_parts(batch.column("logged_rule"), native=True)
    ci, cvals, _ = _dict_parts(verdicts.column("log_rule"), native=True)
    di, dvals, _ = _dict_parts(batch.column("logged_decision"), native=True)  # null: the last ("") entry, and only null
    ai, avals, _ = _dict_parts(verdicts.column("access"), native=True)
    nl, nc, nd, na = len(lvals), len(cvals), len(dvals), len(avals)
    if nl * nc * nd * na * 2 > _COMBINED_MAX:
        return _agreement_by_rows(report, batch, verdicts, ok, admin)
    li, ci, di, ai = (a.astype(np.int32, copy=False) for a in (li, ci, di, ai))  # every code < _COMBINED_MAX
    code = (((li * nc + ci) * nd + di) * na + ai) * 2 + ok
    counts = np.bincount(code)
    bad_code = np.zeros(len(counts), bool)
    dec_code = np.zeros(len(counts), bool)
    for k in np.flatnonzero(counts).tolist():
        n = int(counts[k])
        if not k & 1:  # rejected by the evaluation: not compared
            continue
        rest, a = divmod(k >> 1, na)
        rest, d = divmod(rest, nd)
        lo, c = divmod(rest, nc)
        if d == nd - 1:  # no logged decision
            report.unknown += n
            continue
        comparable = lvals[lo].startswith(COMPARABLE_PREFIXES) or logged_admin_rule(lvals[lo], admin)
        dec_diff = dvals[d] != avals[a]
        rule_diff = comparable and not dec_diff and not _same_rule(lvals[lo], cvals[c])
        if not comparable:
            report.rule_not_comparable += n
        if dec_diff or rule_diff:
            bad_code[k], dec_code[k] = True, dec_diff
            report.disagree += n
            report.decision_disagree += n if dec_diff else 0
            report.rule_disagree += n if rule_diff else 0
        else:
            report.agree += n
    if bad_code.any() and len(report.examples) < EXAMPLES:
        rows = np.flatnonzero(bad_code[code])[: EXAMPLES - len(report.examples)]
        _examples(report, batch, verdicts, rows, dec_code[code[rows]])


def _agreement_by_rows(report: Report, batch: pa.RecordBatch, verdicts: pa.Table, ok: np.ndarray,
                       admin: frozenset[str]) -> None:
    """``_agreement`` with masks per row (dictionaries too large to count their combinations)."""
    known, dec_diff, rule_diff, comparable = _agreement_masks(batch, verdicts, ok, admin)
    report.unknown += int((ok & ~known).sum())
    report.decision_disagree += int(dec_diff.sum())
    report.rule_disagree += int(rule_diff.sum())
    report.rule_not_comparable += int((known & ~comparable).sum())
    bad = dec_diff | rule_diff
    report.disagree += int(bad.sum())
    report.agree += int((known & ~bad).sum())
    if bad.any() and len(report.examples) < EXAMPLES:
        rows = np.flatnonzero(bad)[: EXAMPLES - len(report.examples)]
        _examples(report, batch, verdicts, rows, dec_diff[rows])


def _examples(report: Report, batch: pa.RecordBatch, verdicts: pa.Table, rows: np.ndarray, decision: np.ndarray) -> None:
    """The disagreeing rows ``rows`` (their kind: ``decision`` where set, else rule) as report examples."""
    if len(rows):
        cols = {name: batch.column(name) for name in ("time", "src_ip", "src_port", "dst_ip", "dst_port", "protocol", "direction", "logged_rule", "logged_decision", "source_file", "record_index", "tuple_index")}
        for i, is_decision in zip(rows.tolist(), decision.tolist()):
            ex = {k: (v[i].as_py() if not isinstance(v[i].as_py(), _dt.datetime) else v[i].as_py().isoformat()) for k, v in cols.items()}
            ex.update(
                kind="decision" if is_decision else "rule",
                computed_decision=verdicts.column("access")[i].as_py(),
                computed_rule=verdicts.column("rule")[i].as_py(),
                computed_log_rule=verdicts.column("log_rule")[i].as_py(),
                computed_nsg=verdicts.column("nsg")[i].as_py(),
            )
            report.examples.append(ex)


_V6_KEY = 1 << 128
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_HOUR_MS = 3_600_000


def _address_text(key: int) -> str:
    return format_address(6, key - _V6_KEY) if key >= _V6_KEY else format_address(4, key)


def _when(ms: int) -> _dt.datetime:
    return _EPOCH + _dt.timedelta(milliseconds=ms)


def _exact_sums(groups: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Per-group int64 sums; float bincount only where it is exact."""
    if len(values) == 0 or int(np.abs(values).max()) * len(values) < (1 << 53):
        return np.bincount(groups, weights=values, minlength=size).astype(np.int64)
    out = np.zeros(size, np.int64)
    for g in np.unique(groups).tolist():
        out[g] = int(values[groups == g].sum(dtype=np.int64))
    return out


def _grouped(keys: np.ndarray, *weights: np.ndarray) -> tuple[list[int], list[list[int]]]:
    """Distinct keys and, per key, the count and the sums of each weight (bincount when keys are dense)."""
    if len(keys) == 0:
        return [], [[] for _ in range(1 + len(weights))]
    lo, hi = int(keys.min()), int(keys.max())
    if hi - lo < 4 * len(keys) + 1024:
        idx = (keys - lo).astype(np.intp)
        counts = np.bincount(idx)
        present = np.flatnonzero(counts)
        cols = [counts[present].tolist()] + [np.bincount(idx, weights=w, minlength=len(counts))[present].astype(np.int64).tolist() for w in weights]
        return (present + lo).tolist(), cols
    uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    cols = [counts.tolist()] + [np.bincount(inverse, weights=w, minlength=len(uniq)).astype(np.int64).tolist() for w in weights]
    return uniq.tolist(), cols


class KeyCounts:
    """Counts per integer key, merged in numpy: batches append, a compaction folds them when they pile up."""

    COMPACT_AT = 2_000_000

    def __init__(self) -> None:
        self._keys: list[np.ndarray] = []  # uint64 (IPv4 addresses)
        self._counts: list[np.ndarray] = []
        self._pending = 0
        self.big: Counter = Counter()  # keys beyond 64 bits (IPv6, offset by 2**128)

    def merge(self, other: "KeyCounts") -> None:
        self._keys += other._keys
        self._counts += other._counts
        self._pending += other._pending
        self.big.update(other.big)
        if self._pending > self.COMPACT_AT:
            self._compact()

    def add(self, keys: np.ndarray) -> None:
        lo = int(keys.min()) if len(keys) else 0
        if len(keys) and int(keys.max()) - lo < 4 * len(keys) + 1024:  # dense keys (one subnet's addresses): bincount
            counts = np.bincount((keys - keys.dtype.type(lo)).astype(np.intp))
            present = np.flatnonzero(counts)
            self._keys.append(present.astype(np.uint64) + np.uint64(lo))
            self._counts.append(counts[present].astype(np.int64))
        else:
            vc = pc.value_counts(pa.array(keys))
            self._keys.append(np.asarray(vc.field("values")).astype(np.uint64))
            self._counts.append(np.asarray(vc.field("counts")).astype(np.int64))
        self._pending += len(self._keys[-1])
        if self._pending > self.COMPACT_AT:
            self._compact()

    def _compact(self) -> None:
        if len(self._keys) > 1:
            keys, inverse = np.unique(np.concatenate(self._keys), return_inverse=True)
            self._keys, self._counts = [keys], [np.bincount(inverse.reshape(-1), weights=np.concatenate(self._counts)).astype(np.int64)]
        self._pending = len(self._keys[0]) if self._keys else 0

    def counter(self) -> Counter:
        self._compact()
        out = Counter(self.big)
        if self._keys:
            out.update(dict(zip(self._keys[0].tolist(), self._counts[0].tolist())))
        return out

    def most_common(self, n: int) -> list[tuple[int, int]]:
        self._compact()
        best: list[tuple[int, int]] = list(self.big.most_common(n))
        if self._keys:
            keys, counts = self._keys[0], self._counts[0]
            top = np.lexsort((keys, -counts))[:n]  # ties: the smaller key, whatever order the keys were added in
            best += list(zip(keys[top].tolist(), counts[top].tolist()))
        return sorted(best, key=lambda kv: (-kv[1], kv[0]))[:n]


def _count_sources(out: KeyCounts, flows: FlowArrays, rows: Any) -> None:
    """Flows per source address of the given rows, keyed by integer."""
    if flows.src_v4 is not None:
        out.add(flows.src_v4[rows])
        return
    src, _ = flows.addresses()
    fam = src.family[rows]
    lo, hi = src.lo[rows], src.hi[rows]
    if (fam == 4).any():
        out.add(lo[fam == 4])
    v6 = fam == 6
    if v6.any():
        uniq, counts = np.unique(np.stack([hi[v6], lo[v6]], axis=1), axis=0, return_counts=True)
        out.big.update({_V6_KEY + ((h << 64) | l): n for (h, l), n in zip(uniq.tolist(), counts.tolist())})


def _aggregates(
    report: Report, batch: pa.RecordBatch, flows: FlowArrays, verdicts: pa.Table, ok: np.ndarray, matcher: TagMatcher | None
) -> None:
    """Hits per rule, talkers, denied ports, timeline and tag traffic of the evaluated rows, in numpy."""
    if not ok.any():
        return
    rows: Any = slice(None) if ok.all() else np.flatnonzero(ok)  # a view in the usual case
    if flows.time_ms is not None and flows.bytes_total is not None:  # the reader's own numbers
        ms, nbytes = flows.time_ms[rows], flows.bytes_total[rows]
    else:
        time = batch.column("time")
        if pa.types.is_timestamp(time.type) and time.type.unit != "ms":  # Spark's rows are in microseconds
            time = time.cast(pa.timestamp("ms", tz=time.type.tz), safe=False)
        ms = np.asarray(time.cast(pa.int64()).fill_null(0))[rows]
        nbytes = (
            np.asarray(batch.column("bytes_src_to_dst").fill_null(0)).astype(np.int64)
            + np.asarray(batch.column("bytes_dst_to_src").fill_null(0)).astype(np.int64)
        )[rows]
    rule = verdicts.column("rule_index").to_numpy()[rows].astype(np.int64) + 1  # -1 (no NSG) -> 0
    size = int(rule.max()) + 1
    counts = np.bincount(rule, minlength=size)
    sums = _exact_sums(rule, nbytes, size)
    first = np.full(size, np.iinfo(np.int64).max, np.int64)
    last = np.full(size, np.iinfo(np.int64).min, np.int64)
    np.minimum.at(first, rule, ms)
    np.maximum.at(last, rule, ms)
    for r in np.flatnonzero(counts).tolist():
        h = report.hits.setdefault(r - 1, [0, 0, None, None])
        h[0] += int(counts[r])
        h[1] += int(sums[r])
        f, l_ = _when(int(first[r])), _when(int(last[r]))
        h[2] = f if h[2] is None or f < h[2] else h[2]
        h[3] = l_ if h[3] is None or l_ > h[3] else h[3]
    _count_sources(report.talker_counts, flows, rows)
    allowed = np.asarray(verdicts.column("allowed").fill_null(False)).astype(bool)[rows]
    denied = ~allowed
    if denied.any():
        proto = flows.protocol[rows][denied].astype(np.int64)
        port = flows.dst_port[rows][denied].astype(np.int64)
        keys, (n,) = _grouped((proto << 16) | port)
        for k, c in zip(keys, n):
            report.denied_ports[(k >> 16, k & 0xFFFF)] += c
    if len(ms) and int(ms.min()) // _HOUR_MS == int(ms.max()) // _HOUR_MS:  # an hourly blob: one hour
        n_allowed = int(allowed.sum())
        hours, a, d = [int(ms[0]) // _HOUR_MS], [n_allowed], [len(ms) - n_allowed]
    else:
        hours, (_, a, d) = _grouped(ms // _HOUR_MS, allowed.astype(np.float64), denied.astype(np.float64))
    for hour, a_, d_ in zip(hours, a, d):
        slot = report.timeline[_when(hour * _HOUR_MS)]
        slot[0] += a_
        slot[1] += d_
    if matcher is not None:
        outbound = flows.direction[rows] == 1
        if flows.v4_ints:
            in_tag = matcher.contains_v4(np.where(outbound, flows.dst_v4[rows], flows.src_v4[rows]))
        else:
            src, dst = flows.addresses()
            in_tag = matcher.contains_parsed(
                np.where(outbound, dst.family[rows], src.family[rows]),
                np.where(outbound, dst.hi[rows], src.hi[rows]),
                np.where(outbound, dst.lo[rows], src.lo[rows]),
            )
        for dname, dmask in (("Outbound", outbound), ("Inbound", ~outbound)):
            m = in_tag & dmask
            report.tag_counts[dname]["allowed"] += int((m & allowed).sum())
            report.tag_counts[dname]["denied"] += int((m & denied).sum())
