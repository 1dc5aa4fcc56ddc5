/* The lane classify (up to three stages per direction: NSGs, a subnet+NIC pair, an admin stage
 * before them), 32 flows a step with AVX2 gathers, for IPv4 (uint32 addresses) and IPv6 (the upper
 * 64 bits through a trie, the lower 64 only where a /64 holds a boundary).
 *
 * Same tables and same answers as `_block_lanes` in _match.pyx (the scalar twin, which reads this
 * same struct and runs where AVX2 is absent, for the tail of a range, and in the tests): per flow
 * and stage the address classes (IPv4: three trie loads per address, the third from a byte table
 * when the classes fit; IPv6: seven), the destination-port class, the source-port class when some
 * rule names source ports, the protocol x port table, the address cross table and the stage-value
 * table. All of it is a gather from a few arrays, so eight flows cost about what one costs in
 * scalar code: the loads are independent across the eight, and no branch depends on the data
 * (except the rare IPv6 /64 that holds a boundary: those lanes are finished by a short search).
 *
 * A stage value is (rule << 2) | (continue << 1) | allow, -1 for "this stage passes" (a PASS rule,
 * or no rule in a stage that passes): see `stage_values` in _match.pyx. Stages fold left to right:
 * a later stage replaces the running value where the running value continues and the later stage
 * does not pass; at the end the rule is value >> 2 and the decision value & 1.
 *
 * Compiled for AVX2 through a target attribute and chosen at run time (`adu_has_avx2`), so the
 * extension still loads on any x86-64 and builds elsewhere (where the kernel does nothing).
 */
#ifndef ADU_FW_LANES_H
#define ADU_FW_LANES_H

#include <stdint.h>
#include <stddef.h>

/* Per lane (direction d, stage s at d + 2 * s for s < 3; entries 6-7 unused) offsets into `u16` /
 * `i32` and table widths; see compile.fast_tables for the row layout they come from. */
typedef struct {
    const uint16_t* u16;   /* the lanes' uint16 tables; one padding element after the last */
    const int32_t* i32;    /* the stage-value tables and the IPv6 split-cell row ranges */
    const uint8_t* l3;     /* IPv4 trie level 3: entries of l3_width bytes (1 or 2); three padding bytes */
    const uint64_t* v6lo;  /* the general IPv6 interval table (lower halves, classes): split cells */
    const int32_t* v6cls;
    int32_t l3_shift;      /* l3_width - 1 */
    int32_t l3_mask;       /* 0xFF or 0xFFFF */
    int32_t s1[8], s2[8], s3[8], d1[8], d2[8], d3[8], dp[8], px[8], n_dp[8], sd[8], n_d[8], f[8], n_x[8];
    int32_t sp[8], n_sp[8], sp_mask[8], n_s[8];
    int32_t s6[7][8], d6[7][8];   /* IPv6 trie levels 1-7 per side */
    int32_t ssplit[8], dsplit[8]; /* offsets in i32 of the (first row, rows) pairs of split cells */
    int32_t fixed[8];      /* [0], [1]: result of a direction without a lane, or ADU_FREE; [2]: bad byte */
    int32_t passes;        /* stages computed per flow: the most any direction has (1-3); a direction
                              with fewer repeats its last stage, which leaves the fold unchanged */
    int32_t first;         /* a lane with tables, read (and discarded) for flows without one */
    int32_t sports;        /* some lane has source-port classes: one more load per flow and stage */
} adu_vlanes;

#define ADU_FREE (-2147483647)

/* The class of an IPv6 address whose /64 is split cell `cell` of a side: the last row of its range
 * whose lower half is <= the address's (the range's first row covers the cell's first address). */
static inline int32_t adu_split_class(const adu_vlanes* p, int32_t pairs, int32_t cell, uint64_t key_lo) {
    const int32_t* pr = p->i32 + pairs + 2 * (int64_t)cell;
    int64_t lo = pr[0], n = pr[1];
    while (n > 1) {
        int64_t half = n >> 1, mid = lo + half;
        lo = p->v6lo[mid] <= key_lo ? mid : lo;
        n -= half;
    }
    return p->v6cls[lo];
}

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(ADU_FW_NO_SIMD)
#include <immintrin.h>

