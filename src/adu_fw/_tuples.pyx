# cython: language_level=3
"""Split flow-log tuple strings into typed columns in one pass (no Python object per field).

Input: the tuple strings as byte spans (start, end) of one buffer and each tuple's flow-log version
(1: 8 fields; 2 and 4: 13). Output: per tuple a status (0 ok, else the first failing field, see
``STATUS``), the parsed fields, and the byte spans of the address and encryption texts.
"""
from libc.string cimport memcpy
from libc.stdint cimport uint8_t, int8_t, uint16_t, uint32_t, int32_t, int64_t, uint64_t
from adu_fw._ip cimport parse_addr

cdef extern from "_simd.h":
    int adu_commas16(const unsigned char* s, int64_t a, int64_t b, int64_t buflen, int64_t* out) noexcept nogil
    int adu_uint(const unsigned char* s, int64_t a, int64_t b, int64_t* out) noexcept nogil  # 1 number, 0 empty, -1 not a number
    int adu_counter(const unsigned char* s, int64_t a, int64_t b, int64_t* value, uint8_t* empty) noexcept nogil  # and 0 if empty
    int adu_v4(const unsigned char* s, int64_t a, int64_t b, int64_t buflen, uint32_t* out) noexcept nogil
    void adu_copy16(unsigned char* dst, const unsigned char* src) noexcept nogil

cdef extern from "_dotted.h":
    int adu_has_ssse3() noexcept nogil
    int adu_v4_ssse3(const unsigned char* s, int64_t a, int64_t b, int64_t buflen, uint32_t* out) noexcept nogil

cdef int _SSSE3 = adu_has_ssse3()
cdef int64_t MS_CUTOFF = 100000000000  # above: epoch milliseconds (v4), below: seconds (v1/v2)

STATUS = ("ok", "fields", "time", "src_ip", "dst_ip", "src_port", "dst_port", "protocol", "direction", "counter")
STATES = "BCED"  # the flow-state letters of v2 (B C E) and v4 (B C E D), in the order of their codes in ``state``

cdef inline uint8_t _addr(const unsigned char* s, int64_t a, int64_t b, int64_t buflen, uint64_t* hi, uint64_t* lo) noexcept nogil:
    """4 or 6, 0 when malformed: a plain dotted quad (SSSE3 shuffles where the CPU has them, else SSE2)
    without the general parser's branches, anything else through the general parser."""
    cdef uint32_t v4
    cdef int ok
    if b <= a:
        return 0
    ok = adu_v4_ssse3(s, a, b, buflen, &v4) if _SSSE3 else adu_v4(s, a, b, buflen, &v4)  # the same for every row
    if ok:
        hi[0] = 0
        lo[0] = v4
        return 4
    return <uint8_t>parse_addr(s + a, b - a, hi, lo)


cdef inline uint8_t _state_code(unsigned char letter) noexcept nogil:
    """The flow state's place in ``STATES`` (255: none, or another letter)."""
    if letter == 66:  # B
        return 0
    if letter == 67:  # C
        return 1
    if letter == 69:  # E
        return 2
    if letter == 68:  # D
        return 3
    return 255


cdef int64_t _check_spans(const int64_t[::1] start, const int64_t[::1] end, Py_ssize_t n, Py_ssize_t size) except -1:
    """The total length of n spans, all inside a buffer of ``size`` bytes (the loops read no further)."""
    cdef Py_ssize_t i
    cdef int64_t total = 0
    if start.shape[0] < n or end.shape[0] < n:
        raise ValueError("fewer spans than rows")
    for i in range(n):
        if start[i] < 0 or end[i] < start[i] or end[i] > size:
            raise ValueError(f"span {i} ({start[i]}, {end[i]}) is outside the data ({size} bytes)")
        total += end[i] - start[i]
    return total


