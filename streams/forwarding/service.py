"""The ``driftline alerts forward`` process: receivers from the settings, probes, a supervised agent.

The agent runs under the same supervisor as a worker's batch agents (`streams.supervision`): a
Kafka error replaces it with a fresh one that resumes from the committed offsets, while the
receivers (and what Alertmanager holds open) outlive the replacement.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import timedelta

import mode
from aiokafka.errors import KafkaError

from driftline.streams.forwarding.agent import ForwardAgent
from driftline.streams.forwarding.alertmanager import AlertmanagerReceiver
from driftline.streams.forwarding.delivery import Receiver
from driftline.streams.forwarding.webhook import WebhookReceiver, webhook_secret
from driftline.streams.health import READINESS, Readiness, serve_http
from driftline.streams.reachability import ReachabilityProbe
from driftline.streams.settings import Settings, SettingsError
from driftline.streams.supervision import BatchAgentsService
from driftline.streams.topics import ensure_topics

log = logging.getLogger(__name__)


def build_receivers(settings: Settings) -> list[Receiver]:
    """The configured receivers; refuses a configuration with none or an unreadable secret."""
    timeout_s = settings.alert_delivery_timeout_ms / 1000
    receivers: list[Receiver] = []
    if settings.alertmanager_url:
        receivers.append(AlertmanagerReceiver(
            settings.alertmanager_url, timeout_s=timeout_s,
            resend=timedelta(milliseconds=settings.alertmanager_resend_ms),
            runbook_base_url=settings.alert_runbook_base_url))
    if settings.alert_webhook_url:
        receivers.append(WebhookReceiver(settings.alert_webhook_url, secret=webhook_secret(settings),
                                         timeout_s=timeout_s))
    if not receivers:
        raise SettingsError("nothing to forward to: set alertmanager_url and/or alert_webhook_url",
                            setting="alertmanager_url")
    return receivers


def run_forwarder(settings: Settings) -> int:
    """Forward until SIGINT/SIGTERM; 2 on a settings problem, 1 when Kafka cannot be reached at
    start (each said in one line)."""
    try:
        receivers = build_receivers(settings)
    except SettingsError as exc:
        print(f"driftline alerts forward: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(ensure_topics(settings))
    except KafkaError as exc:
        print(f"driftline alerts forward: Kafka at {settings.broker} cannot create or check the topics: "
              f"{exc}", file=sys.stderr)
        return 1
    asyncio.set_event_loop(asyncio.new_event_loop())
    READINESS.require(Readiness.ALERTS, Readiness.BROKER)
    serve_http(settings.metrics_host, settings.metrics_port)
    names = ", ".join(f"{r.name}" for r in receivers)
    log.info("forwarding %s to %s (group %s)", settings.topic_alerts, names, settings.alert_forward_group)
    service = BatchAgentsService([lambda: ForwardAgent(settings, receivers)], [], ReachabilityProbe(settings))
    worker = mode.Worker(service, loglevel=settings.log_level.upper(), redirect_stdouts=False)
    worker.execute_from_commandline()
