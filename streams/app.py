"""The Faust application every worker runs, and the services it hosts.

Faust settings are chosen for a worker that joins and rebalances in seconds rather than minutes
(shared/KAFKA-AND-FAUST.md): short sessions, no leader topic, no standby tables, producer linger
on. The batch agents (scoring, the label join, performance) are hosted as one service of the app;
``streams.score_agent`` says why they are not Faust agents.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import Any, Protocol, cast

import faust
import mode

from streams.connection import faust_credentials
from streams.drift_outbox import DriftOutbox
from streams.health import READINESS, serve_http
from streams.join.agent import JoinAgent
from streams.join.slots import Slot
from streams.model_updates import ModelUpdatesReader
from streams.monitor_agent import register_monitor_agent
from streams.performance_agent import PerformanceAgent
from streams.score_agent import ScoreAgent
from streams.scoring import BatchScorer, ServedModel
from streams.serving import CannotServe
from streams.settings import Settings

log = logging.getLogger(__name__)


class BatchAgent(Protocol):
    """An agent that reads in batches with its own clients: the score and join agents."""

    async def start(self) -> None: ...
    async def run(self) -> None: ...
    async def stop(self) -> None: ...


class BatchAgentsService(mode.Service):
    """Starts the batch agents with the app and stops them before the app's producer goes."""

    def __init__(self, agents: list[BatchAgent], updates: ModelUpdatesReader, **kwargs: Any) -> None:
        self.agents = agents
        self.updates = updates
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        await self.updates.start()
        for agent in self.agents:
            await agent.start()
        # Faust and the clients built their long-lived objects after the worker's first freeze;
        # freeze again so full collections during traffic only scan what traffic allocates.
        gc.collect()
        gc.freeze()
        for agent in self.agents:
            self.add_future(self._run(agent))

    async def _run(self, agent: BatchAgent) -> None:
        # Bad records never get here (they become dead letters); what does is the broker refusing
        # our outputs or commits for good. Stopping the worker then is the safe move: nothing was
        # committed past the last acknowledged batch, so a restart resumes without loss.
        try:
            await agent.run()
        except Exception as exc:
            log.critical("the %s failed; stopping the worker: %r", type(agent).__name__, exc)
            await self.crash(exc)

    async def on_stop(self) -> None:
        for agent in reversed(self.agents):
            await agent.stop()
        await self.updates.stop()


def build_scorer(settings: Settings, served: dict[str, ServedModel]) -> BatchScorer:
    default = settings.default_model or (next(iter(served)) if len(served) == 1 else None)
    if default and default not in served:
        raise CannotServe(f"default_model {default!r} is not among the served models {sorted(served)}")
    drift = DriftOutbox(f"{settings.app_id}-{os.getpid()}", settings.drift_flush_ms / 1000,
                        score_chunk=settings.drift_score_chunk) if settings.monitors else None
    return BatchScorer(served, default_model=default, predictions_topic=settings.topic_predictions,
                       deadletter_topic=settings.topic_deadletter, max_event_bytes=settings.max_event_bytes,
                       deadletter_payload_max_bytes=settings.deadletter_payload_max_bytes, drift=drift,
                       echo_features=settings.label_join)


def create_app(settings: Settings, served: dict[str, ServedModel], slot: Slot) -> faust.App:
    app = faust.App(
        settings.app_id,
        datadir=str(slot.path / "faust"),
        broker=f"kafka://{settings.broker}",
        broker_credentials=faust_credentials(settings),
        store="memory://",
        autodiscover=False,
        web_enabled=False,
        topic_disable_leader=True,
        topic_replication_factor=1,
        table_standby_replicas=0,
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.heartbeat_interval_ms / 1000,
        producer_linger=settings.producer_linger_ms / 1000,
        producer_acks=-1,
        stream_wait_empty=False,
    )
    serve_http(settings.metrics_host, settings.metrics_port)
    READINESS.set(READINESS.MODELS)  # create_app is given loaded, verified models
    scorer = build_scorer(settings, served)
    register_monitor_agent(app, settings,
                           [(m.name, m.version) for m in served.values()] if settings.monitors else [])
    agents: list[BatchAgent] = [ScoreAgent(settings, scorer)]
    if settings.label_join:
        agents += [JoinAgent(settings, slot), PerformanceAgent(settings)]
    service = BatchAgentsService(agents, ModelUpdatesReader(settings, scorer))
    # Faust types ``service`` for classes but starts instances too; ours needs constructor arguments.
    app.service(cast(Any, service))
    return app
