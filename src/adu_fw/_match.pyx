# cython: language_level=3
"""The classify loops: plain arrays in, (rule, allow) per flow out. No parsing, no policy logic.

A classifier k answers "first rule whose five fields all match" with one table lookup per field
(protocol and ports: direct tables; addresses: an index and a search over interval starts) giving
a class per field, then either the cross-product tables (four loads to the rule) or, where those
would be too big, the AND of the five classes' rule bitsets (the lowest set bit is the rule).
A direction is a sequence of classifiers (stages) folded by the action code of each stage's rule
(``stage_values``: DENY ends denied, ALLOW continues and is reported unless a later stage reports,
ALLOW_END ends allowed, PASS continues as if the stage had matched nothing; a stage that matches
nothing ends denied or passes, per classifier). See ``adu_fw.compile`` for how the arrays are built.

The time goes into dependent cache misses, not arithmetic, so each path keeps many independent
lookups in flight: the lane paths (``classify_v4`` and ``classify_v6``, up to three stages per
direction, source ports named or not; ``_lanes.h`` in AVX2, 32 flows a step, or ``_block_lanes``)
have no data-dependent branch (but the rare IPv6 /64 that holds a boundary); ``_block_v4`` and
``_block_mixed`` take 32 flows a level at a time (one stage); the rest goes flow by flow (``_one``).
"""
from libc.stdint cimport uint8_t, int16_t, uint16_t, uint32_t, int32_t, int64_t, uint64_t
from cython.parallel cimport prange

cdef extern from *:
    """
    static inline int adu_ctz64(unsigned long long x) { return __builtin_ctzll(x); }
    static inline void adu_prefetch(const void* p) { __builtin_prefetch(p, 0, 1); }
    static inline uint64_t adu_be64(const unsigned char* p) { uint64_t v; __builtin_memcpy(&v, p, 8); return __builtin_bswap64(v); }
    """
    uint64_t adu_be64(const unsigned char* p) noexcept nogil
    int adu_ctz64(unsigned long long x) noexcept nogil
    void adu_prefetch(const void* p) noexcept nogil

cdef extern from "_lanes.h":
    ctypedef struct adu_vlanes:
        const uint16_t* u16
        const int32_t* i32
        const uint8_t* l3
        const uint64_t* v6lo
        const int32_t* v6cls
        int32_t l3_shift
        int32_t l3_mask
        int32_t s1[8]
        int32_t s2[8]
        int32_t s3[8]
        int32_t d1[8]
        int32_t d2[8]
        int32_t d3[8]
        int32_t dp[8]
        int32_t px[8]
        int32_t n_dp[8]
        int32_t sd[8]
        int32_t n_d[8]
        int32_t f[8]
        int32_t n_x[8]
        int32_t sp[8]
        int32_t n_sp[8]
        int32_t sp_mask[8]
        int32_t n_s[8]
        int32_t s6[7][8]
        int32_t d6[7][8]
        int32_t ssplit[8]
        int32_t dsplit[8]
        int32_t fixed[8]
        int32_t passes
        int32_t first
        int32_t sports
    enum:
        ADU_FREE
    int adu_has_avx2() noexcept nogil
    int32_t adu_split_class(const adu_vlanes* p, int32_t pairs, int32_t cell, uint64_t key_lo) noexcept nogil
    Py_ssize_t adu_lanes_avx2(const adu_vlanes* p, Py_ssize_t n, const uint8_t* dir, const uint8_t* proto,
                              const uint32_t* src, const uint32_t* dst, const uint64_t* shi, const uint64_t* slo,
                              const uint64_t* dhi, const uint64_t* dlo, const uint16_t* sport, const uint16_t* dport,
                              int32_t* out_rule, uint8_t* out_allow) noexcept nogil
    Py_ssize_t adu_be128_avx2(const uint8_t* be, Py_ssize_t m, uint64_t* hi, uint64_t* lo) noexcept nogil


cdef struct Cols:
    # one range of flow columns: IPv4 (src, dst) or IPv6 (src/dst NULL; shi, slo, dhi, dlo)
    const uint8_t* direction
    const uint8_t* protocol
    const uint32_t* src
    const uint32_t* dst
    const uint64_t* shi
    const uint64_t* slo
    const uint64_t* dhi
    const uint64_t* dlo
    const uint16_t* sport
    const uint16_t* dport


# The row of fast_lanes per (direction, stage): compile.fast_tables builds rows by these names.
LANE_LAYOUT = ("s1", "s2", "s3", "d1", "d2", "d3", "px", "n_dp", "sd", "n_d", "f", "n_x", "dp", "sp", "n_sp", "n_s",
               "s6_1", "s6_2", "s6_3", "s6_4", "s6_5", "s6_6", "s6_7", "d6_1", "d6_2", "d6_3", "d6_4", "d6_5", "d6_6",
               "d6_7", "ssplit", "dsplit")

# classify_v4 prefetches the first-level index entries of flow i + 8 while flow i runs: the address
# lookups are dependent cache misses, and this lets them overlap (measured: about +10% on W1)


cdef struct Tables:
    int32_t n_dirs
    const int32_t* n_stages      # per direction
    const int32_t* stages        # per direction, max_stages entries
    int32_t max_stages
    const int32_t* words         # per classifier
    const int32_t* rule_base     # per classifier: global id of its rule 0
    const int32_t* rule_value    # per global rule: its stage value (see stage_values)
    const int32_t* nomatch_value # per classifier: the stage value when no rule matches
    const int32_t* proto_class   # per classifier x 256
    const uint8_t* ported        # per classifier x 256
    const uint16_t* sport_class  # per classifier x 65536
    const uint16_t* dport_class
    const int32_t* all_sport     # per classifier: the class matching every rule's port criterion
    const int32_t* all_dport
    const int32_t* sport_const   # per classifier: the class of every source port when the table holds
    const int32_t* dport_const   # one value (no rule names a source port: the usual NSG), else -1
    const int64_t* v4_off        # per (classifier, side) -> range in v4 tables; side 0 src, 1 dst
    const int32_t* v4_shift      # per (classifier, side): bucket = key >> shift
    const int64_t* v4_boff       # per (classifier, side): offset of its bucket index in v4_bucket
    const int32_t* v4_bucket     # per bucket b: first interval (absolute) whose start >= b << shift
    const int16_t* v4_uniform    # per bucket b: its class when no interval starts inside it, else
                                 # -1 (search) or -2-j: sub-table j of v4_sub, indexed by the next 8 bits
    const int16_t* v4_sub        # 256 entries per sub-table: a class, or -1 (search)
    const uint32_t* v4_starts
    const int32_t* v4_class
    const int64_t* v6_off
    const uint64_t* v6_hi
    const uint64_t* v6_lo
    const int32_t* v6_class
    const int64_t* bits_base     # per (classifier, field) -> word offset of class 0; fields p,s,sp,d,dp
    const uint64_t* bits
    const int64_t* cross         # per classifier, 8 entries: offsets of the pd, ps, sd tables (in
                                 # cross_idx) and of f (in cross_rule), then n_dp, n_sp, n_d, n_x;
                                 # pd offset -1: no cross tables, AND the bitsets
    const uint16_t* cross_idx
    const int32_t* cross_rule    # global rule id, -1 none


