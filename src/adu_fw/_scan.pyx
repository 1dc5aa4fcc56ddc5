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


@cython.final
cdef class _Decoder:
    cdef const unsigned char* s
    cdef Py_ssize_t n
    cdef Py_ssize_t pos
    cdef int64_t* starts
    cdef int64_t* ends
    cdef Py_ssize_t nspans
    cdef Py_ssize_t cap
    cdef object factory
    cdef public Py_ssize_t trailing_commas

    def __dealloc__(self):
        free(self.starts)
        free(self.ends)

    cdef int _grow(self) except -1:
        cdef Py_ssize_t cap = self.cap * 2 if self.cap else 1024
        cdef int64_t* a = <int64_t*>realloc(self.starts, cap * sizeof(int64_t))
        if a == NULL:
            raise MemoryError()
        self.starts = a
        a = <int64_t*>realloc(self.ends, cap * sizeof(int64_t))
        if a == NULL:
            raise MemoryError()
        self.ends = a
        self.cap = cap
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
        """An array of plain ASCII strings, recorded as spans (the hot loop: locals only)."""
        cdef Py_ssize_t first = self.nspans, k = self.nspans, n = self.n, p
        cdef Py_ssize_t pos = adu_skip_ws(self.s, self.pos + 1, self.n)
        cdef const unsigned char* s = self.s
        cdef unsigned char c
        if pos < n and s[pos] == 93:
            self.pos = pos + 1
            return self.factory(first, 0)
        while True:
            if pos >= n or s[pos] != 34:
                raise Declined("a flowTuples element that is not a string")
            p = adu_string_stop(s, pos + 1, n)
            if p >= n or s[p] != 34:
                raise Declined("a flowTuples string with escapes, control or non-ASCII bytes, or cut off")
            if k == self.cap:
                self.nspans = k
                self._grow()
            self.starts[k] = pos + 1
            self.ends[k] = p
            k += 1
            pos = adu_skip_ws(s, p + 1, n)
            if pos >= n:
                raise Declined("input ends inside a container")
            c = s[pos]
            if c == 93:
                pos += 1
                break
            if c != 44:
                raise Declined(f"expected ',' at {pos}")
            pos = adu_skip_ws(s, pos + 1, n)
            if pos < n and s[pos] == 93:
                self.trailing_commas += 1
                pos += 1
                break
        self.nspans = k
        self.pos = pos
        return self.factory(first, k - first)


cdef _Decoder _decoder(const uint8_t[::1] data, Py_ssize_t start, factory):
    cdef _Decoder d = _Decoder()
    d.s = &data[0] if data.shape[0] else NULL
    d.n = data.shape[0]
    d.pos = start
    d.factory = factory
    if d.n == 0:
        raise Declined("empty input")
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