def split(const uint8_t[::1] data, const int64_t[::1] starts, const int64_t[::1] ends, const int8_t[::1] version,
          uint8_t[::1] status, int64_t[::1] ms,
          uint8_t[::1] src_fam, uint64_t[::1] src_hi, uint64_t[::1] src_lo,
          uint8_t[::1] dst_fam, uint64_t[::1] dst_hi, uint64_t[::1] dst_lo,
          uint16_t[::1] sport, uint16_t[::1] dport, uint8_t[::1] proto, uint8_t[::1] outbound,
          uint8_t[::1] decision, uint8_t[::1] state, int64_t[:, ::1] counters, uint8_t[:, ::1] counter_null,
          int64_t[:, ::1] spans):
    """spans[:, i] = (src start, src end, dst start, dst end, enc start, enc end) byte offsets; counters are (4, n);
    state is the flow state's place in ``STATES``, 255 for none (v1) or another letter.

    Every tuple gets its status; the other outputs are written only for the tuples that split (status 0;
    a status 9 tuple keeps what was parsed before its counters), the rest is left as it was."""
    cdef Py_ssize_t i, n = version.shape[0]
    cdef int64_t a, b, v
    cdef int64_t fe[16]
    cdef int64_t buflen = data.shape[0]
    cdef int nf, want, r, c
    cdef int8_t ver
    cdef const unsigned char* s = &data[0] if data.shape[0] else NULL
    cdef unsigned char ch
    _check_spans(starts, ends, n, data.shape[0])
    if n == 0:
        return
    if min([status.shape[0], ms.shape[0], src_fam.shape[0], src_hi.shape[0], src_lo.shape[0], dst_fam.shape[0],
            dst_hi.shape[0], dst_lo.shape[0], sport.shape[0], dport.shape[0], proto.shape[0], outbound.shape[0],
            decision.shape[0], state.shape[0]]) < n:
        raise ValueError("an output holds fewer entries than rows")
    if counters.shape[0] != 4 or counter_null.shape[0] != 4 or spans.shape[0] != 6 or \
            counters.shape[1] < n or counter_null.shape[1] < n or spans.shape[1] < n:
        raise ValueError("counters and counter_null must be (4, n), spans (6, n)")
    # raw pointers, not memoryviews: a byte store through a memoryview makes the compiler reload every
    # view's data pointer and strides (a char may alias them); rows of the 2-D outputs one stride apart
    cdef const int64_t* p_start = &starts[0]
    cdef const int64_t* p_end = &ends[0]
    cdef const int8_t* p_ver = &version[0]
    cdef uint8_t* p_status = &status[0]
    cdef int64_t* p_ms = &ms[0]
    cdef uint8_t* p_sf = &src_fam[0]
    cdef uint64_t* p_sh = &src_hi[0]
    cdef uint64_t* p_sl = &src_lo[0]
    cdef uint8_t* p_df = &dst_fam[0]
    cdef uint64_t* p_dh = &dst_hi[0]
    cdef uint64_t* p_dl = &dst_lo[0]
    cdef uint16_t* p_sport = &sport[0]
    cdef uint16_t* p_dport = &dport[0]
    cdef uint8_t* p_proto = &proto[0]
    cdef uint8_t* p_out = &outbound[0]
    cdef uint8_t* p_dec = &decision[0]
    cdef uint8_t* p_state = &state[0]
    cdef int64_t* p_cnt = &counters[0, 0]
    cdef uint8_t* p_null = &counter_null[0, 0]
    cdef int64_t* p_spans = &spans[0, 0]
    cdef Py_ssize_t cstride = counters.shape[1], nstride = counter_null.shape[1], sstride = spans.shape[1]
    with nogil:
        for i in range(n):
            a = p_start[i]
            b = p_end[i]
            ver = p_ver[i]
            # trim spaces
            while a < b and (s[a] == 32 or s[a] == 9):
                a += 1
            while b > a and (s[b - 1] == 32 or s[b - 1] == 9):
                b -= 1
            nf = adu_commas16(s, a, b, buflen, fe) + 1  # the commas are where the fields end: field k is
            # s[a:fe[0]] for k = 0, else s[fe[k - 1] + 1:fe[k]] (one byte long when fe[k] - fe[k - 1] == 2)
            want = 8 if ver == 1 else 13
            if nf != want:
                p_status[i] = 1
                continue
            fe[nf - 1] = b
            r = adu_uint(s, a, fe[0], &v)
            if r != 1:
                p_status[i] = 2
                continue
            p_ms[i] = v if v > MS_CUTOFF else v * 1000
            p_sf[i] = _addr(s, fe[0] + 1, fe[1], buflen, &p_sh[i], &p_sl[i])
            if p_sf[i] == 0:
                p_status[i] = 3
                continue
            p_df[i] = _addr(s, fe[1] + 1, fe[2], buflen, &p_dh[i], &p_dl[i])
            if p_df[i] == 0:
                p_status[i] = 4
                continue
            r = adu_uint(s, fe[2] + 1, fe[3], &v)
            if r != 1 or v > 65535:
                p_status[i] = 5
                continue
            p_sport[i] = <uint16_t>v
            r = adu_uint(s, fe[3] + 1, fe[4], &v)
            if r != 1 or v > 65535:
                p_status[i] = 6
                continue
            p_dport[i] = <uint16_t>v
            if ver == 4:
                r = adu_uint(s, fe[4] + 1, fe[5], &v)
                if r != 1 or v > 255:
                    p_status[i] = 7
                    continue
                p_proto[i] = <uint8_t>v
            else:
                if fe[5] - fe[4] == 2 and s[fe[4] + 1] == 84:  # T
                    p_proto[i] = 6
                elif fe[5] - fe[4] == 2 and s[fe[4] + 1] == 85:  # U
                    p_proto[i] = 17
                else:
                    p_status[i] = 7
                    continue
            if fe[6] - fe[5] == 2 and s[fe[5] + 1] == 73:  # I
                p_out[i] = 0
            elif fe[6] - fe[5] == 2 and s[fe[5] + 1] == 79:  # O
                p_out[i] = 1
            else:
                p_status[i] = 8
                continue
            p_spans[i] = fe[0] + 1
            p_spans[sstride + i] = fe[1]
            p_spans[2 * sstride + i] = fe[1] + 1
            p_spans[3 * sstride + i] = fe[2]
            ch = s[fe[6] + 1] if fe[7] - fe[6] == 2 else 0
            if ver == 4:
                p_state[i] = _state_code(ch)
                p_dec[i] = 1 if ch == 68 else 0  # D = denied
                p_spans[4 * sstride + i] = fe[7] + 1
                p_spans[5 * sstride + i] = fe[8]
            else:
                p_dec[i] = 0 if ch == 65 else (1 if ch == 68 else 2)  # A / D / unknown letter
                p_state[i] = _state_code(s[fe[7] + 1] if fe[8] - fe[7] == 2 and ver == 2 else 0)
                p_spans[4 * sstride + i] = a
                p_spans[5 * sstride + i] = a
            r = 1
            if want == 13:  # unrolled: a loop around the inlined number parse costs as much as a parse
                r = adu_counter(s, fe[8] + 1, fe[9], &p_cnt[i], &p_null[i])
                if r >= 0:
                    r = adu_counter(s, fe[9] + 1, fe[10], &p_cnt[cstride + i], &p_null[nstride + i])
                if r >= 0:
                    r = adu_counter(s, fe[10] + 1, fe[11], &p_cnt[2 * cstride + i], &p_null[2 * nstride + i])
                if r >= 0:
                    r = adu_counter(s, fe[11] + 1, fe[12], &p_cnt[3 * cstride + i], &p_null[3 * nstride + i])
            else:
                for c in range(4):
                    p_cnt[c * cstride + i] = 0
                    p_null[c * nstride + i] = 1
            p_status[i] = 9 if r < 0 else 0


