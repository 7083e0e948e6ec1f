"""Both twins of the key partitioner agree with each other and with aiokafka's producer."""

from __future__ import annotations

import inspect
import os
import random
from types import ModuleType
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner

import driftline.ext._kafka as compiled
import driftline.ext.kafka_py as twin
from driftline import ext

IMPLEMENTATIONS = [pytest.param(compiled, id="cython"), pytest.param(twin, id="python")]


def random_keys(n: int, seed: int = 5) -> list[bytes]:
    rng = random.Random(seed)
    return [bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 48))) for _ in range(n)]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("n_partitions", [1, 3, 6, 7, 64])
def test_partitions_match_aiokafkas_default_partitioner(impl: ModuleType, n_partitions: int) -> None:
    keys = random_keys(3000) + [f"evt-{i}".encode() for i in range(3000)]
    partitions = list(range(n_partitions))
    expected = [DefaultPartitioner()(key, partitions, partitions) for key in keys]
    assert impl.key_partitions(keys, n_partitions).tolist() == expected


def test_twins_hash_identically_on_every_tail_length() -> None:
    for key in random_keys(5000, seed=9):
        assert compiled.murmur2(key) == twin.murmur2(key)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_partition_count_must_be_positive(impl: ModuleType) -> None:
    with pytest.raises(ValueError, match="positive"):
        impl.key_partitions([b"a"], 0)


def test_the_compiled_partitioner_is_the_one_loaded() -> None:
    if os.environ.get("DRIFTLINE_NO_EXTENSIONS", "") not in ("", "0"):
        assert ext.key_partitions is twin.key_partitions
    else:
        assert ext.key_partitions is compiled.key_partitions


@pytest.mark.parametrize("name", ["murmur2", "key_partitions"])
def test_twins_have_the_same_signatures(name: str) -> None:
    def shape(f: Any) -> list[tuple[str, Any]]:
        return [(p.name, p.kind) for p in inspect.signature(f).parameters.values()]

    assert shape(getattr(compiled, name)) == shape(getattr(twin, name))