cdef inline int32_t _v4_search(const Tables* t, int32_t ks, uint32_t key) noexcept nogil:
    """Binary search over the intervals starting in the key's bucket."""
    cdef uint32_t b = key >> t.v4_shift[ks]
    cdef const int32_t* bucket = t.v4_bucket + t.v4_boff[ks]
    cdef int64_t lo = bucket[b], hi = bucket[b + 1], mid
    if lo > t.v4_off[2 * ks]:
        lo -= 1  # the interval covering the bucket's first address starts in an earlier bucket
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if t.v4_starts[mid] <= key:
            lo = mid
        else:
            hi = mid
    return t.v4_class[lo]


cdef inline int32_t _v4_level2(const Tables* t, int32_t ks, uint32_t key, int32_t c) noexcept nogil:
    """A first-level entry -> the class, from the sub-table it names if any (-1: search)."""
    if c <= -2:
        return t.v4_sub[(<int64_t>(-2 - c) << 8) + ((key >> (t.v4_shift[ks] - 8)) & 255)]
    return c


cdef inline int32_t _v4(const Tables* t, int32_t k, int side, uint32_t key) noexcept nogil:
    # a bucket index on the top bits narrows the binary search to the few intervals starting there
    cdef int32_t ks = 2 * k + side
    cdef int32_t c = t.v4_uniform[t.v4_boff[ks] + (key >> t.v4_shift[ks])]
    if c >= 0:
        return c  # most buckets hold no boundary: one load decides
    c = _v4_level2(t, ks, key, c)
    return c if c >= 0 else _v4_search(t, ks, key)


cdef inline void _prefetch_v4(const Tables* t, uint8_t d, uint32_t src, uint32_t dst) noexcept nogil:
    cdef int32_t s, k, ks
    if d >= t.n_dirs:
        return
    for s in range(t.n_stages[d]):
        k = t.stages[d * t.max_stages + s]
        ks = 2 * k
        adu_prefetch(&t.v4_uniform[t.v4_boff[ks] + (src >> t.v4_shift[ks])])
        adu_prefetch(&t.v4_uniform[t.v4_boff[ks + 1] + (dst >> t.v4_shift[ks + 1])])


cdef inline void _v6_step(const Tables* t, int64_t* lo, int64_t* n, uint64_t khi, uint64_t klo) noexcept nogil:
    """One halving of a binary search over [lo, lo + n): a conditional move, no branch on the data."""
    cdef int64_t half = n[0] >> 1
    cdef int64_t mid = lo[0] + half
    cdef uint64_t h = t.v6_hi[mid]
    lo[0] = mid if (h < khi) | ((h == khi) & (t.v6_lo[mid] <= klo)) else lo[0]
    n[0] -= half


cdef inline int32_t _v6(const Tables* t, int32_t k, int side, uint64_t khi, uint64_t klo) noexcept nogil:
    cdef int64_t lo = t.v6_off[2 * (2 * k + side)]
    cdef int64_t n = t.v6_off[2 * (2 * k + side) + 1] - lo
    while n > 1:
        _v6_step(t, &lo, &n, khi, klo)
    return t.v6_class[lo]


cdef inline int32_t _first(const Tables* t, int32_t k, int32_t pc, int32_t sc, int32_t spc,
                           int32_t dc, int32_t dpc) noexcept nogil:
    cdef int32_t w, W = t.words[k]
    cdef const int64_t* base = t.bits_base + 5 * k
    cdef const uint64_t* P = t.bits + base[0] + <int64_t>pc * W
    cdef const uint64_t* S = t.bits + base[1] + <int64_t>sc * W
    cdef const uint64_t* SP = t.bits + base[2] + <int64_t>spc * W
    cdef const uint64_t* D = t.bits + base[3] + <int64_t>dc * W
    cdef const uint64_t* DP = t.bits + base[4] + <int64_t>dpc * W
    cdef uint64_t m
    for w in range(W):
        m = P[w] & S[w] & SP[w] & D[w] & DP[w]
        if m:
            return w * 64 + adu_ctz64(m)
    return -1


cdef inline int32_t _stage_rule(const Tables* t, int32_t k, uint8_t proto, int32_t sc, uint16_t sport,
                                int32_t dc, uint16_t dport) noexcept nogil:
    """Classifier k's first matching rule (global id), -1 for none, given the address classes."""
    cdef int32_t spc, dpc, r
    cdef const int64_t* x = t.cross + 8 * k
    cdef int64_t a
    if t.ported[k * 256 + proto]:
        spc = t.sport_const[k]
        if spc < 0:
            spc = t.sport_class[<int64_t>k * 65536 + sport]
        dpc = t.dport_const[k]
        if dpc < 0:
            dpc = t.dport_class[<int64_t>k * 65536 + dport]
    else:
        spc = t.all_sport[k]
        dpc = t.all_dport[k]
    if x[0] >= 0:  # four loads through the cross tables (see adu_fw.compile)
        a = t.cross_idx[x[0] + t.proto_class[k * 256 + proto] * x[4] + dpc]
        a = t.cross_idx[x[1] + a * x[5] + spc]
        return t.cross_rule[x[3] + <int64_t>t.cross_idx[x[2] + sc * x[6] + dc] * x[7] + a]
    r = _first(t, k, t.proto_class[k * 256 + proto], sc, spc, dc, dpc)
    return t.rule_base[k] + r if r >= 0 else -1


cdef enum:
    BLOCK = 32
    LANE_STAGES = 3  # stages a direction may have for the lane path (rows d + 2 * s of fast_lanes)
    PASSES = -1     # the stage value of "continue, report nothing": also the start of every fold
    REJECTED = -8   # rule -2, denied: a row that cannot be evaluated


cdef inline int32_t _value(const Tables* t, int32_t k, int32_t g) noexcept nogil:
    """Classifier k's stage value for its first matching rule g (-1: none)."""
    return t.rule_value[g] if g >= 0 else t.nomatch_value[k]


cdef inline int32_t _fold(int32_t v, int32_t w) noexcept nogil:
    """The running value v after a later stage's value w: w where v continues and w does not pass."""
    return w if (v & 2) != 0 and w != PASSES else v


cdef inline int32_t _one(const Tables* t, uint8_t d, uint8_t proto, uint8_t fam,
                         uint64_t shi, uint64_t slo, uint16_t sport,
                         uint64_t dhi, uint64_t dlo, uint16_t dport) noexcept nogil:
    """The folded value (rule = v >> 2, allow = v & 1); REJECTED for a row that cannot be evaluated."""
    cdef int32_t s, k, g, sc, dc
    cdef int32_t v = PASSES  # no stage: allowed, no rule
    if d >= t.n_dirs or (fam != 4 and fam != 6):
        return REJECTED
    for s in range(t.n_stages[d]):
        k = t.stages[d * t.max_stages + s]
        if fam == 4:
            sc = _v4(t, k, 0, <uint32_t>slo)
            dc = _v4(t, k, 1, <uint32_t>dlo)
        else:
            sc = _v6(t, k, 0, shi, slo)
            dc = _v6(t, k, 1, dhi, dlo)
        v = _fold(v, _value(t, k, _stage_rule(t, k, proto, sc, sport, dc, dport)))
        if (v & 2) == 0:
            break  # an ending value: later stages are not looked at
    return v