static int adu_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

#define ADU_TARGET __attribute__((target("avx2")))

ADU_TARGET static inline __m256i adu_g16(const uint16_t* base, __m256i idx) {
    /* a uint16 gather: 32 bits read at 2 * idx (hence the padding element), low half kept */
    return _mm256_and_si256(_mm256_i32gather_epi32((const int*)(const void*)base, idx, 2), _mm256_set1_epi32(0xFFFF));
}

ADU_TARGET static inline __m256i adu_g3(const adu_vlanes* p, __m256i idx) {
    /* a level-3 gather: 32 bits read at byte idx * width, the entry's bytes kept */
    return _mm256_and_si256(_mm256_i32gather_epi32((const int*)(const void*)p->l3, _mm256_slli_epi32(idx, p->l3_shift), 1),
                            _mm256_set1_epi32(p->l3_mask));
}

ADU_TARGET static inline __m256i adu_lv(const int32_t* field, __m256i lane) {
    /* a per-lane field for each flow of a vector */
    return _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i*)(const void*)field), lane);
}

ADU_TARGET static inline void adu_hi64(const uint64_t* q, __m256i* hh, __m256i* hl) {
    /* eight uint64 -> their upper and lower 32 bits as two vectors of eight, in order */
    __m256 x = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i*)(const void*)q));
    __m256 y = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i*)(const void*)(q + 4)));
    *hl = _mm256_permute4x64_epi64(_mm256_castps_si256(_mm256_shuffle_ps(x, y, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0));
    *hh = _mm256_permute4x64_epi64(_mm256_castps_si256(_mm256_shuffle_ps(x, y, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0));
}

enum { ADU_G = 4 };  /* vectors of 8 flows a step */

/* the protocol x port class of vector g (destination port, and source port where rules name one) */
ADU_TARGET static inline __m256i adu_ports(const adu_vlanes* p, __m256i l, const uint8_t* proto, const uint16_t* sport,
                                          const uint16_t* dport, ptrdiff_t k) {
    const uint16_t* u = p->u16;
    __m256i dpc = adu_g16(u, _mm256_add_epi32(adu_lv(p->dp, l), _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(const void*)(dport + k)))));
    __m256i pr = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(const void*)(proto + k)));
    __m256i xi = _mm256_add_epi32(_mm256_mullo_epi32(pr, adu_lv(p->n_dp, l)), dpc);
    if (p->sports) {  /* the same for every flow of a policy */
        __m256i sp = _mm256_and_si256(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(const void*)(sport + k))), adu_lv(p->sp_mask, l));
        __m256i spc = adu_g16(u, _mm256_add_epi32(adu_lv(p->sp, l), sp));
        xi = _mm256_add_epi32(_mm256_mullo_epi32(xi, adu_lv(p->n_sp, l)), spc);
    }
    return adu_g16(u, _mm256_add_epi32(adu_lv(p->px, l), xi));
}

/* the stage value from the address classes a, b and the port class x */
ADU_TARGET static inline __m256i adu_final(const adu_vlanes* p, __m256i l, __m256i a, __m256i b, __m256i x) {
    __m256i y = adu_g16(p->u16, _mm256_add_epi32(adu_lv(p->sd, l), _mm256_add_epi32(_mm256_mullo_epi32(a, adu_lv(p->n_d, l)), b)));
    return _mm256_i32gather_epi32((const int*)p->i32, _mm256_add_epi32(adu_lv(p->f, l), _mm256_add_epi32(_mm256_mullo_epi32(y, adu_lv(p->n_x, l)), x)), 4);
}

#define ADU_NEXT(t, lvl, key) _mm256_add_epi32(adu_lv(lvl, l[g]), _mm256_or_si256(_mm256_slli_epi32(t, 8), key))
#define ADU_BYTE(x, sh) _mm256_and_si256(_mm256_srli_epi32(x, sh), m8)

