# cython: language_level=3
"""Address and prefix text -> integers, over Arrow-style (offsets, data) buffers.

Only byte-level parsing lives here: no Python objects per element, no policy.
Results: ``family`` 4 or 6 for a valid value, 0 for malformed text, and for prefixes
1 when host bits are set beyond the prefix length (not canonical). IPv4 values sit in
``lo`` (``hi`` = 0); IPv6 values are split into two 64-bit halves.
The grammar is Python's ``ipaddress`` (strict dotted quads without leading zeros,
RFC 4291 IPv6 text with an optional embedded IPv4 tail, no zone ids).
"""
from libc.stdint cimport uint8_t, int8_t, int16_t, uint16_t, uint32_t, int32_t, int64_t, uint64_t

cdef extern from "_simd.h":
    int adu_v4(const unsigned char* s, int64_t a, int64_t b, int64_t buflen, uint32_t* out) noexcept nogil

cdef extern from "_dotted.h":
    int adu_has_ssse3() noexcept nogil
    int adu_v4_ssse3(const unsigned char* s, int64_t a, int64_t b, int64_t buflen, uint32_t* out) noexcept nogil

cdef int _SSSE3 = adu_has_ssse3()


cdef inline int _quad(const unsigned char* s, int64_t a, int64_t b, int64_t buflen, uint32_t* out) noexcept nogil:
    """A plain dotted quad through the SSSE3 shuffle parser where the CPU has it, else SSE2 (or 0)."""
    if _SSSE3:  # the same for every row: a predictable branch
        return adu_v4_ssse3(s, a, b, buflen, out)
    return adu_v4(s, a, b, buflen, out)

ctypedef fused offset_t:
    int32_t
    int64_t


cdef inline int _hexval(unsigned char c) noexcept nogil:
    if c >= 48 and c <= 57:
        return c - 48
    if c >= 97 and c <= 102:
        return c - 87
    if c >= 65 and c <= 70:
        return c - 55
    return -1


cdef int parse_v4(const unsigned char* s, Py_ssize_t n, uint32_t* out) noexcept nogil:
    cdef Py_ssize_t i
    cdef int part = 0, digits = 0
    cdef uint32_t val = 0, acc = 0
    cdef unsigned char c
    if n < 7 or n > 15:
        return 0
    for i in range(n):
        c = s[i]
        if c == 46:  # '.'
            if digits == 0 or part == 3:
                return 0
            acc = (acc << 8) | val
            part += 1
            val = 0
            digits = 0
        elif c >= 48 and c <= 57:
            if digits > 0 and val == 0:
                return 0  # leading zero
            val = val * 10 + (c - 48)
            digits += 1
            if val > 255:
                return 0
        else:
            return 0
    if digits == 0 or part != 3:
        return 0
    out[0] = (acc << 8) | val
    return 1


cdef int parse_v6(const unsigned char* s, Py_ssize_t n, uint64_t* hi, uint64_t* lo) noexcept nogil:
    cdef uint32_t groups[8]
    cdef int ngroups = 0, dcolon = -1, digits, k, h
    cdef Py_ssize_t i = 0, start
    cdef uint32_t val, v4
    if n < 2 or n > 45:
        return 0
    if s[0] == 58:  # ':'
        if s[1] != 58:
            return 0
        dcolon = 0
        i = 2
    while i < n:
        start = i
        val = 0
        digits = 0
        while i < n:
            h = _hexval(s[i])
            if h < 0:
                break
            val = (val << 4) | <uint32_t>h
            digits += 1
            if digits > 4:
                break
            i += 1
        if i < n and s[i] == 46:  # '.': an IPv4 tail ends the address
            if ngroups > 6:
                return 0
            if not parse_v4(s + start, n - start, &v4):
                return 0
            groups[ngroups] = v4 >> 16
            groups[ngroups + 1] = v4 & 0xFFFF
            ngroups += 2
            i = n
            break
        if digits == 0 or digits > 4 or ngroups == 8:
            return 0
        groups[ngroups] = val
        ngroups += 1
        if i == n:
            break
        if s[i] != 58:
            return 0
        i += 1
        if i < n and s[i] == 58:
            if dcolon >= 0:
                return 0
            dcolon = ngroups
            i += 1
            if i == n:
                break
        elif i == n:
            return 0  # a single trailing ':'
    if dcolon >= 0:
        if ngroups > 7:
            return 0
        k = ngroups - 1
        while k >= dcolon:
            groups[k + 8 - ngroups] = groups[k]
            k -= 1
        for k in range(dcolon, dcolon + 8 - ngroups):
            groups[k] = 0
    elif ngroups != 8:
        return 0
    hi[0] = (<uint64_t>groups[0] << 48) | (<uint64_t>groups[1] << 32) | (<uint64_t>groups[2] << 16) | groups[3]
    lo[0] = (<uint64_t>groups[4] << 48) | (<uint64_t>groups[5] << 32) | (<uint64_t>groups[6] << 16) | groups[7]
    return 1


