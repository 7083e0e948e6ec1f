"""``driftline alerts forward``: deliver the alerts topic to Alertmanager and/or a webhook."""

from __future__ import annotations

import argparse
from typing import Any

from driftline.streams.settings import Settings


def register(sub: Any) -> None:
    alerts = sub.add_parser("alerts", help="the alerts topic and the on-call stack")
    actions = alerts.add_subparsers(title="actions", metavar="ACTION")
    forward = actions.add_parser(
        "forward", help="deliver every alert to Alertmanager and/or a webhook until interrupted",
        description="Read the alerts topic in the alert_forward_group consumer group and deliver each "
                    "alert, at least once and in order per dedup key, to Alertmanager's v2 API and/or a "
                    "webhook (the CloudEvent, signed when a secret is set). Offsets are committed once "
                    "every receiver acknowledged or refused; refusals go to the dead-letter topic.")
    forward.add_argument("--broker", help="Kafka bootstrap host:port (setting broker)")
    forward.add_argument("--alertmanager-url", dest="alertmanager_url",
                         help="Alertmanager base URL, e.g. http://127.0.0.1:9093 (setting alertmanager_url)")
    forward.add_argument("--webhook-url", dest="alert_webhook_url",
                         help="URL that takes each alert CloudEvent (setting alert_webhook_url)")
    forward.set_defaults(handler=_forward)


def _forward(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.streams.forwarding.service import run_forwarder

    return run_forwarder(settings)