cdef void _block_v4(const Tables* t, Py_ssize_t i0, Py_ssize_t cnt, const uint8_t* direction,
                    const uint8_t* protocol, const uint32_t* src, const uint16_t* sport,
                    const uint32_t* dst, const uint16_t* dport, int32_t* out_rule, uint8_t* out_allow) noexcept nogil:
    """Up to BLOCK flows of a one-stage policy, level by level: each loop issues independent loads
    for every flow of the block, so their cache misses overlap instead of queueing behind branches."""
    cdef int32_t ks_[BLOCK]
    cdef int32_t cs[BLOCK]
    cdef int32_t cd[BLOCK]
    cdef Py_ssize_t j, i
    cdef int32_t ks, v
    cdef uint8_t d
    for j in range(cnt):
        i = i0 + j
        d = direction[i]
        if d >= t.n_dirs or t.n_stages[d] == 0:
            ks_[j] = -1
            continue
        ks = 2 * t.stages[d * t.max_stages]
        ks_[j] = ks
        cs[j] = t.v4_uniform[t.v4_boff[ks] + (src[i] >> t.v4_shift[ks])]
        cd[j] = t.v4_uniform[t.v4_boff[ks + 1] + (dst[i] >> t.v4_shift[ks + 1])]
    for j in range(cnt):
        ks = ks_[j]
        if ks >= 0:
            cs[j] = _v4_level2(t, ks, src[i0 + j], cs[j])
            cd[j] = _v4_level2(t, ks + 1, dst[i0 + j], cd[j])
    for j in range(cnt):
        i = i0 + j
        ks = ks_[j]
        if ks < 0:
            v = PASSES if (direction[i] < t.n_dirs) else REJECTED
        else:
            if cs[j] < 0:
                cs[j] = _v4_search(t, ks, src[i])
            if cd[j] < 0:
                cd[j] = _v4_search(t, ks + 1, dst[i])
            v = _value(t, ks >> 1, _stage_rule(t, ks >> 1, protocol[i], cs[j], sport[i], cd[j], dport[i]))
        out_rule[i] = v >> 2
        out_allow[i] = <uint8_t>(v & 1)


# Rule action codes (compile.DENY ...) and the stage values the loops fold. A value is
# (rule << 2) | (continue << 1) | allow: DENY (rule << 2), ALLOW (rule << 2) | 3, ALLOW_END
# (rule << 2) | 1, and PASSES (-1: continue, report nothing) for a PASS rule. A classifier whose rules
# all miss gives its "no match" value: -4 (ends denied, rule -1), -3 (ends allowed, rule -1) or PASSES.
_RULE_LOW = (0, 3, 1, -1)
_NOMATCH = {0: -4, 2: -3, 3: PASSES}


def rule_actions(dict a):
    """The per-rule action codes of compiled arrays; arrays from before action codes hold
    ``rule_deny`` (1 deny, 0 allow), which are exactly DENY and ALLOW."""
    import numpy as np
    if "rule_action" in a:
        return np.asarray(a["rule_action"])
    if "rule_deny" in a:
        return np.where(np.asarray(a["rule_deny"]) != 0, 0, 1).astype(np.uint8)
    raise ValueError("inconsistent compiled tables: no rule actions")


def stage_values(rule_action, nomatch):
    """(per rule, per classifier) int32 stage values for the action codes: see the comment above."""
    import numpy as np
    act = np.asarray(rule_action).astype(np.int64)
    nm = np.asarray(nomatch).astype(np.int64)
    if act.ndim != 1 or nm.ndim != 1 or act.size >= 1 << 29:
        raise ValueError("inconsistent compiled tables")
    if act.size and (act.min() < 0 or act.max() > 3):
        raise ValueError(f"rule action codes are 0-3 (DENY, ALLOW, ALLOW_END, PASS), got {int(act.max() if act.max() > 3 else act.min())}")
    bad = [int(c) for c in nm.tolist() if int(c) not in _NOMATCH]
    if bad:
        raise ValueError(f"a stage that matches no rule ends denied (0), ends allowed (2) or passes (3), got {bad[0]}")
    low = np.asarray(_RULE_LOW, np.int64)[act] if act.size else np.zeros(0, np.int64)
    value = np.where(low < 0, PASSES, (np.arange(act.size, dtype=np.int64) << 2) | np.maximum(low, 0))
    return [np.ascontiguousarray(value, np.int32),
            np.ascontiguousarray([_NOMATCH[int(c)] for c in nm.tolist()], np.int32).reshape(-1)]


def _span(arr, off, size):
    """1 + the largest entry of arr[off:off + size]; ValueError when the range is not inside arr."""
    if off < 0 or size < 1 or off + size > arr.shape[0]:
        raise ValueError("inconsistent compiled tables")
    return int(arr[off:off + size].max()) + 1


def _check_trie(levels, offs, n_values):
    """Every index a multibit trie (see compile._trie) can produce stays inside its levels: level 1
    has 65,536 entries, each later level 256 per table the level before names. Returns 1 + the
    largest last-level entry, which must be at most ``n_values`` when given."""
    n = _span(levels[0], offs[0], 65536)
    for arr, off in zip(levels[1:], offs[1:]):
        n = _span(arr, off, 256 * n)
    if n_values is not None and n > n_values:
        raise ValueError("inconsistent compiled tables")
    return n


def _checked_cross(dict a, n_k, n_rules):
    """The cross tables, or "none" for every classifier (older pickles); bounds checked here so the
    loop need not: every index a table can produce stays inside the next table."""
    import numpy as np
    cross = np.asarray(a.get("cross", np.full(8 * n_k, -1, np.int64)), np.int64)
    idx = np.asarray(a.get("cross_idx", np.zeros(0, np.uint16)), np.uint16)
    rule = np.asarray(a.get("cross_rule", np.zeros(0, np.int32)), np.int32)
    if cross.shape != (8 * n_k,):
        raise ValueError("inconsistent compiled tables")
    n_p = [int(np.asarray(a["proto_class"])[k * 256:(k + 1) * 256].max()) + 1 for k in range(n_k)]
    for k in range(n_k):
        pd, ps, sd, f, n_dp, n_sp, n_d, n_x = (int(v) for v in cross[8 * k:8 * k + 8])
        if pd < 0:
            continue
        n_s = int(np.asarray(a["bits_base"])[5 * k + 2] - np.asarray(a["bits_base"])[5 * k + 1]) // int(a["words"][k])
        if min(pd, ps, sd, f, n_dp, n_sp, n_d, n_x) < 0 or not pd <= ps <= sd or sd + n_s * n_d > idx.shape[0]:
            raise ValueError("inconsistent compiled tables")
        n_a = int(idx[pd:ps].max(initial=0)) + 1
        if ps - pd != n_p[k] * n_dp or sd - ps != n_a * n_sp:
            raise ValueError("inconsistent compiled tables")
        n_y = int(idx[sd:sd + n_s * n_d].max(initial=0)) + 1
        if int(idx[ps:sd].max(initial=0)) >= n_x or f + n_y * n_x > rule.shape[0]:
            raise ValueError("inconsistent compiled tables")
        for port, table, n in (("all_sport", "sport_class", n_sp), ("all_dport", "dport_class", n_dp)):
            if int(a[port][k]) >= n or int(np.asarray(a[table])[k * 65536:(k + 1) * 65536].max()) >= n:
                raise ValueError("inconsistent compiled tables")
    if rule.size and (rule.min() < -1 or rule.max() >= n_rules):
        raise ValueError("inconsistent compiled tables")
    pad = lambda x, dt: np.ascontiguousarray(x if x.size else np.zeros(1, dt))
    return [np.ascontiguousarray(cross), pad(idx, np.uint16), pad(rule, np.int32)]