/* One IPv4 stage of ADU_G vectors of flows starting at i: v[g] = the stage value. Level by level:
 * all first-level gathers of the step are issued before any second-level one, so misses overlap. */
ADU_TARGET static inline void adu_stage4(const adu_vlanes* p, const __m256i* l, const __m256i* s, const __m256i* t,
                                         const uint8_t* proto, const uint16_t* sport, const uint16_t* dport,
                                         ptrdiff_t i, __m256i* v) {
    const __m256i m8 = _mm256_set1_epi32(255);
    const uint16_t* u = p->u16;
    __m256i a[ADU_G], b[ADU_G], x[ADU_G];
    int g;
    for (g = 0; g < ADU_G; g++) {
        a[g] = adu_g16(u, _mm256_add_epi32(adu_lv(p->s1, l[g]), _mm256_srli_epi32(s[g], 16)));
        b[g] = adu_g16(u, _mm256_add_epi32(adu_lv(p->d1, l[g]), _mm256_srli_epi32(t[g], 16)));
    }
    for (g = 0; g < ADU_G; g++) {
        a[g] = adu_g16(u, ADU_NEXT(a[g], p->s2, ADU_BYTE(s[g], 8)));
        b[g] = adu_g16(u, ADU_NEXT(b[g], p->d2, ADU_BYTE(t[g], 8)));
    }
    for (g = 0; g < ADU_G; g++) {
        a[g] = adu_g3(p, ADU_NEXT(a[g], p->s3, _mm256_and_si256(s[g], m8)));
        b[g] = adu_g3(p, ADU_NEXT(b[g], p->d3, _mm256_and_si256(t[g], m8)));
        x[g] = adu_ports(p, l[g], proto, sport, dport, i + 8 * g);
    }
    for (g = 0; g < ADU_G; g++)
        v[g] = adu_final(p, l[g], a[g], b[g], x[g]);
}

/* lanes of vector g whose /64 is a split cell: their classes from a search on the lower 64 bits */
ADU_TARGET static void adu_fix6(const adu_vlanes* p, __m256i l, __m256i* a, __m256i* b, const uint64_t* slo,
                                const uint64_t* dlo) {
    int32_t la[8], aa[8], bb[8];
    _mm256_storeu_si256((__m256i*)(void*)la, l);
    _mm256_storeu_si256((__m256i*)(void*)aa, *a);
    _mm256_storeu_si256((__m256i*)(void*)bb, *b);
    for (int j = 0; j < 8; j++) {
        int32_t ln = la[j];
        if (aa[j] >= p->n_s[ln])
            aa[j] = adu_split_class(p, p->ssplit[ln], aa[j] - p->n_s[ln], slo[j]);
        if (bb[j] >= p->n_d[ln])
            bb[j] = adu_split_class(p, p->dsplit[ln], bb[j] - p->n_d[ln], dlo[j]);
    }
    *a = _mm256_loadu_si256((const __m256i*)(const void*)aa);
    *b = _mm256_loadu_si256((const __m256i*)(const void*)bb);
}

