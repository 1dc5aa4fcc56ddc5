# cython: language_level=3
"""Flow columns -> the matcher's arrays in one pass each: integer narrowing with a range check,
dictionary indices through a code table, big-endian address bytes to integers.

Byte-level work only (see ``adu_fw.flowtable`` for what the columns mean): no Python objects per
row, no policy. Arrow validity bitmaps are read in place (bit ``offset + i``, least significant bit
first); a null row counts as invalid. Each function returns how many rows were invalid, and writes
``fill`` for them, so the caller builds a mask only when there are some. Inputs are often read-only
Arrow buffers: they are taken as bytes and typed here (a fused ``def`` would not accept them).
"""
from libc.stdint cimport uint8_t, int8_t, int16_t, uint16_t, int32_t, uint32_t, int64_t, uint64_t

cdef extern from *:
    """
    #include <string.h>
    static inline uint64_t adu_be64(const unsigned char* p) { uint64_t v; memcpy(&v, p, 8); return __builtin_bswap64(v); }
    static inline uint32_t adu_be32(const unsigned char* p) { uint32_t v; memcpy(&v, p, 4); return __builtin_bswap32(v); }
    """
    uint64_t adu_be64(const unsigned char* p) noexcept nogil
    uint32_t adu_be32(const unsigned char* p) noexcept nogil

ctypedef fused src_t:
    int8_t
    int16_t
    int32_t
    int64_t
    uint8_t
    uint16_t
    uint32_t
    uint64_t

ctypedef fused dst_t:
    uint8_t
    uint16_t
    uint32_t


cdef inline bint _valid(const uint8_t* bits, Py_ssize_t i) noexcept nogil:
    return bits == NULL or (bits[i >> 3] >> (i & 7)) & 1


cdef Py_ssize_t _kernel(const src_t* v, Py_ssize_t n, const uint8_t* bits, Py_ssize_t off, uint64_t top,
                        const int16_t* table, dst_t* out, dst_t fill, uint8_t* bad) noexcept nogil:
    """Without ``table``: out = v where 0 <= v <= top. With it: out = table[v] where v < top (the
    table's size) and the entry is >= 0. Invalid or null rows get ``fill``; returns their count."""
    cdef Py_ssize_t i, count = 0
    cdef bint ok
    cdef int16_t c
    for i in range(n):
        ok = v[i] >= 0 and <uint64_t>v[i] <= top and _valid(bits, off + i)
        if table != NULL:  # the same for every row
            c = table[v[i]] if ok else -1
            ok = c >= 0
            out[i] = <dst_t>c if ok else fill
        else:
            out[i] = <dst_t>v[i] if ok else fill
        count += not ok
        if bad != NULL:
            bad[i] = not ok
    return count


cdef Py_ssize_t _dispatch(const uint8_t* raw, bint signed, int width, Py_ssize_t n, const uint8_t* bits, Py_ssize_t off,
                          uint64_t top, const int16_t* table, dst_t* out, dst_t fill, uint8_t* bad) noexcept nogil:
    """``_kernel`` for the integer type of the bytes at ``raw``."""
    if signed:
        if width == 1:
            return _kernel(<const int8_t*>raw, n, bits, off, top, table, out, fill, bad)
        if width == 2:
            return _kernel(<const int16_t*>raw, n, bits, off, top, table, out, fill, bad)
        if width == 4:
            return _kernel(<const int32_t*>raw, n, bits, off, top, table, out, fill, bad)
        return _kernel(<const int64_t*>raw, n, bits, off, top, table, out, fill, bad)
    if width == 1:
        return _kernel(<const uint8_t*>raw, n, bits, off, top, table, out, fill, bad)
    if width == 2:
        return _kernel(<const uint16_t*>raw, n, bits, off, top, table, out, fill, bad)
    if width == 4:
        return _kernel(<const uint32_t*>raw, n, bits, off, top, table, out, fill, bad)
    return _kernel(<const uint64_t*>raw, n, bits, off, top, table, out, fill, bad)


def _layout(values):
    kind, width = values.dtype.kind, values.dtype.itemsize
    if values.ndim != 1 or kind not in "iu" or width not in (1, 2, 4, 8) or not values.flags.c_contiguous:
        raise ValueError("expected a contiguous 1-d integer array")
    return kind, width


