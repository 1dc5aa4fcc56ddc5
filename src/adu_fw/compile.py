"""Policy -> plain arrays for ``_match`` (build is allowed to be slow and clever; classify is not).

Per classifier (one NSG in one direction, or one ClassBench rule list) and per field:
- elementary intervals: the address line (IPv4 and IPv6 separately) or the port line cut at every
  rule boundary, so that inside one interval every rule either matches or not;
- equivalence classes: intervals with the same set of matching rules share a class;
- per class a bitset of the rules (in evaluation order) whose field matches.
Service tags with thousands of prefixes only add boundaries: they cost build time, not match time.
Protocol and ports use direct tables (256 and 65536 entries); protocols without ports use a class
matching every rule's port criterion (product decision 5).

Then, where it stays small, the bitset AND is folded away as in Recursive Flow Classification
(Gupta & McKeown): pairs of fields are crossed into tables of combined classes (protocol x
destination port, that x source port, source x destination address) and a last table maps the two
combined classes to the first matching rule, so classify does four loads instead of ANDing five
bitsets word by word. A classifier whose cross tables would exceed ``CROSS_LIMIT`` entries keeps
the bitsets (large ClassBench lists); both give the same answer, and the tests run both.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .errors import PolicyError
from .ip import parse_prefixes

__all__ = ["MatchRule", "Classifier", "build_classifier", "assemble", "PORTED_TCP_UDP", "PORTED_ALL",
           "DENY", "ALLOW", "ALLOW_END", "PASS", "ACTIONS", "MAX_LANE_STAGES"]

V4_SPAN = 1 << 32
V6_SPAN = 1 << 128
MASK64 = (1 << 64) - 1
PORTED_TCP_UDP = np.zeros(256, np.uint8)
PORTED_TCP_UDP[[6, 17]] = 1
PORTED_ALL = np.ones(256, np.uint8)

# Rule action codes: what a direction does when a stage's first matching rule has this action.
DENY = 0  # ends: denied, this rule reported
ALLOW = 1  # continues to the next stage; reported (allowed) unless a later stage reports a rule
ALLOW_END = 2  # ends: allowed, this rule reported (AVNM "AlwaysAllow")
PASS = 3  # continues exactly as if this stage had matched nothing; never reported (AVNM "Allow")
ACTIONS = {"deny": DENY, "allow": ALLOW, "allow_end": ALLOW_END, "pass": PASS}
MAX_LANE_STAGES = 3  # stages per direction the lane path takes (the general paths take any number)


@dataclass(frozen=True)
class MatchRule:
    """One rule as the matcher sees it: ``None`` is "any" for protocols and addresses."""

    protocols: frozenset[int] | None
    src: tuple[str, ...] | None
    src_ports: tuple[tuple[int, int], ...]
    dst: tuple[str, ...] | None
    dst_ports: tuple[tuple[int, int], ...]
    deny: bool


@dataclass
class Classifier:
    n_rules: int
    words: int
    proto_class: np.ndarray  # (256,) int32
    ported: np.ndarray  # (256,) uint8
    sport_class: np.ndarray  # (65536,) uint16
    dport_class: np.ndarray
    all_sport: int
    all_dport: int
    v4: list[tuple[np.ndarray, np.ndarray]]  # per side: (starts uint32, class int32)
    v6: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # per side: (hi, lo, class)
    bits: list[np.ndarray] = field(default_factory=list)  # per field p, s, sp, d, dp: (classes, words)


class _Intervals:
    """Inclusive integer intervals of a prefix tuple, per family (cached: tags repeat across rules)."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Any, Any, Any]] = {}

    def get(self, prefixes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
        hit = self._cache.get(id(prefixes))
        if hit is not None and hit[0] is prefixes:
            return hit[1], hit[2]  # type: ignore[return-value]
        col = parse_prefixes(list(prefixes))
        bad = np.flatnonzero((col.family != 4) & (col.family != 6))
        if bad.size:
            raise PolicyError(f"not a CIDR prefix: {prefixes[int(bad[0])]!r}")
        v4 = col.family == 4
        plen4 = col.plen[v4].astype(np.uint64)
        start4 = col.lo[v4] & ~((np.uint64(1) << (np.uint64(32) - plen4)) - np.uint64(1))
        end4 = start4 + (np.uint64(1) << (np.uint64(32) - plen4)) - np.uint64(1)
        v6 = []
        for hi, lo, p in zip(col.hi[~v4].tolist(), col.lo[~v4].tolist(), col.plen[~v4].tolist()):
            start = ((hi << 64) | lo) & ~((1 << (128 - p)) - 1)
            v6.append((start, start + (1 << (128 - p)) - 1))
        v4pair = (start4, end4)
        self._cache[id(prefixes)] = (prefixes, v4pair, v6)
        return v4pair, v6  # type: ignore[return-value]


def _set_bit(bits: np.ndarray, rows: Any, rule: int) -> None:
    bits[rows, rule >> 6] |= np.uint64(1) << np.uint64(rule & 63)


def _classes(rows: np.ndarray, n_rules: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique bitset rows and the class of every input row."""
    if rows.shape[0] == 0:
        return np.zeros((0, rows.shape[1]), np.uint64), np.zeros(0, np.int32)
    uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    return np.ascontiguousarray(uniq), inverse.reshape(-1).astype(np.int32)


def _address_field(rules: Sequence[MatchRule], side: str, words: int, cache: _Intervals) -> tuple[Any, ...]:
    sides = [getattr(r, side) for r in rules]
    # IPv4: elementary intervals from every start and end+1
    cuts4 = [np.zeros(1, np.uint64)]
    cuts6: set[int] = {0}
    per_rule: list[Any] = []
    for s in sides:
        if s is None:
            per_rule.append(None)
            continue
        (a4, b4), v6 = cache.get(s)
        per_rule.append(((a4, b4), v6))
        cuts4 += [a4, b4 + np.uint64(1)]
        for a, b in v6:
            cuts6.add(a)
            cuts6.add(b + 1)
    starts4 = np.unique(np.concatenate(cuts4))
    starts4 = starts4[starts4 < V4_SPAN]
    starts6 = sorted(c for c in cuts6 if c < V6_SPAN)
    n4, n6 = len(starts4), len(starts6)
    bits4 = np.zeros((n4, words), np.uint64)
    bits6 = np.zeros((n6, words), np.uint64)
    for i, pr in enumerate(per_rule):
        if pr is None:
            _set_bit(bits4, slice(None), i)
            _set_bit(bits6, slice(None), i)
            continue
        (a4, b4), v6 = pr
        if a4.size:
            delta = np.zeros(n4 + 1, np.int32)
            np.add.at(delta, np.searchsorted(starts4, a4), 1)
            np.add.at(delta, np.searchsorted(starts4, b4 + np.uint64(1)), -1)
            _set_bit(bits4, np.cumsum(delta[:-1]) > 0, i)
        if v6:
            delta = np.zeros(n6 + 1, np.int32)
            for a, b in v6:
                delta[bisect.bisect_left(starts6, a)] += 1
                delta[bisect.bisect_left(starts6, b + 1) if b + 1 < V6_SPAN else n6] -= 1
            _set_bit(bits6, np.cumsum(delta[:-1]) > 0, i)
    uniq, inverse = _classes(np.vstack([bits4, bits6]), len(rules))
    cls4, cls6 = inverse[:n4], inverse[n4:]
    # merge neighbours of one class: fewer steps for the binary search
    keep4 = np.ones(n4, bool)
    keep4[1:] = cls4[1:] != cls4[:-1]
    keep6 = np.ones(n6, bool)
    keep6[1:] = cls6[1:] != cls6[:-1]
    s6 = [s for s, k in zip(starts6, keep6.tolist()) if k]
    v4 = (starts4[keep4].astype(np.uint32), np.ascontiguousarray(cls4[keep4]))
    v6t = (
        np.array([s >> 64 for s in s6], np.uint64),
        np.array([s & MASK64 for s in s6], np.uint64),
        np.ascontiguousarray(cls6[keep6]),
    )
    return uniq, v4, v6t


def _port_field(rules: Sequence[MatchRule], side: str, words: int) -> tuple[np.ndarray, np.ndarray, int]:
    cuts = {0}
    for r in rules:
        for lo, hi in getattr(r, side):
            cuts.add(lo)
            if hi < 65535:
                cuts.add(hi + 1)
    starts = np.array(sorted(cuts), np.int64)
    bits = np.zeros((len(starts), words), np.uint64)
    for i, r in enumerate(rules):
        for lo, hi in getattr(r, side):
            a = int(np.searchsorted(starts, lo))
            b = int(np.searchsorted(starts, hi + 1)) if hi < 65535 else len(starts)
            _set_bit(bits, slice(a, b), i)
    uniq, inverse = _classes(bits, len(rules))
    table = np.repeat(inverse, np.diff(np.append(starts, 65536))).astype(np.uint16)
    full = np.zeros((1, words), np.uint64)
    for i in range(len(rules)):
        _set_bit(full, 0, i)
    uniq = np.vstack([uniq, full])
    if uniq.shape[0] > 65535:
        raise PolicyError("too many distinct port classes for the compiled matcher")
    return uniq, table, uniq.shape[0] - 1


def build_classifier(rules: Sequence[MatchRule], ported: np.ndarray, cache: _Intervals | None = None) -> Classifier:
    """Compile one ordered rule list (first match wins)."""
    cache = cache or _Intervals()
    n = len(rules)
    words = max(1, (n + 63) // 64)
    pbits = np.zeros((256, words), np.uint64)
    for i, r in enumerate(rules):
        if r.protocols is None:
            _set_bit(pbits, slice(None), i)
        else:
            _set_bit(pbits, sorted(r.protocols), i)
    puniq, pcls = _classes(pbits, n)
    suniq, v4s, v6s = _address_field(rules, "src", words, cache)
    duniq, v4d, v6d = _address_field(rules, "dst", words, cache)
    spuniq, spcls, all_sp = _port_field(rules, "src_ports", words)
    dpuniq, dpcls, all_dp = _port_field(rules, "dst_ports", words)
    return Classifier(
        n_rules=n,
        words=words,
        proto_class=pcls.astype(np.int32),
        ported=np.ascontiguousarray(ported, dtype=np.uint8),
        sport_class=spcls,
        dport_class=dpcls,
        all_sport=all_sp,
        all_dport=all_dp,
        v4=[v4s, v4d],
        v6=[v6s, v6d],
        bits=[puniq, suniq, spuniq, duniq, dpuniq],
    )


MAX_SMALL = 32767  # int16 entries keep the hot index tables small (a cache matter, not a correctness one)


def _v4_index(starts: np.ndarray, classes: np.ndarray, n_subs: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Two-level index over an IPv4 interval table (top 16 bits, then 8 more where needed).

    Returns the per-bucket int16 entries (class, -1 search, or -2-j for sub-table j), the first
    interval starting at or after each bucket (for the search), and the new int16 sub-tables.
    Classes or sub-tables beyond int16 fall back to -1, the binary search: never a wrong answer.
    """
    s64 = starts.astype(np.uint64)
    edges = np.arange(65537, dtype=np.uint64) << np.uint64(16)
    first = np.searchsorted(s64, edges, side="left")
    first[-1] = len(starts)
    holder = np.searchsorted(s64, edges[:-1], side="right") - 1  # interval holding each bucket's first address
    inside = np.searchsorted(s64, edges[1:], side="left") - np.searchsorted(s64, edges[:-1], side="right")
    small = np.where(classes <= MAX_SMALL, classes, -1)
    entry = np.where(inside == 0, small[holder], -1).astype(np.int32)
    subs = []
    for b in np.flatnonzero(inside > 0).tolist():
        j = n_subs + len(subs)
        if j + 2 > MAX_SMALL:
            break  # the remaining buckets search
        sub_edges = (np.uint64(b) << np.uint64(16)) + (np.arange(257, dtype=np.uint64) << np.uint64(8))
        h = np.searchsorted(s64, sub_edges[:-1], side="right") - 1
        ins = np.searchsorted(s64, sub_edges[1:], side="left") - np.searchsorted(s64, sub_edges[:-1], side="right")
        subs.append(np.where(ins == 0, small[h], -1).astype(np.int16))
        entry[b] = -2 - j
    return np.append(entry, -1).astype(np.int16), first, subs


CROSS_LIMIT = 1 << 20  # entries of one cross table (and rows x words of its scratch), per classifier
# cross layout per classifier in "cross": offsets of the pd, ps, sd (in cross_idx) and f (in
# cross_rule) tables, then n_dp, n_sp, n_d, n_x; pd offset -1 = no cross tables (bitsets)
CROSS_FIELDS = 8


def _first_rule(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) int32: the lowest set bit of a[i] & b[j], -1 where the AND is empty."""
    out = np.empty((a.shape[0], b.shape[0]), np.int32)
    step = max(1, CROSS_LIMIT // max(1, b.shape[0] * a.shape[1]))
    for i in range(0, a.shape[0], step):
        m = a[i : i + step, None, :] & b[None, :, :]
        nz = m != 0
        w = nz.argmax(axis=2)
        word = np.take_along_axis(m, w[..., None], axis=2)[..., 0]
        low = np.bitwise_count((word & (~word + np.uint64(1))) - np.uint64(1)).astype(np.int32)
        out[i : i + step] = np.where(nz.any(axis=2), w.astype(np.int32) * 64 + low, -1)
    return out


def _cross(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The classes of a[i] & b[j] (table indexed i * len(b) + j) and their bitsets; None if too big."""
    rows = a.shape[0] * b.shape[0]
    if rows > CROSS_LIMIT or rows * a.shape[1] > 4 * CROSS_LIMIT:
        return None
    uniq, inverse = _classes((a[:, None, :] & b[None, :, :]).reshape(rows, a.shape[1]), 0)
    if uniq.shape[0] > 65535:
        return None
    return inverse.astype(np.uint16), uniq


def _cross_tables(c: Classifier) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]] | None:
    """The four cross tables of one classifier and (n_dp, n_sp, n_d, n_x), or None if too big."""
    p, s, sp, d, dp = c.bits
    pd = _cross(p, dp)
    if pd is None:
        return None
    ps = _cross(pd[1], sp)
    sd = _cross(s, d)
    if ps is None or sd is None or ps[1].shape[0] * sd[1].shape[0] > CROSS_LIMIT:
        return None
    f = _first_rule(sd[1], ps[1]).reshape(-1)
    return pd[0], ps[0], sd[0], f, (dp.shape[0], sp.shape[0], d.shape[0], ps[1].shape[0])


