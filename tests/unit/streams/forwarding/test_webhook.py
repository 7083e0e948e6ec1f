"""The webhook's signature and secret."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from driftline.streams.forwarding.webhook import signature, webhook_secret
from driftline.streams.settings import Settings, SettingsError


def test_the_signature_is_hmac_sha256_of_the_body() -> None:
    expected = hmac.new(b"key", b"body", hashlib.sha256).hexdigest()
    assert signature(b"key", b"body") == f"sha256={expected}"


def test_the_secret_comes_from_the_setting_or_a_file(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("from-file\n")
    assert webhook_secret(Settings()) is None
    assert webhook_secret(Settings(alert_webhook_secret_file=str(path))) == b"from-file"
    assert webhook_secret(Settings(alert_webhook_secret="direct")) == b"direct"


@pytest.mark.parametrize("content", [None, "  \n"])
def test_a_missing_or_empty_secret_file_names_the_setting(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "secret"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SettingsError) as error:
        webhook_secret(Settings(alert_webhook_secret_file=str(path)))
    assert error.value.setting == "alert_webhook_secret_file"


def test_the_secret_is_never_printed_but_reaches_a_child_process() -> None:
    settings = Settings(alert_webhook_secret="s3cret")
    assert settings.public()["alert_webhook_secret"] == "***"
    assert "s3cret" not in repr(settings)
    assert settings.to_environ()["DRIFTLINE_ALERT_WEBHOOK_SECRET"] == "s3cret"
    assert Settings().public()["alert_webhook_secret"] == ""
