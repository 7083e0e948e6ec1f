"""The generic webhook: each alert CloudEvent POSTed as it is (structured mode), optionally signed.

The body is the record's value byte for byte, with ``Content-Type:
application/cloudevents+json``. With a secret, ``X-Driftline-Signature: sha256=<hex>`` carries the
HMAC-SHA256 of the body under that secret, so a receiver can check the alert came from driftline
and was not altered (compare with ``hmac.compare_digest``). The CloudEvent's ``id`` tells a retried
delivery from a new alert.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Final

from driftline.streams.forwarding.delivery import Answer, ForwardedAlert, post
from driftline.streams.settings import Settings, SettingsError

CONTENT_TYPE: Final = "application/cloudevents+json; charset=utf-8"
SIGNATURE_HEADER: Final = "X-Driftline-Signature"


def signature(secret: bytes, body: bytes) -> str:
    """The ``X-Driftline-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def webhook_secret(settings: Settings) -> bytes | None:
    """The signing key, from ``alert_webhook_secret`` or the file ``alert_webhook_secret_file``."""
    if settings.alert_webhook_secret:
        return settings.alert_webhook_secret.encode()
    if not settings.alert_webhook_secret_file:
        return None
    path = Path(settings.alert_webhook_secret_file)
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"alert_webhook_secret_file: cannot read {path}: {exc.strerror}",
                            setting="alert_webhook_secret_file") from None
    if not secret:
        raise SettingsError(f"alert_webhook_secret_file: {path} is empty",
                            setting="alert_webhook_secret_file")
    return secret.encode()


class WebhookReceiver:
    """POSTs every alert record to one URL."""

    name = "webhook"

    def __init__(self, url: str, *, secret: bytes | None, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._secret = secret

    async def deliver(self, alert: ForwardedAlert) -> Answer:
        headers = {"Content-Type": CONTENT_TYPE}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = signature(self._secret, alert.raw)
        return await post(self.url, alert.raw, headers, timeout_s=self.timeout_s)