def assemble(
    classifiers: Sequence[Classifier],
    stages: Sequence[Sequence[int]],
    rule_deny: np.ndarray | Sequence[bool] | None = None,
    *,
    rule_action: np.ndarray | Sequence[int] | None = None,
    nomatch: np.ndarray | Sequence[int] | None = None,
) -> dict[str, Any]:
    """Concatenate classifiers into the flat arrays ``_match.Matcher`` takes.

    ``stages[d]`` lists the classifiers direction d meets, in order (0 inbound, 1 outbound; any
    number, up to ``MAX_LANE_STAGES`` for the lane path). Rules are numbered globally in classifier
    order. Each rule has an action code (``rule_action``: DENY, ALLOW, ALLOW_END, PASS), or give
    ``rule_deny`` (true: DENY, false: ALLOW), the NSG case. ``nomatch[k]`` is what a stage of
    classifier k does when none of its rules matches: DENY (ends denied, no rule: an NSG or a rule
    list; the default), ALLOW_END (ends allowed, no rule) or PASS (continues: an admin stage).

    A direction folds its stages: DENY and ALLOW_END end it with their rule; ALLOW continues and
    is the reported rule unless a later stage reports one; PASS continues as if the stage had
    matched nothing. A direction whose stages all continue is allowed, its rule the last ALLOW
    (none when every stage passed, as with no stage at all).
    """
    n_cls = len(classifiers)
    n_rules = sum(c.n_rules for c in classifiers)
    if (rule_deny is None) == (rule_action is None):
        raise PolicyError("assemble takes rule_action codes or rule_deny flags (exactly one)")
    if rule_action is None:
        action = np.where(np.asarray(rule_deny, dtype=bool), DENY, ALLOW).astype(np.uint8)
    else:
        action = np.asarray(rule_action, dtype=np.int64)
        if action.size and (action.min() < DENY or action.max() > PASS):
            raise PolicyError(f"rule action codes are {DENY}-{PASS} (DENY, ALLOW, ALLOW_END, PASS)",
                              value=int(action.max() if action.max() > PASS else action.min()))
        action = action.astype(np.uint8)
    if action.shape != (n_rules,):
        raise PolicyError(f"{action.size} rule actions for {n_rules} rules")
    nm = np.zeros(n_cls, np.uint8) if nomatch is None else np.asarray(nomatch, dtype=np.int64)
    if nm.shape != (n_cls,) or not np.isin(nm, (DENY, ALLOW_END, PASS)).all():
        raise PolicyError("nomatch: one code per classifier, DENY, ALLOW_END or PASS", value=nm.tolist())
    for s in stages:
        if any(not 0 <= int(k) < n_cls for k in s):
            raise PolicyError(f"a stage names classifier {list(s)} of {n_cls}")
    max_stages = max([len(s) for s in stages] + [1])
    st = np.full(len(stages) * max_stages, -1, np.int32)
    for d, s in enumerate(stages):
        st[d * max_stages : d * max_stages + len(s)] = s
    rule_base = np.zeros(n_cls, np.int32)
    acc = 0
    for k, c in enumerate(classifiers):
        rule_base[k] = acc
        acc += c.n_rules
    v4_off = np.zeros(4 * n_cls, np.int64)
    v4_shift = np.zeros(2 * n_cls, np.int32)
    v4_boff = np.zeros(2 * n_cls, np.int64)
    buckets: list[np.ndarray] = []
    uniform: list[np.ndarray] = []
    subs: list[np.ndarray] = []
    bpos = 0
    v6_off = np.zeros(4 * n_cls, np.int64)
    v4s, v4c, v6h, v6l, v6c = [], [], [], [], []
    pos4 = pos6 = 0
    for k, c in enumerate(classifiers):
        for side in (0, 1):
            s, cl = c.v4[side]
            # bucket index on the top 16 bits; a bucket no interval starts inside of has one class,
            # stored directly; a bucket with boundaries gets a 256-entry sub-table on the next 8 bits
            shift = 16
            uni, first, sub_rows = _v4_index(s, cl, len(subs))
            subs += sub_rows
            uniform.append(uni)
            bucket = (first + pos4).astype(np.int32)
            v4_shift[2 * k + side] = shift
            v4_boff[2 * k + side] = bpos
            buckets.append(bucket)
            bpos += len(bucket)
            v4_off[2 * (2 * k + side)] = pos4
            pos4 += len(s)
            v4_off[2 * (2 * k + side) + 1] = pos4
            v4s.append(s)
            v4c.append(cl)
            h, lo, cl6 = c.v6[side]
            v6_off[2 * (2 * k + side)] = pos6
            pos6 += len(h)
            v6_off[2 * (2 * k + side) + 1] = pos6
            v6h.append(h)
            v6l.append(lo)
            v6c.append(cl6)
    cross = np.full(CROSS_FIELDS * n_cls, -1, np.int64)
    cross_idx: list[np.ndarray] = []
    cross_rule: list[np.ndarray] = []
    ipos = fpos = 0
    for k, c in enumerate(classifiers):
        tables = _cross_tables(c)
        if tables is None:
            continue
        pd, ps, sd, f, dims = tables
        cross[CROSS_FIELDS * k : CROSS_FIELDS * (k + 1)] = (ipos, ipos + pd.size, ipos + pd.size + ps.size, fpos) + dims
        cross_idx += [pd, ps, sd]
        ipos += pd.size + ps.size + sd.size
        cross_rule.append(np.where(f >= 0, f + rule_base[k], -1).astype(np.int32))
        fpos += f.size
    bits_base = np.zeros(5 * n_cls, np.int64)
    chunks = []
    pos = 0
    for k, c in enumerate(classifiers):
        for f, b in enumerate(c.bits):
            bits_base[5 * k + f] = pos
            chunks.append(b.reshape(-1))
            pos += b.size

    def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.ascontiguousarray(np.concatenate(parts).astype(dtype, copy=False)) if parts else np.zeros(0, dtype)

    return {
        "n_stages": np.array([len(s) for s in stages], np.int32),
        "stages": st,
        "max_stages": max_stages,
        "words": np.array([c.words for c in classifiers], np.int32),
        "rule_base": rule_base,
        "rule_action": np.ascontiguousarray(action, dtype=np.uint8),
        "nomatch": np.ascontiguousarray(nm, dtype=np.uint8),
        "proto_class": cat([c.proto_class for c in classifiers], np.int32),
        "ported": cat([c.ported for c in classifiers], np.uint8),
        "sport_class": cat([c.sport_class for c in classifiers], np.uint16),
        "dport_class": cat([c.dport_class for c in classifiers], np.uint16),
        "all_sport": np.array([c.all_sport for c in classifiers], np.int32),
        "all_dport": np.array([c.all_dport for c in classifiers], np.int32),
        "v4_off": v4_off,
        "v4_shift": v4_shift,
        "v4_boff": v4_boff,
        "v4_bucket": cat(buckets, np.int32),
        "v4_uniform": cat(uniform, np.int16),
        "v4_sub": cat(subs, np.int16) if subs else np.full(256, -1, np.int16),
        "v4_starts": cat(v4s, np.uint32),
        "v4_class": cat(v4c, np.int32),
        "v6_off": v6_off,
        "v6_hi": cat(v6h, np.uint64),
        "v6_lo": cat(v6l, np.uint64),
        "v6_class": cat(v6c, np.int32),
        "bits_base": bits_base,
        "bits": cat(chunks, np.uint64),
        "cross": cross,
        "cross_idx": cat(cross_idx, np.uint16),
        "cross_rule": cat(cross_rule, np.int32),
    }


