"""Acceptance: a stationary stream of 1,000,000 events raises at most one alert, all detectors together.

The demo model's 20 features and score, the acceptance configuration (`conftest.ACCEPTANCE`):
histogram PSI on every row, missing-rate and out-of-range tests on every row, location CUSUMs on
every numeric row and the score (heavy-tailed and count features included), ADWIN on the score.
Columns are generated and scored 2000 events at a time (the costly part) and fed to the monitor as
bin codes of 100 events. The ten-million-event figure is `python -m driftline.detectors.bench_monitor
detection --stationary 10000000` (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import time

from driftline.models.synthetic import SyntheticStream

EVENTS = 1_000_000
CHUNK = 2000
BATCH = 100


def test_one_million_stationary_events_raise_at_most_one_alert(harness: object) -> None:
    h = harness
    h.monitor.reset()  # type: ignore[attr-defined]
    stream = SyntheticStream(seed=424_242)
    raised = []
    began = time.perf_counter()
    for _ in range(EVENTS // CHUNK):
        columns = stream.columns(CHUNK)
        scores = h.score(columns)  # type: ignore[attr-defined]
        for i in range(0, CHUNK, BATCH):
            batch = {name: column[i : i + BATCH] for name, column in columns.items()}
            codes = h.binner.bin_codes(batch, scores[i : i + BATCH])  # type: ignore[attr-defined]
            events = h.monitor.update_codes(codes, scores[i : i + BATCH])  # type: ignore[attr-defined]
            raised += [event.summary for event in events if event.type == "raised"]
    elapsed = time.perf_counter() - began
    snapshot = h.monitor.snapshot()  # type: ignore[attr-defined]
    print(f"{EVENTS} stationary events in {elapsed:.1f} s: {len(raised)} alerts {raised}")
    assert snapshot["events"] == EVENTS
    assert snapshot["evaluations"] == EVENTS // BATCH - 4  # one per sub-window once the ring is full
    assert len(raised) <= 1
