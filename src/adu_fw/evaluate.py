"""Bulk evaluation: flow columns through a compiled policy into an Arrow table of verdicts.

Output columns, aligned with the input rows:
``access`` ("Allow"/"Deny", dictionary-encoded; null when the row was rejected), ``allowed``
(bool), ``rule`` (ARM rule name, dictionary-encoded; null when no NSG applies or the row was
rejected), ``rule_index`` (int32: the global rule number; -1 no NSG applies, -2 rejected),
``nsg``, ``log_rule`` (the flow-log name, ``UserRule_x`` / ``DefaultRule_x``) and
``reject_reason`` (null for evaluated rows). Rejected rows are never dropped.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa

from .compile import CompiledPolicy
from .flowtable import FlowArrays, arrow_column, flow_batches

__all__ = ["evaluate", "classify", "default_threads", "REJECTED", "NO_RULE"]

REJECTED = -2
NO_RULE = -1
_PARALLEL_MIN = 200_000  # below this, thread start-up costs more than it saves


def default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def classify(compiled: CompiledPolicy, fa: FlowArrays, threads: int | None = None,
             out: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rule_index int32, allowed uint8) per flow (written into ``out`` when given).

    All-IPv4 input goes to ``classify_v4`` and all-IPv6 to ``classify_v6`` (the lane paths where
    the policy has lanes); mixed input is split by family when the matcher has lanes for it (two
    gathers and a scatter cost far less than the general loop), else runs the general loop."""
    nt = default_threads() if threads is None else max(1, int(threads))
    if fa.n < _PARALLEL_MIN and threads is None:
        nt = 1
    rule, allow = out if out is not None else (np.empty(fa.n, np.int32), np.empty(fa.n, np.uint8))
    m = compiled.matcher()
    bad = fa.bad_fields()  # a bad direction is > 1 already, which the matcher rejects itself
    direction = fa.direction if bad is None else np.where(bad, 255, fa.direction).astype(np.uint8)
    if fa.v4_ints:
        m.classify_v4(direction, fa.protocol, fa.src_v4, fa.src_port, fa.dst_v4, fa.dst_port, rule, allow, nt)
        return rule, allow
    if fa.v6_bytes:  # fixed_size_binary(16) addresses: the lanes swap the bytes in cache
        m.classify_v6be(direction, fa.protocol, fa.src_v6be, fa.src_port, fa.dst_v6be, fa.dst_port, rule, allow, nt)
        return rule, allow
    src, dst = fa.addresses()
    if src.all_family(4) and dst.all_family(4):  # text, all IPv4: the same fast path
        m.classify_v4(direction, fa.protocol, src.lo.astype(np.uint32), fa.src_port, dst.lo.astype(np.uint32),
                      fa.dst_port, rule, allow, nt)
        return rule, allow
    if src.all_family(6) and dst.all_family(6):
        m.classify_v6(direction, fa.protocol, src.hi, src.lo, fa.src_port, dst.hi, dst.lo, fa.dst_port, rule, allow, nt)
        return rule, allow
    s4, d4, s6, d6 = src.family == 4, dst.family == 4, src.family == 6, dst.family == 6
    if m.v4_path.startswith("lanes") or m.v6_path.startswith("lanes"):
        rule.fill(REJECTED)  # a row of neither family (or one of each) cannot be evaluated
        allow.fill(0)
        for both, fn in ((s4 & d4, "v4"), (s6 & d6, "v6")):
            rows = np.flatnonzero(both)
            if not rows.size:
                continue
            r, a = np.empty(rows.size, np.int32), np.empty(rows.size, np.uint8)
            cols = (direction[rows], fa.protocol[rows])
            if fn == "v4":
                m.classify_v4(*cols, src.lo[rows].astype(np.uint32), fa.src_port[rows], dst.lo[rows].astype(np.uint32),
                              fa.dst_port[rows], r, a, nt)
            else:
                m.classify_v6(*cols, src.hi[rows], src.lo[rows], fa.src_port[rows], dst.hi[rows], dst.lo[rows],
                              fa.dst_port[rows], r, a, nt)
            rule[rows], allow[rows] = r, a
        return rule, allow
    m.classify(
        fa.direction, fa.protocol, fa.family(), src.hi, src.lo, fa.src_port, dst.hi, dst.lo, fa.dst_port,
        rule, allow, nt,
    )
    return rule, allow


def _labels_column(values: list[str], rule: np.ndarray, valid: np.ndarray | None) -> pa.DictionaryArray:
    """``valid``: rule >= 0 per row, None when every row has a rule (then no mask is built)."""
    uniq: dict[str, int] = {}
    idx_of_rule = np.array([uniq.setdefault(v, len(uniq)) for v in values] or [0], np.int32)
    identity = len(uniq) == len(values)  # labels already distinct: the rule index is the dictionary index
    if valid is None and len(uniq) == 1:  # one NSG: calloc'd zeros, no pass over the rows
        indices = pa.array(np.zeros(rule.shape[0], np.int32), type=pa.int32())
    elif valid is None:
        indices = pa.array(rule if identity else idx_of_rule.take(rule), type=pa.int32())
    else:
        indices = arrow_column(idx_of_rule.take(np.where(valid, rule, 0)), ~valid, pa.int32())
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(uniq), type=pa.string()), safe=False)  # indices are ours


def evaluate(compiled: CompiledPolicy, flows: Any, *, threads: int | None = None) -> pa.Table:
    """The verdict table of the flows (any container ``flowtable`` reads), row for row. A chunked
    table is classified batch by batch into one output: its input is never concatenated."""
    parts = list(flow_batches(flows))
    n = sum(fa.n for fa in parts)
    nt = default_threads() if threads is None else max(1, int(threads))
    if n < _PARALLEL_MIN and threads is None:
        nt = 1
    rule = np.empty(n, np.int32)
    allow = np.empty(n, np.uint8)
    pos = 0
    for fa in parts:
        classify(compiled, fa, nt, out=(rule[pos : pos + fa.n], allow[pos : pos + fa.n]))
        pos += fa.n
    mask = valid = None  # the usual case, every row has a rule: one min() instead of masks
    if rule.size and int(rule.min()) < 0:
        rejected = rule == REJECTED
        mask = rejected if rejected.any() else None
        valid = rule >= 0
    access = pa.DictionaryArray.from_arrays(
        arrow_column(np.subtract(1, allow, dtype=np.uint8).view(np.int8), mask, pa.int8()), pa.array(["Allow", "Deny"]), safe=False
    )
    reasons = _reasons(parts) if mask is not None else None  # a row is rejected exactly when it has a reason
    return pa.table(
        {
            "access": access,
            "allowed": arrow_column(allow.view(np.bool_), mask),
            "rule": _labels_column(compiled.labels["rule"], rule, valid),
            "rule_index": pa.array(rule),
            "nsg": _labels_column(compiled.labels["nsg"], rule, valid),
            "log_rule": _labels_column(compiled.labels["log_rule"], rule, valid),
            "reject_reason": pa.array(reasons, type=pa.string()) if reasons is not None else pa.nulls(n, pa.string()),
        }
    )


def _reasons(parts: list[FlowArrays]) -> np.ndarray | None:
    got = [fa.reasons() for fa in parts]
    if all(r is None for r in got):
        return None
    return np.concatenate([np.full(fa.n, None, object) if r is None else r for fa, r in zip(parts, got)])
