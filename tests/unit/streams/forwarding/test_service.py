"""``driftline alerts forward`` refuses a configuration it cannot work with, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.streams.cli import main
from driftline.streams.forwarding import AlertmanagerReceiver, WebhookReceiver
from driftline.streams.forwarding.service import build_receivers
from driftline.streams.settings import Settings


def test_without_a_receiver_it_says_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "forward"]) == 2
    assert capsys.readouterr().err.strip() == ("driftline alerts forward: nothing to forward to: set "
                                               "alertmanager_url and/or alert_webhook_url")


def test_an_unreadable_secret_file_stops_it_before_kafka(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLINE_ALERT_WEBHOOK_SECRET_FILE", str(tmp_path / "absent"))
    assert main(["alerts", "forward", "--webhook-url", "http://127.0.0.1:1/"]) == 2
    assert capsys.readouterr().err.startswith(
        f"driftline alerts forward: alert_webhook_secret_file: cannot read {tmp_path / 'absent'}")


def test_both_receivers_are_built_in_order() -> None:
    receivers = build_receivers(Settings(alertmanager_url="http://am:9093", alert_webhook_url="http://hook/"))
    assert [type(r) for r in receivers] == [AlertmanagerReceiver, WebhookReceiver]
