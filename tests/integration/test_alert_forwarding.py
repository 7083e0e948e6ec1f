"""``driftline alerts forward`` on a real broker: a real Alertmanager and a local webhook receiver.

Alertmanager must see a driftline drift alert as Prometheus's own: active with the right labels,
one alert per dedup key (also across an Alertmanager restart in mid-drift), resolved by the
``resolved`` record. A webhook must get every record, signed, in order per dedup key, once per
delivery attempt, including after a spell of 500s; a refusal must become a dead letter.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftline.models.demo import DEMO_MODEL_NAME
from driftline.models.synthetic import Drift, MeanShift, SyntheticStream
from driftline.streams.alerts import alert_cloudevent
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics
from tests.integration.alertmanager_support import AlertmanagerServer
from tests.integration.receiver_support import Receiver, Request
from tests.integration.support import (
    TopicReader,
    WorkerProcess,
    committed_total,
    isolated_settings,
    send_all,
    wait_for_group,
)

DRIFTING = "customer_age_years"
CHUNK = 200
SECRET = "test-signing-key"


class Traffic:
    """Events in chunks, drifted or not, with ids that never repeat."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sent = 0
        self.drifted = SyntheticStream(seed=61, drift=Drift(start=0, mean_shift=MeanShift(DRIFTING, 3.0)))
        self.normal = SyntheticStream(seed=62)

    async def send(self, *, drifted: bool) -> None:
        rows = (self.drifted if drifted else self.normal).rows(CHUNK)
        records = [(f"f{self.sent + i}".encode(), orjson.dumps({"id": f"f{self.sent + i}", "features": row}))
                   for i, row in enumerate(rows)]
        self.sent += len(records)
        await send_all(self.settings.broker, self.settings.topic_events, records)

    async def until(self, done: Callable[[], bool], *, drifted: bool, alive: Callable[[], None],
                    reader: TopicReader, timeout: float = 120) -> None:
        """Send a chunk and read the alerts topic, until ``done`` (each chunk is traffic, not a wait)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not done():
            alive()
            assert asyncio.get_running_loop().time() < deadline, f"not within {timeout}s"
            await self.send(drifted=drifted)
            await reader.poll(300)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for process in started:
        process.stop()


def launch(settings: Settings, tmp_path: Path, processes: list[WorkerProcess],
           *command: str) -> WorkerProcess:
    process = WorkerProcess(settings, tmp_path / f"{'-'.join(command)}.log", command=command)
    process.start()
    processes.append(process)
    return process


PSI = "histogram.psi"


def drift_records(reader: TopicReader, settings: Settings) -> list[dict[str, Any]]:
    return [value["data"] | {"time": value["time"]}  # type: ignore[operator]
            for _, value in reader.records[settings.topic_alerts]
            if value["data"]["kind"] == "data_drift" and value["data"]["detector"] == PSI]  # type: ignore[index]


@pytest.fixture
def notifications() -> Iterator[Receiver]:
    """Where the test's Alertmanager sends its notifications."""
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def manager(tmp_path: Path, notifications: Receiver) -> Iterator[AlertmanagerServer]:
    server = AlertmanagerServer(tmp_path / "alertmanager", notify_url=f"{notifications.url}/am")
    server.data_dir.mkdir()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, demo_registry: Path) -> Settings:
    """A worker's settings (drift on, no label join), and a forwarder group of the test's own."""
    return isolated_settings(kafka_bootstrap, topic_prefix, demo_registry, label_join=False,
                             drift_flush_ms=100, metrics_snapshot_ms=1000, alert_retry_max_ms=1000,
                             alert_forward_group=f"{topic_prefix}-forward")