cdef inline uint32_t _l3(const adu_vlanes* p, int64_t e) noexcept nogil:
    if p.l3_shift:  # the same for every flow of a policy: a predictable branch
        return (<const uint16_t*>p.l3)[e]
    return p.l3[e]


cdef void _lane_stage(const adu_vlanes* p, const int32_t* ln, int s, Py_ssize_t i0, Py_ssize_t cnt,
                      const Cols* c, int32_t* v) noexcept nogil:
    """Stage s of up to BLOCK flows (flow j reads lane ln[j] + 2 * s), level by level, without a
    data-dependent branch (but IPv6 /64s holding a boundary): the trie loads per address, then the
    port, cross and final tables."""
    cdef uint32_t a[BLOCK]
    cdef uint32_t b[BLOCK]
    cdef const uint16_t* u = p.u16
    cdef Py_ssize_t j, i
    cdef int32_t l, lv
    cdef uint32_t x, y
    cdef int64_t xi
    if c.src != NULL:
        for j in range(cnt):
            i = i0 + j
            l = ln[j] + 2 * s
            a[j] = u[p.s1[l] + (c.src[i] >> 16)]
            b[j] = u[p.d1[l] + (c.dst[i] >> 16)]
        for j in range(cnt):
            i = i0 + j
            l = ln[j] + 2 * s
            a[j] = u[p.s2[l] + ((a[j] << 8) | ((c.src[i] >> 8) & 255))]
            b[j] = u[p.d2[l] + ((b[j] << 8) | ((c.dst[i] >> 8) & 255))]
        for j in range(cnt):
            i = i0 + j
            l = ln[j] + 2 * s
            a[j] = _l3(p, p.s3[l] + ((a[j] << 8) | (c.src[i] & 255)))
            b[j] = _l3(p, p.d3[l] + ((b[j] << 8) | (c.dst[i] & 255)))
    else:
        for j in range(cnt):
            i = i0 + j
            l = ln[j] + 2 * s
            a[j] = u[p.s6[0][l] + (c.shi[i] >> 48)]
            b[j] = u[p.d6[0][l] + (c.dhi[i] >> 48)]
        for lv in range(1, 7):
            for j in range(cnt):
                i = i0 + j
                l = ln[j] + 2 * s
                a[j] = u[p.s6[lv][l] + ((a[j] << 8) | <uint32_t>((c.shi[i] >> (48 - 8 * lv)) & 255))]
                b[j] = u[p.d6[lv][l] + ((b[j] << 8) | <uint32_t>((c.dhi[i] >> (48 - 8 * lv)) & 255))]
        for j in range(cnt):
            l = ln[j] + 2 * s
            if a[j] >= <uint32_t>p.n_s[l]:  # a /64 holding a boundary: search its rows
                a[j] = adu_split_class(p, p.ssplit[l], a[j] - p.n_s[l], c.slo[i0 + j])
            if b[j] >= <uint32_t>p.n_d[l]:
                b[j] = adu_split_class(p, p.dsplit[l], b[j] - p.n_d[l], c.dlo[i0 + j])
    for j in range(cnt):
        i = i0 + j
        l = ln[j] + 2 * s
        xi = <int64_t>c.protocol[i] * p.n_dp[l] + u[p.dp[l] + c.dport[i]]
        if p.sports:  # the same for every flow of a policy
            xi = xi * p.n_sp[l] + u[p.sp[l] + (c.sport[i] & p.sp_mask[l])]
        x = u[p.px[l] + xi]
        y = u[p.sd[l] + a[j] * p.n_d[l] + b[j]]
        v[j] = p.i32[p.f[l] + <int64_t>y * p.n_x[l] + x]


cdef void _block_lanes(const adu_vlanes* p, Py_ssize_t i0, Py_ssize_t cnt, const Cols* c,
                       int32_t* out_rule, uint8_t* out_allow) noexcept nogil:
    """The scalar twin of ``adu_lanes_avx2`` (same tables, same fold), up to BLOCK flows: each
    stage's value, folded as in ``_one`` (a direction with fewer stages repeats its last, which
    changes nothing); a direction without a lane gets its fixed result."""
    cdef int32_t ln[BLOCK]
    cdef int32_t dm[BLOCK]
    cdef int32_t v0[BLOCK]
    cdef int32_t v1[BLOCK]
    cdef Py_ssize_t j, i
    cdef int32_t v, fixed, s
    for j in range(cnt):
        dm[j] = min(<int32_t>c.direction[i0 + j], 2)
        ln[j] = dm[j] if p.fixed[dm[j]] == ADU_FREE else p.first  # a real lane, result replaced below
    _lane_stage(p, ln, 0, i0, cnt, c, v0)
    for s in range(1, p.passes):
        _lane_stage(p, ln, s, i0, cnt, c, v1)
        for j in range(cnt):
            v0[j] = _fold(v0[j], v1[j])
    for j in range(cnt):
        i = i0 + j
        fixed = p.fixed[dm[j]]
        v = v0[j] if fixed == ADU_FREE else fixed
        out_rule[i] = v >> 2
        out_allow[i] = <uint8_t>(v & 1)


cdef enum:
    CHUNK = 4096  # flows per parallel work item of the lane path


cdef void _run_lanes(const adu_vlanes* vl, bint simd, Py_ssize_t i0, Py_ssize_t cnt, const Cols* c,
                     int32_t* out_rule, uint8_t* out_allow) noexcept nogil:
    """Flows [i0, i0 + cnt): 32 a step in AVX2 when the CPU has it, the rest in scalar blocks."""
    cdef Py_ssize_t j = i0, end = i0 + cnt
    if simd:
        if c.src != NULL:
            j += adu_lanes_avx2(vl, cnt, c.direction + i0, c.protocol + i0, c.src + i0, c.dst + i0, NULL, NULL,
                                NULL, NULL, c.sport + i0, c.dport + i0, out_rule + i0, out_allow + i0)
        else:
            j += adu_lanes_avx2(vl, cnt, c.direction + i0, c.protocol + i0, NULL, NULL, c.shi + i0, c.slo + i0,
                                c.dhi + i0, c.dlo + i0, c.sport + i0, c.dport + i0, out_rule + i0, out_allow + i0)
    while j < end:
        _block_lanes(vl, j, min(<Py_ssize_t>BLOCK, end - j), c, out_rule, out_allow)
        j += BLOCK


cdef enum:
    BE_STEP = 512  # flows per byte-swap step of the big-endian IPv6 path (4 x 4 KB of halves: stays in L1)


