"""Kafka's default key partitioner (murmur2), in pure Python: the twin of ``ext._kafka``.

A producer that builds its own record batches must pick each record's partition itself, and it
must pick the same one Kafka's Java and aiokafka producers would, or a prediction and its label
(same key) stop landing on the same partition and the label join breaks. Kafka hashes the key
bytes with MurmurHash2 (seed ``0x9747b28c``), clears the sign bit and takes the remainder by the
partition count.

References
----------
Appleby, A. MurmurHash2 (2008). Apache Kafka, ``org.apache.kafka.common.utils.Utils.murmur2``.

Examples
--------
>>> murmur2(b"")
275646681
>>> key_partitions([b"evt-1", b"evt-2", b"evt-3"], 6).tolist()
[4, 2, 2]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit MurmurHash2 of ``data``, as an unsigned integer."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = data[whole:]
    if tail:
        h ^= int.from_bytes(tail, "little")
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def key_partitions(keys: Sequence[bytes], n_partitions: int) -> npt.NDArray[np.int32]:
    """The partition Kafka's default partitioner gives each key, among ``n_partitions``."""
    if n_partitions <= 0:
        raise ValueError(f"n_partitions must be positive, got {n_partitions}")
    return np.array([(murmur2(key) & 0x7FFFFFFF) % n_partitions for key in keys], dtype=np.int32)
