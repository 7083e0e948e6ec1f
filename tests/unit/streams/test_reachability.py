"""An outage is said once when it starts and once when it ends, in the log, /readyz and a gauge."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from driftline.streams.health import Readiness
from driftline.streams.reachability import Reachability


def gauge() -> float | None:
    return REGISTRY.get_sample_value("driftline_broker_reachable")


def test_each_change_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    readiness = Readiness()
    for condition in (Readiness.MODELS, Readiness.PARTITIONS):
        readiness.set(condition)
    state = Reachability("127.0.0.1:9092", readiness)
    assert readiness.missing() == [] and gauge() == 1

    outages = REGISTRY.get_sample_value("driftline_broker_outages_total") or 0.0
    with caplog.at_level(logging.WARNING, logger="driftline.streams.reachability"):
        for _ in range(50):
            state.failed("Connection refused")
        assert readiness.missing() == [Readiness.BROKER] and gauge() == 0 and not state.reachable
        for _ in range(50):
            state.answered()
    assert readiness.missing() == [] and gauge() == 1 and state.reachable
    assert REGISTRY.get_sample_value("driftline_broker_outages_total") == outages + 1
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "unreachable (Connection refused)" in lines[0] and "nothing is lost" in lines[0]
    assert "answers again after" in lines[1]
