from __future__ import annotations

from datetime import UTC, datetime

import orjson

from driftline.streams.alerts import alert_cloudevent


def test_alert_is_a_cloudevent_keyed_by_its_dedup_key() -> None:
    data = {"dedup_key": "m/1/data_drift", "model": "m", "version": 1, "kind": "data_drift"}
    key, value = alert_cloudevent("raised", data, source="driftline/test/monitor",
                                  now=datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC))
    envelope = orjson.loads(value)
    assert key == b"m/1/data_drift"
    assert envelope["specversion"] == "1.0" and envelope["type"] == "io.driftline.alert.raised"
    assert envelope["time"] == "2026-01-02T03:04:05.600Z" and envelope["subject"] == "m/1"
    assert envelope["source"] == "driftline/test/monitor" and envelope["id"]
    assert envelope["data"] == {**data, "status": "raised"}


def test_every_alert_event_has_its_own_id() -> None:
    data = {"dedup_key": "k", "model": "m", "version": 1}
    first = orjson.loads(alert_cloudevent("raised", data, source="s")[1])
    second = orjson.loads(alert_cloudevent("resolved", data, source="s")[1])
    assert first["id"] != second["id"] and second["type"].endswith("resolved")
