"""The Faust application every worker runs, and the services it hosts.

The batch agents (scoring, the drift monitor, the label join, performance) are hosted as one
service of the app, each with its own aiokafka clients; ``streams.score_agent`` says why they are
not Faust agents. The app itself starts no Kafka client: it gives the worker its lifecycle (signals,
start and stop order, logging). Its Kafka settings (short sessions, no leader topic, no standby
tables) stay in case a Faust agent or table is added back.
"""

from __future__ import annotations

import logging
import os
from typing import Any, cast

import faust
from faust.app.base import BootStrategy

from driftline.models.registry import Registry
from driftline.streams.alert_ledger import MonitorLedger
from driftline.streams.connection import faust_credentials
from driftline.streams.drift_outbox import DriftOutbox
from driftline.streams.health import READINESS, serve_http
from driftline.streams.join.agent import JoinAgent
from driftline.streams.join.slots import Slot
from driftline.streams.model_updates import ModelUpdatesReader
from driftline.streams.monitor_agent import MonitorAgent
from driftline.streams.monitor_book import MonitorBook
from driftline.streams.performance_agent import PerformanceAgent
from driftline.streams.prediction_outbox import PredictionOutbox
from driftline.streams.reachability import ReachabilityProbe
from driftline.streams.rollout.auto import RolloutWatch
from driftline.streams.rollout.guard import ServingGuard
from driftline.streams.score_agent import ScoreAgent
from driftline.streams.scoring import BatchScorer, ServedModel
from driftline.streams.serving import CannotServe, load_rollouts
from driftline.streams.settings import Settings
from driftline.streams.supervision import AgentFactory, BatchAgentsService

log = logging.getLogger(__name__)


def build_scorer(settings: Settings, served: dict[str, ServedModel]) -> BatchScorer:
    default = settings.default_model or (next(iter(served)) if len(served) == 1 else None)
    if default and default not in served:
        raise CannotServe(f"default_model {default!r} is not among the served models {sorted(served)}")
    drift = DriftOutbox(f"{settings.app_id}-{os.getpid()}", settings.drift_flush_ms / 1000,
                        score_chunk=settings.drift_score_chunk) if settings.monitors else None
    # The performance agent judges these; it runs with the label join.
    predictions_out = PredictionOutbox(settings.drift_flush_ms / 1000) if settings.label_join else None
    return BatchScorer(served, default_model=default, predictions_topic=settings.topic_predictions,
                       deadletter_topic=settings.topic_deadletter, max_event_bytes=settings.max_event_bytes,
                       deadletter_payload_max_bytes=settings.deadletter_payload_max_bytes, drift=drift,
                       echo_features=settings.label_join, shadow_topic=settings.topic_shadow_predictions,
                       rollouts=load_rollouts(settings, served), guard=serving_guard(settings),
                       predictions_out=predictions_out)


def serving_guard(settings: Settings) -> ServingGuard:
    """The inference time limit and circuit breakers, from settings."""
    timeout_ms = settings.inference_timeout_ms
    return ServingGuard(timeout_s=timeout_ms / 1000 if timeout_ms else None,
                        failures_to_open=settings.breaker_failures,
                        cooldown_s=settings.breaker_cooldown_ms / 1000, alerts_topic=settings.topic_alerts,
                        source=f"driftline/{settings.app_id}/scoring")


def monitor_book(settings: Settings, served: dict[str, ServedModel]) -> MonitorBook:
    """The drift monitors, those of the served versions calibrated now, before the loop runs (a
    version first seen later is built off the loop)."""
    book = MonitorBook(settings, Registry(settings.registry))
    for model in served.values():
        book.monitor(model.name, model.version)
    return book


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
    # Every agent reads and writes with its own clients: Faust's consumer would fail to subscribe to
    # no topic, and its producer would sit idle.
    app.boot_strategy = BootStrategy(app, enable_kafka=False)
    serve_http(settings.metrics_host, settings.metrics_port)
    READINESS.set(READINESS.MODELS)  # create_app is given loaded, verified models
    scorer = build_scorer(settings, served)
    ledger = MonitorLedger(settings, source=f"driftline/{settings.app_id}/monitor")
    # Factories, not agents: an agent the broker failed is replaced by a fresh one (streams.supervision).
    watch = RolloutWatch(settings, scorer)
    factories: list[AgentFactory] = [lambda: ScoreAgent(settings, scorer, watch)]
    if settings.monitors:
        book = monitor_book(settings, served)
        factories.append(lambda: MonitorAgent(settings, book, ledger))
    if settings.label_join:
        factories += [lambda: JoinAgent(settings, slot), lambda: PerformanceAgent(settings, ledger)]
    service = BatchAgentsService(factories, [ModelUpdatesReader(settings, scorer), ledger],
                                 ReachabilityProbe(settings), debug_clients=settings.log_level == "debug")
    # Faust types ``service`` for classes but starts instances too; ours needs constructor arguments.
    app.service(cast(Any, service))
    return app
