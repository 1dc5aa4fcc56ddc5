# cython: language_level=3
"""A strict JSON decoder for flow-log blobs that leaves ``flowTuples`` string arrays as byte spans.

A blob is a few hundred small objects and hundreds of thousands of tuple strings: building a
Python string per tuple (what ``json.loads`` does) costs more than everything after it. Every
value is decoded exactly as ``json.loads`` decodes it, except the elements of an array under a
``"flowTuples"`` key, which are recorded as (start, end) byte offsets into the input and replaced
by ``factory(first, count)``. Anything the fast decoder does not handle exactly (a syntax error, a
cut-off blob, NaN, deep nesting, escapes or non-ASCII bytes inside a tuple string, invalid UTF-8)
raises ``Declined``: the caller then uses the general decoder, which owns all the tolerance and
error reporting. No policy logic here.
"""
cimport cython
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memchr, memcmp
from libc.stdint cimport int64_t, uint8_t
from cpython.unicode cimport PyUnicode_DecodeUTF8

import json

cdef extern from "_simd.h":
    int64_t adu_string_stop(const unsigned char* s, int64_t p, int64_t n) noexcept nogil
    int64_t adu_skip_ws(const unsigned char* s, int64_t p, int64_t n) noexcept nogil

import numpy as np

MAX_DEPTH = 256


class Declined(Exception):
    """The input needs the general decoder (the reason is the message)."""


cdef struct Pre:  # a flowTuples array found by the pre-scan
    Py_ssize_t open  # where its '[' is
    Py_ssize_t first  # its first span
    Py_ssize_t count
    Py_ssize_t end  # just after its ']'
    Py_ssize_t trailing  # trailing commas in it


cdef int _grow_spans(int64_t** starts, int64_t** ends, Py_ssize_t* cap) noexcept nogil:
    cdef Py_ssize_t c = cap[0] * 2 if cap[0] else 1024
    cdef int64_t* a = <int64_t*>realloc(starts[0], c * sizeof(int64_t))
    if a == NULL:
        return -1
    starts[0] = a
    a = <int64_t*>realloc(ends[0], c * sizeof(int64_t))
    if a == NULL:
        return -1
    ends[0] = a
    cap[0] = c
    return 0


