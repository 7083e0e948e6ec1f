"""The forward agent: the alerts topic, in partition order, to every receiver, at least once.

Each record is delivered to each receiver until that receiver acknowledges it (2xx) or refuses it
for good (a 4xx other than 408 and 429: one dead letter per refusal, with the receiver's answer);
then, and only then, its offset is committed. While a receiver does not answer, the record is
retried with backoff (0.5 s doubling up to ``alert_retry_max_ms``) and nothing behind it is sent,
so the alerts of one dedup key (one partition: the dedup key is the record key) reach every
receiver in the order the monitor wrote them; a receiver that acknowledged is not sent it again.
Meanwhile the consumer keeps polling with its partitions paused, so it keeps its group membership
through an outage of any length, and stops retrying a record whose partition moved to another
forwarder (which resumes from the committed offset).

Records that are not alert CloudEvents are dead-lettered (``not_an_alert``) and skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from prometheus_client import Counter

from driftline.models.validation import Invalid
from driftline.streams.alert_ledger import AlertLedger
from driftline.streams.connection import client_options
from driftline.streams.forwarding.alertmanager import AlertmanagerReceiver
from driftline.streams.forwarding.delivery import Answer, ForwardedAlert, Receiver, parse_alert
from driftline.streams.health import READINESS, Readiness
from driftline.streams.outputs import dead_letter
from driftline.streams.polled_agent import Poll, PolledAgent
from driftline.streams.settings import Settings

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.5

FORWARDED = Counter("driftline_alerts_forwarded_total",
                    "Alert deliveries by receiver and outcome: delivered, refused (dead-lettered), "
                    "retry (an attempt that got no usable answer)", ["receiver", "outcome"])


class _Readiness(ConsumerRebalanceListener):  # type: ignore[misc]
    """/readyz: a forwarder is ready while it holds alerts partitions."""

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        READINESS.set(Readiness.ALERTS, False)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        READINESS.set(Readiness.ALERTS, bool(list(assigned)))


class ForwardAgent(PolledAgent):
    """Follows the alerts topic in the ``alert_forward_group`` group until stopped."""

    def __init__(self, settings: Settings, receivers: list[Receiver]) -> None:
        super().__init__(settings)
        self.receivers = receivers

    async def start(self) -> None:
        settings = self.settings
        await self._take_open_alerts()
        client_id = f"{settings.app_id}-alerts-forward"
        await self._open(
            AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True,
                             client_id=client_id),
            AIOKafkaConsumer(
                **client_options(settings), group_id=settings.alert_forward_group, client_id=client_id,
                enable_auto_commit=False, auto_offset_reset="earliest",
                session_timeout_ms=settings.session_timeout_ms,
                heartbeat_interval_ms=settings.heartbeat_interval_ms),
            settings.topic_alerts, _Readiness())

    async def _cycle(self, batches: Poll) -> None:
        for tp, records in batches.items():
            for record in records:
                # Stopping, or the partition moved: the next owner resumes from the committed offset.
                if self._stopping.is_set() or not await self._forward(tp, record):
                    break
        await self._refresh()

    async def _forward(self, tp: TopicPartition, record: ConsumerRecord) -> bool:
        """Deliver one record to every receiver, then commit it; False if its partition was revoked."""
        alert = parse_alert(record.value)
        if alert is None:
            await self._dead_letter(record, Invalid("not_an_alert", "not an alert CloudEvent (JSON object "
                                                    "with data.dedup_key, kind and status)"))
        else:
            pending, backoff = list(self.receivers), RETRY_FIRST_S
            while pending := await self._attempt(pending, alert, record):
                if not await self._pause(tp, backoff):
                    return False
                backoff = min(backoff * 2, self.settings.alert_retry_max_ms / 1000)
        return await self.commit({tp: record.offset + 1})  # False: a rebalance came first

    async def _attempt(self, receivers: list[Receiver], alert: ForwardedAlert,
                       record: ConsumerRecord) -> list[Receiver]:
        """Offer ``alert`` to ``receivers``; returns those to try again."""
        again = []
        for receiver in receivers:
            answer = await receiver.deliver(alert)
            FORWARDED.labels(receiver.name, answer.outcome).inc()
            if answer.outcome == "retry":
                log.warning("%s did not take %s %s (%s); retrying, alerts behind it wait", receiver.name,
                            alert.data.get("status"), alert.dedup_key, answer.describe())
                again.append(receiver)
            elif answer.outcome == "refused":
                log.error("%s refused %s %s for good (%s): dead-lettered", receiver.name,
                          alert.data.get("status"), alert.dedup_key, answer.describe())
                await self._dead_letter(record, _refusal(receiver, answer))
        return again

    async def _pause(self, tp: TopicPartition, seconds: float) -> bool:
        """Wait ``seconds`` while polling with every partition paused (the group keeps us as a live
        member); False once ``tp`` is no longer ours."""
        consumer = self.consumer
        deadline = time.monotonic() + seconds
        while ((left := deadline - time.monotonic()) > 0 and tp in consumer.assignment()
               and not self._stopping.is_set()):
            consumer.pause(*consumer.assignment())
            # Polls no longer than the loop's, so that a stop waits no longer than it does there.
            poll_ms = min(int(left * 1000) + 1, self.poll_ms)
            for other, records in (await consumer.getmany(timeout_ms=poll_ms)).items():
                consumer.seek(other, records[0].offset)  # newly assigned while paused: read it later
            await self._refresh()
        consumer.resume(*consumer.assignment())
        return tp in consumer.assignment() and not self._stopping.is_set()

    async def _refresh(self) -> None:
        for receiver in self.receivers:
            if isinstance(receiver, AlertmanagerReceiver):
                await receiver.refresh_if_due()

    async def _dead_letter(self, record: ConsumerRecord, reason: Invalid) -> None:
        letter = dead_letter(self.settings.topic_deadletter, record, reason,
                             payload_max_bytes=self.settings.deadletter_payload_max_bytes,
                             now_ms=time.time() * 1000)
        await self.producer.send_and_wait(letter.topic, letter.value, key=letter.key)

    async def _take_open_alerts(self) -> None:
        """Alertmanager receivers learn the alerts still open (the alert-state topic), so they keep
        re-sending those across a restart of the forwarder."""
        managers = [r for r in self.receivers if isinstance(r, AlertmanagerReceiver) and not r.open.by_key]
        if not managers:
            return
        source = f"driftline/{self.settings.app_id}/alerts-forward"
        async with AlertLedger(self.settings, source=source) as ledger:
            now = datetime.now(UTC)
            for key, data in ledger.entries.items():
                if ledger.is_open(key):
                    for manager in managers:
                        manager.open.seed(data, now)


def _refusal(receiver: Receiver, answer: Answer) -> Invalid:
    return Invalid("receiver_refused", f"{receiver.name} refused the alert: {answer.describe()}",
                   receiver.name)