def gather(const uint8_t[::1] data, const int64_t[::1] start, const int64_t[::1] end,
           int32_t[::1] out_offsets, uint8_t[::1] out_data):
    """Copy the byte spans into one Arrow string buffer (offsets must hold n + 1 entries). Spans of at
    most 16 bytes (addresses) are copied 16 bytes at a time where both buffers have room past them
    (give ``out_data`` 16 spare bytes), which is one load and one store instead of a memcpy call."""
    cdef Py_ssize_t i, n = start.shape[0]
    cdef int64_t pos = 0, k
    cdef int64_t total = _check_spans(start, end, n, data.shape[0])
    cdef int64_t size = data.shape[0], room = out_data.shape[0]
    if out_offsets.shape[0] < n + 1 or out_data.shape[0] < total:
        raise ValueError("output buffers too small")
    with nogil:
        for i in range(n):
            out_offsets[i] = <int32_t>pos
            k = end[i] - start[i]
            if k > 0:
                if k <= 16 and start[i] + 16 <= size and pos + 16 <= room:
                    adu_copy16(&out_data[pos], &data[start[i]])
                else:
                    memcpy(&out_data[pos], &data[start[i]], k)
            pos += k
        out_offsets[n] = <int32_t>pos


def expand(const int64_t[::1] count, const int64_t[::1] first, const int32_t[::1] record, const int8_t[::1] version,
           int32_t[::1] group_out, int32_t[::1] tuple_out, int32_t[::1] record_out, int8_t[::1] version_out):
    """Per tuple, from per group (``count`` tuples each, in order): its group, its index in its record
    (the group's ``first`` + its place in the group), its record and its version."""
    cdef Py_ssize_t g, j, i = 0, groups = count.shape[0], n = group_out.shape[0]
    cdef int64_t total = 0
    if first.shape[0] != groups or record.shape[0] != groups or version.shape[0] != groups:
        raise ValueError("per-group inputs differ in length")
    for g in range(groups):
        if count[g] < 0:
            raise ValueError("a negative count")
        total += count[g]
    if total != n or tuple_out.shape[0] != n or record_out.shape[0] != n or version_out.shape[0] != n:
        raise ValueError("outputs must hold one entry per tuple")
    with nogil:
        for g in range(groups):
            for j in range(count[g]):
                group_out[i] = <int32_t>g
                tuple_out[i] = <int32_t>(first[g] + j)
                record_out[i] = record[g]
                version_out[i] = version[g]
                i += 1