@cython.final
cdef class _Decoder:
    cdef const unsigned char* s
    cdef Py_ssize_t n
    cdef Py_ssize_t pos
    cdef int64_t* starts
    cdef int64_t* ends
    cdef Py_ssize_t nspans
    cdef Py_ssize_t cap
    cdef Pre* pre
    cdef Py_ssize_t npre
    cdef Py_ssize_t precap
    cdef Py_ssize_t pre_i
    cdef object factory
    cdef public Py_ssize_t trailing_commas

    def __dealloc__(self):
        free(self.starts)
        free(self.ends)
        free(self.pre)

    cdef int _grow(self) except -1:
        if _grow_spans(&self.starts, &self.ends, &self.cap) < 0:
            raise MemoryError()
        return 0

    cdef int _prescan(self, Py_ssize_t start) except -1:
        """Every flowTuples array of the input, found and split into spans in one pass without the GIL
        (other threads run meanwhile), before the objects around them are built."""
        cdef int r
        with nogil:
            r = _prescan(self.s, self.n, start, &self.starts, &self.ends, &self.nspans, &self.cap,
                         &self.pre, &self.npre, &self.precap)
        if r < 0:
            raise MemoryError()
        return 0

    cdef inline void _ws(self) noexcept:
        self.pos = adu_skip_ws(self.s, self.pos, self.n)

    cdef object _value(self, int depth):
        self._ws()
        if self.pos >= self.n:
            raise Declined("input ends inside a value")
        cdef unsigned char c = self.s[self.pos]
        if c == 123:  # {
            return self._object(depth + 1)
        if c == 91:  # [
            return self._array(depth + 1)
        if c == 34:
            return self._string()
        if c == 45 or (48 <= c <= 57):
            return self._number()
        if self._literal(b"true", 4):
            return True
        if self._literal(b"false", 5):
            return False
        if self._literal(b"null", 4):
            return None
        raise Declined(f"unexpected byte {c} at {self.pos}")

    cdef bint _literal(self, const char* word, Py_ssize_t k):
        cdef Py_ssize_t i
        if self.pos + k > self.n:
            return False
        for i in range(k):
            if self.s[self.pos + i] != <unsigned char>word[i]:
                return False
        self.pos += k
        return True

    cdef object _string(self):
        """At the opening quote; returns the decoded string (json.loads for escapes)."""
        cdef Py_ssize_t a = self.pos + 1, p = a
        cdef bint escaped = False
        cdef unsigned char c
        while True:
            p = adu_string_stop(self.s, p, self.n)  # the next quote, backslash, control or non-ASCII byte
            if p >= self.n:
                raise Declined("input ends inside a string")
            c = self.s[p]
            if c == 34:
                break
            if c == 92:
                escaped = True
                p += 2
            elif c >= 0x80:
                p += 1  # UTF-8 is checked when the string is decoded
            else:
                raise Declined("control character in a string")
        self.pos = p + 1
        try:
            if escaped:
                return json.loads(PyUnicode_DecodeUTF8(<const char*>self.s + a - 1, p - a + 2, "strict"))
            return PyUnicode_DecodeUTF8(<const char*>self.s + a, p - a, "strict")
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise Declined(str(exc)) from None

    cdef object _number(self):
        cdef Py_ssize_t a = self.pos, p = a
        cdef bint integer = True
        cdef const unsigned char* s = self.s
        if p < self.n and s[p] == 45:
            p += 1
        if p >= self.n or not (48 <= s[p] <= 57):
            raise Declined("malformed number")
        if s[p] == 48:
            p += 1
        else:
            while p < self.n and 48 <= s[p] <= 57:
                p += 1
        if p < self.n and s[p] == 46:
            integer = False
            p += 1
            if p >= self.n or not (48 <= s[p] <= 57):
                raise Declined("malformed number")
            while p < self.n and 48 <= s[p] <= 57:
                p += 1
        if p < self.n and (s[p] == 101 or s[p] == 69):
            integer = False
            p += 1
            if p < self.n and (s[p] == 43 or s[p] == 45):
                p += 1
            if p >= self.n or not (48 <= s[p] <= 57):
                raise Declined("malformed number")
            while p < self.n and 48 <= s[p] <= 57:
                p += 1
        if p >= self.n:
            raise Declined("input ends inside a number")
        self.pos = p
        text = (<const char*>s)[a:p]
        try:
            return int(text) if integer else float(text)
        except ValueError as exc:  # e.g. more digits than int() converts
            raise Declined(str(exc)) from None

    cdef bint _more(self, unsigned char close) except -1:
        """After a member or element: True if another follows, False at the closing bracket."""
        self._ws()
        if self.pos >= self.n:
            raise Declined("input ends inside a container")
        cdef unsigned char c = self.s[self.pos]
        if c == close:
            self.pos += 1
            return False
        if c != 44:
            raise Declined(f"expected ',' at {self.pos}")
        self.pos += 1
        self._ws()
        if self.pos < self.n and self.s[self.pos] == close:
            self.trailing_commas += 1
            self.pos += 1
            return False
        return True

    cdef object _object(self, int depth):
        if depth > MAX_DEPTH:
            raise Declined("nesting too deep")
        self.pos += 1
        out = {}
        self._ws()
        if self.pos < self.n and self.s[self.pos] == 125:
            self.pos += 1
            return out
        while True:
            self._ws()
            if self.pos >= self.n or self.s[self.pos] != 34:
                raise Declined(f"expected a key at {self.pos}")
            key = self._string()
            self._ws()
            if self.pos >= self.n or self.s[self.pos] != 58:
                raise Declined(f"expected ':' at {self.pos}")
            self.pos += 1
            self._ws()
            if key == "flowTuples" and self.pos < self.n and self.s[self.pos] == 91:
                out[key] = self._tuples()
            else:
                out[key] = self._value(depth)
            if not self._more(125):
                return out

    cdef object _array(self, int depth):
        if depth > MAX_DEPTH:
            raise Declined("nesting too deep")
        self.pos += 1
        out = []
        self._ws()
        if self.pos < self.n and self.s[self.pos] == 93:
            self.pos += 1
            return out
        while True:
            out.append(self._value(depth))
            if not self._more(93):
                return out

    cdef object _tuples(self):
        """An array of plain ASCII strings, recorded as spans: the pre-scan's, when it read this array (the
        usual case); else read here (the hot loop: locals only, without the GIL once the array is long)."""
        cdef Pre* e
        while self.pre_i < self.npre and self.pre[self.pre_i].open < self.pos:
            self.pre_i += 1
        if self.pre_i < self.npre and self.pre[self.pre_i].open == self.pos:
            e = &self.pre[self.pre_i]
            self.pre_i += 1
            self.pos = e.end
            self.trailing_commas += e.trailing
            return self.factory(e.first, e.count)
        cdef Py_ssize_t first = self.nspans, k = self.nspans
        cdef Py_ssize_t pos = adu_skip_ws(self.s, self.pos + 1, self.n)
        cdef int r, done = 0
        if pos < self.n and self.s[pos] == 93:
            self.pos = pos + 1
            return self.factory(first, 0)
        while True:
            if k + 1 > self.cap:
                self.nspans = k
                self._grow()
            if k - first < NOGIL_AFTER:  # short arrays (and the start of long ones): not worth a GIL round trip
                r = _span_run(self.s, self.n, &pos, self.starts, self.ends, &k, min(first + NOGIL_AFTER, self.cap), &done,
                              &self.trailing_commas)
            else:
                with nogil:
                    r = _span_run(self.s, self.n, &pos, self.starts, self.ends, &k, self.cap, &done,
                                  &self.trailing_commas)
            if r == 1:
                raise Declined("a flowTuples element that is not a string")
            if r == 2:
                raise Declined("a flowTuples string with escapes, control or non-ASCII bytes, or cut off")
            if r == 3:
                raise Declined("input ends inside a container")
            if r == 4:
                raise Declined(f"expected ',' at {pos}")
            if done:
                break
        self.nspans = k
        self.pos = pos
        return self.factory(first, k - first)