def narrow(values, const uint8_t[::1] validity, Py_ssize_t offset, uint64_t top, out, uint32_t fill,
           uint8_t[::1] bad=None):
    """out[i] = values[i] where it is 0..top and valid, else ``fill``; returns the invalid count
    (and marks the invalid rows in ``bad`` when given). ``values``: a contiguous integer array of
    any width and signedness, read-only or not; ``out``: uint8, uint16 or uint32; ``validity``: an
    Arrow bitmap (row i at bit offset + i), or empty for "no nulls"."""
    kind, width = _layout(values)
    cdef Py_ssize_t n = values.shape[0], count = 0
    cdef const uint8_t[::1] raw = values.view("u1") if n else b"\0"
    cdef const uint8_t* bits = &validity[0] if validity.shape[0] else NULL
    cdef uint8_t* bp = NULL
    cdef bint k = kind == "i"
    cdef int w = width
    cdef uint8_t[::1] o8
    cdef uint16_t[::1] o16
    cdef uint32_t[::1] o32
    if out.shape[0] != n or (bits != NULL and validity.shape[0] * 8 < offset + n) or (bad is not None and bad.shape[0] != n):
        raise ValueError("column buffers of unequal length")
    if n == 0:
        return 0
    if bad is not None:
        bp = &bad[0]
    if out.dtype.itemsize == 1:
        o8 = out
        with nogil:
            count = _dispatch(&raw[0], k, w, n, bits, offset, top, NULL, &o8[0], <uint8_t>fill, bp)
    elif out.dtype.itemsize == 2:
        o16 = out
        with nogil:
            count = _dispatch(&raw[0], k, w, n, bits, offset, top, NULL, &o16[0], <uint16_t>fill, bp)
    else:
        o32 = out
        with nogil:
            count = _dispatch(&raw[0], k, w, n, bits, offset, top, NULL, &o32[0], <uint32_t>fill, bp)
    return count


def map_codes(indices, const uint8_t[::1] validity, Py_ssize_t offset, const int16_t[::1] table, uint8_t[::1] out,
              uint8_t fill, uint8_t[::1] bad=None):
    """Dictionary indices -> codes: out[i] = table[indices[i]] where that is >= 0 and the row is
    valid, else ``fill``; an index outside the table is invalid. Returns the invalid count (and
    marks the invalid rows in ``bad`` when given)."""
    kind, width = _layout(indices)
    cdef Py_ssize_t n = indices.shape[0], size = table.shape[0], count = 0
    cdef const uint8_t[::1] raw = indices.view("u1") if n else b"\0"
    cdef const uint8_t* bits = &validity[0] if validity.shape[0] else NULL
    cdef const int16_t* tp = &table[0] if size else NULL
    cdef uint8_t* bp = NULL
    if out.shape[0] != n or (bits != NULL and validity.shape[0] * 8 < offset + n) or (bad is not None and bad.shape[0] != n):
        raise ValueError("column buffers of unequal length")
    if n == 0:
        return 0
    if bad is not None:
        bp = &bad[0]
    cdef bint signed = kind == "i"
    cdef int w = width
    if size == 0:
        out[:] = fill
        if bp != NULL:
            bad[:] = 1
        return n
    with nogil:
        count = _dispatch(&raw[0], signed, w, n, bits, offset, <uint64_t>(size - 1), tp, &out[0], fill, bp)
    return count


def be128(const uint8_t[::1] data, uint64_t[::1] hi, uint64_t[::1] lo):
    """16 big-endian bytes per row (Arrow fixed_size_binary(16), network order) -> two uint64 halves."""
    cdef Py_ssize_t i, n = hi.shape[0]
    cdef const uint8_t* p
    if lo.shape[0] != n or data.shape[0] < 16 * n:
        raise ValueError("column buffers of unequal length")
    if n == 0:
        return
    p = &data[0]
    with nogil:
        for i in range(n):
            hi[i] = adu_be64(p + 16 * i)
            lo[i] = adu_be64(p + 16 * i + 8)


def be32(const uint8_t[::1] data, uint32_t[::1] out):
    """4 big-endian bytes per row (fixed_size_binary(4)) -> uint32."""
    cdef Py_ssize_t i, n = out.shape[0]
    cdef const uint8_t* p
    if data.shape[0] < 4 * n:
        raise ValueError("column buffers of unequal length")
    if n == 0:
        return
    p = &data[0]
    with nogil:
        for i in range(n):
            out[i] = adu_be32(p + 4 * i)
