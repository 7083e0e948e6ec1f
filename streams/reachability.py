"""Whether the Kafka cluster answers, said once per change: in the log, in ``/readyz`` and in a gauge.

aiokafka's clients ride out an outage on their own (they reconnect and retry), but they say so
with an error line per retry, thousands a second with a backlog, and never in one line that a
person can act on. A worker probes the cluster with a metadata request every
``PROBE_INTERVAL_S``; the first failure logs one warning (the cluster is unreachable, scoring
pauses, nothing is lost), marks the worker not ready and sets ``driftline_broker_reachable`` to 0;
the first success after that logs how long it lasted and turns all three back.

The probe only reports; it never drives recovery. The agents' own clients resume by themselves,
and a batch whose outputs the broker refused for good is retried by its agent (see ``streams.app``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge

from driftline.streams.connection import client_options
from driftline.streams.health import READINESS, Readiness
from driftline.streams.settings import Settings

log = logging.getLogger(__name__)

#: Seconds between two probes, and longest wait for one answer (a frozen broker accepts
#: connections but never answers: that is an outage too).
PROBE_INTERVAL_S = 2.0
PROBE_TIMEOUT_S = 5.0

BROKER_REACHABLE = Gauge("driftline_broker_reachable",
                         "1 while the Kafka cluster answers this worker's metadata probe, else 0")
BROKER_OUTAGES = Counter("driftline_broker_outages_total",
                         "Times this worker lost the Kafka cluster (probe failures after a success)")


class Reachability:
    """Tracks one cluster's reachability from probe results and reports each change once."""

    def __init__(self, where: str, readiness: Readiness = READINESS) -> None:
        self.where = where
        self.readiness = readiness
        self._lost_at: float | None = None
        readiness.set(Readiness.BROKER)
        BROKER_REACHABLE.set(1)

    @property
    def reachable(self) -> bool:
        return self._lost_at is None

    def failed(self, cause: str) -> None:
        if self._lost_at is not None:
            return
        self._lost_at = time.monotonic()
        BROKER_OUTAGES.inc()
        BROKER_REACHABLE.set(0)
        self.readiness.set(Readiness.BROKER, False)
        log.warning("Kafka at %s is unreachable (%s): scoring pauses and resumes when it answers; "
                    "nothing is lost (outputs not acknowledged are produced again)", self.where, cause)

    def answered(self) -> None:
        if self._lost_at is None:
            return
        lasted, self._lost_at = time.monotonic() - self._lost_at, None
        BROKER_REACHABLE.set(1)
        self.readiness.set(Readiness.BROKER)
        log.warning("Kafka at %s answers again after %.0f s unreachable: resuming", self.where, lasted)


class ReachabilityProbe:
    """Asks the cluster for metadata every ``interval_s`` and feeds the answers to `Reachability`."""

    def __init__(self, settings: Settings, *, interval_s: float = PROBE_INTERVAL_S,
                 timeout_s: float = PROBE_TIMEOUT_S) -> None:
        self.settings = settings
        self.state = Reachability(settings.broker)
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._client: AIOKafkaClient | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create the client (aiokafka binds it to the running loop) and start probing."""
        settings = self.settings
        self._client = AIOKafkaClient(**client_options(settings), client_id=f"{settings.app_id}-probe")
        await self._client.bootstrap()
        self._task = asyncio.create_task(self._probe_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.close()

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)  # a period, not synchronisation
            await self.probe()

    async def probe(self) -> None:
        assert self._client is not None, "start() the probe first"
        try:
            await asyncio.wait_for(self._client.fetch_all_metadata(), self.timeout_s)
        except (KafkaError, OSError, TimeoutError) as exc:
            self.state.failed(_describe(exc))
        else:
            self.state.answered()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer to a metadata request"
    return str(exc) or type(exc).__name__
