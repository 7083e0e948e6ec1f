"""Topic layout: which topics driftline needs, created up front, and a reader for humans.

Events, predictions, labels and training examples share one partition count because the label
join relies on a prediction and its label landing on the same partition (same key, same count).
``model-updates`` is compacted: the latest record per model is the registry's current state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer

from driftline.streams.broker.admin import create_topics
from driftline.streams.connection import client_options, running
from driftline.streams.settings import Settings

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000


def topic_layout(settings: Settings) -> dict[str, tuple[int, dict[str, str]]]:
    """Topic name → (partitions, topic configs)."""
    keyed = settings.topic_partitions
    return {
        settings.topic_events: (keyed, {}),
        settings.topic_predictions: (keyed, {}),
        settings.topic_shadow_predictions: (keyed, {}),
        settings.topic_labels: (keyed, {}),
        settings.topic_training_examples: (keyed, {}),
        settings.topic_deadletter: (keyed, {}),
        settings.topic_alerts: (1, {}),
        settings.topic_metrics: (1, {}),
        settings.topic_model_updates: (1, {"cleanup.policy": "compact"}),
        settings.topic_alert_state: (1, {"cleanup.policy": "compact"}),
        # Keyed by model: partitions spread models (not events) over the monitor agents.
        settings.topic_drift_counts: (keyed, {"retention.ms": str(DAY_MS)}),
        settings.topic_outcomes: (keyed, {"retention.ms": str(DAY_MS)}),
        # Co-partitioned with predictions: the join reads partition p of all three together.
        settings.topic_labels_by_id: (keyed, {}),
        settings.topic_join_changelog: (keyed, changelog_config(settings.label_ttl_ms)),
    }


def changelog_config(label_ttl_ms: int) -> dict[str, str]:
    """Compacted, so the latest state of every id survives; deleted by age as well, because every
    id ends as a "done" marker that is never overwritten. A pending entry lives at most one TTL
    and its done marker another, so two TTLs and an hour of slack lose nothing still needed."""
    return {"cleanup.policy": "compact,delete", "retention.ms": str(2 * label_ttl_ms + 3600 * 1000)}


async def ensure_topics(settings: Settings) -> None:
    """Create the topics that do not exist yet and wait until every partition has a leader."""
    layout = topic_layout(settings)
    await create_topics(settings.broker, {name: partitions for name, (partitions, _) in layout.items()},
                        configs={name: configs for name, (_, configs) in layout.items()},
                        connection=client_options(settings))


class UnknownTopic(Exception):  # noqa: N818 - reads as the condition it reports
    """The topic asked for does not exist on the cluster."""


async def tail(settings: Settings, topic: str, *, count: int, timeout: float,
               out: Callable[[str], None]) -> int:
    """Print up to ``count`` records of ``topic`` from the beginning, within ``timeout`` seconds.

    Raises `UnknownTopic` when the cluster has no such topic (rather than waiting out ``timeout``
    for records that cannot come).
    """
    consumer = AIOKafkaConsumer(**client_options(settings), auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    seen, deadline = 0, time.monotonic() + timeout
    async with running(consumer):
        topics = await consumer.topics()
        if topic not in topics:
            shown = ", ".join(sorted(t for t in topics if not t.startswith("__"))) or "none"
            raise UnknownTopic(f"no topic {topic!r} at {settings.broker}; its topics: {shown}")
        consumer.subscribe([topic])
        while seen < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=count - seen)
            for record in (r for rs in batches.values() for r in rs):
                out(record.value.decode("utf-8", "replace") if record.value else "")
                seen += 1
    if not seen:
        log.warning("no records on %s within %.0fs", topic, timeout)
    return seen