def _trie(starts: np.ndarray, values: np.ndarray, n_const: int, bits: int, levels: int) -> list[np.ndarray] | None:
    """A full-resolution multibit trie over an interval table of a ``bits``-bit space: level 1 has an
    entry per top 16 bits, every later level 256-entry tables (8 bits each), ``levels`` in all.

    ``starts`` (uint64, ascending, the first 0) and ``values`` (int64) give the interval table. An
    entry of a level before the last names a table of the next level; an entry of the last level
    is the value. Tables 0..n_const-1 of every later level are constant (value c everywhere), so a
    cell without boundaries costs the same loads as any other and classify needs no branch; values
    >= n_const may only occupy cells of the last level's size. None when a level would need more
    than 65,536 tables or a value does not fit in uint16.
    """
    assert bits == 16 + 8 * (levels - 1)
    s64 = starts.astype(np.uint64)

    def cells(base: np.ndarray, size_bits: int) -> tuple[np.ndarray, np.ndarray]:
        """Per cell of 2**size_bits values starting at ``base``: (value at its first, split?)."""
        first = np.searchsorted(s64, base, side="right") - 1
        last = np.searchsorted(s64, base + np.uint64((1 << size_bits) - 1), side="right") - 1
        return values[first].astype(np.int64), last > first

    if values.size and int(values.max()) >= 65536 or n_const > 65536:
        return None
    span = np.arange(256, dtype=np.uint64)
    size = bits - 16
    val, split = cells(np.arange(65536, dtype=np.uint64) << np.uint64(size), size)
    bases = (np.flatnonzero(split).astype(np.uint64) << np.uint64(size))
    out = []
    for _level in range(1, levels):
        if (~split & (val >= n_const)).any() or n_const + int(split.sum()) > 65536:
            return None
        entry = np.where(split, 0, val)
        entry[split] = n_const + np.arange(int(split.sum()))
        out.append(entry.astype(np.uint16))
        size -= 8
        sub = ((bases[:, None]) + (span << np.uint64(size))[None, :]).reshape(-1)
        val, split = cells(sub, size)
        bases = sub[split]
    assert size == 0 and not split.any()
    const = np.repeat(np.arange(n_const, dtype=np.uint16), 256)
    tables = [out[0]] + [np.concatenate([const, e]) for e in out[1:]]
    return tables + [np.concatenate([const, val.astype(np.uint16)])]


