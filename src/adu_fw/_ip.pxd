from libc.stdint cimport uint64_t

cdef int parse_addr(const unsigned char* s, Py_ssize_t n, uint64_t* hi, uint64_t* lo) noexcept nogil
