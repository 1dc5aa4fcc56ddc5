"""What-if diffs: the exact set of flows whose decision or deciding rule changes between two policies.

Both policies' rules go into one rule list, so one set of equivalence classes serves both; each
box of the flow space then has one outcome per policy (per direction: the security admin rules
first, Deny and AlwaysAllow ending it, then the NSGs in Azure's order, a deny ending it, an allow
reported by the last NSG that allowed). Boxes whose outcomes differ are
the diff, reported as regions (protocols x source prefixes x ports x destination prefixes) with
address counts. ``flows`` replays recorded flow logs through both policies as well.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa

from .adminrules import AdminRule
from .policy import Policy
from .space import Box, Space

__all__ = ["Change", "PolicyDiff", "diff"]


@dataclass
class Change:
    direction: str
    region: dict[str, Any]
    old: dict[str, Any]
    new: dict[str, Any]
    witness: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"direction": self.direction, "region": self.region, "old": self.old, "new": self.new, "witness": self.witness}


@dataclass
class PolicyDiff:
    changes: list[Change] = field(default_factory=list)
    flow_changes: list[dict[str, Any]] = field(default_factory=list)  # every recorded flow that changes
    flows_compared: int = 0
    flows_changed: int = 0
    flows_read: Any = None  # the replayed logs' ReadStats (when flows were given)

    def __bool__(self) -> bool:
        return bool(self.changes or self.flow_changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "regions": [c.to_dict() for c in self.changes],
            "region_count": len(self.changes),
            "flows_compared": self.flows_compared,
            "flows_changed": self.flows_changed,
            "flow_changes": self.flow_changes,
            **({"flows_read": self.flows_read.to_dict()} if self.flows_read is not None else {}),
        }


def _lowest(x: int) -> int:
    return (x & -x).bit_length() - 1


def _admin_section(policy: Policy, direction: str, base: int, rules_out: list[Any], meta: list[Any]) -> list[tuple[int, int]]:
    """The security admin stage as a section (none when the direction has no admin rule); meta holds AdminRules."""
    admin = policy.admin_stage(direction)
    if not admin:
        return []
    start = base + len(rules_out)
    rules_out += policy.admin_match_rules(admin)
    meta += [(r.label, r) for r in admin]
    return [(start, len(admin))]


def _sections(policy: Policy, direction: str, base: int, rules_out: list[Any], meta: list[Any]) -> list[tuple[int, int]]:
    """One section per NSG the direction meets (the admin stage is ``_admin_section``)."""
    secs = []
    for _, nsg in policy.levels(direction):
        rules = nsg.evaluation_order(direction)
        secs.append((base + len(rules_out), len(rules)))
        rules_out += policy.match_rules(nsg, rules)
        meta += [(nsg.name, r) for r in rules]
    return secs


def _outcome(state: int, sections: list[tuple[int, int]], meta: list[Any]) -> tuple[str, str | None, str | None]:
    last = admin_allow = None
    for start, n in sections:
        bits = (state >> start) & ((1 << n) - 1)
        if not bits:  # only the admin stage can match nothing: the flow goes on to the NSGs
            continue
        g = start + _lowest(bits)
        nsg, rule = meta[g]
        if rule.access == "Deny":
            return ("Deny", nsg, rule.log_name)
        if rule.access == "AlwaysAllow":
            return ("Allow", nsg, rule.log_name)
        if isinstance(rule, AdminRule):  # an admin Allow: on to the NSGs
            admin_allow = (nsg, rule.log_name)
            continue
        last = (nsg, rule.log_name)
    if last is None:
        if admin_allow is not None:  # no NSG: the admin Allow is reported (as the reference does)
            return ("Allow", admin_allow[0], admin_allow[1])
        return ("Allow", None, None)
    return ("Allow", last[0], last[1])


_FIELDS = ("protocols", "src_ports", "dst_ports", "src", "dst")


def _merge_boxes(boxes: list[Box]) -> list[Box]:
    """Join boxes that agree on every field but one (repeatedly): a short list of regions."""
    from .space import _merge

    def key(b: Box, skip: str) -> tuple[Any, ...]:
        return (b.family, b.ported) + tuple(getattr(b, f) for f in _FIELDS if f != skip)

    changed = True
    while changed and len(boxes) > 1:
        changed = False
        for f in _FIELDS:
            groups: dict[tuple[Any, ...], list[Box]] = {}
            for b in boxes:
                groups.setdefault(key(b, f), []).append(b)
            if len(groups) == len(boxes):
                continue
            merged = []
            for group in groups.values():
                first = group[0]
                if len(group) > 1:
                    values = [v for b in group for v in getattr(b, f)]
                    joined = tuple(sorted(set(values))) if f == "protocols" else _merge(values)
                    first = replace(first, **{f: joined})
                    changed = True
                merged.append(first)
            boxes = merged
    return boxes


def diff(old: Policy, new: Policy, *, flows: Any = None, storage_options: dict[str, Any] | None = None) -> PolicyDiff:
    """Regions of the flow space whose outcome (decision, NSG, rule) differs from ``old`` to ``new``."""
    out = PolicyDiff()
    for direction in ("Inbound", "Outbound"):
        rules: list[Any] = []
        meta: list[Any] = []
        a = _admin_section(old, direction, 0, rules, meta) + _sections(old, direction, 0, rules, meta)
        b = _admin_section(new, direction, 0, rules, meta) + _sections(new, direction, 0, rules, meta)
        if not rules:
            continue
        space = Space(rules)
        changed: dict[tuple[Any, Any], list[Box]] = {}
        for box in space.boxes(space.full, keep=lambda ns: True):
            oa, ob = _outcome(box.state, a, meta), _outcome(box.state, b, meta)
            if oa != ob:
                changed.setdefault((oa, ob), []).append(box)
        for (oa, ob), boxes in changed.items():
            for box in _merge_boxes(boxes):
                out.changes.append(Change(
                    direction,
                    box.describe(),
                    {"access": oa[0], "nsg": oa[1], "rule": oa[2]},
                    {"access": ob[0], "nsg": ob[1], "rule": ob[2]},
                    {"direction": direction, **box.witness()},
                ))
    if flows is not None:
        _replay(old, new, flows, out, storage_options)
    return out


def _replay(old: Policy, new: Policy, flows: Any, out: PolicyDiff, storage_options: dict[str, Any] | None = None) -> None:
    """Every recorded tuple through both sides; every one that changes is listed (none is left out)."""
    from .flowlogs import read

    stream = read(flows, storage_options=storage_options)
    out.flows_read = stream.stats
    for batch in stream:
        va, vb = old.evaluate(batch), new.evaluate(batch)
        out.flows_compared += batch.num_rows
        da = np.asarray(va.column("access").cast("string").to_numpy(zero_copy_only=False), dtype=object)
        db = np.asarray(vb.column("access").cast("string").to_numpy(zero_copy_only=False), dtype=object)
        ra = np.asarray(va.column("log_rule").cast("string").to_numpy(zero_copy_only=False), dtype=object)
        rb = np.asarray(vb.column("log_rule").cast("string").to_numpy(zero_copy_only=False), dtype=object)
        changed = np.flatnonzero((da != db) | (ra != rb))
        if len(changed):
            rows = batch.select(["source_file", "record_index", "tuple_index", "direction", "src_ip", "dst_ip", "dst_port",
                                 "protocol"]).take(pa.array(changed)).to_pylist()
            for row, i in zip(rows, changed.tolist()):
                row["old"] = {"access": da[i], "rule": ra[i]}
                row["new"] = {"access": db[i], "rule": rb[i]}
            out.flow_changes += rows
        out.flows_changed += len(changed)