def _v4_trie(starts: np.ndarray, classes: np.ndarray, n_classes: int) -> list[np.ndarray] | None:
    """A full-resolution 16-8-8 trie over one IPv4 interval table: three uint16 levels, no search."""
    return _trie(starts, classes.astype(np.int64), n_classes, 32, 3)


def _v6_trie(hi: np.ndarray, lo: np.ndarray, classes: np.ndarray, n_classes: int,
             base: int) -> tuple[list[np.ndarray], np.ndarray] | None:
    """A 16-8-8-8-8-8-8 trie over the upper 64 bits of one IPv6 interval table, and its split cells.

    A /64 with an interval boundary inside it (a prefix longer than /64: service tags have /122 to
    /128) gets value n_classes + j at the last level instead of a class; split cell j's intervals
    are rows ``pairs[2j] .. pairs[2j] + pairs[2j+1] - 1`` of the global IPv6 table (``base`` is the
    classifier side's first row), which classify searches on the lower 64 bits (the first row is
    the interval covering the cell's first address; the others start inside the cell).
    """
    hi = hi.astype(np.uint64)
    lo = lo.astype(np.uint64)
    cls = classes.astype(np.int64)
    aligned = lo == 0
    split = np.unique(hi[~aligned])
    if n_classes + split.size > 65536:
        return None
    # the 64-bit projection: aligned starts keep their class; a split cell h is [h, h + 1) with its
    # marker, and h + 1 restarts with the class covering (h + 1, 0) unless an aligned start is there
    plain = aligned & ~np.isin(hi, split)  # an aligned start inside a split cell is the cell's marker
    starts = [hi[plain]]
    vals = [cls[plain]]
    marker = n_classes + np.arange(split.size, dtype=np.int64)
    starts.append(split)
    vals.append(marker)
    nxt = split + np.uint64(1)
    keep = (split < np.uint64(MASK64)) & ~np.isin(nxt, hi[aligned]) & ~np.isin(nxt, split)
    holder = np.searchsorted(hi, split[keep], side="right") - 1  # last row with hi <= h
    starts.append(nxt[keep])
    vals.append(cls[holder])
    s = np.concatenate(starts)
    v = np.concatenate(vals)
    order = np.argsort(s, kind="stable")
    s, v = s[order], v[order]
    same = np.zeros(s.size, bool)
    same[1:] = v[1:] == v[:-1]
    s, v = s[~same], v[~same]
    levels = _trie(s, v, n_classes, 64, 7)
    if levels is None:
        return None
    # split cell j: rows [first, end) of the side's table, first covering (h, 0)
    first = np.searchsorted(hi, split, side="left") - 1  # last row with hi < h
    at_h = np.searchsorted(hi, split, side="left")
    first = np.where((at_h < hi.size) & (hi[np.minimum(at_h, hi.size - 1)] == split) & aligned[np.minimum(at_h, hi.size - 1)], at_h, first)
    end = np.searchsorted(hi, split, side="right")
    pairs = np.stack([first + base, end - first], axis=1).reshape(-1).astype(np.int64)
    return levels, pairs


