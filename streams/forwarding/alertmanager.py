"""Alerts for Alertmanager's v2 API, so it deduplicates, groups and resolves them like Prometheus's.

An alert CloudEvent becomes an Alertmanager alert whose labels are ``alertname`` (the kind in
CamelCase: ``data_drift`` → ``DriftlineDataDrift``), ``model``, ``version``, ``variant``,
``detector``, ``feature`` and ``severity``, and whose annotations carry the summary and the runbook
URL. Alertmanager identifies an alert by its labels, so `OpenAlerts` remembers, per dedup key, the
labels it last sent:

* an ``updated`` record whose top feature or severity changed ends the alert under its old labels
  (``endsAt`` now) and opens it under the new ones, in one request: one dedup key is never two
  active alerts;
* a ``resolved`` record (whose severity is ``info``) ends the alert under the labels it is open
  with;
* every open alert is valid for four resend periods (``endsAt`` ahead) and re-sent every period,
  as Prometheus does, so a long drift never times out in Alertmanager, an Alertmanager that
  restarted (it keeps alerts in memory) gets them back within one period, and an alert whose
  forwarder is gone for good resolves by itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from driftline.streams.forwarding.delivery import Answer, ForwardedAlert, post

log = logging.getLogger(__name__)

API_PATH: Final = "/api/v2/alerts"
#: Labels copied from an alert's data when present.
LABELS: Final = ("model", "version", "variant", "detector", "feature", "severity")


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """One alert as Alertmanager holds it."""

    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime

    def postable(self, ends_at: datetime) -> dict[str, Any]:
        return {"labels": self.labels, "annotations": self.annotations,
                "startsAt": _rfc3339(self.starts_at), "endsAt": _rfc3339(max(ends_at, self.starts_at))}


def alertname(kind: str) -> str:
    """``data_drift`` → ``DriftlineDataDrift``, in the style of the Prometheus rules' names."""
    return "Driftline" + "".join(part.capitalize() for part in kind.split("_"))


def alert_labels(data: dict[str, Any]) -> dict[str, str]:
    labels = {"alertname": alertname(str(data["kind"]))}
    labels.update({name: str(data[name]) for name in LABELS if data.get(name) not in (None, "")})
    return labels


def alert_annotations(data: dict[str, Any], runbook_base_url: str) -> dict[str, str]:
    annotations = {"summary": str(data.get("summary", "")), "dedup_key": str(data["dedup_key"])}
    if data.get("runbook"):
        annotations["runbook_url"] = runbook_base_url + str(data["runbook"])
    return annotations


class OpenAlerts:
    """The alerts Alertmanager holds from this forwarder, by dedup key; changed only once it acknowledged."""

    def __init__(self, *, runbook_base_url: str, valid_for: timedelta) -> None:
        self.runbook_base_url = runbook_base_url
        self.valid_for = valid_for
        self.by_key: dict[str, OpenAlert] = {}

    def plan(self, data: dict[str, Any], *, at: datetime, now: datetime,
             ) -> tuple[list[dict[str, Any]], OpenAlert | None]:
        """What to post for an alert event that happened ``at``, and what is open for its key once
        Alertmanager acknowledged that."""
        previous = self.by_key.get(str(data["dedup_key"]))
        if data.get("status") == "resolved":
            return ([previous.postable(at)] if previous else []), None
        current = OpenAlert(alert_labels(data), alert_annotations(data, self.runbook_base_url),
                            previous.starts_at if previous else at)
        posts = [current.postable(now + self.valid_for)]
        if previous is not None and previous.labels != current.labels:
            posts.insert(0, previous.postable(now))
        return posts, current

    def settle(self, dedup_key: str, current: OpenAlert | None) -> None:
        if current is None:
            self.by_key.pop(dedup_key, None)
        else:
            self.by_key[dedup_key] = current

    def seed(self, data: dict[str, Any], now: datetime) -> None:
        """Take an alert that was open before this forwarder started (from the alert-state topic)."""
        _, current = self.plan({**data, "status": "updated"}, at=now, now=now)
        self.settle(str(data["dedup_key"]), current)

    def refresh(self, now: datetime) -> list[dict[str, Any]]:
        """Every open alert, valid for another ``valid_for``."""
        return [alert.postable(now + self.valid_for) for alert in self.by_key.values()]


class AlertmanagerReceiver:
    """Posts alerts to one Alertmanager and re-sends the open ones every ``resend``."""

    name = "alertmanager"

    def __init__(self, base_url: str, *, timeout_s: float, resend: timedelta, runbook_base_url: str) -> None:
        self.url = base_url.rstrip("/") + API_PATH
        self.timeout_s = timeout_s
        self.resend = resend
        self.open = OpenAlerts(runbook_base_url=runbook_base_url, valid_for=4 * resend)
        #: When the open alerts were last all re-sent, or tried to be (None: at the next chance).
        self._refreshed_at: datetime | None = None
        #: Whether the last request got an acknowledgement.
        self._answering = True

    async def deliver(self, alert: ForwardedAlert) -> Answer:
        now = datetime.now(UTC)
        posts, current = self.open.plan(alert.data, at=alert.time or now, now=now)
        if not posts:
            return Answer("delivered", None, "nothing open under this dedup key")
        answer = await self._post(posts)
        if answer.outcome == "delivered":
            self.open.settle(alert.dedup_key, current)
        return answer

    async def refresh_if_due(self) -> None:
        """Re-send the open alerts when a resend period has passed; a failure waits for the next one."""
        now = datetime.now(UTC)
        recent = self._refreshed_at is not None and now - self._refreshed_at < self.resend
        if not self.open.by_key or recent:
            return
        self._refreshed_at = now
        answer = await self._post(self.open.refresh(now))
        if answer.outcome != "delivered":
            log.info("re-sending %d open alerts to Alertmanager failed (%s); next try in %.0f s",
                     len(self.open.by_key), answer.describe(), self.resend.total_seconds())

    async def _post(self, posts: list[dict[str, Any]]) -> Answer:
        answer = await post(self.url, orjson.dumps(posts), {"Content-Type": "application/json"},
                            timeout_s=self.timeout_s)
        answering = answer.outcome == "delivered"
        if answering and not self._answering:
            # Back after failing: it may have restarted empty (Alertmanager keeps alerts in
            # memory), so every open alert goes again at the next chance, not a period later.
            self._refreshed_at = None
        self._answering = answering
        return answer


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
