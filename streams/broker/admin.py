"""Create topics on the local broker and wait until they can be used.

Why wait: the broker runs with ``auto.create.topics.enable=false``, so topics are made up front,
and a CreateTopics response only says the controller accepted them. Producing in the next
millisecond meets NotLeaderForPartition until every partition has a leader; waiting here keeps
those retries (and their error log lines) out of tests and worker start-up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaTimeoutError, TopicAlreadyExistsError, for_code

log = logging.getLogger(__name__)

_POLL_INTERVAL_S = 0.1


async def create_topics(
    bootstrap: str,
    topics: Mapping[str, int],
    *,
    timeout: float = 30.0,
    replication_factor: int = 1,
    configs: Mapping[str, Mapping[str, str]] | None = None,
    connection: Mapping[str, Any] | None = None,
) -> None:
    """Create ``{name: partitions}`` and return when every partition has a leader.

    A topic that already exists is left as it is (a warning is logged if its partition count
    differs). ``connection`` holds further client keywords (security) for a broker that needs
    them. Any other per-topic error is raised as aiokafka's error class for that code;
    ``KafkaTimeoutError`` if leaders do not appear within ``timeout`` seconds. ``configs`` maps
    a topic name to its topic-level configs (``cleanup.policy`` and the like).
    """
    if not topics:
        return
    admin = AIOKafkaAdminClient(**{**(connection or {}), "bootstrap_servers": bootstrap,
                                   "request_timeout_ms": int(timeout * 1000)})
    await admin.start()
    try:
        configs = configs or {}
        new = [NewTopic(name, partitions, replication_factor, topic_configs=dict(configs.get(name, {})))
               for name, partitions in topics.items()]
        response = await admin.create_topics(new, timeout_ms=int(timeout * 1000))
        _raise_topic_errors(response.topic_errors)
        await _await_leaders(admin, topics, time.monotonic() + timeout)
    finally:
        await admin.close()


def _raise_topic_errors(topic_errors: list[Any]) -> None:
    """Raise the first real error of a CreateTopics response; TopicAlreadyExists is not one."""
    for entry in topic_errors:
        topic, code = entry[0], entry[1]
        if code in (0, TopicAlreadyExistsError.errno):
            if code:
                log.debug("topic %s already exists", topic)
            continue
        message = entry[2] if len(entry) > 2 and entry[2] else ""
        raise for_code(code)(f"creating topic {topic!r}: {message}")


async def _await_leaders(admin: AIOKafkaAdminClient, topics: Mapping[str, int], deadline: float) -> None:
    """Poll metadata until each topic reports all its partitions with a leader."""
    pending = dict(topics)
    while True:
        described = await admin.describe_topics(list(pending))
        for topic in described:
            if _is_ready(topic, pending[topic["topic"]]):
                del pending[topic["topic"]]
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise KafkaTimeoutError(f"topics without leaders: {sorted(pending)}")
        await asyncio.sleep(_POLL_INTERVAL_S)


def _is_ready(topic: dict[str, Any], wanted: int) -> bool:
    """All partitions have a leader; a pre-existing topic of another size is accepted (logged)."""
    partitions = topic.get("partitions") or []
    if topic.get("error_code", 0) != 0 or not partitions:
        return False
    if any(p.get("leader", -1) < 0 or p.get("error_code", 0) != 0 for p in partitions):
        return False
    if len(partitions) != wanted:
        log.warning("topic %s exists with %d partitions, not the %d asked for",
                    topic["topic"], len(partitions), wanted)
    return True