PX_LIMIT = 1 << 22  # entries of one lane's protocol x port table (256 x destination x source classes)


def fast_tables(a: dict[str, Any]) -> dict[str, Any]:
    """Derived tables for the lane paths (rebuilt by ``matcher()``, never pickled).

    Per direction and stage (one NSG, the subnet and NIC NSGs, an admin stage before them) a
    "lane", one row of ``fast_lanes`` named by ``_match.LANE_LAYOUT``: the tries of its classifier's
    two address sides, IPv4 16-8-8 (level 3, the largest, in ``fast_l3`` with one byte per entry
    when every class fits in a byte) and IPv6 16-8-8-8-8-8-8 over the upper 64 bits with the row
    ranges of the /64s that hold a boundary (``_v6_trie``); its destination-port table, its
    source-port table when a rule names source ports (else one zero entry and a 0 mask); a
    (protocol, destination-port class, source-port class) -> combined class table that already
    holds the protocol's ported-or-not choice; the source x destination cross table and the final
    table holding the stage value (``_match.stage_values``: rule and action). Only when every
    direction has at most ``MAX_LANE_STAGES`` stages and each classifier has cross tables and small
    enough port tables; ``fast_v4`` / ``fast_v6`` say which families got tries (all classifiers or
    none); otherwise ``fast_lanes`` is empty and the general paths run.
    """
    from ._match import LANE_LAYOUT, rule_actions, stage_values

    none = {"fast_lanes": np.zeros(0, np.int64)}
    stages = [a["stages"][d * a["max_stages"] : (d + 1) * a["max_stages"]][: a["n_stages"][d]] for d in range(len(a["n_stages"]))]
    if a["max_stages"] > MAX_LANE_STAGES or len(stages) != 2 or not a.get("cross", np.zeros(0)).size:
        return none
    value, nomatch_value = stage_values(rule_actions(a), a.get("nomatch", np.zeros(len(a["words"]), np.uint8)))
    parts: dict[str, list[np.ndarray]] = {"u": [], "i": [], "3": []}
    pos = {"u": 0, "i": 0, "3": 0}

    def put(arr: np.ndarray, kind: str) -> int:
        parts[kind].append(arr)
        at = pos[kind]
        pos[kind] += arr.size
        return at

    zero = put(np.zeros(1, np.uint16), "u")  # the source-port "table" of a lane whose rules name none
    # row d + 2 * s: direction d, stage s; a direction with fewer stages repeats its last one
    # (folding a stage's value twice changes nothing), so every flow runs the same stage count
    lanes = np.full((2 * MAX_LANE_STAGES, len(LANE_LAYOUT)), -1, np.int64)
    idx = a["cross_idx"]
    done: dict[int, np.ndarray] = {}
    fam = {"v4": True, "v6": True}
    for d, st in enumerate(stages):
        for s in range(len(st)):
            k = int(st[s])
            if k in done:
                lanes[d + 2 * s] = done[k]
                continue
            row = _lane(a, k, put, idx, value, int(nomatch_value[k]), zero)
            if row is None:
                return none
            fam["v4"] &= "s1" in row
            fam["v6"] &= "s6_1" in row
            lanes[d + 2 * s] = [row.get(name, -1) for name in LANE_LAYOUT]
            done[k] = lanes[d + 2 * s].copy()
        for s in range(len(st), MAX_LANE_STAGES if len(st) else 0):
            lanes[d + 2 * s] = lanes[d + 2 * (len(st) - 1)]
    if (lanes[:, LANE_LAYOUT.index("px")] < 0).all() or not (fam["v4"] or fam["v6"]):
        return none
    # level 3 holds classes: one byte each when every class fits (halves the largest level)
    l3 = np.concatenate(parts["3"]) if parts["3"] else np.zeros(1, np.uint16)
    width = 1 if int(l3.max()) < 256 else 2
    l3_bytes = np.concatenate([l3.astype(np.uint8 if width == 1 else "<u2").view(np.uint8), np.zeros(3, np.uint8)])
    parts["u"].append(np.zeros(1, np.uint16))  # the vector loop reads 32 bits at the last entry
    if pos["u"] + 1 >= 2**31 or pos["i"] >= 2**31 or l3_bytes.size >= 2**31:
        return none  # the vector loop's offsets are int32
    return {"fast_lanes": lanes.reshape(-1), "fast_u16": np.concatenate(parts["u"]),
            "fast_i32": np.concatenate(parts["i"]).astype(np.int32), "fast_l3": l3_bytes, "fast_l3_width": width,
            "fast_stages": int(a["max_stages"]), "fast_v4": bool(fam["v4"]), "fast_v6": bool(fam["v6"])}


