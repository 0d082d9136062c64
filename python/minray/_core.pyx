# cython: language_level=3
"""Typed C implementations of minray's hot paths.

Behaviour matches ``minray._fallback`` exactly (results, exception types and messages);
``tests/test_agreement.py`` checks this on random inputs.
"""

import operator

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport uint32_t

cdef uint32_t FNV_OFFSET = 0x811C9DC5u
cdef uint32_t FNV_PRIME = 0x01000193u


def checksum32(data) -> int:
    """32-bit FNV-1a hash of a bytes-like object (any C-contiguous buffer, read as bytes)."""
    cdef const unsigned char[::1] view = memoryview(data).cast("B")
    cdef uint32_t h = FNV_OFFSET
    cdef Py_ssize_t i, size = view.shape[0]
    with nogil:
        for i in range(size):
            h = (h ^ view[i]) * FNV_PRIME
    return h


cdef inline void* _alloc(Py_ssize_t count, size_t item) except NULL:
    cdef void* p = PyMem_Malloc(<size_t>(count if count > 0 else 1) * item)
    if p == NULL:
        raise MemoryError()
    return p


def toposort(n, edges) -> list:
    """Order nodes ``0..n-1`` so that for each edge ``(u, v)`` ``u`` comes before ``v``.

    Kahn's algorithm with a FIFO queue: ready nodes start in increasing order, and a
    node's successors are released in the order their edges were given, so the result
    is deterministic. Raises ``ValueError`` on a cycle or on a node outside ``0..n-1``.
    """
    cdef Py_ssize_t count = operator.index(n)
    if count < 0:
        raise ValueError(f"n must be >= 0, got {count}")
    cdef list seq = edges if type(edges) is list else list(edges)
    cdef Py_ssize_t m = len(seq)
    cdef Py_ssize_t i = 0, k, src, dst, node, head = 0, tail = 0
    cdef Py_ssize_t* srcs = NULL
    cdef Py_ssize_t* dsts = NULL
    cdef Py_ssize_t* offsets = NULL   # CSR: successors of u are adj[offsets[u]:offsets[u+1]]
    cdef Py_ssize_t* adj = NULL
    cdef Py_ssize_t* indegree = NULL
    cdef Py_ssize_t* queue = NULL
    try:
        srcs = <Py_ssize_t*>_alloc(m, sizeof(Py_ssize_t))
        dsts = <Py_ssize_t*>_alloc(m, sizeof(Py_ssize_t))
        offsets = <Py_ssize_t*>_alloc(count + 1, sizeof(Py_ssize_t))
        adj = <Py_ssize_t*>_alloc(m, sizeof(Py_ssize_t))
        indegree = <Py_ssize_t*>_alloc(count, sizeof(Py_ssize_t))
        queue = <Py_ssize_t*>_alloc(count, sizeof(Py_ssize_t))
        for k in range(count + 1):
            offsets[k] = 0
        for k in range(count):
            indegree[k] = 0
        try:
            for i in range(m):
                u, v = seq[i]
                src = u
                dst = v
                if src < 0 or src >= count or dst < 0 or dst >= count:
                    raise ValueError(f"edge ({src}, {dst}) has a node outside 0..{count - 1}")
                srcs[i] = src
                dsts[i] = dst
                offsets[src + 1] += 1
                indegree[dst] += 1
        except OverflowError:
            u, v = seq[i]
            raise ValueError(
                f"edge ({operator.index(u)}, {operator.index(v)}) has a node outside 0..{count - 1}"
            ) from None
        with nogil:
            for k in range(count):
                offsets[k + 1] += offsets[k]
            # Fill adjacency in edge order; queue[] doubles as the per-node fill cursor.
            for k in range(count):
                queue[k] = offsets[k]
            for i in range(m):
                adj[queue[srcs[i]]] = dsts[i]
                queue[srcs[i]] += 1
            for k in range(count):
                if indegree[k] == 0:
                    queue[tail] = k
                    tail += 1
            while head < tail:
                node = queue[head]
                head += 1
                for k in range(offsets[node], offsets[node + 1]):
                    dst = adj[k]
                    indegree[dst] -= 1
                    if indegree[dst] == 0:
                        queue[tail] = dst
                        tail += 1
        if tail < count:
            raise ValueError(
                f"graph has a cycle: {count - tail} of {count} nodes are on or after a cycle"
            )
        return [queue[k] for k in range(count)]
    finally:
        PyMem_Free(srcs)
        PyMem_Free(dsts)
        PyMem_Free(offsets)
        PyMem_Free(adj)
        PyMem_Free(indegree)
        PyMem_Free(queue)


cdef class RingBuffer:
    """Fixed-capacity ring buffer of floats; when full, a push overwrites the oldest value."""

    cdef double* _data
    cdef Py_ssize_t _capacity
    cdef Py_ssize_t _start
    cdef Py_ssize_t _size

    def __cinit__(self, capacity):
        cdef Py_ssize_t cap = operator.index(capacity)
        if cap <= 0:
            raise ValueError(f"capacity must be > 0, got {cap}")
        self._data = <double*>_alloc(cap, sizeof(double))
        self._capacity = cap
        self._start = 0
        self._size = 0

    def __dealloc__(self):
        PyMem_Free(self._data)

    @property
    def capacity(self) -> int:
        return self._capacity

    def __len__(self) -> int:
        return self._size

    cdef inline void _push(self, double x) noexcept nogil:
        if self._size < self._capacity:
            self._data[(self._start + self._size) % self._capacity] = x
            self._size += 1
        else:
            self._data[self._start] = x
            self._start = (self._start + 1) % self._capacity

    def push(self, double value) -> None:
        self._push(value)

    def extend(self, values) -> None:
        cdef double x
        for value in values:
            x = value
            self._push(x)

    def clear(self) -> None:
        self._start = 0
        self._size = 0

    def mean(self) -> float:
        if self._size == 0:
            raise ValueError("mean of an empty RingBuffer")
        cdef double total = 0.0
        cdef Py_ssize_t i
        with nogil:
            for i in range(self._size):
                total += self._data[(self._start + i) % self._capacity]
        return total / self._size

    def to_list(self) -> list:
        """The values, oldest first."""
        cdef Py_ssize_t i
        return [self._data[(self._start + i) % self._capacity] for i in range(self._size)]

    def __repr__(self) -> str:
        return f"RingBuffer(capacity={self._capacity}, values={self.to_list()!r})"
