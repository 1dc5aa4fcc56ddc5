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

#if defined(__SSE2__) && defined(__GNUC__) && !defined(ADU_FW_NO_SIMD)
#include <emmintrin.h>
#define ADU_SIMD 1
#else
#define ADU_SIMD 0
#endif

/* Positions of the commas in s[a:b] (the first `maxn` stored); returns how many there are. */
static inline int adu_commas(const unsigned char* s, int64_t a, int64_t b, int64_t buflen, int64_t* out, int maxn) {
    int n = 0;
    int64_t p = a;
#if ADU_SIMD
    const __m128i comma = _mm_set1_epi8(',');
    while (p < b && p + 16 <= buflen) {
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i*)(s + p)), comma));
        if (b - p < 16)
            m &= (1u << (b - p)) - 1u;
        while (m) {
            if (n < maxn)
                out[n] = p + __builtin_ctz(m);
            n++;
            m &= m - 1u;
        }
        p += 16;
    }
#endif
    for (; p < b; p++) {
        if (s[p] == ',') {
            if (n < maxn)
                out[n] = p;
            n++;
        }
    }
    return n;
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