def _lane(a: dict[str, Any], k: int, put: Any, idx: np.ndarray, value: np.ndarray, nomatch_value: int,
          zero: int) -> dict[str, int] | None:
    """Classifier k's lane tables (appended through ``put``) and its row by field name (tries of a
    family that does not fit are left out); None if it has no lane."""
    x = [int(v) for v in a["cross"][CROSS_FIELDS * k : CROSS_FIELDS * (k + 1)]]
    if x[0] < 0:
        return None
    pd, ps, sd, f, n_dp, n_sp, n_d, n_x = x
    sport = a["sport_class"][k * 65536 : (k + 1) * 65536]
    const_sport = bool((sport == sport[0]).all())
    if not const_sport and 256 * n_dp * n_sp > PX_LIMIT:
        return None
    words = int(a["words"][k])
    bb = a["bits_base"][5 * k : 5 * k + 5]
    n_s = int(bb[2] - bb[1]) // words
    row: dict[str, int] = {"n_s": n_s}
    tries4 = []
    for side, n_c in ((0, n_s), (1, n_d)):
        lo, hi = a["v4_off"][2 * (2 * k + side)], a["v4_off"][2 * (2 * k + side) + 1]
        t = _v4_trie(a["v4_starts"][lo:hi], a["v4_class"][lo:hi], n_c)
        if t is None:
            break
        tries4.append(t)
    if len(tries4) == 2:
        for prefix, t in zip("sd", tries4):
            row.update({f"{prefix}1": put(t[0], "u"), f"{prefix}2": put(t[1], "u"), f"{prefix}3": put(t[2], "3")})
    tries6 = []
    for side, n_c in ((0, n_s), (1, n_d)):
        lo, hi = int(a["v6_off"][2 * (2 * k + side)]), int(a["v6_off"][2 * (2 * k + side) + 1])
        t6 = _v6_trie(a["v6_hi"][lo:hi], a["v6_lo"][lo:hi], a["v6_class"][lo:hi], n_c, lo)
        if t6 is None or (t6[1].size and int(t6[1].max()) >= 2**31):
            break
        tries6.append(t6)
    if len(tries6) == 2:
        for prefix, (levels, pairs) in zip(("s6_", "d6_"), tries6):
            row.update({f"{prefix}{j + 1}": put(t, "u") for j, t in enumerate(levels)})
            row[prefix[0] + "split"] = put(np.append(pairs, 0).astype(np.int32), "i")
    ported = a["ported"][k * 256 : (k + 1) * 256].astype(bool)
    pc = a["proto_class"][k * 256 : (k + 1) * 256].astype(np.int64)
    dpc = np.where(ported[:, None], np.arange(n_dp)[None, :], int(a["all_dport"][k]))
    pd_cls = idx[pd + pc[:, None] * n_dp + dpc].astype(np.int64)
    if const_sport:  # one source-port class: folded into the table, no load at classify time
        spc = np.where(ported, int(sport[0]), int(a["all_sport"][k]))
        px = idx[ps + pd_cls * n_sp + spc[:, None]]
        row.update(sp=zero, n_sp=1)
    else:  # (protocol, destination class, source class); a protocol without ports ignores both
        spc = np.where(ported[:, None], np.arange(n_sp)[None, :], int(a["all_sport"][k]))
        px = idx[ps + pd_cls[:, :, None] * n_sp + spc[:, None, :]]
        row.update(sp=put(np.ascontiguousarray(sport, np.uint16), "u"), n_sp=n_sp)
    n_y = int(idx[sd : sd + n_s * n_d].max()) + 1
    g = a["cross_rule"][f : f + n_y * n_x].astype(np.int64)
    fin = np.where(g >= 0, np.append(value, 0)[np.maximum(g, 0)], nomatch_value).astype(np.int32)
    row.update(px=put(px.reshape(-1), "u"), n_dp=n_dp, sd=put(idx[sd : sd + n_s * n_d], "u"), n_d=n_d,
               f=put(fin, "i"), n_x=n_x, dp=put(a["dport_class"][k * 65536 : (k + 1) * 65536], "u"))
    return row


