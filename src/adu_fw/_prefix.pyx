# cython: language_level=3
"""Locate addresses in sorted, disjoint interval tables (the compiled side of prefix lookups).

A table is the list of interval starts (ascending, the first one 0) and a value per interval;
an address belongs to the last interval whose start is <= the address. IPv4 starts are
uint32, IPv6 starts are (hi, lo) pairs of uint64 compared as one 128-bit number.
"""
from libc.stdint cimport uint8_t, uint32_t, int32_t, uint64_t

cdef inline Py_ssize_t _find_v4(const uint32_t[::1] starts, uint64_t key) noexcept nogil:
    # branch-free: the loop runs log2(n) times whatever the key, the step is a conditional move
    cdef Py_ssize_t base = 0, n = starts.shape[0], half
    while n > 1:
        half = n >> 1
        base = base + half if starts[base + half] <= key else base
        n -= half
    return base


cdef inline Py_ssize_t _find_v6(const uint64_t[::1] shi, const uint64_t[::1] slo,
                                uint64_t khi, uint64_t klo) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = shi.shape[0], mid
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if shi[mid] < khi or (shi[mid] == khi and slo[mid] <= klo):
            lo = mid
        else:
            hi = mid
    return lo


def locate(const uint8_t[::1] family, const uint64_t[::1] hi, const uint64_t[::1] lo,
           const uint32_t[::1] v4_starts, const int32_t[::1] v4_value,
           const uint64_t[::1] v6_starts_hi, const uint64_t[::1] v6_starts_lo,
           const int32_t[::1] v6_value, int32_t[::1] out, int32_t invalid=-2):
    """out[i] = the value of the interval holding address i; ``invalid`` where family is not 4/6."""
    cdef Py_ssize_t i, n = family.shape[0]
    if hi.shape[0] < n or lo.shape[0] < n or out.shape[0] < n:
        raise ValueError("input and output lengths differ")
    if v4_starts.shape[0] == 0 or v6_starts_hi.shape[0] == 0:
        raise ValueError("an interval table must start at address 0")
    if v4_value.shape[0] != v4_starts.shape[0] or v6_value.shape[0] != v6_starts_hi.shape[0] \
            or v6_starts_lo.shape[0] != v6_starts_hi.shape[0]:
        raise ValueError("interval starts and values differ in length")
    with nogil:
        for i in range(n):
            if family[i] == 4:
                out[i] = v4_value[_find_v4(v4_starts, lo[i])]
            elif family[i] == 6:
                out[i] = v6_value[_find_v6(v6_starts_hi, v6_starts_lo, hi[i], lo[i])]
            else:
                out[i] = invalid


def locate_v4(const uint32_t[::1] keys, const uint32_t[::1] starts, const int32_t[::1] value,
              int32_t[::1] out):
    """IPv4-only fast path for integer columns."""
    cdef Py_ssize_t i, n = keys.shape[0]
    if out.shape[0] < n:
        raise ValueError("output is shorter than the input")
    if starts.shape[0] == 0 or value.shape[0] != starts.shape[0]:
        raise ValueError("bad interval table")
    with nogil:
        for i in range(n):
            out[i] = value[_find_v4(starts, keys[i])]
