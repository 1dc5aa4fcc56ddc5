/* Byte searches of the flow-log readers, 16 bytes at a time where SSE2 is there (every x86-64).
 *
 * Flow-log text is short fields between commas and quotes: a byte-at-a-time loop mispredicts a
 * branch at every separator. These helpers turn a 16-byte block into a bit mask and walk its set
 * bits. They may read up to 15 bytes past the range asked for, but never past `buflen` (the end of
 * the buffer); the scalar loop finishes what the blocks cannot cover. Same results either way.
 */
#ifndef ADU_FW_SIMD_H
#define ADU_FW_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) && defined(__GNUC__) && !defined(ADU_FW_NO_SIMD)
#include <emmintrin.h>
#define ADU_SIMD 1
#else
#define ADU_SIMD 0
#endif

#if defined(__GNUC__)
#define ADU_INLINE static inline __attribute__((always_inline))  /* called per field of every tuple */
#else
#define ADU_INLINE static inline
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && !defined(ADU_FW_NO_SIMD)
#define ADU_SWAR 1
#else
#define ADU_SWAR 0
#endif

/* Where the commas of s[a:b] are: returns how many there are. `out` holds 16 entries and is indexed
 * modulo 16, with no bound check per comma: more than 16 commas leave the positions mixed up, so a
 * caller reads them only when the count is one it wants (at most 16). */
static inline int adu_commas16(const unsigned char* s, int64_t a, int64_t b, int64_t buflen, int64_t* out) {
    int n = 0;
    int64_t p = a;
#if ADU_SIMD
    const __m128i comma = _mm_set1_epi8(',');
    while (p < b && p + 16 <= buflen) {
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i*)(s + p)), comma));
        if (b - p < 16)
            m &= (1u << (b - p)) - 1u;
        while (m) {
            out[n++ & 15] = p + __builtin_ctz(m);
            m &= m - 1u;
        }
        p += 16;
    }
#endif
    for (; p < b; p++) {
        if (s[p] == ',')
            out[n++ & 15] = p;
    }
    return n;
}

#if ADU_SWAR
/* The eight bytes ending at s[b] (b >= 8, 0 <= len <= 8) with the first 8 - len replaced by '0': 1 and the value if
 * all are digits, else 0 (simdjson's eight-digit parse; no branch per digit). */