async def test_alertmanager_shows_the_drift_alert_across_its_restart_and_resolves_it(
        settings: Settings, tmp_path: Path, processes: list[WorkerProcess], manager: AlertmanagerServer,
        notifications: Receiver) -> None:
    # Re-sent every second (valid for four): Alertmanager has them back a second after a restart.
    settings = settings.with_overrides(alertmanager_url=manager.url, alertmanager_resend_ms=1000)
    await ensure_topics(settings)
    worker = launch(settings, tmp_path, processes, "worker")
    forwarder = launch(settings, tmp_path, processes, "alerts", "forward")

    def alive() -> None:
        worker.assert_alive()
        forwarder.assert_alive()

    await wait_for_group(settings.broker, f"{settings.group_id}-monitor", 1, timeout=90, alive=alive)
    await wait_for_group(settings.broker, settings.alert_forward_group, 1, timeout=90, alive=alive)
    # The shifted feature opens two data-drift streams (histogram.psi and cusum.location): follow one.
    drift = {"alertname": "DriftlineDataDrift", "model": DEMO_MODEL_NAME, "detector": PSI}
    seen_active: list[list[dict[str, Any]]] = []

    def active() -> bool:
        alerts = manager.alerts(**drift)
        seen_active.append(alerts)
        return bool(alerts)

    traffic = Traffic(settings)
    async with TopicReader(settings.broker, (settings.topic_alerts, settings.topic_deadletter)) as reader:
        await traffic.until(active, drifted=True, alive=alive, reader=reader)
        opened = seen_active[-1][0]
        await reader.read_until(lambda r: bool(drift_records(r, settings)), timeout=30, alive=alive)
        raised = drift_records(reader, settings)[0]
        assert raised["status"] == "raised"
        assert raised["variant"] is None  # the drift monitor judges a version, not a variant
        # The alert may have escalated (an ``updated`` record: warning to critical) before Alertmanager
        # was asked: its severity is one the records gave, its other labels are fixed.
        severities = {record["severity"] for record in drift_records(reader, settings)}
        assert opened["labels"].pop("severity") in severities
        assert opened["labels"] == {**drift, "version": "1", "feature": DRIFTING}
        assert opened["annotations"]["runbook_url"] == "docs/RUNBOOK.md#data-drift"
        assert opened["annotations"]["dedup_key"] == raised["dedup_key"]

        manager.stop()  # mid-drift: Alertmanager forgets every alert it held
        for _ in range(5):
            await traffic.send(drifted=True)
            await reader.poll(300)
        manager.start()  # same port and storage, no alerts
        await traffic.until(active, drifted=True, alive=alive, reader=reader)
        await traffic.until(lambda: not active() and _resolved(reader, settings), drifted=False, alive=alive,
                            reader=reader)
        await committed_all(settings, lambda: len(reader.records[settings.topic_alerts]), alive=alive,
                            step=lambda: reader.poll(200))
        records = drift_records(reader, settings)
        assert reader.records[settings.topic_deadletter] == []

    # One drift, one alert: never two active at once for its dedup key, before or after the restart.
    assert all(len(alerts) <= 1 for alerts in seen_active), [a for a in seen_active if len(a) > 1]
    assert {a["annotations"]["dedup_key"] for alerts in seen_active for a in alerts} == {raised["dedup_key"]}
    assert [r["status"] for r in records].count("resolved") == 1 and records[-1]["status"] == "resolved"
    # Alertmanager resolved it because of the resolved record: its last notification of the group
    # is "resolved", and the alert ended last (an escalation ends the alert under its old labels
    # earlier) ends at that record's time.
    def group_notices(receiver: Receiver) -> list[dict[str, Any]]:
        return [notice for notice in (r.json() for r in receiver.received("/am"))
                if notice["groupLabels"]["alertname"] == "DriftlineDataDrift"]

    notifications.wait_for(lambda r: bool(group_notices(r)) and group_notices(r)[-1]["status"] == "resolved",
                           timeout=30, alive=alive)
    last = group_notices(notifications)[-1]
    assert {a["labels"]["alertname"] for a in last["alerts"]} == {"DriftlineDataDrift"}
    followed = [a for a in last["alerts"] if a["labels"]["detector"] == PSI]
    # Alertmanager prints RFC 3339 with trailing zeros trimmed ("...21.77Z"): compare instants, to the
    # millisecond the forwarder sends.
    assert max(_instant(a["endsAt"]) for a in followed) == _instant(records[-1]["time"])


def _resolved(reader: TopicReader, settings: Settings) -> bool:
    records = drift_records(reader, settings)
    return bool(records) and records[-1]["status"] == "resolved"