cdef void _run_lanes_be(const adu_vlanes* vl, bint simd, Py_ssize_t i0, Py_ssize_t cnt, const Cols* c,
                        const uint8_t* sbe, const uint8_t* dbe, int32_t* out_rule, uint8_t* out_allow) noexcept nogil:
    """``_run_lanes`` over IPv6 addresses as 16 big-endian bytes a row (fixed_size_binary(16)): each
    step of BE_STEP flows is swapped into halves in a small buffer that the lanes read while it is
    still in cache, instead of a pass that writes and rereads 32 bytes a flow in memory."""
    cdef uint64_t buf[4 * BE_STEP]
    cdef Cols cc
    cdef Py_ssize_t j = i0, k, m, end = i0 + cnt
    cdef const uint8_t* ps
    cdef const uint8_t* pd
    cc.src = cc.dst = NULL
    cc.shi, cc.slo, cc.dhi, cc.dlo = buf, buf + BE_STEP, buf + 2 * BE_STEP, buf + 3 * BE_STEP
    while j < end:
        m = min(<Py_ssize_t>BE_STEP, end - j)
        ps, pd = sbe + 16 * j, dbe + 16 * j
        k = 0
        if simd:
            k = adu_be128_avx2(ps, m, buf, buf + BE_STEP)
            adu_be128_avx2(pd, m, buf + 2 * BE_STEP, buf + 3 * BE_STEP)
        for k in range(k, m):
            buf[k] = adu_be64(ps + 16 * k)
            buf[BE_STEP + k] = adu_be64(ps + 16 * k + 8)
            buf[2 * BE_STEP + k] = adu_be64(pd + 16 * k)
            buf[3 * BE_STEP + k] = adu_be64(pd + 16 * k + 8)
        cc.direction, cc.protocol, cc.sport, cc.dport = c.direction + j, c.protocol + j, c.sport + j, c.dport + j
        _run_lanes(vl, simd, 0, m, &cc, out_rule + j, out_allow + j)
        j += m


cdef void _block_mixed(const Tables* t, Py_ssize_t i0, Py_ssize_t cnt, const uint8_t* direction,
                       const uint8_t* protocol, const uint8_t* family, const uint64_t* src_hi,
                       const uint64_t* src_lo, const uint16_t* sport, const uint64_t* dst_hi,
                       const uint64_t* dst_lo, const uint16_t* dport, int32_t* out_rule, uint8_t* out_allow) noexcept nogil:
    """Up to BLOCK flows of a one-stage policy, IPv4 and IPv6 mixed: the IPv6 binary searches of
    the block advance one halving at a time together, so their loads overlap (as in _block_v4)."""
    cdef int32_t ks_[BLOCK]
    cdef int32_t cs[BLOCK]
    cdef int32_t cd[BLOCK]
    cdef int64_t slo[BLOCK]
    cdef int64_t sn[BLOCK]
    cdef int64_t dlo[BLOCK]
    cdef int64_t dn[BLOCK]
    cdef Py_ssize_t j, i
    cdef int32_t k, v
    cdef int64_t most = 1
    cdef uint8_t d, fam
    for j in range(cnt):
        i = i0 + j
        d = direction[i]
        fam = family[i]
        sn[j] = dn[j] = 1
        if d >= t.n_dirs or (fam != 4 and fam != 6):
            ks_[j] = -2
        elif t.n_stages[d] == 0:
            ks_[j] = -1
        else:
            k = t.stages[d * t.max_stages]
            ks_[j] = k
            if fam == 4:
                cs[j] = _v4(t, k, 0, <uint32_t>src_lo[i])
                cd[j] = _v4(t, k, 1, <uint32_t>dst_lo[i])
            else:
                slo[j] = t.v6_off[4 * k]
                sn[j] = t.v6_off[4 * k + 1] - slo[j]
                dlo[j] = t.v6_off[4 * k + 2]
                dn[j] = t.v6_off[4 * k + 3] - dlo[j]
                most = max(most, max(sn[j], dn[j]))
    while most > 1:
        for j in range(cnt):
            if sn[j] > 1:
                _v6_step(t, &slo[j], &sn[j], src_hi[i0 + j], src_lo[i0 + j])
            if dn[j] > 1:
                _v6_step(t, &dlo[j], &dn[j], dst_hi[i0 + j], dst_lo[i0 + j])
        most -= most >> 1
    for j in range(cnt):
        i = i0 + j
        if ks_[j] < 0:
            v = PASSES if ks_[j] == -1 else REJECTED
        else:
            if family[i] == 6:
                cs[j] = t.v6_class[slo[j]]
                cd[j] = t.v6_class[dlo[j]]
            v = _value(t, ks_[j], _stage_rule(t, ks_[j], protocol[i], cs[j], sport[i], cd[j], dport[i]))
        out_rule[i] = v >> 2
        out_allow[i] = <uint8_t>(v & 1)


