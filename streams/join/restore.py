"""Rebuilding a partition's join entries from the changelog when a worker takes the partition.

The store's checkpoint says how far the local RocksDB already reflects the changelog; only the
rest is read. A checkpoint the changelog no longer reaches (its older records were deleted by age
while another worker held the partition) means the local entries may be stale: they are wiped and
the partition is rebuilt from the changelog's start. Records are read ``read_committed``, so what
an aborted transaction wrote is never restored.
"""

from __future__ import annotations

import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from driftline.streams.join.store import JoinStore

log = logging.getLogger(__name__)

_CHUNK = 50_000


async def restore_partitions(consumer: AIOKafkaConsumer, store: JoinStore, topic: str,
                             partitions: list[int]) -> None:
    """Bring the store up to the changelog's end for ``partitions`` (the consumer has no group)."""
    if not partitions:
        return
    started = time.monotonic()
    tps = [TopicPartition(topic, p) for p in partitions]
    consumer.assign(tps)
    starts, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
    restored = 0
    for tp in tps:
        state = store.open_partition(tp.partition)
        if state.offset < starts[tp]:
            if state.offset:
                log.warning("changelog %s starts at %d, past our checkpoint %d: rebuilding it from scratch",
                            tp, starts[tp], state.offset)
            state = store.wipe(tp.partition)
        restored += await _replay(consumer, store, tp, max(state.offset, starts[tp]), ends[tp])
    consumer.assign([])
    log.info("join state of partitions %s restored: %d changelog records in %.1fs", partitions, restored,
             time.monotonic() - started)


async def _replay(consumer: AIOKafkaConsumer, store: JoinStore, tp: TopicPartition, start: int,
                  end: int) -> int:
    if start >= end:
        return 0
    consumer.seek(tp, start)
    replayed = 0
    while await consumer.position(tp) < end:
        batches = await consumer.getmany(tp, timeout_ms=1000, max_records=_CHUNK)
        records = [(r.key, r.value) for r in batches.get(tp, []) if r.offset < end and r.key is not None]
        store.restore(tp.partition, records, await consumer.position(tp))
        replayed += len(records)
    return replayed