/* One IPv6 stage: (sh, sl) / (th, tl) are the upper 64 bits' high and low 32 of each address. */
ADU_TARGET static inline void adu_stage6(const adu_vlanes* p, const __m256i* l, const __m256i* sh, const __m256i* sl,
                                         const __m256i* th, const __m256i* tl, const uint64_t* slo, const uint64_t* dlo,
                                         const uint8_t* proto, const uint16_t* sport, const uint16_t* dport,
                                         ptrdiff_t i, __m256i* v) {
    const __m256i m8 = _mm256_set1_epi32(255), one = _mm256_set1_epi32(1);
    const uint16_t* u = p->u16;
    __m256i a[ADU_G], b[ADU_G], x[ADU_G];
    int g;
    for (g = 0; g < ADU_G; g++) {
        a[g] = adu_g16(u, _mm256_add_epi32(adu_lv(p->s6[0], l[g]), _mm256_srli_epi32(sh[g], 16)));
        b[g] = adu_g16(u, _mm256_add_epi32(adu_lv(p->d6[0], l[g]), _mm256_srli_epi32(th[g], 16)));
    }
#define ADU_LEVEL6(n, ks, kt) \
    for (g = 0; g < ADU_G; g++) { \
        a[g] = adu_g16(u, ADU_NEXT(a[g], p->s6[n], ks)); \
        b[g] = adu_g16(u, ADU_NEXT(b[g], p->d6[n], kt)); \
    }
    ADU_LEVEL6(1, ADU_BYTE(sh[g], 8), ADU_BYTE(th[g], 8))
    ADU_LEVEL6(2, _mm256_and_si256(sh[g], m8), _mm256_and_si256(th[g], m8))
    ADU_LEVEL6(3, _mm256_srli_epi32(sl[g], 24), _mm256_srli_epi32(tl[g], 24))
    ADU_LEVEL6(4, ADU_BYTE(sl[g], 16), ADU_BYTE(tl[g], 16))
    ADU_LEVEL6(5, ADU_BYTE(sl[g], 8), ADU_BYTE(tl[g], 8))
    ADU_LEVEL6(6, _mm256_and_si256(sl[g], m8), _mm256_and_si256(tl[g], m8))
#undef ADU_LEVEL6
    for (g = 0; g < ADU_G; g++) {
        __m256i split = _mm256_or_si256(_mm256_cmpgt_epi32(a[g], _mm256_sub_epi32(adu_lv(p->n_s, l[g]), one)),
                                        _mm256_cmpgt_epi32(b[g], _mm256_sub_epi32(adu_lv(p->n_d, l[g]), one)));
        if (_mm256_movemask_ps(_mm256_castsi256_ps(split)))  /* rare: a /64 holding a boundary */
            adu_fix6(p, l[g], &a[g], &b[g], slo + i + 8 * g, dlo + i + 8 * g);
        x[g] = adu_ports(p, l[g], proto, sport, dport, i + 8 * g);
    }
    for (g = 0; g < ADU_G; g++)
        v[g] = adu_final(p, l[g], a[g], b[g], x[g]);
}
#undef ADU_NEXT
#undef ADU_BYTE

/* Classifies flows [0, n) in steps of 8 * ADU_G; returns how many it did (the rest: the scalar
 * loop). IPv4 reads src/dst; IPv6 (src/dst NULL) reads shi/slo and dhi/dlo. */
ADU_TARGET static ptrdiff_t adu_lanes_avx2(const adu_vlanes* p, ptrdiff_t n, const uint8_t* dir,
                                           const uint8_t* proto, const uint32_t* src, const uint32_t* dst,
                                           const uint64_t* shi, const uint64_t* slo, const uint64_t* dhi,
                                           const uint64_t* dlo, const uint16_t* sport, const uint16_t* dport,
                                           int32_t* out_rule, uint8_t* out_allow) {
    const __m256i P_fixed = _mm256_loadu_si256((const __m256i*)(const void*)p->fixed);
    const __m256i two = _mm256_set1_epi32(2), one = _mm256_set1_epi32(1), pass = _mm256_set1_epi32(-1);
    const __m256i free_ = _mm256_set1_epi32(ADU_FREE), first = _mm256_set1_epi32(p->first);
    ptrdiff_t i = 0;
    for (; i + 8 * ADU_G <= n; i += 8 * ADU_G) {
        __m256i fx[ADU_G], has[ADU_G], l[ADU_G], l2[ADU_G], s[ADU_G], t[ADU_G], s2[ADU_G], t2[ADU_G], v[ADU_G], v2[ADU_G];
        int g;
        for (g = 0; g < ADU_G; g++) {
            ptrdiff_t k = i + 8 * g;
            __m256i d = _mm256_min_epu32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(const void*)(dir + k))), two);
            fx[g] = _mm256_permutevar8x32_epi32(P_fixed, d);
            has[g] = _mm256_cmpeq_epi32(fx[g], free_);
            l[g] = _mm256_blendv_epi8(first, d, has[g]);
            if (src) {
                s[g] = _mm256_loadu_si256((const __m256i*)(const void*)(src + k));
                t[g] = _mm256_loadu_si256((const __m256i*)(const void*)(dst + k));
            } else {
                adu_hi64(shi + k, &s[g], &s2[g]);
                adu_hi64(dhi + k, &t[g], &t2[g]);
            }
        }
        if (src)
            adu_stage4(p, l, s, t, proto, sport, dport, i, v);
        else
            adu_stage6(p, l, s, s2, t, t2, slo, dlo, proto, sport, dport, i, v);
        for (int st = 1; st < p->passes; st++) {  /* the fold: later stages decide where v continues */
            for (g = 0; g < ADU_G; g++)
                l2[g] = _mm256_add_epi32(l[g], _mm256_set1_epi32(2 * st));
            if (src)
                adu_stage4(p, l2, s, t, proto, sport, dport, i, v2);
            else
                adu_stage6(p, l2, s, s2, t, t2, slo, dlo, proto, sport, dport, i, v2);
            for (g = 0; g < ADU_G; g++) {
                __m256i go = _mm256_andnot_si256(_mm256_cmpeq_epi32(v2[g], pass),
                                                 _mm256_cmpeq_epi32(_mm256_and_si256(v[g], two), two));
                v[g] = _mm256_blendv_epi8(v[g], v2[g], go);
            }
        }
        for (g = 0; g < ADU_G; g++) {
            ptrdiff_t k = i + 8 * g;
            __m256i r = _mm256_blendv_epi8(fx[g], v[g], has[g]);
            _mm256_storeu_si256((__m256i*)(void*)(out_rule + k), _mm256_srai_epi32(r, 2));
            __m256i al = _mm256_and_si256(r, one);
            __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(al), _mm256_extracti128_si256(al, 1));
            _mm_storel_epi64((__m128i*)(void*)(out_allow + k), _mm_packus_epi16(w, w));
        }
    }
    return i;
}

