# cython: language_level=3
"""Kafka's default key partitioner (murmur2), compiled; see ``ext.kafka_py`` for the reference."""

from libc.stdint cimport uint32_t

import numpy as np

cimport numpy as cnp

cnp.import_array()


cdef uint32_t _murmur2(const unsigned char* data, Py_ssize_t length) noexcept nogil:
    cdef uint32_t m = 0x5BD1E995
    cdef uint32_t h = <uint32_t>0x9747B28C ^ <uint32_t>length
    cdef uint32_t k
    cdef Py_ssize_t i, whole = length - length % 4
    for i in range(0, whole, 4):
        k = (<uint32_t>data[i] | (<uint32_t>data[i + 1] << 8) | (<uint32_t>data[i + 2] << 16)
             | (<uint32_t>data[i + 3] << 24))
        k *= m
        k ^= k >> 24
        k *= m
        h = (h * m) ^ k
    if length - whole == 3:
        h ^= <uint32_t>data[whole + 2] << 16
    if length - whole >= 2:
        h ^= <uint32_t>data[whole + 1] << 8
    if length - whole >= 1:
        h ^= <uint32_t>data[whole]
        h *= m
    h ^= h >> 13
    h *= m
    h ^= h >> 15
    return h


def murmur2(bytes data):
    """Kafka's 32-bit MurmurHash2 of ``data``, as an unsigned integer."""
    return _murmur2(<const unsigned char*>data, len(data))


def key_partitions(keys, int n_partitions):
    """The partition Kafka's default partitioner gives each key, among ``n_partitions``."""
    if n_partitions <= 0:
        raise ValueError(f"n_partitions must be positive, got {n_partitions}")
    cdef Py_ssize_t i, n = len(keys)
    cdef cnp.ndarray[cnp.int32_t, ndim=1] out = np.empty(n, dtype=np.int32)
    cdef bytes key
    for i in range(n):
        key = keys[i]
        out[i] = <int>((_murmur2(<const unsigned char*>key, len(key)) & 0x7FFFFFFF) % <uint32_t>n_partitions)
    return out