async def committed_all(settings: Settings, count: Callable[[], int], *, alive: Callable[[], None],
                        step: Callable[[], Awaitable[None]], timeout: float = 30) -> None:
    """Wait until the forwarders committed ``count()`` records of the alerts topic (all there are);
    ``step`` reads on (a monitor may still be writing) or waits a moment."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (done := await committed_total(settings.broker, settings.alert_forward_group, settings.topic_alerts)
           ) != (total := count()):
        alive()
        assert asyncio.get_running_loop().time() < deadline, f"committed {done} of {total} within {timeout}s"
        await step()


KEYS = ("card-fraud:1:data_drift:histogram.psi", "card-fraud:1:prediction_drift:river.ADWIN",
        "churn:3:data_quality:missing_rate")
STATUSES = ("raised", "updated", "updated", "resolved")
FAILING = 5


def alert_records() -> list[tuple[bytes, bytes]]:
    """Every status of three alerts, interleaved as several monitors would write them."""
    records = []
    for step, status in enumerate(STATUSES):
        for key in KEYS:
            model, version, kind, detector = key.split(":")
            data = {"severity": "warning", "kind": kind, "model": model, "version": int(version),
                    "variant": "champion", "detector": detector, "feature": "amount", "statistic": "psi",
                    "value": 0.3 + step, "threshold": 0.2, "features": [], "window": {}, "dedup_key": key,
                    "summary": f"{status} {key}", "runbook": "docs/RUNBOOK.md#data-drift"}
            records.append(alert_cloudevent(status, data, source="driftline/test"))
    return records


async def test_a_webhook_gets_every_record_signed_in_order_after_a_spell_of_500s(
        settings: Settings, tmp_path: Path, processes: list[WorkerProcess]) -> None:
    alerts = alert_records()
    refused_id = orjson.loads(alerts[4][1])["id"]  # the first update of the second alert
    garbage = (b"junk", b"not an alert")

    def policy(seen: list[Request], path: str, body: bytes) -> int:
        if len(seen) < FAILING:
            return 500
        return 400 if orjson.loads(body)["id"] == refused_id else 200

    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(SECRET + "\n")
    with Receiver(policy) as webhook:
        settings = settings.with_overrides(alert_webhook_url=f"{webhook.url}/hook",
                                           alert_webhook_secret_file=str(secret_file))
        await ensure_topics(settings)
        forwarder = launch(settings, tmp_path, processes, "alerts", "forward")
        await wait_for_group(settings.broker, settings.alert_forward_group, 1, timeout=90,
                             alive=forwarder.assert_alive)
        records = [*alerts[:6], garbage, *alerts[6:]]
        await send_all(settings.broker, settings.topic_alerts, records)
        await committed_all(settings, lambda: len(records), alive=forwarder.assert_alive,
                            step=lambda: asyncio.sleep(0.2))  # polling a condition with a deadline
        async with TopicReader(settings.broker, (settings.topic_deadletter,)) as reader:
            await reader.read_until(lambda r: r.count() >= 2, timeout=30)
            await reader.poll(500)  # one more fetch: nothing else may be there
        requests = webhook.received()

    ids = [orjson.loads(value)["id"] for _, value in alerts]
    # Once per attempt: the first record five times refused with 500, then acknowledged; the rest once.
    assert len(requests) == len(alerts) + FAILING
    attempts = [orjson.loads(r.body)["id"] for r in requests]
    assert attempts == [ids[0]] * (FAILING + 1) + ids[1:]  # in topic order: in order per dedup key
    assert [r.status for r in requests] == [500] * FAILING + [200 if i != refused_id else 400 for i in ids]
    for request in requests:
        expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-Driftline-Signature"] == expected
        assert request.headers["Content-Type"] == "application/cloudevents+json; charset=utf-8"
    assert {r.body for r in requests} == {value for _, value in alerts}
    # One dead letter each (the dead-letter topic is partitioned by the original key: no order).
    letters = {letter["error"]["code"]: letter  # type: ignore[index]
               for _, letter in reader.records[settings.topic_deadletter]}
    assert len(reader.records[settings.topic_deadletter]) == 2
    assert sorted(letters) == ["not_an_alert", "receiver_refused"]
    assert letters["not_an_alert"]["payload"] == "not an alert"
    refusal = letters["receiver_refused"]
    assert refusal["error"]["field"] == "webhook"  # type: ignore[index]
    assert "HTTP 400: test receiver answers 400" in refusal["error"]["message"]  # type: ignore[index]
    assert orjson.loads(str(refusal["payload"]))["id"] == refused_id


def _instant(rfc3339: str) -> datetime:
    """An RFC 3339 time to the millisecond, however many fraction digits it was printed with."""
    when = datetime.fromisoformat(rfc3339)
    return when.replace(microsecond=when.microsecond // 1000 * 1000)