ADU_INLINE int adu_swar8(const unsigned char* s, int64_t b, int64_t len, uint64_t* out) {
    uint64_t v, keep;
    static const uint64_t KEEP[9] = {0, 0xFF00000000000000ULL, 0xFFFF000000000000ULL, 0xFFFFFF0000000000ULL,
                                     0xFFFFFFFF00000000ULL, 0xFFFFFFFFFF000000ULL, 0xFFFFFFFFFFFF0000ULL,
                                     0xFFFFFFFFFFFFFF00ULL, ~0ULL};  /* the last len bytes */
    memcpy(&v, s + b - 8, 8);
    keep = KEEP[len];
    v = (v & keep) | (0x3030303030303030ULL & ~keep);
    if (((v & 0xF0F0F0F0F0F0F0F0ULL) | (((v + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)) != 0x3333333333333333ULL)
        return 0;
    v -= 0x3030303030303030ULL;
    v = (v * 10) + (v >> 8);
    v = (((v & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) +
         (((v >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >> 32;
    *out = v;
    return 1;
}
#endif

/* A decimal number in s[a:b] (at most 18 digits): 1 and the value, 0 if empty, -1 if not a number. */
ADU_INLINE int adu_uint(const unsigned char* s, int64_t a, int64_t b, int64_t* out) {
    int64_t len = b - a, i;
    uint64_t v = 0;
    if (len <= 0)
        return 0;
    if (len > 18)
        return -1;
#if ADU_SWAR
    if (b >= 16) {
        uint64_t hi = 0, lo;
        if (!adu_swar8(s, b, len < 8 ? len : 8, &lo))
            return -1;
        if (len > 8 && !adu_swar8(s, b - 8, len - 8 < 8 ? len - 8 : 8, &hi))
            return -1;
        if (len > 16) {
            for (i = a; i < b - 16; i++) {
                if (s[i] < '0' || s[i] > '9')
                    return -1;
                v = v * 10 + (uint64_t)(s[i] - '0');
            }
            *out = (int64_t)((v * 100000000ULL + hi) * 100000000ULL + lo);
            return 1;
        }
        *out = (int64_t)(hi * 100000000ULL + lo);
        return 1;
    }
#endif
    for (i = a; i < b; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = (int64_t)v;
    return 1;
}

/* A flow-log counter in s[a:b]: its value (0 when empty) and whether it is empty; adu_uint's result. */
ADU_INLINE int adu_counter(const unsigned char* s, int64_t a, int64_t b, int64_t* value, unsigned char* empty) {
    int64_t v = 0;
    int r = adu_uint(s, a, b, &v);
    *value = r == 1 ? v : 0;
    *empty = r == 0;
    return r;
}

#if ADU_SIMD
/* What both dotted-quad parsers check first: s[a:b] is 7-15 bytes of digits and dots (16 readable).
 * 0 when not; else 1, the bytes minus '0' in *t and the dots' positions as a bit mask in *dots. */
static inline __attribute__((always_inline)) int adu_v4_span(const unsigned char* s, int64_t a, int64_t b,
                                                             int64_t buflen, __m128i* t, unsigned* dots) {
    int64_t len = b - a;
    unsigned lenmask, digits;
    __m128i v;
    if (len < 7 || len > 15 || a + 16 > buflen)
        return 0;
    v = _mm_loadu_si128((const __m128i*)(const void*)(s + a));
    lenmask = (1u << len) - 1u;
    *dots = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('.'))) & lenmask;
    *t = _mm_sub_epi8(v, _mm_set1_epi8('0'));
    digits = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpgt_epi8(*t, _mm_set1_epi8(-1)), _mm_cmplt_epi8(*t, _mm_set1_epi8(10)))) & lenmask;
    return (*dots | digits) == lenmask;
}
#endif

/* A plain dotted quad in s[a:b] (no leading zeros, octets <= 255): 1 and the value; 0 when the text
 * is anything else (the caller's general parser then decides, so this may only accept, never refuse). */
static inline int adu_v4(const unsigned char* s, int64_t a, int64_t b, int64_t buflen, uint32_t* out) {
#if ADU_SIMD
    int64_t len = b - a;
    unsigned dots, d1, d2, d3, starts[4], ends[4], k, value = 0;
    __m128i t;
    if (!adu_v4_span(s, a, b, buflen, &t, &dots))
        return 0;
    d1 = dots & (dots - 1u);  /* exactly three dots (no popcount instruction in baseline x86-64) */
    d1 &= d1 - 1u;
    if (d1 == 0 || (d1 & (d1 - 1u)) != 0)
        return 0;
    d1 = __builtin_ctz(dots); dots &= dots - 1u;
    d2 = __builtin_ctz(dots); dots &= dots - 1u;
    d3 = __builtin_ctz(dots);
    starts[0] = 0; ends[0] = d1;
    starts[1] = d1 + 1; ends[1] = d2;
    starts[2] = d2 + 1; ends[2] = d3;
    starts[3] = d3 + 1; ends[3] = (unsigned)len;
    {
        /* branch-free octets: each reads the 3-byte window ending at its last digit, with weights by
         * its length (bytes of the window outside the octet weigh 0; three zero bytes lead) */
        static const unsigned char W[4][3] = {{0, 0, 0}, {0, 0, 1}, {0, 10, 1}, {100, 10, 1}};
        unsigned char c[19];
        unsigned bad = 0;
        c[0] = c[1] = c[2] = 0;
        _mm_storeu_si128((__m128i*)(void*)(c + 3), t);
        for (k = 0; k < 4; k++) {
            unsigned n = ends[k] - starts[k], e = ends[k] + 3, o;
            const unsigned char* w = W[n & 3];
            bad |= (n - 1u) > 2u;                                /* 1-3 digits */
            bad |= (n > 1u) & (c[starts[k] + 3] == 0);           /* no leading zero */
            o = w[0] * c[e - 3] + w[1] * c[e - 2] + w[2] * c[e - 1];
            bad |= o > 255u;
            value = (value << 8) | (o & 255u);
        }
        if (bad)
            return 0;
    }
    *out = value;
    return 1;
#else
    (void)s; (void)a; (void)b; (void)buflen; (void)out;
    return 0;
#endif
}

/* 16 bytes from src to dst (both with 16 bytes readable / writable there): a fixed-size copy, no call. */
static inline void adu_copy16(unsigned char* dst, const unsigned char* src) {
    memcpy(dst, src, 16);
}

/* First position >= p in s[:n] holding '"', '\\', a control byte (< 0x20) or a non-ASCII byte; n if none. */
static inline int64_t adu_string_stop(const unsigned char* s, int64_t p, int64_t n) {
#if ADU_SIMD
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    while (p + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i*)(s + p));
        /* signed compare: bytes >= 0x80 are negative, so "< 0x20" catches them too */
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)), _mm_cmplt_epi8(v, space));
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m)
            return p + __builtin_ctz(m);
        p += 16;
    }
#endif
    for (; p < n; p++) {
        unsigned char c = s[p];
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
            return p;
    }
    return n;
}

/* First position >= p in s[:n] that is not JSON whitespace; n if none. */
static inline int64_t adu_skip_ws(const unsigned char* s, int64_t p, int64_t n) {
#if ADU_SIMD
    const __m128i sp = _mm_set1_epi8(' '), nl = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r'), tab = _mm_set1_epi8('\t');
    while (p + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i*)(s + p));
        __m128i ws = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, sp), _mm_cmpeq_epi8(v, nl)),
                                  _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, tab)));
        unsigned m = (~(unsigned)_mm_movemask_epi8(ws)) & 0xFFFFu;
        if (m)
            return p + __builtin_ctz(m);
        p += 16;
    }
#endif
    for (; p < n; p++) {
        unsigned char c = s[p];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            return p;
    }
    return n;
}

#endif
