"""The batch-cost tool prints one row per size with wall time and the scoring thread's CPU."""

from __future__ import annotations

import pytest

from driftline.streams.bench import batch_cost


def test_one_row_per_size_with_the_wall_time_and_the_thread_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    assert batch_cost.main(["--sizes", "1,3", "--events", "30", "--label-join", "off", "--shadows", "1"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert "CPU µs/event" in header and "label join off, 1 shadows" in header
    assert [int(row.split()[0]) for row in rows] == [1, 3]
    for row in rows:
        size, per_batch, per_event, cpu_per_event = (float(part) for part in row.split())
        assert per_batch > 0 and cpu_per_event > 0
        assert per_event == pytest.approx(per_batch / size, abs=0.5 / size + 0.05)  # both rounded
