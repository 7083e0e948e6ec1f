"""A held pacer (``streams.bench.pacer --held``) sends only while it is let go, at the offered rate.

The latency rounds offer each load in slices, the targets taking turns; between two of one
target's slices its pacer is held for as long as the other targets' slices take. A pacer whose
schedule ran on through the hold would send the hold's worth of events at once when let go again.
Here the events' own ``ts`` (taken when each was queued) must all fall inside the slices, and the
slice after a long hold must carry one slice's worth of events, not the hold's.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from driftline.streams.bench.children import Children
from driftline.streams.bench.latency import LoadPlan
from driftline.streams.bench.latency_slices import HeldPacer
from driftline.streams.broker import create_topics
from tests.integration.support import TopicReader, isolated_settings

RATE = 400.0
SLICE_S = 0.5
#: The other targets' turns between two slices of one pacer: the backlog a running clock would owe.
HOLD_S = 1.5


@pytest.mark.integration
async def test_a_held_pacer_sends_only_in_its_slices_and_at_the_offered_rate(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    settings = isolated_settings(kafka_bootstrap, topic_prefix, tmp_path, topic_partitions=2)
    await create_topics(kafka_bootstrap, {settings.topic_events: 2})
    slices: list[tuple[float, float]] = []  # wall-clock ms from before the go to after the hold
    with Children(tmp_path) as children:
        pacer = await HeldPacer.start(children, settings, LoadPlan(0, RATE, 60.0, None), work_dir=tmp_path,
                                      seed=0, label="held")
        for _ in range(3):
            went_at = time.time() * 1000
            await pacer.run_slice(SLICE_S)
            slices.append((went_at, time.time() * 1000))
            await asyncio.sleep(HOLD_S)  # the other targets' turns: the condition under test
        sent, seconds = pacer.finish()
    async with TopicReader(kafka_bootstrap, (settings.topic_events,)) as reader:
        await reader.read_until(lambda r: r.count() >= sent, timeout=30)
    stamps = [float(value["ts"]) for _, value in reader.records[settings.topic_events]]
    assert len(stamps) == sent
    per_slice = [sum(start <= ts <= end for ts in stamps) for start, end in slices]
    assert sum(per_slice) == sent, f"{sent - sum(per_slice)} events were queued outside the slices"
    # A slice carries at most RATE times its own wall time (plus a tick's rounding), whatever delays
    # stretched it: a pacer owing the hold would send RATE * HOLD_S = 600 more at its go.
    for n, (start, end) in zip(per_slice, slices, strict=True):
        assert 0.5 * RATE * SLICE_S <= n <= RATE * (end - start) / 1000 + 5, (per_slice, slices)
    assert seconds == pytest.approx(3 * SLICE_S, abs=0.3)  # the time it was let go, not the wall clock


@pytest.mark.integration
async def test_a_held_pacer_that_sent_its_whole_load_still_answers_holds_until_stopped(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    # Its load (50 events at 400/s) is sent within the first slice; the harness keeps signalling it.
    # A pacer that left on its own would be killed by the next SIGUSR1 once its loop had closed.
    settings = isolated_settings(kafka_bootstrap, topic_prefix, tmp_path, topic_partitions=2)
    await create_topics(kafka_bootstrap, {settings.topic_events: 2})
    with Children(tmp_path) as children:
        pacer = await HeldPacer.start(children, settings, LoadPlan(0, RATE, 60.0, 50), work_dir=tmp_path,
                                      seed=0, label="done")
        for _ in range(3):
            await pacer.run_slice(SLICE_S)
        assert pacer.child.exit_code() is None
        sent, seconds = pacer.finish()
    assert sent == 50 and pacer.child.exit_code() == 0
    assert seconds < SLICE_S  # the time it paced, not the slices it waited through with nothing to send
