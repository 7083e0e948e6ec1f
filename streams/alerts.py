"""Alerts as CloudEvents 1.0 (structured JSON mode) on the alerts topic.

Incident tooling keys on ``data.dedup_key`` (also the Kafka key, so every event of one alert
lands on one partition in order) and on the event ``type``: ``…alert.raised`` opens an incident,
``…alert.updated`` annotates it, ``…alert.resolved`` closes it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Final

import orjson

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