cdef enum:
    NOGIL_AFTER = 32


cdef int _prescan(const unsigned char* s, Py_ssize_t n, Py_ssize_t pos, int64_t** starts, int64_t** ends,
                  Py_ssize_t* nspans, Py_ssize_t* cap, Pre** pre, Py_ssize_t* npre, Py_ssize_t* precap) noexcept nogil:
    """The spans of every array after a ``"flowTuples"`` key from ``pos`` on, string by string (what is
    between strings holds no quote in JSON); stops quietly at anything it cannot read, which the decoder
    then meets and reads (or declines) itself. -1: out of memory."""
    cdef const unsigned char* hit
    cdef Py_ssize_t q, p, a, k, first, trailing
    cdef int r, done
    cdef unsigned char c
    cdef Pre* grown
    while pos < n:
        hit = <const unsigned char*>memchr(s + pos, 34, n - pos)
        if hit == NULL:
            return 0
        q = hit - s
        p = q + 1
        while True:  # the end of the string that starts at q
            p = adu_string_stop(s, p, n)
            if p >= n:
                return 0
            c = s[p]
            if c == 34:
                break
            p += 2 if c == 92 else 1
        pos = p + 1
        if p - q - 1 != 10 or memcmp(s + q + 1, b"flowTuples", 10) != 0:
            continue
        a = adu_skip_ws(s, pos, n)
        if a >= n or s[a] != 58:
            continue
        a = adu_skip_ws(s, a + 1, n)
        if a >= n or s[a] != 91:
            continue
        first = nspans[0]
        k = first
        trailing = 0
        done = 0
        p = adu_skip_ws(s, a + 1, n)
        if p < n and s[p] == 93:
            p += 1
            done = 1
        while not done:
            if k + 1 > cap[0]:
                nspans[0] = k
                if _grow_spans(starts, ends, cap) < 0:
                    return -1
            r = _span_run(s, n, &p, starts[0], ends[0], &k, cap[0], &done, &trailing)
            if r != 0:
                nspans[0] = first  # not an array of plain strings: the decoder reads it and says why
                return 0
        if npre[0] == precap[0]:
            grown = <Pre*>realloc(pre[0], (precap[0] * 2 + 64) * sizeof(Pre))
            if grown == NULL:
                return -1
            pre[0] = grown
            precap[0] = precap[0] * 2 + 64
        pre[0][npre[0]].open = a
        pre[0][npre[0]].first = first
        pre[0][npre[0]].count = k - first
        pre[0][npre[0]].end = p
        pre[0][npre[0]].trailing = trailing
        npre[0] += 1
        nspans[0] = k
        pos = p
    return 0


