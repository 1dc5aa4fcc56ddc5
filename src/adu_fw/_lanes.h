/* The IPv4 lane classify (up to three stages per direction: NSGs, a subnet+NIC pair, an admin stage
 * before them), 32 flows a step with AVX2 gathers.
 *
 * Same tables and same answers as `_block_lanes` in _match.pyx (the scalar twin, which reads this
 * same struct and runs where AVX2 is absent, for the tail of a range, and in the tests): per flow
 * and NSG three trie loads per address (the third from a byte table when the classes fit), the
 * destination-port class, the protocol x port table, the address cross table and the final
 * stage-value table. All of it is a gather from three arrays, so eight flows cost about what one
 * costs in scalar code: the loads are independent across the eight, and no branch depends on the
 * data.
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
 * `i32` and table widths. */
typedef struct {
    const uint16_t* u16;   /* the lanes' uint16 tables; one padding element after the last */
    const int32_t* i32;    /* the final tables */
    const uint8_t* l3;     /* trie level 3: entries of l3_width bytes (1 or 2); three padding bytes */
    int32_t l3_shift;      /* l3_width - 1 */
    int32_t l3_mask;       /* 0xFF or 0xFFFF */
    int32_t s1[8], s2[8], s3[8], d1[8], d2[8], d3[8], dp[8], px[8], n_dp[8], sd[8], n_d[8], f[8], n_x[8];
    int32_t fixed[8];      /* [0], [1]: result of a direction without a lane, or ADU_FREE; [2]: bad byte */
    int32_t passes;        /* stages computed per flow: the most any direction has (1-3); a direction
                              with fewer repeats its last stage, which leaves the fold unchanged */
    int32_t first;         /* a lane with tables, read (and discarded) for flows without one */
} adu_vlanes;

#define ADU_FREE (-2147483647)

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

enum { ADU_G = 4 };  /* vectors of 8 flows a step */

/* One stage of ADU_G vectors of flows starting at i: v[g] = (rule << 1) | allow. Level by level: all
 * first-level gathers of the step are issued before any second-level one, so their misses overlap. */
ADU_TARGET static inline void adu_stage(const adu_vlanes* p, const __m256i* l, const __m256i* s, const __m256i* t,
                                        const uint8_t* proto, const uint16_t* dport, ptrdiff_t i, __m256i* v) {
#define ADU_V(name) const __m256i P_##name = _mm256_loadu_si256((const __m256i*)(const void*)p->name)
    ADU_V(s1); ADU_V(s2); ADU_V(s3); ADU_V(d1); ADU_V(d2); ADU_V(d3); ADU_V(dp); ADU_V(px);
    ADU_V(n_dp); ADU_V(sd); ADU_V(n_d); ADU_V(f); ADU_V(n_x);
#undef ADU_V
    const __m256i m8 = _mm256_set1_epi32(255);
    const uint16_t* u = p->u16;
    __m256i a[ADU_G], b[ADU_G], x[ADU_G];
    int g;
#define ADU_P(name) _mm256_permutevar8x32_epi32(P_##name, l[g])
    for (g = 0; g < ADU_G; g++) {
        a[g] = adu_g16(u, _mm256_add_epi32(ADU_P(s1), _mm256_srli_epi32(s[g], 16)));
        b[g] = adu_g16(u, _mm256_add_epi32(ADU_P(d1), _mm256_srli_epi32(t[g], 16)));
    }
    for (g = 0; g < ADU_G; g++) {
        a[g] = adu_g16(u, _mm256_add_epi32(ADU_P(s2), _mm256_or_si256(_mm256_slli_epi32(a[g], 8), _mm256_and_si256(_mm256_srli_epi32(s[g], 8), m8))));
        b[g] = adu_g16(u, _mm256_add_epi32(ADU_P(d2), _mm256_or_si256(_mm256_slli_epi32(b[g], 8), _mm256_and_si256(_mm256_srli_epi32(t[g], 8), m8))));
    }
    for (g = 0; g < ADU_G; g++) {
        ptrdiff_t k = i + 8 * g;
        a[g] = adu_g3(p, _mm256_add_epi32(ADU_P(s3), _mm256_or_si256(_mm256_slli_epi32(a[g], 8), _mm256_and_si256(s[g], m8))));
        b[g] = adu_g3(p, _mm256_add_epi32(ADU_P(d3), _mm256_or_si256(_mm256_slli_epi32(b[g], 8), _mm256_and_si256(t[g], m8))));
        __m256i dpc = adu_g16(u, _mm256_add_epi32(ADU_P(dp), _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(const void*)(dport + k)))));
        __m256i pr = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(const void*)(proto + k)));
        x[g] = adu_g16(u, _mm256_add_epi32(ADU_P(px), _mm256_add_epi32(_mm256_mullo_epi32(pr, ADU_P(n_dp)), dpc)));
    }
    for (g = 0; g < ADU_G; g++) {
        __m256i y = adu_g16(u, _mm256_add_epi32(ADU_P(sd), _mm256_add_epi32(_mm256_mullo_epi32(a[g], ADU_P(n_d)), b[g])));
        v[g] = _mm256_i32gather_epi32((const int*)p->i32, _mm256_add_epi32(ADU_P(f), _mm256_add_epi32(_mm256_mullo_epi32(y, ADU_P(n_x)), x[g])), 4);
    }
