"""Offsets to commit after a batch: per partition, the one after the last record processed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiokafka import TopicPartition


def next_offsets(records: Iterable[Any]) -> dict[TopicPartition, int]:
    """Next offset to read per partition of ``records`` (anything with topic/partition/offset)."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    return offsets