cdef int _span_run(const unsigned char* s, Py_ssize_t n, Py_ssize_t* at, int64_t* starts, int64_t* ends,
                   Py_ssize_t* count, Py_ssize_t cap, int* done, Py_ssize_t* trailing) noexcept nogil:
    """Spans of the strings of a flowTuples array from ``at[0]`` (an element's opening quote) until its
    closing bracket (``done`` set) or until ``count`` reaches ``cap``; 0, or the code of what is wrong."""
    cdef Py_ssize_t pos = at[0], k = count[0], p
    cdef unsigned char c
    cdef int r = 0
    while k < cap:
        if pos >= n or s[pos] != 34:
            r = 1
            break
        p = adu_string_stop(s, pos + 1, n)
        if p >= n or s[p] != 34:
            r = 2
            break
        starts[k] = pos + 1
        ends[k] = p
        k += 1
        pos = adu_skip_ws(s, p + 1, n)
        if pos >= n:
            r = 3
            break
        c = s[pos]
        if c == 93:
            pos += 1
            done[0] = 1
            break
        if c != 44:
            r = 4
            break
        pos = adu_skip_ws(s, pos + 1, n)
        if pos < n and s[pos] == 93:
            trailing[0] += 1
            pos += 1
            done[0] = 1
            break
    at[0] = pos
    count[0] = k
    return r


cdef _Decoder _decoder(const uint8_t[::1] data, Py_ssize_t start, factory):
    cdef _Decoder d = _Decoder()
    d.s = &data[0] if data.shape[0] else NULL
    d.n = data.shape[0]
    d.pos = start
    d.factory = factory
    if d.n == 0:
        raise Declined("empty input")
    d._prescan(start)
    return d


def decode(const uint8_t[::1] data, Py_ssize_t start, factory):
    """(document, span starts, span ends, trailing commas) of ``data[start:]``; raises ``Declined``."""
    cdef _Decoder d = _decoder(data, start, factory)
    doc = d._value(0)
    d._ws()
    if d.pos != d.n:
        raise Declined(f"extra data at {d.pos}")
    return (doc,) + _spans(d)


def decode_many(const uint8_t[::1] data, Py_ssize_t start, factory):
    """(documents, their start offsets, their end offsets, span starts, span ends, trailing commas) of
    the JSON values in ``data[start:]`` separated by whitespace only (one record per line, or documents
    written back to back); the spans of all documents are in one pair of arrays. Raises ``Declined``."""
    cdef _Decoder d = _decoder(data, start, factory)
    docs, firsts, lasts = [], [], []
    d._ws()
    if d.pos >= d.n:
        raise Declined("no value")
    while d.pos < d.n:
        firsts.append(d.pos)
        docs.append(d._value(0))
        lasts.append(d.pos)
        d._ws()
    return (docs, firsts, lasts) + _spans(d)


cdef tuple _spans(_Decoder d):
    starts = np.empty(d.nspans, np.int64)
    ends = np.empty(d.nspans, np.int64)
    cdef int64_t[::1] sv = starts
    cdef int64_t[::1] ev = ends
    cdef Py_ssize_t i
    for i in range(d.nspans):
        sv[i] = d.starts[i]
        ev[i] = d.ends[i]
    return starts, ends, d.trailing_commas