cdef int parse_addr(const unsigned char* s, Py_ssize_t n, uint64_t* hi, uint64_t* lo) noexcept nogil:
    """4 or 6 on success, 0 when malformed."""
    cdef Py_ssize_t i
    cdef uint32_t v4
    for i in range(n):
        if s[i] == 58:
            return 6 if parse_v6(s, n, hi, lo) else 0
    if parse_v4(s, n, &v4):
        hi[0] = 0
        lo[0] = v4
        return 4
    return 0


cdef inline int parse_prefix(const unsigned char* s, Py_ssize_t n, uint64_t* hi, uint64_t* lo,
                             int* plen) noexcept nogil:
    """Family (4/6), 0 when malformed, 1 when host bits are set. A bare address is /32 or /128."""
    cdef Py_ssize_t slash = -1, i
    cdef int fam, p = 0, digits = 0, width
    cdef uint64_t mhi, mlo
    for i in range(n):
        if s[i] == 47:  # '/'
            slash = i
            break
    if slash < 0:
        fam = parse_addr(s, n, hi, lo)
        plen[0] = 32 if fam == 4 else 128
        return fam
    fam = parse_addr(s, slash, hi, lo)
    if fam == 0:
        return 0
    for i in range(slash + 1, n):
        if s[i] < 48 or s[i] > 57:
            return 0
        if digits > 0 and p == 0:
            return 0
        p = p * 10 + (s[i] - 48)
        digits += 1
        if digits > 3:
            return 0
    width = 32 if fam == 4 else 128
    if digits == 0 or p > width:
        return 0
    plen[0] = p
    if fam == 4:
        if p < 32 and (lo[0] & ((<uint64_t>1 << (32 - p)) - 1)) != 0:
            return 1
        return 4
    # IPv6 host bits
    if p <= 64:
        mhi = 0 if p == 64 else ((<uint64_t>1 << (64 - p)) - 1) if p > 0 else <uint64_t>0xFFFFFFFFFFFFFFFF
        if (hi[0] & mhi) != 0 or lo[0] != 0:
            return 1
    else:
        mlo = 0 if p == 128 else ((<uint64_t>1 << (128 - p)) - 1)
        if (lo[0] & mlo) != 0:
            return 1
    return 6


def parse_addresses(const uint8_t[::1] data, const offset_t[::1] offsets, uint8_t[::1] family,
                    uint64_t[::1] hi, uint64_t[::1] lo):
    """Parse ``len(family)`` addresses; value i is data[offsets[i]:offsets[i+1]]."""
    cdef Py_ssize_t i, n = family.shape[0]
    cdef int64_t a, b, size = data.shape[0]
    cdef uint32_t v4
    if offsets.shape[0] < n + 1 or hi.shape[0] < n or lo.shape[0] < n:
        raise ValueError("output or offset buffers are too short")
    if n == 0 or size == 0:
        family[:] = 0
        return
    with nogil:
        for i in range(n):
            a = offsets[i]
            b = offsets[i + 1]
            if a < 0 or b < a or b > size:
                family[i] = 0
                continue
            if b == a:
                family[i] = 0
            elif _quad(&data[0], a, b, size, &v4):  # a plain dotted quad, 16 bytes at a time
                family[i] = 4
                hi[i] = 0
                lo[i] = v4
            else:
                family[i] = <uint8_t>parse_addr(&data[0] + a, b - a, &hi[i], &lo[i])


def parse_prefixes(const uint8_t[::1] data, const offset_t[::1] offsets, uint8_t[::1] family,
                   uint64_t[::1] hi, uint64_t[::1] lo, int16_t[::1] plen):
    """Parse CIDR prefixes (bare addresses allowed); see the module docstring for codes."""
    cdef Py_ssize_t i, n = family.shape[0]
    cdef int64_t a, b
    cdef int p
    if offsets.shape[0] < n + 1 or hi.shape[0] < n or lo.shape[0] < n or plen.shape[0] < n:
        raise ValueError("output or offset buffers are too short")
    with nogil:
        for i in range(n):
            a = offsets[i]
            b = offsets[i + 1]
            p = 0
            if a < 0 or b <= a or b > data.shape[0]:
                family[i] = 0
            else:
                family[i] = <uint8_t>parse_prefix(&data[0] + a, b - a, &hi[i], &lo[i], &p)
            plen[i] = <int16_t>p


def parse_v4_column(const uint8_t[::1] data, const offset_t[::1] offsets, uint32_t[::1] out):
    """IPv4 text straight to uint32: returns n when every value is a dotted quad, else the first
    row that is not (the caller then parses the column in general)."""
    cdef Py_ssize_t i, n = out.shape[0], first = n
    cdef int64_t a, b, size = data.shape[0]
    cdef uint32_t v4
    if offsets.shape[0] < n + 1:
        raise ValueError("output or offset buffers are too short")
    if n == 0 or size == 0:
        return 0
    with nogil:
        for i in range(n):
            a = offsets[i]
            b = offsets[i + 1]
            if a < 0 or b <= a or b > size:
                first = i
                break
            if _quad(&data[0], a, b, size, &v4) or parse_v4(&data[0] + a, b - a, &v4):
                out[i] = v4
            else:
                first = i
                break
    return first