cdef class Matcher:
    """Holds the compiled arrays (keeping them alive) and the C view of them."""
    cdef Tables t
    cdef adu_vlanes vl           # the lane tables (both the AVX2 and the scalar loop read them)
    cdef bint lanes4_on           # IPv4 lanes (classify_v4)
    cdef bint lanes6_on           # IPv6 lanes (classify_v6)
    cdef bint use_simd
    cdef object _keep
    cdef object _consts
    cdef Py_ssize_t t_rules      # global rules

    def __init__(self, dict a):
        self._keep = a
        import numpy as np
        n_k = len(a["words"])
        consts = []
        for key in ("sport_class", "dport_class"):
            tables = np.asarray(a[key]).reshape(n_k, 65536) if n_k else np.zeros((0, 65536), np.uint16)
            flat = (tables == tables[:, :1]).all(axis=1)
            consts.append(np.ascontiguousarray(np.where(flat, tables[:, 0].astype(np.int32), -1), np.int32))
        self._consts = consts
        cdef const int32_t[::1] sport_const = consts[0]
        cdef const int32_t[::1] dport_const = consts[1]
        cdef const int32_t[::1] n_stages = a["n_stages"]
        cdef const int32_t[::1] stages = a["stages"]
        cdef const int32_t[::1] words = a["words"]
        cdef const int32_t[::1] rule_base = a["rule_base"]
        values = stage_values(rule_actions(a), a.get("nomatch", np.zeros(n_k, np.uint8)))
        self._consts.extend(values)
        cdef const int32_t[::1] rule_value = values[0]
        cdef const int32_t[::1] nomatch_value = values[1]
        self.t_rules = rule_value.shape[0]
        cdef const int32_t[::1] proto_class = a["proto_class"]
        cdef const uint8_t[::1] ported = a["ported"]
        cdef const uint16_t[::1] sport_class = a["sport_class"]
        cdef const uint16_t[::1] dport_class = a["dport_class"]
        cdef const int32_t[::1] all_sport = a["all_sport"]
        cdef const int32_t[::1] all_dport = a["all_dport"]
        cdef const int64_t[::1] v4_off = a["v4_off"]
        cdef const int32_t[::1] v4_shift = a["v4_shift"]
        cdef const int64_t[::1] v4_boff = a["v4_boff"]
        cdef const int32_t[::1] v4_bucket = a["v4_bucket"]
        cdef const int16_t[::1] v4_uniform = a["v4_uniform"]
        cdef const int16_t[::1] v4_sub = a["v4_sub"]
        cdef const uint32_t[::1] v4_starts = a["v4_starts"]
        cdef const int32_t[::1] v4_class = a["v4_class"]
        cdef const int64_t[::1] v6_off = a["v6_off"]
        cdef const uint64_t[::1] v6_hi = a["v6_hi"]
        cdef const uint64_t[::1] v6_lo = a["v6_lo"]
        cdef const int32_t[::1] v6_class = a["v6_class"]
        cdef const int64_t[::1] bits_base = a["bits_base"]
        cdef const uint64_t[::1] bits = a["bits"]
        cross_arrays = _checked_cross(a, n_k, rule_value.shape[0])
        self._consts.extend(cross_arrays)
        cdef const int64_t[::1] cross = cross_arrays[0]
        cdef const uint16_t[::1] cross_idx = cross_arrays[1]
        cdef const int32_t[::1] cross_rule = cross_arrays[2]
        n_cls = words.shape[0]
        if (proto_class.shape[0] != 256 * n_cls or ported.shape[0] != 256 * n_cls
                or sport_class.shape[0] != 65536 * n_cls or dport_class.shape[0] != 65536 * n_cls
                or v4_off.shape[0] != 4 * n_cls or v6_off.shape[0] != 4 * n_cls
                or v4_shift.shape[0] != 2 * n_cls or v4_boff.shape[0] != 2 * n_cls
                or bits_base.shape[0] != 5 * n_cls or rule_base.shape[0] != n_cls
                or all_sport.shape[0] != n_cls or all_dport.shape[0] != n_cls
                or stages.shape[0] != n_stages.shape[0] * int(a["max_stages"])
                or nomatch_value.shape[0] != n_cls):
            raise ValueError("inconsistent compiled tables")
        for d in range(n_stages.shape[0]):  # every stage names a classifier: the loops index with it
            if not 0 <= n_stages[d] <= int(a["max_stages"]) or any(
                    not 0 <= stages[d * int(a["max_stages"]) + s] < n_cls for s in range(n_stages[d])):
                raise ValueError("inconsistent compiled tables")
        self.t.n_dirs = n_stages.shape[0]
        self.t.max_stages = int(a["max_stages"])
        self.t.n_stages = &n_stages[0]
        self.t.stages = &stages[0] if stages.shape[0] else NULL
        self.t.words = &words[0] if n_cls else NULL
        self.t.rule_base = &rule_base[0] if n_cls else NULL
        self.t.rule_value = &rule_value[0] if rule_value.shape[0] else NULL
        self.t.nomatch_value = &nomatch_value[0] if n_cls else NULL
        self.t.proto_class = &proto_class[0] if n_cls else NULL
        self.t.ported = &ported[0] if n_cls else NULL
        self.t.sport_class = &sport_class[0] if n_cls else NULL
        self.t.dport_class = &dport_class[0] if n_cls else NULL
        self.t.all_sport = &all_sport[0] if n_cls else NULL
        self.t.all_dport = &all_dport[0] if n_cls else NULL
        self.t.sport_const = &sport_const[0] if n_cls else NULL
        self.t.dport_const = &dport_const[0] if n_cls else NULL
        self.t.v4_off = &v4_off[0] if n_cls else NULL
        self.t.v4_shift = &v4_shift[0] if n_cls else NULL
        self.t.v4_boff = &v4_boff[0] if n_cls else NULL
        self.t.v4_bucket = &v4_bucket[0] if v4_bucket.shape[0] else NULL
        if v4_uniform.shape[0] != v4_bucket.shape[0]:
            raise ValueError("inconsistent compiled tables")
        self.t.v4_uniform = &v4_uniform[0] if v4_uniform.shape[0] else NULL
        self.t.v4_sub = &v4_sub[0] if v4_sub.shape[0] else NULL
        self.t.v4_starts = &v4_starts[0] if v4_starts.shape[0] else NULL
        self.t.v4_class = &v4_class[0] if v4_class.shape[0] else NULL
        self.t.v6_off = &v6_off[0] if n_cls else NULL
        self.t.v6_hi = &v6_hi[0] if v6_hi.shape[0] else NULL
        self.t.v6_lo = &v6_lo[0] if v6_lo.shape[0] else NULL
        self.t.v6_class = &v6_class[0] if v6_class.shape[0] else NULL
        self.t.bits_base = &bits_base[0] if n_cls else NULL
        self.t.bits = &bits[0] if bits.shape[0] else NULL
        self.t.cross = &cross[0] if n_cls else NULL
        self.t.cross_idx = &cross_idx[0]
        self.t.cross_rule = &cross_rule[0]
        self._set_lanes(a)

    @property
    def v4_path(self):
        """Which loop ``classify_v4`` runs: "lanes-avx2", "lanes", "block" (one stage) or "flow"."""
        if self.lanes4_on:
            return "lanes-avx2" if self.use_simd else "lanes"
        return "block" if self.t.max_stages == 1 else "flow"

    @property
    def v6_path(self):
        """Which loop ``classify_v6`` runs: "lanes-avx2", "lanes", "block" (one stage) or "flow"."""
        if self.lanes6_on:
            return "lanes-avx2" if self.use_simd else "lanes"
        return "block" if self.t.max_stages == 1 else "flow"

    @property
    def simd(self):
        """Whether the lane path uses its AVX2 loop (on where the CPU has AVX2; tests turn it off)."""
        return bool(self.use_simd)

    @simd.setter
    def simd(self, on):
        self.use_simd = bool(on) and (self.lanes4_on or self.lanes6_on) and adu_has_avx2() != 0

    def _set_lanes(self, dict a):
        """The lanes from ``fast_tables`` arrays (absent: the general paths), every index checked:
        the loops do not check them."""
        import numpy as np
        rule_count = self.t_rules
        lanes = np.asarray(a.get("fast_lanes", np.zeros(0, np.int64)), np.int64)
        self.lanes4_on = self.lanes6_on = False
        self.use_simd = False
        if lanes.size == 0:
            return
        nf = len(LANE_LAYOUT)
        u16 = np.ascontiguousarray(a["fast_u16"], np.uint16)
        i32 = np.ascontiguousarray(a["fast_i32"], np.int32)
        l3_bytes = np.ascontiguousarray(a["fast_l3"], np.uint8)
        width = int(a["fast_l3_width"])
        on4, on6 = bool(a.get("fast_v4", True)), bool(a.get("fast_v6", False))
        if width not in (1, 2) or l3_bytes.shape[0] < 3 + width or (l3_bytes.shape[0] - 3) % width:
            raise ValueError("inconsistent compiled tables")
        l3 = l3_bytes[:l3_bytes.shape[0] - 3].view(np.uint8 if width == 1 else "<u2")
        if (lanes.shape[0] != 2 * LANE_STAGES * nf or self.t.n_dirs != 2 or self.t.max_stages > LANE_STAGES
                or u16.shape[0] >= 2**31 or i32.shape[0] >= 2**31 or u16.shape[0] < 2 or i32.shape[0] < 1
                or not (on4 or on6) or (on6 and self.t.v6_lo == NULL)):
            raise ValueError("inconsistent compiled tables")
        self._consts.extend([u16, i32, l3_bytes])
        cdef const uint16_t[::1] U = u16
        cdef const int32_t[::1] I = i32
        cdef const uint8_t[::1] B = l3_bytes
        cdef int d, st, l, lv, first = -1
        cdef adu_vlanes* p = &self.vl
        p.u16, p.i32, p.l3 = &U[0], &I[0], &B[0]
        p.v6lo, p.v6cls = self.t.v6_lo, self.t.v6_class
        p.l3_shift = width - 1
        p.l3_mask = 0xFF if width == 1 else 0xFFFF
        p.sports = 0
        for d in range(8):
            p.fixed[d] = REJECTED  # [2]: a bad direction byte
            p.s1[d] = p.s2[d] = p.s3[d] = p.d1[d] = p.d2[d] = p.d3[d] = 0
            p.dp[d] = p.px[d] = p.n_dp[d] = p.sd[d] = p.n_d[d] = p.f[d] = p.n_x[d] = 0
            p.sp[d] = p.n_sp[d] = p.sp_mask[d] = p.n_s[d] = p.ssplit[d] = p.dsplit[d] = 0
            for lv in range(7):
                p.s6[lv][d] = p.d6[lv][d] = 0
        p.passes = self.t.max_stages
        rows = lanes.reshape(2 * LANE_STAGES, nf)
        v6_rows = len(np.asarray(a["v6_lo"]))
        v6_class = np.asarray(a["v6_class"])
        for d in range(2):
            if self.t.n_stages[d] == 0:
                if any(rows[d + 2 * st][0] >= 0 for st in range(LANE_STAGES)):
                    raise ValueError("inconsistent compiled tables")
                p.fixed[d] = PASSES  # no stage in this direction: rule -1, allowed
                continue
            for st in range(p.passes):
                l = d + 2 * st
                r = dict(zip(LANE_LAYOUT, (int(v) for v in rows[l])))
                # a direction with fewer stages repeats its last: the fold gives the same result
                k = self.t.stages[d * self.t.max_stages + min(st, self.t.n_stages[d] - 1)]
                n_s = int((a["bits_base"][5 * k + 2] - a["bits_base"][5 * k + 1]) // a["words"][k])
                n_dp, n_sp, n_d, n_x = r["n_dp"], r["n_sp"], r["n_d"], r["n_x"]
                if r["n_s"] != n_s or min(n_dp, n_sp, n_d, n_x) < 1:
                    raise ValueError("inconsistent compiled tables")
                if on4:
                    _check_trie([u16, u16, l3], [r["s1"], r["s2"], r["s3"]], n_s)
                    _check_trie([u16, u16, l3], [r["d1"], r["d2"], r["d3"]], n_d)
                if on6:
                    for side, n_c, split in (("s6_", n_s, r["ssplit"]), ("d6_", n_d, r["dsplit"])):
                        cells = _check_trie([u16] * 7, [r[f"{side}{j}"] for j in range(1, 8)], None) - n_c
                        if split < 0 or split + 2 * max(cells, 0) > i32.shape[0]:
                            raise ValueError("inconsistent compiled tables")
                        for c in range(cells):
                            lo, cnt = int(i32[split + 2 * c]), int(i32[split + 2 * c + 1])
                            if lo < 0 or cnt < 1 or lo + cnt > v6_rows or int(v6_class[lo:lo + cnt].max()) >= n_c:
                                raise ValueError("inconsistent compiled tables")
                n_px = 256 * n_dp * n_sp
                if (_span(u16, r["px"], n_px) > n_x or _span(u16, r["dp"], 65536) > n_dp
                        or _span(u16, r["sp"], 65536 if n_sp > 1 else 1) > n_sp):
                    raise ValueError("inconsistent compiled tables")
                n_y = _span(u16, r["sd"], n_s * n_d)
                fin = i32[r["f"]:r["f"] + n_y * n_x] if 0 <= r["f"] and r["f"] + n_y * n_x <= i32.shape[0] else None
                if fin is None or int(fin.max()) >> 2 >= rule_count or int(fin.min()) < -4:
                    raise ValueError("inconsistent compiled tables")
                p.s1[l], p.s2[l], p.s3[l], p.d1[l], p.d2[l], p.d3[l] = (r[x] if on4 else 0 for x in LANE_LAYOUT[:6])
                p.px[l], p.n_dp[l], p.sd[l], p.n_d[l], p.f[l], p.n_x[l], p.dp[l] = (
                    r["px"], n_dp, r["sd"], n_d, r["f"], n_x, r["dp"])
                p.sp[l], p.n_sp[l], p.sp_mask[l], p.n_s[l] = r["sp"], n_sp, 0xFFFF if n_sp > 1 else 0, n_s
                p.sports = p.sports or n_sp > 1
                if on6:
                    for lv in range(7):
                        p.s6[lv][l] = r[f"s6_{lv + 1}"]
                        p.d6[lv][l] = r[f"d6_{lv + 1}"]
                    p.ssplit[l], p.dsplit[l] = r["ssplit"], r["dsplit"]
            p.fixed[d] = ADU_FREE
            if first < 0:
                first = d
        if first < 0:
            return
        p.first = first
        self.lanes4_on, self.lanes6_on = on4, on6
        self.use_simd = adu_has_avx2() != 0

    def classify(self, const uint8_t[::1] direction, const uint8_t[::1] protocol,
                 const uint8_t[::1] family,
                 const uint64_t[::1] src_hi, const uint64_t[::1] src_lo, const uint16_t[::1] src_port,
                 const uint64_t[::1] dst_hi, const uint64_t[::1] dst_lo, const uint16_t[::1] dst_port,
                 int32_t[::1] out_rule, uint8_t[::1] out_allow, int threads=1):
        """Mixed IPv4/IPv6 flows; ``family`` other than 4/6 (or a bad direction) gives rule -2."""
        cdef Py_ssize_t i, n = direction.shape[0]
        cdef int nt = threads if threads > 0 else 1
        lens = (protocol.shape[0], family.shape[0], src_hi.shape[0], src_lo.shape[0], src_port.shape[0],
                dst_hi.shape[0], dst_lo.shape[0], dst_port.shape[0], out_rule.shape[0], out_allow.shape[0])
        if any(x != n for x in lens):
            raise ValueError("all columns must have the same length")
        if n == 0:
            return
        cdef Tables t = self.t
        cdef int32_t v
        cdef Py_ssize_t blk, nblk = (n + BLOCK - 1) // BLOCK
        if t.max_stages == 1:  # one NSG per direction: block by block
            if nt == 1:
                with nogil:
                    for blk in range(nblk):
                        _block_mixed(&t, blk * BLOCK, min(BLOCK, n - blk * BLOCK), &direction[0], &protocol[0],
                                     &family[0], &src_hi[0], &src_lo[0], &src_port[0], &dst_hi[0], &dst_lo[0],
                                     &dst_port[0], &out_rule[0], &out_allow[0])
            else:
                for blk in prange(nblk, nogil=True, num_threads=nt, schedule="static"):
                    _block_mixed(&t, blk * BLOCK, min(BLOCK, n - blk * BLOCK), &direction[0], &protocol[0],
                                 &family[0], &src_hi[0], &src_lo[0], &src_port[0], &dst_hi[0], &dst_lo[0],
                                 &dst_port[0], &out_rule[0], &out_allow[0])
            return
        if nt == 1:
            with nogil:
                for i in range(n):
                    v = _one(&t, direction[i], protocol[i], family[i], src_hi[i], src_lo[i], src_port[i],
                             dst_hi[i], dst_lo[i], dst_port[i])
                    out_rule[i] = v >> 2
                    out_allow[i] = <uint8_t>(v & 1)
        else:
            for i in prange(n, nogil=True, num_threads=nt, schedule="static"):
                v = _one(&t, direction[i], protocol[i], family[i], src_hi[i], src_lo[i], src_port[i],
                         dst_hi[i], dst_lo[i], dst_port[i])
                out_rule[i] = v >> 2
                out_allow[i] = <uint8_t>(v & 1)

    def classify_v6(self, const uint8_t[::1] direction, const uint8_t[::1] protocol,
                    const uint64_t[::1] src_hi, const uint64_t[::1] src_lo, const uint16_t[::1] src_port,
                    const uint64_t[::1] dst_hi, const uint64_t[::1] dst_lo, const uint16_t[::1] dst_port,
                    int32_t[::1] out_rule, uint8_t[::1] out_allow, int threads=1):
        """The IPv6 fast path: every address IPv6, as two uint64 halves, no family column."""
        cdef Py_ssize_t n = direction.shape[0]
        cdef int nt = threads if threads > 0 else 1
        lens = (protocol.shape[0], src_hi.shape[0], src_lo.shape[0], src_port.shape[0], dst_hi.shape[0],
                dst_lo.shape[0], dst_port.shape[0], out_rule.shape[0], out_allow.shape[0])
        if any(x != n for x in lens):
            raise ValueError("all columns must have the same length")
        if n == 0:
            return
        if not self.lanes6_on:
            import numpy as np
            self.classify(direction, protocol, np.full(n, 6, np.uint8), src_hi, src_lo, src_port, dst_hi, dst_lo,
                          dst_port, out_rule, out_allow, threads)
            return
        cdef adu_vlanes* vl = &self.vl
        cdef bint simd = self.use_simd
        cdef Py_ssize_t blk, nch = (n + CHUNK - 1) // CHUNK
        cdef Cols c
        c.direction, c.protocol, c.src, c.dst = &direction[0], &protocol[0], NULL, NULL
        c.shi, c.slo, c.dhi, c.dlo = &src_hi[0], &src_lo[0], &dst_hi[0], &dst_lo[0]
        c.sport, c.dport = &src_port[0], &dst_port[0]
        if nt == 1:
            with nogil:
                _run_lanes(vl, simd, 0, n, &c, &out_rule[0], &out_allow[0])
        else:
            for blk in prange(nch, nogil=True, num_threads=nt, schedule="static"):
                _run_lanes(vl, simd, blk * CHUNK, min(CHUNK, n - blk * CHUNK), &c, &out_rule[0], &out_allow[0])

    def classify_v6be(self, const uint8_t[::1] direction, const uint8_t[::1] protocol,
                      const uint8_t[::1] src, const uint16_t[::1] src_port,
                      const uint8_t[::1] dst, const uint16_t[::1] dst_port,
                      int32_t[::1] out_rule, uint8_t[::1] out_allow, int threads=1):
        """``classify_v6`` with each address as 16 big-endian bytes (Arrow fixed_size_binary(16), 16
        bytes a row in ``src`` / ``dst``): swapped to halves a few hundred flows at a time, in cache."""
        cdef Py_ssize_t n = direction.shape[0]
        cdef int nt = threads if threads > 0 else 1
        lens = (protocol.shape[0], src_port.shape[0], dst_port.shape[0], out_rule.shape[0], out_allow.shape[0])
        if any(x != n for x in lens) or src.shape[0] != 16 * n or dst.shape[0] != 16 * n:
            raise ValueError("all columns must have the same length")
        if n == 0:
            return
        if not self.lanes6_on:
            import numpy as np
            from ._columns import be128  # the front door's own byte swap

            s, d = np.empty((2, n), np.uint64), np.empty((2, n), np.uint64)
            be128(src, s[0], s[1])
            be128(dst, d[0], d[1])
            self.classify_v6(direction, protocol, s[0], s[1], src_port, d[0], d[1], dst_port, out_rule, out_allow, threads)
            return
        cdef adu_vlanes* vl = &self.vl
        cdef bint simd = self.use_simd
        cdef Py_ssize_t blk, nch = (n + CHUNK - 1) // CHUNK
        cdef Cols c
        c.direction, c.protocol, c.sport, c.dport = &direction[0], &protocol[0], &src_port[0], &dst_port[0]
        if nt == 1:
            with nogil:
                _run_lanes_be(vl, simd, 0, n, &c, &src[0], &dst[0], &out_rule[0], &out_allow[0])
        else:
            for blk in prange(nch, nogil=True, num_threads=nt, schedule="static"):
                _run_lanes_be(vl, simd, blk * CHUNK, min(CHUNK, n - blk * CHUNK), &c, &src[0], &dst[0],
                              &out_rule[0], &out_allow[0])

    def classify_v4(self, const uint8_t[::1] direction, const uint8_t[::1] protocol,
                    const uint32_t[::1] src, const uint16_t[::1] src_port,
                    const uint32_t[::1] dst, const uint16_t[::1] dst_port,
                    int32_t[::1] out_rule, uint8_t[::1] out_allow, int threads=1):
        """The IPv4 fast path: integer address columns, no family column."""
        cdef Py_ssize_t i, n = direction.shape[0]
        cdef int nt = threads if threads > 0 else 1
        lens = (protocol.shape[0], src.shape[0], src_port.shape[0], dst.shape[0], dst_port.shape[0],
                out_rule.shape[0], out_allow.shape[0])
        if any(x != n for x in lens):
            raise ValueError("all columns must have the same length")
        if n == 0:
            return
        cdef Tables t = self.t
        cdef int32_t v
        cdef Py_ssize_t ahead, blk, nblk = (n + BLOCK - 1) // BLOCK
        cdef adu_vlanes* vl = &self.vl
        cdef bint simd = self.use_simd
        cdef Py_ssize_t nch = (n + CHUNK - 1) // CHUNK
        cdef Cols c
        if self.lanes4_on:  # up to three stages per direction with lane tables: no data-dependent branches
            c.direction, c.protocol, c.src, c.dst = &direction[0], &protocol[0], &src[0], &dst[0]
            c.shi = c.slo = c.dhi = c.dlo = NULL
            c.sport, c.dport = &src_port[0], &dst_port[0]
            if nt == 1:
                with nogil:
                    _run_lanes(vl, simd, 0, n, &c, &out_rule[0], &out_allow[0])
            else:
                for blk in prange(nch, nogil=True, num_threads=nt, schedule="static"):
                    _run_lanes(vl, simd, blk * CHUNK, min(CHUNK, n - blk * CHUNK), &c, &out_rule[0], &out_allow[0])
            return
        if t.max_stages == 1:  # one NSG per direction: block by block
            if nt == 1:
                with nogil:
                    for blk in range(nblk):
                        _block_v4(&t, blk * BLOCK, min(BLOCK, n - blk * BLOCK), &direction[0], &protocol[0], &src[0],
                                  &src_port[0], &dst[0], &dst_port[0], &out_rule[0], &out_allow[0])
            else:
                for blk in prange(nblk, nogil=True, num_threads=nt, schedule="static"):
                    _block_v4(&t, blk * BLOCK, min(BLOCK, n - blk * BLOCK), &direction[0], &protocol[0], &src[0],
                              &src_port[0], &dst[0], &dst_port[0], &out_rule[0], &out_allow[0])
            return
        if nt == 1:
            with nogil:
                for i in range(n):
                    ahead = i + 8
                    if ahead < n:
                        _prefetch_v4(&t, direction[ahead], src[ahead], dst[ahead])
                    v = _one(&t, direction[i], protocol[i], 4, 0, src[i], src_port[i], 0, dst[i], dst_port[i])
                    out_rule[i] = v >> 2
                    out_allow[i] = <uint8_t>(v & 1)
        else:
            for i in prange(n, nogil=True, num_threads=nt, schedule="static"):
                ahead = i + 8
                if ahead < n:
                    _prefetch_v4(&t, direction[ahead], src[ahead], dst[ahead])
                v = _one(&t, direction[i], protocol[i], 4, 0, src[i], src_port[i], 0, dst[i], dst_port[i])
                out_rule[i] = v >> 2
                out_allow[i] = <uint8_t>(v & 1)