class CompiledPolicy:
    """The compiled form of a policy: the matcher's arrays plus the labels of every rule.

    Rules are numbered globally (``rule_index``); labels say, per rule, its ARM name, the NSG it
    belongs to, its flow-log name, priority and access. Pickles compactly (port tables are
    run-length encoded on the wire) so it can be shipped to workers.
    """

    def __init__(self, arrays: dict[str, Any], labels: dict[str, list[Any]]) -> None:
        self.arrays = arrays
        self.labels = labels
        self._matcher: Any = None

    @property
    def n_rules(self) -> int:
        return len(self.labels["rule"])

    def matcher(self) -> Any:
        if self._matcher is None:
            from ._match import Matcher

            self._matcher = Matcher(dict(self.arrays, **fast_tables(self.arrays)))
        return self._matcher

    # -- pickling ----------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        arrays = dict(self.arrays)
        for key in ("sport_class", "dport_class"):
            arrays[key] = _rle(arrays[key])
        return {"arrays": arrays, "labels": self.labels, "v": 2}

    def __setstate__(self, state: dict[str, Any]) -> None:
        arrays = dict(state["arrays"])
        for key in ("sport_class", "dport_class"):
            arrays[key] = _unrle(arrays[key])
        if "rule_deny" in arrays and "rule_action" not in arrays:  # v1: deny flags are DENY / ALLOW codes
            deny = np.asarray(arrays.pop("rule_deny"), bool)
            arrays["rule_action"] = np.where(deny, DENY, ALLOW).astype(np.uint8)
            arrays["nomatch"] = np.zeros(len(arrays["words"]), np.uint8)
        self.arrays = arrays
        self.labels = state["labels"]
        self._matcher = None


def _rle(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    change = np.ones(a.shape[0], bool)
    change[1:] = a[1:] != a[:-1]
    starts = np.flatnonzero(change)
    return starts.astype(np.int64), a[starts], a.shape[0]


def _unrle(t: tuple[np.ndarray, np.ndarray, int]) -> np.ndarray:
    starts, values, n = t
    lengths = np.diff(np.append(starts, n))
    return np.ascontiguousarray(np.repeat(values, lengths))
