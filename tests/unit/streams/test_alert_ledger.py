"""The alert ledger's rules: continue what another owner raised, drop what a retired version says,
resolve what a new owner did not confirm. A stand-in producer records what would be written; the
real topics are exercised by ``tests/integration/test_open_alerts.py``."""

from __future__ import annotations

from typing import Any, cast

import orjson

from driftline.streams.alert_ledger import RETIRED, AlertLedger
from driftline.streams.settings import Settings


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    async def send_and_wait(self, topic: str, value: bytes | None, key: bytes) -> None:
        self.sent.append((topic, value, key))


def ledger() -> tuple[AlertLedger, RecordingProducer]:
    book = AlertLedger(Settings(), source="test")
    producer = RecordingProducer()
    book._producer = cast(Any, producer)
    return book, producer


def data(key: str = "m:1:data_drift:histogram.psi", version: int = 1) -> dict[str, Any]:
    return {"dedup_key": key, "model": "m", "version": version, "kind": "data_drift", "summary": "s",
            "severity": "warning"}


def alert_types(producer: RecordingProducer) -> list[str]:
    return [orjson.loads(value)["type"].rsplit(".", 1)[-1]
            for topic, value, _ in producer.sent if topic == "alerts" and value is not None]


def states(producer: RecordingProducer) -> list[str | None]:
    return [None if value is None else orjson.loads(value)["status"]
            for topic, value, _ in producer.sent if topic == "driftline-alert-state"]


async def test_a_raise_of_an_alert_another_owner_raised_is_its_continuation() -> None:
    book, producer = ledger()
    assert await book.publish("raised", data()) == "raised"
    assert await book.publish("raised", data()) == "updated"  # the new owner's first word
    assert await book.publish("resolved", data()) == "resolved"
    assert await book.publish("raised", data()) == "raised"  # a new incident after the resolution
    assert alert_types(producer) == ["raised", "updated", "resolved", "raised"]
    assert states(producer) == ["raised", "updated", None, "raised"]  # resolved is a tombstone


async def test_what_a_retired_version_says_is_dropped_and_its_reinstatement_lifts_that() -> None:
    book, producer = ledger()
    await book.publish("raised", data())
    book._consumer = cast(Any, None)
    book.sync = _no_sync  # type: ignore[method-assign]
    assert await book.resolve_version("m", 1, "v1 retired: v2 promoted") == 1
    assert book.entries[data()["dedup_key"]]["status"] == RETIRED
    resolved = orjson.loads(producer.sent[-2][1] or b"")
    assert resolved["data"]["reason"] == "v1 retired: v2 promoted" and resolved["data"]["severity"] == "info"
    assert await book.publish("updated", data()) is None
    await book.reinstate_version("m", 1)
    assert await book.publish("raised", data()) == "raised"


def test_unconfirmed_lists_open_alerts_of_that_version_only() -> None:
    book, _ = ledger()
    book.entries = {"a": data("a") | {"status": "raised"}, "b": data("b") | {"status": "updated"},
                    "c": data("c", version=2) | {"status": "raised"}, "d": data("d") | {"status": RETIRED}}
    assert [d["dedup_key"] for d in book.unconfirmed("m", 1, confirmed={"b"})] == ["a"]


async def _no_sync() -> None:
    """The records are already in memory: nothing to read."""