#undef ADU_P
}

/* Classifies flows [0, n) in steps of 8 * ADU_G; returns how many it did (the rest: the scalar loop). */
ADU_TARGET static ptrdiff_t adu_lanes_avx2(const adu_vlanes* p, ptrdiff_t n, const uint8_t* dir,
                                           const uint8_t* proto, const uint32_t* src, const uint32_t* dst,
                                           const uint16_t* dport, int32_t* out_rule, uint8_t* out_allow) {
    const __m256i P_fixed = _mm256_loadu_si256((const __m256i*)(const void*)p->fixed);
    const __m256i two = _mm256_set1_epi32(2), one = _mm256_set1_epi32(1), pass = _mm256_set1_epi32(-1);
    const __m256i free_ = _mm256_set1_epi32(ADU_FREE), first = _mm256_set1_epi32(p->first);
    ptrdiff_t i = 0;
    for (; i + 8 * ADU_G <= n; i += 8 * ADU_G) {
        __m256i fx[ADU_G], has[ADU_G], l[ADU_G], l2[ADU_G], s[ADU_G], t[ADU_G], v[ADU_G], v2[ADU_G];
        int g;
        for (g = 0; g < ADU_G; g++) {
            ptrdiff_t k = i + 8 * g;
            __m256i d = _mm256_min_epu32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(const void*)(dir + k))), two);
            fx[g] = _mm256_permutevar8x32_epi32(P_fixed, d);
            has[g] = _mm256_cmpeq_epi32(fx[g], free_);
            l[g] = _mm256_blendv_epi8(first, d, has[g]);
            s[g] = _mm256_loadu_si256((const __m256i*)(const void*)(src + k));
            t[g] = _mm256_loadu_si256((const __m256i*)(const void*)(dst + k));
        }
        adu_stage(p, l, s, t, proto, dport, i, v);
        for (int st = 1; st < p->passes; st++) {  /* the fold: later stages decide where v continues */
            for (g = 0; g < ADU_G; g++)
                l2[g] = _mm256_add_epi32(l[g], _mm256_set1_epi32(2 * st));
            adu_stage(p, l2, s, t, proto, dport, i, v2);
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

#else

static int adu_has_avx2(void) { return 0; }

static ptrdiff_t adu_lanes_avx2(const adu_vlanes* p, ptrdiff_t n, const uint8_t* dir, const uint8_t* proto,
                                const uint32_t* src, const uint32_t* dst, const uint16_t* dport,
                                int32_t* out_rule, uint8_t* out_allow) {
    (void)p; (void)n; (void)dir; (void)proto; (void)src; (void)dst; (void)dport; (void)out_rule; (void)out_allow;
    return 0;
}

#endif
#endif
