"""Alerts as CloudEvents 1.0 (structured JSON mode) on the alerts topic.

Incident tooling keys on ``data.dedup_key`` (also the Kafka key, so every event of one alert
lands on one partition in order) and on the event ``type``: ``…alert.raised`` opens an incident,
``…alert.updated`` annotates it, ``…alert.resolved`` closes it.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from driftline.detectors.alerting import AlertEvent

SPEC_VERSION: Final = "1.0"
TYPE_PREFIX: Final = "io.driftline.alert."


def alert_cloudevent(status: str, data: dict[str, Any], *, source: str,
                     now: datetime | None = None) -> tuple[bytes, bytes]:
    """(key, value) of one alert record; ``status`` is raised, updated or resolved."""
    when = (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    envelope = {
        "specversion": SPEC_VERSION,
        "id": str(uuid.uuid4()),
        "source": source,
        "type": f"{TYPE_PREFIX}{status}",
        "subject": f"{data.get('model')}/{data.get('version')}",
        "time": when,
        "datacontenttype": "application/json",
        "data": {**data, "status": status},
    }
    return str(data["dedup_key"]).encode(), orjson.dumps(envelope, option=orjson.OPT_SERIALIZE_NUMPY)


def alert_data(event: AlertEvent) -> dict[str, Any]:
    """The ``data`` of an alert CloudEvent, in the shape of the alerts topic contract.

    The top-ranked finding also fills the flat ``feature``/``statistic``/``value``/``threshold``
    fields, so simple routing rules need not look into ``features``.
    """
    top = event.findings[0] if event.findings else None
    return {
        "severity": event.severity, "kind": event.kind, "model": event.model, "version": event.version,
        "variant": event.variant, "detector": event.detector,
        "feature": top.feature if top else None, "statistic": top.statistic if top else None,
        "value": top.value if top else None, "threshold": top.threshold if top else None,
        "features": [dataclasses.asdict(finding) for finding in event.findings],
        "window": dataclasses.asdict(event.window), "dedup_key": event.dedup_key,
        "summary": event.summary, "runbook": event.runbook,
    }