/* Rows of 16 big-endian bytes (IPv6 addresses in network order, fixed_size_binary(16)) -> their
 * upper and lower 64 bits as integers, four rows a step (a byte shuffle per two rows); returns how
 * many rows it did (the rest: scalar). */
ADU_TARGET static ptrdiff_t adu_be128_avx2(const uint8_t* be, ptrdiff_t m, uint64_t* hi, uint64_t* lo) {
    const __m256i rev = _mm256_setr_epi8(7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8,
                                         7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8);
    ptrdiff_t k = 0;
    for (; k + 4 <= m; k += 4) {
        __m256i a = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i*)(const void*)(be + 16 * k)), rev);      /* h0 l0 h1 l1 */
        __m256i b = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i*)(const void*)(be + 16 * k + 32)), rev); /* h2 l2 h3 l3 */
        _mm256_storeu_si256((__m256i*)(void*)(hi + k), _mm256_permute4x64_epi64(_mm256_unpacklo_epi64(a, b), _MM_SHUFFLE(3, 1, 2, 0)));
        _mm256_storeu_si256((__m256i*)(void*)(lo + k), _mm256_permute4x64_epi64(_mm256_unpackhi_epi64(a, b), _MM_SHUFFLE(3, 1, 2, 0)));
    }
    return k;
}

#else

static int adu_has_avx2(void) { return 0; }

static ptrdiff_t adu_be128_avx2(const uint8_t* be, ptrdiff_t m, uint64_t* hi, uint64_t* lo) {
    (void)be; (void)m; (void)hi; (void)lo;
    return 0;
}

static ptrdiff_t adu_lanes_avx2(const adu_vlanes* p, ptrdiff_t n, const uint8_t* dir, const uint8_t* proto,
                                const uint32_t* src, const uint32_t* dst, const uint64_t* shi, const uint64_t* slo,
                                const uint64_t* dhi, const uint64_t* dlo, const uint16_t* sport, const uint16_t* dport,
                                int32_t* out_rule, uint8_t* out_allow) {
    (void)p; (void)n; (void)dir; (void)proto; (void)src; (void)dst; (void)shi; (void)slo; (void)dhi; (void)dlo;
    (void)sport; (void)dport; (void)out_rule; (void)out_allow;
    return 0;
}

#endif
#endif
